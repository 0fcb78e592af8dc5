// Helpers shared by the Teams feature tests (keep-alive, failover, TLS, transfers, timers).
import type { TargetHealth } from '../../../sbc-pod/src/trunks/health.ts';
import type { Fixture } from '../b2bua/fixture.ts';
import type { EventLog } from '../teams-sim/wait.ts';
import { withTimeout } from '../teams-sim/wait.ts';

/** Wait (bounded) until `log` holds `n` items matching `pred` from index `from`; resolves with them. */
export async function waitForCount<T>(
  log: EventLog<T>,
  pred: (item: T) => boolean,
  n: number,
  what: string,
  timeoutMs = 10_000,
  from = 0,
): Promise<T[]> {
  const found: T[] = [];
  let at = from;
  const deadline = Date.now() + timeoutMs;
  while (found.length < n) {
    const item = await log.waitFor(pred, `${what} (#${found.length + 1})`, Math.max(1, deadline - Date.now()), at);
    found.push(item);
    at = log.items.indexOf(item, at) + 1;
  }
  return found;
}

/** The Teams target key the pod uses (`host:port`) for a sim listener. */
export function targetKey(f: Fixture, name: string): string {
  const t = f.sim.proxy(name).target;
  return `${t.fqdn}:${t.port}`;
}

/** Wait (bounded) until the pod's keep-alive says this Teams target is in `state`. */
export function waitForTeamsHealth(f: Fixture, name: string, state: TargetHealth['state'], timeoutMs = 10_000) {
  const key = targetKey(f, name);
  if (f.pod.teams.status()[key]?.state === state) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => {
      const on = (c: { target: string; state: string }) => {
        if (c.target === key && c.state === state) {
          f.pod.teams.off('change', on);
          resolve();
        }
      };
      f.pod.teams.on('change', on);
    }),
    `Teams target ${key} to be ${state}`,
    timeoutMs,
  );
}

/** The admin /status document. */
export async function adminStatus(f: Fixture): Promise<Record<string, unknown>> {
  const a = f.pod.element.admin.address;
  const res = await fetch(`http://${a.host}:${a.port}/status`);
  return (await res.json()) as Record<string, unknown>;
}
