// Small helpers shared by the B2BUA end-to-end tests.
import { once } from 'node:events';
import type { RunningSipp, SippResult } from '../harness/sipp.ts';
import type { IncomingCall } from '../teams-sim/calls.ts';
import { withTimeout } from '../teams-sim/wait.ts';
import type { Fixture } from './fixture.ts';

export const scenario = (name: string) => new URL(`../../scenarios/${name}`, import.meta.url).pathname;

/** Wait (bounded) for a sipp started with `calls` to exit by itself, then collect its statistics. */
export async function sippFinished(s: RunningSipp, timeoutMs = 15_000): Promise<SippResult> {
  if (s.process.exitCode === null && s.process.signalCode === null) {
    await withTimeout(once(s.process, 'exit'), 'sipp to finish its calls', timeoutMs).catch(() => {});
  }
  return s.stop();
}

/** The next call the SBC sends to Teams for `number` (ignores earlier ones). */
export function nextInboundCall(f: Fixture, number: string, timeoutMs = 10_000): Promise<IncomingCall> {
  return f.sim.inboundCalls.waitFor(
    (c) => c.number === number,
    `an INVITE from the SBC for ${number}`,
    timeoutMs,
    f.sim.inboundCalls.length,
  );
}
