// Per-trunk channel capacity with per-tenant reservations and priority classes, held cluster-wide in Redis.
//
// POLICY (the contract; `decideTrunk` is its executable form and the Lua script below implements it identically):
//
//   Inputs per trunk: C = capacity.channels (null = unlimited: no channel accounting at all), the reservations
//   r_t (channels guaranteed to tenant t) with priority p_t (0..1000, LOWER wins, as in the Trunk CRD), and the
//   live usage u_t of every tenant (calls holding an unexpired lease on this trunk).
//
//   0. Who may use the trunk at all: `sharing.allowedTenants` ('All' or a list). A Dedicated trunk renders its one
//      owner as the only allowed tenant, so every other tenant is refused ('trunk-not-allowed') whatever the load.
//   1. Physical cap: a call is refused when Σ u ≥ C ('full'), always — even inside a reservation (this only bites
//      when reservations are over-committed, Σ r > C, or a config change shrank C below current use).
//   2. Reserved first: while u_t < r_t the call takes one of t's reserved channels and is admitted. Nobody else can
//      ever hold those channels, so a reservation is a guarantee, not a hint.
//   3. Borrowing: beyond its reservation (and for tenants without one, r_t = 0) a call borrows from the unreserved
//      pool U = max(0, C − Σ r). Pool use is B = Σ_t max(0, u_t − r_t); free F = U − B. F ≤ 0 → 'full'.
//   4. Priority classes guard the LAST part of the pool: the classes on a trunk are the distinct reservation
//      priorities plus the default priority (100, for tenants without a reservation), ranked ascending
//      (rank 0 = best). A tenant of rank k may borrow only while F > k × step, i.e. it must leave k × step pool
//      channels for better classes; the best class may take the pool to the last channel. Refusal here is
//      'held-for-priority'. step = the configured channels per rank, or by default max(1, ⌊U / (2n)⌋) for n ≥ 2
//      classes (so the worst class can still use about half of the pool when it is idle), 0 for a single class.
//
//   Consequences: one tenant's flood takes at most r_t + U channels and never a channel reserved to another; when
//   capacity is short the better class keeps getting channels after the worse ones are refused; priority never
//   pre-empts a call in progress (a call's channel is held until it ends or its lease lapses).
//
// Crash safety as in concurrency.ts: per (trunk, tenant) a sorted set `sb:{trunk/ns/name}:ch:<tenant>` of call ids
// scored by lease expiry, plus the set `sb:{trunk/ns/name}:tenants` indexing which tenants hold channels. The acquire
// script drops expired leases of every tenant on the trunk before counting, so a dead pod's calls free their channels
// when their leases run out. All keys share the trunk's hash tag, so the script is valid on Redis Cluster (the
// per-tenant keys are derived in the script from a prefix: same slot, though not declared in KEYS).
//
// The pure `TrunkChannelModel` (process memory) applies the same policy and serves as the per-pod fallback and as the
// test oracle for the script.

