// Admission control for new calls (DESIGN.md §6): per-tenant CPS and concurrent calls, per-trunk CPS and channels
// (with reservations and priority classes, see trunk-capacity.ts), enforced cluster-wide through Redis scripts so
// N sbc-pods hold one limit; a documented per-pod fallback when Redis cannot be reached.
//
// Order of checks for one INVITE (cheapest refusal first; every lease taken is given back if a later check refuses):
//   0. config: unknown tenant/trunk, tenant not allowed on the trunk (pure, no Redis)
//   1. tenant CPS     GCRA on sb:{tenant/<id>}:cps        rate = limits.callsPerSecond, burst = rate × burstSeconds
//   2. tenant calls   leased zset sb:{tenant/<id>}:calls   limit = limits.maxConcurrentCalls
//   3. trunk channels trunk-capacity policy                 capacity.channels, sharing.reservations
//   4. trunk CPS      GCRA on sb:{trunk/<id>}:cps          capacity.callsPerSecond
// A CPS token spent on a call refused by a later check is not refunded (an attempt is an attempt).
//
// Redis unreachable (client not 'ready', an error, or no answer within redisTimeoutMs): the controller marks Redis
// down for retryRedisAfterMs (so a dead Redis costs one timeout, not one per call), answers from process memory per
// `fallback`, and goes back to Redis on the first admission after that interval once the client is ready again:
//   'local-share' (default): the same checks in process memory with every limit divided by the expected pod count
//                 (rates exactly, counts floored, min 1): the cluster as a whole stays near its limits.
//   'fail-open':  admit (no limits) — availability over protection.
//   'fail-closed': refuse with reason 'unavailable' (503).
// Every call this pod admits is also mirrored in the local counters (whatever the backend), so the local share
// counts calls already in progress when Redis went away. Leases of calls admitted while Redis was down are
// reinstated in Redis on the first renewal after it is back (and leases lost in a Redis restart likewise), so the
// cluster view converges without waiting for those calls to end.
import type { Redis } from 'ioredis';
import type { TenantConfig, TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { type ConcurrencyLimiter, LocalConcurrency, RedisConcurrency } from './concurrency.ts';
import { type GcraDecision, LocalGcra, type RateLimiter, RedisGcra } from './gcra.ts';
import { tenantKey, trunkKey } from './redis-script.ts';
import {
  RedisTrunkChannels,
  type TrunkChannelLimiter,
  TrunkChannelModel,
  type TrunkDecision,
  type TrunkPolicy,
  termsFor,
  trunkPolicyFromConfig,
} from './trunk-capacity.ts';

export type Side = 'teams' | 'carrier';

export type AdmissionReason =
  | 'unknown-tenant'
  | 'unknown-trunk'
  | 'trunk-not-allowed'
  | 'tenant-cps'
  | 'tenant-concurrency'
  | 'trunk-channels'
  | 'trunk-priority'
  | 'trunk-cps'
  | 'unavailable';

export interface AdmissionRequest {
  /** Tenant id "namespace/name". */
  tenant: string;
  /** Trunk id when the call uses (goes out on, or came in from) a carrier trunk. */
  trunk?: string;
  /** Unique per call attempt (the inbound Call-ID is fine); retries with the same id are idempotent. */
  callId: string;
  /** Which side sent the INVITE: decides the SIP answer when refused. */
  side: Side;
}

export type Backend = 'redis' | 'local' | 'open';

export interface Admitted {
  ok: true;
  backend: Backend;
  /** Give the slots back (call ended or failed). Idempotent; never throws. */
  release(): Promise<void>;
  /** Refresh the leases (the controller's renewAll does this for every live call). Never throws. */
  renew(): Promise<void>;
  /**
   * Stop holding the call on this pod without giving its slots back: another pod carries the call on (it took it
   * over, or this pod handed it over while draining) and renews the same leases. Idempotent; never throws.
   */
  handOff(): Promise<void>;
}

export interface Refused {
  ok: false;
  reason: AdmissionReason;
  sipStatus: number;
  sipReason: string;
  /** Seconds for a Retry-After header, when the answer carries one. */
  retryAfter?: number;
  /** For the CDR. */
  disposition: 'admission-rejected';
  backend: Backend;
}

export type AdmissionResult = Admitted | Refused;

export interface SideAnswer {
  status: number;
  /** Send Retry-After (seconds) with the answer. */
  retryAfter: boolean;
}

export type FallbackMode = 'local-share' | 'fail-open' | 'fail-closed';

export interface AdmissionOptions {
  /** The cluster store; without one the controller always uses the fallback policy. Create it with
   *  `enableOfflineQueue: false` so commands fail fast while disconnected. */
  redis?: Redis;
  /** Milliseconds clock for leases and rates (Redis scripts are given this time). Default Date.now. */
  now?: () => number;
  /** Default: 503 + Retry-After toward Teams (it fails over to another SBC); 486 toward carriers. */
  answers?: Partial<Record<Side, SideAnswer>>;
  /** Burst allowance in seconds of rate (burst = max(1, ⌈rate × burstSeconds⌉)). Default 1. */
  burstSeconds?: number;
  /** Lease on a concurrency slot / channel; renewAll must run well within it. Default 90 s. */
  leaseMs?: number;
  /** Retry-After for concurrency/channel refusals (a CPS refusal uses its own wait). Default 5 s. */
  busyRetryAfterSeconds?: number;
  fallback?: FallbackMode;
  /** Pods sharing the limits, for 'local-share' (a number, or read on each admission). Default 1. */
  expectedPods?: number | (() => number);
  /** Default 200 ms. */
  redisTimeoutMs?: number;
  /** After a Redis failure, use the fallback for this long before trying Redis again. Default 1 s. */
  retryRedisAfterMs?: number;
  /** Told when the backend in use changes ('redis' ↔ the fallback). */
  onBackendChange?: (backend: Backend, cause?: unknown) => void;
}

export interface LimitsConfig {
  tenants: readonly Pick<TenantConfig, 'id' | 'limits'>[];
  trunks: readonly Pick<TrunkConfig, 'id' | 'capacity' | 'sharing'>[];
}

interface TrunkLimits {
  policy: TrunkPolicy;
  callsPerSecond: number | null;
}

interface Backends {
  kind: 'redis' | 'local';
  rate: RateLimiter;
  calls: ConcurrencyLimiter;
  channels: TrunkChannelLimiter;
}

type Lease = { kind: 'calls'; key: string } | { kind: 'channel'; trunk: string; tenant: string };

export interface ScopeCounters {
  admitted: number;
  rejected: Partial<Record<AdmissionReason, number>>;
}

export interface AdmissionStats {
  backend: 'redis' | 'fallback';
  fallbackMode: FallbackMode;
  /** Admissions answered by the fallback, and Redis failures seen. */
  fallbackAdmissions: number;
  redisFailures: number;
  liveCalls: number;
  tenants: Record<string, ScopeCounters>;
  trunks: Record<string, ScopeCounters>;
  reasons: Partial<Record<AdmissionReason, number>>;
}

const DEFAULT_ANSWERS: Record<Side, SideAnswer> = {
  teams: { status: 503, retryAfter: true },
  carrier: { status: 486, retryAfter: false },
};

const REASON_PHRASES: Record<number, string> = {
  403: 'Forbidden',
  480: 'Temporarily Unavailable',
  486: 'Busy Here',
  503: 'Service Unavailable',
};

class RedisUnavailable extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailable(`redis: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Scale a trunk policy to one pod's share (channels and reservations floored, min 1 where non-zero). */
export function sharePolicy(policy: TrunkPolicy, pods: number): TrunkPolicy {
  if (pods <= 1) return policy;
  const part = (n: number) => Math.max(1, Math.floor(n / pods));
  return {
    ...policy,
    channels: policy.channels === null ? null : part(policy.channels),
    reservations: policy.reservations.map((r) => ({ ...r, channels: part(r.channels) })),
    priorityStep: policy.priorityStep === undefined ? undefined : Math.floor(policy.priorityStep / pods),
  };
}

export class AdmissionController {
  readonly #redis: Redis | undefined;
  readonly #now: () => number;
  readonly #answers: Record<Side, SideAnswer>;
  readonly #burstSeconds: number;
  readonly #leaseMs: number;
  readonly #busyRetryAfter: number;
  readonly #fallback: FallbackMode;
  readonly #pods: () => number;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  readonly #onBackendChange: ((backend: Backend, cause?: unknown) => void) | undefined;
  readonly #remote: Backends | undefined;
  readonly #local: { kind: 'local'; rate: LocalGcra; calls: LocalConcurrency; channels: TrunkChannelModel };
  #tenants = new Map<string, TenantConfig['limits']>();
  #trunks = new Map<string, TrunkLimits>();
  #downUntil = Number.NEGATIVE_INFINITY;
  #usingRedis: boolean;
  #fallbackAdmissions = 0;
  #redisFailures = 0;
  readonly #live = new Set<Ticket>();
  readonly #tenantCounters = new Map<string, ScopeCounters>();
  readonly #trunkCounters = new Map<string, ScopeCounters>();
  readonly #reasons: Partial<Record<AdmissionReason, number>> = {};

  constructor(options: AdmissionOptions = {}) {
    this.#redis = options.redis;
    this.#now = options.now ?? Date.now;
    this.#answers = { ...DEFAULT_ANSWERS, ...options.answers };
    this.#burstSeconds = options.burstSeconds ?? 1;
    this.#leaseMs = options.leaseMs ?? 90_000;
    this.#busyRetryAfter = options.busyRetryAfterSeconds ?? 5;
    this.#fallback = options.fallback ?? 'local-share';
    const pods = options.expectedPods ?? 1;
    this.#pods = typeof pods === 'function' ? pods : () => pods;
    this.#timeoutMs = options.redisTimeoutMs ?? 200;
    this.#retryMs = options.retryRedisAfterMs ?? 1_000;
    this.#onBackendChange = options.onBackendChange;
    const now = this.#now;
    this.#local = {
      kind: 'local',
      rate: new LocalGcra({ now }),
      calls: new LocalConcurrency({ now }),
      channels: new TrunkChannelModel({ now }),
    };
    this.#remote = options.redis
      ? {
          kind: 'redis',
          rate: new RedisGcra(options.redis, { now }),
          calls: new RedisConcurrency(options.redis, { now }),
          channels: new RedisTrunkChannels(options.redis, { now }),
        }
      : undefined;
    this.#usingRedis = this.#remote !== undefined;
  }

  /** Load (or replace) the limits from the rendered config. Calls in progress keep their slots. */
  setConfig(config: LimitsConfig): void {
    this.#tenants = new Map(config.tenants.map((t) => [t.id, t.limits]));
    this.#trunks = new Map(
      config.trunks.map((t) => [t.id, { policy: trunkPolicyFromConfig(t), callsPerSecond: t.capacity.callsPerSecond }]),
    );
  }

  /** Decide on a new call. Never throws; Redis trouble switches to the fallback policy. */
  async admit(req: AdmissionRequest): Promise<AdmissionResult> {
    const limits = this.#tenants.get(req.tenant);
    if (!limits) return this.#refuse(req, 'unknown-tenant', 'local');
    let trunk: TrunkLimits | undefined;
    if (req.trunk !== undefined) {
      trunk = this.#trunks.get(req.trunk);
      if (!trunk) return this.#refuse(req, 'unknown-trunk', 'local');
      if (!termsFor(trunk.policy, req.tenant).allowed) return this.#refuse(req, 'trunk-not-allowed', 'local');
    }
    if (this.#redisUsable()) {
      try {
        const result = await this.#admitWith(this.#remote!, req, limits, trunk, 1);
        this.#setUsingRedis(true);
        return result;
      } catch (err) {
        this.#markDown(err);
      }
    }
    if (this.#remote) this.#setUsingRedis(false);
    this.#fallbackAdmissions++;
    if (this.#fallback === 'fail-open') return this.#admitted(req, 'open', []);
    if (this.#fallback === 'fail-closed') return this.#refuse(req, 'unavailable', 'local');
    return this.#admitWith(this.#local, req, limits, trunk, Math.max(1, this.#pods()));
  }

  /**
   * A call in progress that this pod took over from another (DESIGN.md §8): hold its slots here without a limit
   * check — it is a live call, already counted — so this pod renews them and gives them back when the call ends. The
   * leases are the ones the first pod took (same call id, so the call is never counted twice) and are reinstated at
   * once if they lapsed after that pod died. Never throws; without Redis they are reinstated on a later renewal.
   */
  async adopt(req: AdmissionRequest): Promise<Admitted> {
    const leases: Lease[] = [];
    if (this.#tenants.has(req.tenant)) leases.push({ kind: 'calls', key: tenantKey(req.tenant, 'calls') });
    const trunk = req.trunk === undefined ? undefined : this.#trunks.get(req.trunk);
    if (trunk && trunk.policy.channels !== null && termsFor(trunk.policy, req.tenant).allowed) {
      leases.push({ kind: 'channel', trunk: trunk.policy.trunk, tenant: req.tenant });
    }
    const ticket = new Ticket(this, req, leases, 'local');
    this.#live.add(ticket);
    await this._renew(ticket).catch(() => {});
    return ticket.handle();
  }

  /** Renew the leases of every call in progress (run every leaseMs / 3 or so). Never throws. */
  async renewAll(): Promise<void> {
    await Promise.all([...this.#live].map((t) => this._renew(t).catch(() => {})));
  }

  /** Renew every live call's leases every `intervalMs` (default leaseMs / 3) until the returned stop is called. */
  startRenewal(intervalMs = Math.floor(this.#leaseMs / 3)): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      void this.renewAll().finally(() => {
        running = false;
      });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Calls this pod holds admission for. */
  get liveCalls(): number {
    return this.#live.size;
  }

  /** Which store answers right now. */
  get backend(): 'redis' | 'fallback' {
    return this.#redisUsable() ? 'redis' : 'fallback';
  }

  stats(): AdmissionStats {
    const copy = (m: Map<string, ScopeCounters>) =>
      Object.fromEntries([...m].map(([k, v]) => [k, { admitted: v.admitted, rejected: { ...v.rejected } }]));
    return {
      backend: this.backend,
      fallbackMode: this.#fallback,
      fallbackAdmissions: this.#fallbackAdmissions,
      redisFailures: this.#redisFailures,
      liveCalls: this.#live.size,
      tenants: copy(this.#tenantCounters),
      trunks: copy(this.#trunkCounters),
      reasons: { ...this.#reasons },
    };
  }

  #redisUsable(): boolean {
    return this.#remote !== undefined && this.#redis?.status === 'ready' && this.#now() >= this.#downUntil;
  }

  #markDown(err: unknown): void {
    this.#redisFailures++;
    this.#downUntil = this.#now() + this.#retryMs;
    this.#setUsingRedis(false, err);
  }

  #setUsingRedis(on: boolean, cause?: unknown): void {
    if (this.#usingRedis === on) return;
    this.#usingRedis = on;
    this.#onBackendChange?.(on ? 'redis' : this.#fallback === 'fail-open' ? 'open' : 'local', cause);
  }

  async #call<T>(b: Backends, op: () => Promise<T>): Promise<T> {
    return b.kind === 'redis' ? withTimeout(op(), this.#timeoutMs) : op();
  }

  /** Run the checks on one backend. Throws only for Redis trouble (after giving back what it took). */
  async #admitWith(
    b: Backends,
    req: AdmissionRequest,
    limits: TenantConfig['limits'],
    trunk: TrunkLimits | undefined,
    pods: number,
  ): Promise<AdmissionResult> {
    const held: Lease[] = [];
    const backend = b.kind;
    try {
      const tenantCps = await this.#call(b, () =>
        b.rate.take(tenantKey(req.tenant, 'cps'), this.#rateParams(limits.callsPerSecond, pods)),
      );
      if (!tenantCps.allowed) return this.#refuse(req, 'tenant-cps', backend, tenantCps);

      const callsKey = tenantKey(req.tenant, 'calls');
      const limit = Math.max(1, Math.floor(limits.maxConcurrentCalls / pods));
      const calls = await this.#call(b, () => b.calls.acquire(callsKey, req.callId, limit, this.#leaseMs));
      if (!calls.ok) return this.#refuse(req, 'tenant-concurrency', backend);
      held.push({ kind: 'calls', key: callsKey });

      if (trunk) {
        const policy = sharePolicy(trunk.policy, pods);
        const channel: TrunkDecision = await this.#call(b, () =>
          b.channels.acquire(policy, req.tenant, req.callId, this.#leaseMs),
        );
        if (!channel.ok) {
          await this.#giveBack(b, held, req);
          const reason =
            channel.refusal === 'held-for-priority'
              ? 'trunk-priority'
              : channel.refusal === 'full'
                ? 'trunk-channels'
                : 'trunk-not-allowed';
          return this.#refuse(req, reason, backend);
        }
        if (channel.kind !== 'unlimited') held.push({ kind: 'channel', trunk: trunk.policy.trunk, tenant: req.tenant });
        if (trunk.callsPerSecond !== null) {
          const cps = trunk.callsPerSecond;
          const trunkCps = await this.#call(b, () =>
            b.rate.take(trunkKey(trunk.policy.trunk, 'cps'), this.#rateParams(cps, pods)),
          );
          if (!trunkCps.allowed) {
            await this.#giveBack(b, held, req);
            return this.#refuse(req, 'trunk-cps', backend, trunkCps);
          }
        }
      }
    } catch (err) {
      // Redis trouble: give back in the background (the caller must not wait on a sick Redis; leases lapse anyway).
      void this.#giveBack(b, held, req);
      throw err;
    }
    return this.#admitted(req, backend, held);
  }

  #rateParams(rate: number, pods: number): { rate: number; burst: number } {
    const burst = Math.max(1, Math.ceil(rate * this.#burstSeconds));
    return { rate: rate / pods, burst: Math.max(1, Math.floor(burst / pods)) };
  }

  async #giveBack(b: Backends, held: readonly Lease[], req: AdmissionRequest): Promise<void> {
    for (const lease of held) {
      try {
        await this.#call(b, () => releaseLease(b, lease, req.callId));
      } catch {
        // The lease expires on its own.
      }
    }
  }

  #admitted(req: AdmissionRequest, backend: Backend, held: Lease[]): Admitted {
    const ticket = new Ticket(this, req, backend === 'open' ? [] : held, backend);
    if (backend !== 'open') {
      this.#live.add(ticket);
      // Mirror in process memory (a local call is already there): the fallback then counts this call too.
      if (backend === 'redis') for (const lease of held) void renewLease(this.#local, lease, req.callId, this.#leaseMs);
    }
    this.#count(req, undefined);
    return ticket.handle();
  }

  #refuse(req: AdmissionRequest, reason: AdmissionReason, backend: Backend, rate?: GcraDecision): Refused {
    this.#count(req, reason);
    let status: number;
    let retry: boolean;
    if (reason === 'unknown-tenant' || reason === 'trunk-not-allowed') {
      status = 403;
      retry = false;
    } else if (reason === 'unavailable') {
      status = 503;
      retry = true;
    } else {
      ({ status, retryAfter: retry } = this.#answers[req.side]);
    }
    const refused: Refused = {
      ok: false,
      reason,
      sipStatus: status,
      sipReason: REASON_PHRASES[status] ?? 'Service Unavailable',
      disposition: 'admission-rejected',
      backend,
    };
    if (retry) refused.retryAfter = rate ? Math.max(1, Math.ceil(rate.retryAfterMs / 1000)) : this.#busyRetryAfter;
    return refused;
  }

  #count(req: AdmissionRequest, reason: AdmissionReason | undefined): void {
    const bump = (m: Map<string, ScopeCounters>, key: string) => {
      let c = m.get(key);
      if (!c) {
        c = { admitted: 0, rejected: {} };
        m.set(key, c);
      }
      if (reason) c.rejected[reason] = (c.rejected[reason] ?? 0) + 1;
      else c.admitted++;
    };
    // Only configured names become counter keys, so the maps stay bounded by the config.
    if (this.#tenants.has(req.tenant)) bump(this.#tenantCounters, req.tenant);
    if (req.trunk !== undefined && this.#trunks.has(req.trunk)) bump(this.#trunkCounters, req.trunk);
    if (reason) this.#reasons[reason] = (this.#reasons[reason] ?? 0) + 1;
  }

  // Used by Ticket.

  /** @internal */
  async _release(ticket: Ticket): Promise<void> {
    this.#live.delete(ticket);
    for (const lease of ticket.leases) await releaseLease(this.#local, lease, ticket.callId);
    if (ticket.backend !== 'redis' || !this.#remote) return;
    if (!this.#redisUsable()) return; // the Redis lease lapses by itself
    for (const lease of ticket.leases) {
      try {
        await withTimeout(releaseLease(this.#remote, lease, ticket.callId), this.#timeoutMs);
      } catch (err) {
        this.#markDown(err);
        return;
      }
    }
  }

  /** @internal The call goes on elsewhere: forget it here (and in the local mirror), leave the Redis leases. */
  async _handOff(ticket: Ticket): Promise<void> {
    this.#live.delete(ticket);
    for (const lease of ticket.leases) await releaseLease(this.#local, lease, ticket.callId);
  }

  /** @internal */
  async _renew(ticket: Ticket): Promise<void> {
    for (const lease of ticket.leases) await renewLease(this.#local, lease, ticket.callId, this.#leaseMs);
    if (ticket.backend === 'open' || !this.#remote || !this.#redisUsable()) return;
    // Redis leases are refreshed (reinstated if Redis lost them); a call admitted by the fallback moves to Redis.
    for (const lease of ticket.leases) {
      try {
        await withTimeout(renewLease(this.#remote, lease, ticket.callId, this.#leaseMs), this.#timeoutMs);
      } catch (err) {
        this.#markDown(err);
        return;
      }
    }
    ticket.backend = 'redis';
  }
}

function releaseLease(b: Backends, lease: Lease, callId: string): Promise<void> {
  return lease.kind === 'calls'
    ? b.calls.release(lease.key, callId)
    : b.channels.release(lease.trunk, lease.tenant, callId);
}

async function renewLease(b: Backends, lease: Lease, callId: string, leaseMs: number): Promise<boolean> {
  return lease.kind === 'calls'
    ? b.calls.renew(lease.key, callId, leaseMs)
    : b.channels.renew(lease.trunk, lease.tenant, callId, leaseMs);
}

class Ticket {
  readonly #controller: AdmissionController;
  readonly callId: string;
  readonly leases: readonly Lease[];
  backend: Backend;
  #released = false;

  constructor(controller: AdmissionController, req: AdmissionRequest, leases: readonly Lease[], backend: Backend) {
    this.#controller = controller;
    this.callId = req.callId;
    this.leases = leases;
    this.backend = backend;
  }

  handle(): Admitted {
    const ticket = this;
    return {
      ok: true,
      get backend() {
        return ticket.backend;
      },
      release: async () => {
        if (ticket.#released) return;
        ticket.#released = true;
        await this.#controller._release(ticket).catch(() => {});
      },
      renew: async () => {
        if (ticket.#released) return;
        await this.#controller._renew(ticket).catch(() => {});
      },
      handOff: async () => {
        if (ticket.#released) return;
        ticket.#released = true;
        await this.#controller._handOff(ticket).catch(() => {});
      },
    };
  }
}
