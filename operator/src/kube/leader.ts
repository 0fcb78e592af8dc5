// Lease-based leader election (coordination.k8s.io/v1), client-go semantics: lease 15 s, renew deadline 10 s,
// retry 2 s. Acquire when the Lease is missing, expired, or ours; every write carries the read resourceVersion, so a
// concurrent writer gets 409 and loses. A leader that cannot renew within the renew deadline stops leading. Release
// on shutdown (holderIdentity cleared, lease duration 1 s) so a standby takes over at its next retry.
import { EventEmitter } from 'node:events';
import { isConflict, isNotFound, type KubeClient, resourcePath } from './client.ts';

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}
interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** MicroTime: RFC 3339 with exactly six fractional digits (a JS Date gives three, which the API server refuses). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Events: 'started' (became leader), 'stopped' (lost or released leadership), 'leader' (identity of the holder). */
export class LeaderElector extends EventEmitter {
  readonly #client: KubeClient;
  readonly #o: Required<Omit<LeaderElectorOptions, 'log'>> & Pick<LeaderElectorOptions, 'log'>;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #lastRenew = 0;
  #observed: { holder: string; rv: string; seenAt: number; durationMs: number } | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #lastTickAt = Date.now();

  constructor(client: KubeClient, opts: LeaderElectorOptions) {
    super();
    this.#client = client;
    this.#o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Date.now() when the campaign loop last went round (a liveness signal: it goes round every retry period). */
  get lastTickAt(): number {
    return this.#lastTickAt;
  }

  get #path(): string {
    return resourcePath('coordination.k8s.io/v1', 'leases', this.#o.namespace, this.#o.name);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(this.#timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#lastTickAt = Date.now();
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#o.log?.('warn', `lease ${this.#o.namespace}/${this.#o.name}: ${(err as Error).message}`);
      }
      if (this.#stopped) break;
      if (ok) {
        this.#lastRenew = Date.now();
        if (!this.#leading) {
          this.#leading = true;
          this.#o.log?.('info', `${this.#o.identity} became leader`);
          this.emit('started');
        }
      } else if (this.#leading && Date.now() - this.#lastRenew > this.#o.renewDeadlineMs) {
        this.#leading = false;
        this.#o.log?.('warn', `${this.#o.identity} lost leadership (no renewal within ${this.#o.renewDeadlineMs} ms)`);
        this.emit('stopped');
      }
      // Jitter on retries of a standby spreads the candidates out (client-go JitterFactor 1.2); a standby also wakes
      // right when the observed lease would expire, so failover takes lease duration + at most one retry period
      // after the holder's last renewal (< 20 s with 15 s / 2 s).
      let wait = this.#leading ? this.#o.retryPeriodMs : Math.round(this.#o.retryPeriodMs * (1 + Math.random() * 0.2));
      if (!this.#leading && this.#observed && this.#observed.holder !== this.#o.identity) {
        const expiresIn = this.#observed.seenAt + this.#observed.durationMs - Date.now() + 50;
        if (expiresIn > 0) wait = Math.min(wait, expiresIn);
      }
      await this.#sleep(wait);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const me = this.#o.identity;
    const durationS = Math.ceil(this.#o.leaseDurationMs / 1000);
    const lease = await this.#client.find<Lease>(this.#path);
    if (!lease) {
      try {
        await this.#client.create(resourcePath('coordination.k8s.io/v1', 'leases', this.#o.namespace), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#o.name, namespace: this.#o.namespace },
          spec: {
            holderIdentity: me,
            leaseDurationSeconds: durationS,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (err) {
        if (isConflict(err) || (err as { code?: number }).code === 409) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const rv = lease.metadata.resourceVersion ?? '';
    // Expiry is judged by when *we* saw the record change (clocks of other holders are not trusted), like client-go.
    const duration = (spec.leaseDurationSeconds ?? durationS) * 1000;
    if (!this.#observed || this.#observed.rv !== rv)
      this.#observed = { holder, rv, seenAt: Date.now(), durationMs: duration };
    const expired = holder === '' || Date.now() - this.#observed.seenAt > duration;
    if (holder !== me && !expired) {
      if (holder) this.emit('leader', holder);
      return false;
    }
    const body: Lease & { apiVersion: string; kind: string } = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...lease.metadata },
      spec: {
        ...spec,
        holderIdentity: me,
        leaseDurationSeconds: durationS,
        renewTime: microTime(now),
        acquireTime: holder === me && spec.acquireTime ? spec.acquireTime : microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === me ? 0 : 1),
      },
    };
    try {
      const updated = await this.#client.replace<Lease>(this.#path, body);
      this.#observed = {
        holder: me,
        rv: updated.metadata.resourceVersion ?? '',
        seenAt: Date.now(),
        durationMs: durationS * 1000,
      };
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** Stop campaigning; when leading, release the Lease so a standby can take over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    if (this.#leading) {
      this.#leading = false;
      try {
        const lease = await this.#client.find<Lease>(this.#path);
        if (lease?.spec?.holderIdentity === this.#o.identity) {
          await this.#client.replace(this.#path, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: lease.metadata,
            spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) },
          });
        }
      } catch (err) {
        if (!isNotFound(err)) this.#o.log?.('warn', `lease release failed: ${(err as Error).message}`);
      }
      this.emit('stopped');
    }
  }
}
