// OPTIONS keep-alive toward Microsoft's SIP proxies (teams-direct-routing.md O4.1–O4.3, H3.3, O4.2): one stream per
// Teams target (sip, sip2, sip3), not per tenant, with the carrier trunk FQDN (the base domain) in Contact with its
// port and transport=tls. Each target's health (up/down) is tracked from the answers; routing tries down targets last.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { buildRequest } from '../sip/message/index.ts';
import type { Peer, SipStack } from '../sip/stack.ts';
import { generateBranch } from '../sip/transaction/index.ts';
import { type HealthState, nextHealth, probeSucceeded, type TargetHealth } from '../trunks/health.ts';

export interface TeamsTargetRef {
  host: string;
  port: number;
}

export interface TeamsKeepAliveOptions {
  stack: SipStack;
  targets: TeamsTargetRef[];
  resolve: (host: string) => Promise<string>;
  /** The carrier trunk FQDN (base domain) written in Contact/From; no probes while it is unknown. */
  contactHost: () => string | undefined;
  intervalMs: number;
  /** Give up on one probe after this long (default: half the interval, at most 4 s). */
  timeoutMs?: number;
  /** Failed probes in a row before a target is down (default 2). */
  failureThreshold?: number;
  now?: () => Date;
}

export interface TeamsHealthChange {
  target: string;
  state: HealthState;
  status?: number;
}

const key = (t: TeamsTargetRef) => `${t.host}:${t.port}`;

/** Emits 'change' (TeamsHealthChange) and 'probe' ({ target, status }) after every answered or failed probe. */
export class TeamsKeepAlive extends EventEmitter {
  #o: TeamsKeepAliveOptions;
  #health = new Map<string, TargetHealth>();
  #timers = new Map<string, NodeJS.Timeout>();
  #inFlight = new Set<string>();
  #closed = false;
  readonly counters = { sent: 0, answered: 0, failed: 0 };

  constructor(options: TeamsKeepAliveOptions) {
    super();
    this.#o = options;
    for (const t of options.targets) this.#health.set(key(t), { state: 'unknown', failures: 0 });
  }

  start(): void {
    for (const t of this.#o.targets) this.#probe(t);
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  isDown(t: TeamsTargetRef): boolean {
    return this.#health.get(key(t))?.state === 'down';
  }

  /** Targets in failover order with the down ones moved last (they are still tried: better late than never). */
  order<T extends TeamsTargetRef>(targets: T[]): T[] {
    return [...targets.filter((t) => !this.isDown(t)), ...targets.filter((t) => this.isDown(t))];
  }

  /** A call attempt failed at the transport level: count it like a failed probe (and probe again soon). */
  reportFailure(t: TeamsTargetRef, status?: number): void {
    this.#apply(t, false, status);
  }

  status(): Record<string, TargetHealth> {
    const out: Record<string, TargetHealth> = {};
    for (const [k, h] of this.#health) out[k] = { ...h };
    return out;
  }

  #apply(t: TeamsTargetRef, ok: boolean, status?: number): void {
    const k = key(t);
    const before = this.#health.get(k) ?? { state: 'unknown' as const, failures: 0 };
    const now = (this.#o.now?.() ?? new Date()).toISOString();
    const h: TargetHealth = { ...nextHealth(before, ok, this.#o.failureThreshold ?? 2), lastProbe: now };
    if (status !== undefined) h.lastStatus = status;
    else delete h.lastStatus;
    if (h.state !== before.state) h.lastChange = now;
    this.#health.set(k, h);
    if (h.state !== before.state) {
      const change: TeamsHealthChange = { target: k, state: h.state, ...(status !== undefined ? { status } : {}) };
      this.emit('change', change);
    }
  }

  #schedule(t: TeamsTargetRef): void {
    if (this.#closed) return;
    clearTimeout(this.#timers.get(key(t)));
    const timer = setTimeout(() => this.#probe(t), this.#o.intervalMs);
    timer.unref();
    this.#timers.set(key(t), timer);
  }

  #probe(t: TeamsTargetRef): void {
    const k = key(t);
    if (this.#closed || this.#inFlight.has(k)) return;
    const contactHost = this.#o.contactHost();
    if (!contactHost) return this.#schedule(t);
    this.#inFlight.add(k);
    let done = false;
    const finish = (ok: boolean, status?: number) => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      this.#inFlight.delete(k);
      if (this.#closed) return;
      if (ok) this.counters.answered++;
      else this.counters.failed++;
      this.#apply(t, ok, status);
      this.emit('probe', { target: k, ...(status !== undefined ? { status } : {}) });
      this.#schedule(t);
    };
    const guard = setTimeout(() => finish(false), this.#o.timeoutMs ?? Math.min(4000, this.#o.intervalMs / 2));
    guard.unref();
    this.#o
      .resolve(t.host)
      .then((address) => {
        if (done) return;
        const peer: Peer = {
          transport: 'TLS',
          address,
          port: t.port,
          servername: t.host,
          localHostname: contactHost,
        };
        // O4.2: OPTIONS sip:<proxy>:<port>, From/Contact = the carrier FQDN with our TLS port, transport=tls.
        const sentBy = this.#o.stack.sentBy(peer, contactHost);
        const req = buildRequest({
          method: 'OPTIONS',
          uri: `sip:${t.host}:${t.port}`,
          vias: [`SIP/2.0/TLS ${sentBy};branch=${generateBranch()};rport`],
          from: `<sip:${sentBy}>;tag=${randomBytes(6).toString('hex')}`,
          to: `<sip:${t.host}:${t.port}>`,
          callId: `${randomBytes(10).toString('hex')}@${contactHost}`,
          cseq: 1,
          maxForwards: 70,
          contacts: [`<sip:${sentBy};transport=tls>`],
          headers: [{ name: 'Accept', value: 'application/sdp' }],
        });
        this.counters.sent++;
        this.#o.stack.sendRequest(req, peer, {
          onFinal: (res) => finish(probeSucceeded(res.status), res.status),
          onTimeout: () => finish(false, 408),
          onTransportError: () => finish(false, 503),
        });
      })
      .catch(() => finish(false));
  }
}