import type { Redis } from 'ioredis';
import type { TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { luaScript, runScript, trunkKey } from './redis-script.ts';

export const DEFAULT_RESERVATION_PRIORITY = 100;

export interface TrunkPolicy {
  trunk: string;
  mode: 'Dedicated' | 'Shared';
  allowedTenants: 'All' | readonly string[];
  /** null: unlimited (no channel accounting). */
  channels: number | null;
  reservations: readonly { tenant: string; channels: number; priority: number }[];
  /** Pool channels per priority rank (see the policy); default max(1, ⌊U / 2n⌋) with n ≥ 2 classes. */
  priorityStep?: number;
  /** Priority of tenants without a reservation; default 100 (the CRD default). */
  defaultPriority?: number;
}

export function trunkPolicyFromConfig(trunk: Pick<TrunkConfig, 'id' | 'capacity' | 'sharing'>): TrunkPolicy {
  return {
    trunk: trunk.id,
    mode: trunk.sharing.mode,
    allowedTenants: trunk.sharing.allowedTenants,
    channels: trunk.capacity.channels,
    reservations: trunk.sharing.reservations,
  };
}

/** What the policy gives one tenant on one trunk, independent of the current load. */
export interface TenantTerms {
  allowed: boolean;
  /** Channels reserved to the tenant (0 without a reservation). */
  reserved: number;
  priority: number;
  rank: number;
  /** Free pool channels the tenant must leave for better classes (rank × step). */
  headroom: number;
  /** U = max(0, C − Σ r); 0 when unlimited. */
  unreservedPool: number;
}

export function unreservedPool(policy: TrunkPolicy): number {
  if (policy.channels === null) return 0;
  return Math.max(0, policy.channels - policy.reservations.reduce((sum, r) => sum + r.channels, 0));
}

export function termsFor(policy: TrunkPolicy, tenant: string): TenantTerms {
  const allowed = policy.allowedTenants === 'All' || policy.allowedTenants.includes(tenant);
  const defaultPriority = policy.defaultPriority ?? DEFAULT_RESERVATION_PRIORITY;
  const own = policy.reservations.find((r) => r.tenant === tenant);
  const priority = own?.priority ?? defaultPriority;
  const classes = [...new Set([defaultPriority, ...policy.reservations.map((r) => r.priority)])].sort((a, b) => a - b);
  const rank = classes.indexOf(priority);
  const pool = unreservedPool(policy);
  const step = policy.priorityStep ?? (classes.length >= 2 ? Math.max(1, Math.floor(pool / (2 * classes.length))) : 0);
  return { allowed, reserved: own?.channels ?? 0, priority, rank, headroom: rank * step, unreservedPool: pool };
}

export type TrunkRefusal = 'trunk-not-allowed' | 'full' | 'held-for-priority';

export type TrunkDecision =
  | { ok: true; kind: 'reserved' | 'pool' | 'unlimited' | 'repeat' }
  | { ok: false; refusal: TrunkRefusal };

/** The policy as a pure function of the live usage per tenant (expired leases already removed). */
export function decideTrunk(
  policy: TrunkPolicy,
  tenant: string,
  usage: ReadonlyMap<string, number>,
  terms: TenantTerms = termsFor(policy, tenant),
): TrunkDecision {
  if (!terms.allowed) return { ok: false, refusal: 'trunk-not-allowed' };
  if (policy.channels === null) return { ok: true, kind: 'unlimited' };
  const reservedOf = new Map(policy.reservations.map((r) => [r.tenant, r.channels]));
  let total = 0;
  let poolUsed = 0;
  for (const [t, n] of usage) {
    total += n;
    poolUsed += Math.max(0, n - (reservedOf.get(t) ?? 0));
  }
  if (total >= policy.channels) return { ok: false, refusal: 'full' };
  if ((usage.get(tenant) ?? 0) < terms.reserved) return { ok: true, kind: 'reserved' };
  const free = terms.unreservedPool - poolUsed;
  if (free <= 0) return { ok: false, refusal: 'full' };
  if (free <= terms.headroom) return { ok: false, refusal: 'held-for-priority' };
  return { ok: true, kind: 'pool' };
}

export interface TrunkChannelLimiter {
  acquire(policy: TrunkPolicy, tenant: string, callId: string, leaseMs: number): Promise<TrunkDecision>;
  release(trunk: string, tenant: string, callId: string): Promise<void>;
  /** Refresh a lease; false when it had been lost (it is reinstated either way, without a capacity check). */
  renew(trunk: string, tenant: string, callId: string, leaseMs: number): Promise<boolean>;
  /** Live channels per tenant on the trunk. */
  usage(trunk: string): Promise<Map<string, number>>;
}

export const trunkTenantsKey = (trunk: string): string => trunkKey(trunk, 'tenants');
export const trunkChannelPrefix = (trunk: string): string => trunkKey(trunk, 'ch:');

const NOW = `
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local function extend(key, lease)
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end
`;

/**
 * KEYS[1] = tenants index set. ARGV = now ms ('' = TIME), lease ms, call id, tenant, channels, reserved (tenant's),
 * headroom, unreserved pool, per-tenant key prefix, then pairs (tenant, reserved channels) for every reservation.
 * Returns {1, kind} or {0, refusal}.
 */
export const TRUNK_ACQUIRE_LUA = luaScript(`${NOW}
local lease = tonumber(ARGV[2])
local callId = ARGV[3]
local tenant = ARGV[4]
local channels = tonumber(ARGV[5])
local reserved = tonumber(ARGV[6])
local headroom = tonumber(ARGV[7])
local pool = tonumber(ARGV[8])
local prefix = ARGV[9]
local res = {}
for i = 10, #ARGV, 2 do res[ARGV[i]] = tonumber(ARGV[i + 1]) end
local own = prefix .. tenant
redis.call('ZREMRANGEBYSCORE', own, '-inf', now)
if redis.call('ZSCORE', own, callId) then
  redis.call('ZADD', own, now + lease, callId)
  extend(own, lease)
  extend(KEYS[1], lease)
  return {1, 'repeat'}
end
local total, poolUsed, mine = 0, 0, 0
for _, t in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = prefix .. t
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  local n = redis.call('ZCARD', k)
  if n == 0 then
    redis.call('SREM', KEYS[1], t)
  else
    total = total + n
    local r = res[t] or 0
    if n > r then poolUsed = poolUsed + n - r end
    if t == tenant then mine = n end
  end
end
if total >= channels then return {0, 'full'} end
local kind = 'reserved'
if mine >= reserved then
  local free = pool - poolUsed
  if free <= 0 then return {0, 'full'} end
  if free <= headroom then return {0, 'held-for-priority'} end
  kind = 'pool'
end
redis.call('ZADD', own, now + lease, callId)
redis.call('SADD', KEYS[1], tenant)
extend(own, lease)
extend(KEYS[1], lease)
return {1, kind}
`);

/** KEYS[1] = tenants index, KEYS[2] = the tenant's zset. ARGV = now, lease, call id, tenant. 1 when still held. */
export const TRUNK_RENEW_LUA = luaScript(`${NOW}
local lease = tonumber(ARGV[2])
local held = redis.call('ZSCORE', KEYS[2], ARGV[3])
if held and tonumber(held) <= now then held = false end
redis.call('ZADD', KEYS[2], now + lease, ARGV[3])
redis.call('SADD', KEYS[1], ARGV[4])
extend(KEYS[2], lease)
extend(KEYS[1], lease)
if held then return 1 end
return 0
`);

/** KEYS[1] = tenants index. ARGV = now, prefix. Returns a flat list tenant, count. */
export const TRUNK_USAGE_LUA = luaScript(`${NOW}
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local n = redis.call('ZCOUNT', ARGV[2] .. t, '(' .. now, '+inf')
  if n > 0 then
    out[#out + 1] = t
    out[#out + 1] = n
  end
end
return out
`);

export class RedisTrunkChannels implements TrunkChannelLimiter {
  readonly #redis: Redis;
  readonly #now: (() => number) | 'redis';

  constructor(redis: Redis, options: { now?: (() => number) | 'redis' } = {}) {
    this.#redis = redis;
    this.#now = options.now ?? Date.now;
  }

  #nowArg(): string {
    return this.#now === 'redis' ? '' : String(Math.floor(this.#now()));
  }

  async acquire(policy: TrunkPolicy, tenant: string, callId: string, leaseMs: number): Promise<TrunkDecision> {
    const terms = termsFor(policy, tenant);
    if (!terms.allowed) return { ok: false, refusal: 'trunk-not-allowed' };
    if (policy.channels === null) return { ok: true, kind: 'unlimited' };
    const args: (string | number)[] = [
      this.#nowArg(),
      leaseMs,
      callId,
      tenant,
      policy.channels,
      terms.reserved,
      terms.headroom,
      terms.unreservedPool,
      trunkChannelPrefix(policy.trunk),
    ];
    for (const r of policy.reservations) args.push(r.tenant, r.channels);
    const [ok, what] = (await runScript(this.#redis, TRUNK_ACQUIRE_LUA, [trunkTenantsKey(policy.trunk)], args)) as [
      number,
      string,
    ];
    return ok === 1
      ? { ok: true, kind: what as 'reserved' | 'pool' | 'repeat' }
      : { ok: false, refusal: what as TrunkRefusal };
  }

  async release(trunk: string, tenant: string, callId: string): Promise<void> {
    await this.#redis.zrem(trunkChannelPrefix(trunk) + tenant, callId);
  }

  async renew(trunk: string, tenant: string, callId: string, leaseMs: number): Promise<boolean> {
    const reply = await runScript(
      this.#redis,
      TRUNK_RENEW_LUA,
      [trunkTenantsKey(trunk), trunkChannelPrefix(trunk) + tenant],
      [this.#nowArg(), leaseMs, callId, tenant],
    );
    return reply === 1;
  }

  async usage(trunk: string): Promise<Map<string, number>> {
    const flat = (await runScript(
      this.#redis,
      TRUNK_USAGE_LUA,
      [trunkTenantsKey(trunk)],
      [this.#nowArg(), trunkChannelPrefix(trunk)],
    )) as (string | number)[];
    const out = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), Number(flat[i + 1]));
    return out;
  }
}

/** The policy over process memory: the per-pod fallback, and the oracle the Lua script is tested against. */
export class TrunkChannelModel implements TrunkChannelLimiter {
  readonly #now: () => number;
  /** trunk → tenant → call id → lease expiry (ms). */
  readonly #trunks = new Map<string, Map<string, Map<string, number>>>();

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  #live(trunk: string, now: number): Map<string, Map<string, number>> {
    let tenants = this.#trunks.get(trunk);
    if (!tenants) {
      tenants = new Map();
      this.#trunks.set(trunk, tenants);
    }
    for (const [t, calls] of tenants) {
      for (const [id, expiry] of calls) if (expiry <= now) calls.delete(id);
      if (calls.size === 0) tenants.delete(t);
    }
    return tenants;
  }

  acquireSync(policy: TrunkPolicy, tenant: string, callId: string, leaseMs: number): TrunkDecision {
    const terms = termsFor(policy, tenant);
    if (!terms.allowed) return { ok: false, refusal: 'trunk-not-allowed' };
    if (policy.channels === null) return { ok: true, kind: 'unlimited' };
    const now = Math.floor(this.#now());
    const tenants = this.#live(policy.trunk, now);
    const mine = tenants.get(tenant);
    if (mine?.has(callId)) {
      mine.set(callId, now + leaseMs);
      return { ok: true, kind: 'repeat' };
    }
    const usage = new Map<string, number>();
    for (const [t, calls] of tenants) usage.set(t, calls.size);
    const decision = decideTrunk(policy, tenant, usage, terms);
    if (decision.ok) {
      const calls = mine ?? new Map<string, number>();
      calls.set(callId, now + leaseMs);
      tenants.set(tenant, calls);
    }
    return decision;
  }

  async acquire(policy: TrunkPolicy, tenant: string, callId: string, leaseMs: number): Promise<TrunkDecision> {
    return this.acquireSync(policy, tenant, callId, leaseMs);
  }

  async release(trunk: string, tenant: string, callId: string): Promise<void> {
    const calls = this.#trunks.get(trunk)?.get(tenant);
    calls?.delete(callId);
  }

  async renew(trunk: string, tenant: string, callId: string, leaseMs: number): Promise<boolean> {
    const now = Math.floor(this.#now());
    const tenants = this.#live(trunk, now);
    const calls = tenants.get(tenant) ?? new Map<string, number>();
    const held = calls.has(callId);
    calls.set(callId, now + leaseMs);
    tenants.set(tenant, calls);
    return held;
  }

  usageSync(trunk: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const [t, calls] of this.#live(trunk, Math.floor(this.#now()))) out.set(t, calls.size);
    return out;
  }

  async usage(trunk: string): Promise<Map<string, number>> {
    return this.usageSync(trunk);
  }
}
