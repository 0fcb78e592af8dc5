// Trunk health (DESIGN.md §6 "trunk health from OPTIONS"): every target of a trunk with healthCheck.enabled gets an
// OPTIONS every optionsIntervalSeconds. `failureThreshold` probes in a row without a usable answer mark it down; one
// answer marks it up again. Routing skips down targets. The state machine is pure (`nextHealth`); the prober does I/O.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { buildRequest } from '../sip/message/index.ts';
import type { Peer, SipStack } from '../sip/stack.ts';
import { generateBranch } from '../sip/transaction/index.ts';

export type HealthState = 'unknown' | 'up' | 'down';

export interface TargetHealth {
  state: HealthState;
  /** Probes in a row that failed. */
  failures: number;
  lastStatus?: number;
  lastProbe?: string;
  lastChange?: string;
}

/** One probe result applied to a target's health. */
export function nextHealth(h: TargetHealth, ok: boolean, threshold: number): TargetHealth {
  if (ok) return { ...h, state: 'up', failures: 0 };
  const failures = h.failures + 1;
  return { ...h, failures, state: failures >= threshold ? 'down' : h.state };
}

/** An answer proves the target alive unless it says it is not serving (408, 5xx except 501/505 style "no OPTIONS"). */
export function probeSucceeded(status: number): boolean {
  if (status === 408) return false;
  if (status >= 500 && status < 600) return status === 501 || status === 505;
  return true;
}

export function targetKey(trunkId: string, t: { host: string; port: number; transport: string }): string {
  return `${trunkId}|${t.transport}:${t.host}:${t.port}`;
}

export interface HealthChange {
  trunk: string;
  target: string;
  state: HealthState;
  status?: number;
}

interface Probe {
  trunk: TrunkConfig;
  target: TrunkConfig['targets'][number];
  health: TargetHealth;
  timer?: NodeJS.Timeout;
  inFlight: boolean;
  /** Config hash the probe was set up with: a changed trunk restarts its probes. */
  hash: string;
}

export interface TrunkHealthOptions {
  stack: SipStack;
  resolve: (host: string) => Promise<string>;
  /** Give up on one probe after this long (default: half the interval, at most 4 s). */
  probeTimeoutMs?: (trunk: TrunkConfig) => number;
  now?: () => Date;
}

/** Emits 'change' (HealthChange) when a target goes up or down. */
export class TrunkHealth extends EventEmitter {
  #o: TrunkHealthOptions;
  #probes = new Map<string, Probe>();
  #closed = false;

  constructor(options: TrunkHealthOptions) {
    super();
    this.#o = options;
  }

  /** Follow a new config: start probes for new/changed targets, stop those that went away. */
  configure(trunks: readonly TrunkConfig[]): void {
    if (this.#closed) return;
    const wanted = new Map<string, { trunk: TrunkConfig; target: TrunkConfig['targets'][number] }>();
    for (const trunk of trunks) {
      if (!trunk.healthCheck.enabled) continue;
      for (const target of trunk.targets) wanted.set(targetKey(trunk.id, target), { trunk, target });
    }
    for (const [key, p] of this.#probes) {
      const w = wanted.get(key);
      if (!w || w.trunk.hash !== p.hash) {
        clearTimeout(p.timer);
        this.#probes.delete(key);
      }
    }
    for (const [key, w] of wanted) {
      if (this.#probes.has(key)) continue;
      const p: Probe = { ...w, health: { state: 'unknown', failures: 0 }, inFlight: false, hash: w.trunk.hash };
      this.#probes.set(key, p);
      this.#probe(key, p);
    }
  }

  /** Is this target known to be down? (Unknown and unchecked targets are usable.) */
  isDown(trunkId: string, target: { host: string; port: number; transport: string }): boolean {
    return this.#probes.get(targetKey(trunkId, target))?.health.state === 'down';
  }

  status(): Record<string, Record<string, TargetHealth>> {
    const out: Record<string, Record<string, TargetHealth>> = {};
    for (const p of this.#probes.values()) {
      const t = `${p.target.transport.toLowerCase()}:${p.target.host}:${p.target.port}`;
      const byTarget = out[p.trunk.id] ?? {};
      byTarget[t] = { ...p.health };
      out[p.trunk.id] = byTarget;
    }
    return out;
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#probes.values()) clearTimeout(p.timer);
    this.#probes.clear();
  }

  #schedule(key: string, p: Probe): void {
    if (this.#closed || this.#probes.get(key) !== p) return;
    p.timer = setTimeout(() => this.#probe(key, p), p.trunk.healthCheck.optionsIntervalSeconds * 1000);
    p.timer.unref();
  }

  #probe(key: string, p: Probe): void {
    if (this.#closed || this.#probes.get(key) !== p || p.inFlight) return;
    p.inFlight = true;
    const timeoutMs =
      this.#o.probeTimeoutMs?.(p.trunk) ?? Math.min(4000, (p.trunk.healthCheck.optionsIntervalSeconds * 1000) / 2);
    let done = false;
    const finish = (ok: boolean, status?: number) => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      p.inFlight = false;
      if (this.#probes.get(key) !== p) return;
      const before = p.health.state;
      const now = (this.#o.now?.() ?? new Date()).toISOString();
      p.health = { ...nextHealth(p.health, ok, p.trunk.healthCheck.failureThreshold), lastProbe: now };
      if (status !== undefined) p.health.lastStatus = status;
      else delete p.health.lastStatus;
      if (p.health.state !== before) {
        p.health.lastChange = now;
        const change: HealthChange = {
          trunk: p.trunk.id,
          target: `${p.target.transport.toLowerCase()}:${p.target.host}:${p.target.port}`,
          state: p.health.state,
          ...(status !== undefined ? { status } : {}),
        };
        this.emit('change', change);
      }
      this.#schedule(key, p);
    };
    const guard = setTimeout(() => finish(false), timeoutMs);
    guard.unref();
    this.#o
      .resolve(p.target.host)
      .then((address) => {
        if (done) return;
        const peer: Peer = { transport: p.target.transport, address, port: p.target.port };
        const sentBy = this.#o.stack.sentBy(peer);
        const host = p.target.host.includes(':') ? `[${p.target.host}]` : p.target.host;
        const req = buildRequest({
          method: 'OPTIONS',
          uri: `sip:${host}:${p.target.port}`,
          vias: [`SIP/2.0/${p.target.transport} ${sentBy};branch=${generateBranch()};rport`],
          from: `<sip:ping@${sentBy}>;tag=${randomBytes(6).toString('hex')}`,
          to: `<sip:${host}:${p.target.port}>`,
          callId: `${randomBytes(10).toString('hex')}@switchboard`,
          cseq: 1,
          maxForwards: 70,
          headers: [{ name: 'Accept', value: 'application/sdp' }],
        });
        this.#o.stack.sendRequest(req, peer, {
          onFinal: (res) => finish(probeSucceeded(res.status), res.status),
          onTimeout: () => finish(false, 408),
          onTransportError: () => finish(false, 503),
        });
      })
      .catch(() => finish(false));
  }
}
