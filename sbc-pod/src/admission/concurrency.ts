// Cluster-wide concurrent-call counting that survives a pod crash.
//
// Per limited thing (a tenant: `sb:{tenant/ns/name}:calls`) one sorted set: member = call id, score = lease expiry
// (ms). A call holds its slot only while its lease is fresh; the pod that admitted it renews every live call's lease
// periodically (AdmissionController.renewAll). A pod that dies stops renewing, and its calls' slots are reclaimed by
// the next acquire on the key once their leases run out — no coordinator, no cleanup job.
//
//   acquire  = one script: drop expired members, then (call already present → refresh, ok) / (count ≥ limit → no)
//              / ZADD. Idempotent per call id, so a retry after a timeout cannot take two slots.
//   release  = ZREM.
//   renew    = ZADD (refresh). It reports whether the member was still there; if it was not (the lease had expired
//              while the pod could not reach Redis, or Redis restarted empty) the call is *reinstated* without a
//              limit check — it is a real call in progress, and counting it keeps the cluster view honest.
//
// The key itself expires after the longest lease it holds, so idle tenants cost nothing.
import type { Redis } from 'ioredis';
import { luaScript, runScript } from './redis-script.ts';

export interface AcquireResult {
  ok: boolean;
  /** Calls holding a slot after this attempt (including this one when ok). */
  inUse: number;
}

export interface ConcurrencyLimiter {
  acquire(key: string, callId: string, limit: number, leaseMs: number): Promise<AcquireResult>;
  release(key: string, callId: string): Promise<void>;
  /** Refresh a lease; false when it had been lost (it is reinstated either way). */
  renew(key: string, callId: string, leaseMs: number): Promise<boolean>;
  /** Live (unexpired) holders. */
  count(key: string): Promise<number>;
}

const NOW = `
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[4])
end
`;

const EXTEND_TTL = `
local function extend(key, lease)
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end
`;

/** KEYS[1] zset; ARGV = call id, limit, lease ms, now ms ('' = Redis TIME). Returns {ok 0|1, inUse}. */
export const ACQUIRE_LUA = luaScript(`${NOW}${EXTEND_TTL}
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  extend(KEYS[1], lease)
  return {1, redis.call('ZCARD', KEYS[1])}
end
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then return {0, n} end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
extend(KEYS[1], lease)
return {1, n + 1}
`);

/** KEYS[1] zset; ARGV = call id, (unused), lease ms, now ms. Returns 1 when the member was still there. */
export const RENEW_LUA = luaScript(`${NOW}${EXTEND_TTL}
local lease = tonumber(ARGV[3])
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held and tonumber(held) <= now then held = false end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
extend(KEYS[1], lease)
if held then return 1 end
return 0
`);

/** KEYS[1] zset; ARGV = (unused) ×3, now ms. Live holders. */
export const COUNT_LUA = luaScript(`${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`);

export interface ClockOption {
  /** Milliseconds clock; 'redis' uses Redis TIME inside the scripts. Default Date.now. */
  now?: (() => number) | 'redis';
}

export class RedisConcurrency implements ConcurrencyLimiter {
  readonly #redis: Redis;
  readonly #now: (() => number) | 'redis';

  constructor(redis: Redis, options: ClockOption = {}) {
    this.#redis = redis;
    this.#now = options.now ?? Date.now;
  }

  #nowArg(): string {
    return this.#now === 'redis' ? '' : String(Math.floor(this.#now()));
  }

  async acquire(key: string, callId: string, limit: number, leaseMs: number): Promise<AcquireResult> {
    const [ok, inUse] = (await runScript(
      this.#redis,
      ACQUIRE_LUA,
      [key],
      [callId, limit, leaseMs, this.#nowArg()],
    )) as [number, number];
    return { ok: ok === 1, inUse };
  }

  async release(key: string, callId: string): Promise<void> {
    await this.#redis.zrem(key, callId);
  }

  async renew(key: string, callId: string, leaseMs: number): Promise<boolean> {
    return (await runScript(this.#redis, RENEW_LUA, [key], [callId, 0, leaseMs, this.#nowArg()])) === 1;
  }

  async count(key: string): Promise<number> {
    return Number(await runScript(this.#redis, COUNT_LUA, [key], [0, 0, 0, this.#nowArg()]));
  }
}

/** The same semantics in process memory: the per-pod fallback and the model for tests. */
export class LocalConcurrency implements ConcurrencyLimiter {
  readonly #now: () => number;
  readonly #sets = new Map<string, Map<string, number>>();

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  #live(key: string, now: number): Map<string, number> | undefined {
    const set = this.#sets.get(key);
    if (!set) return undefined;
    for (const [id, expiry] of set) if (expiry <= now) set.delete(id);
    if (set.size === 0) {
      this.#sets.delete(key);
      return undefined;
    }
    return set;
  }

  acquireSync(key: string, callId: string, limit: number, leaseMs: number): AcquireResult {
    const now = Math.floor(this.#now());
    const set = this.#live(key, now) ?? new Map<string, number>();
    if (!set.has(callId) && set.size >= limit) return { ok: false, inUse: set.size };
    set.set(callId, now + leaseMs);
    this.#sets.set(key, set);
    return { ok: true, inUse: set.size };
  }

  async acquire(key: string, callId: string, limit: number, leaseMs: number): Promise<AcquireResult> {
    return this.acquireSync(key, callId, limit, leaseMs);
  }

  async release(key: string, callId: string): Promise<void> {
    const set = this.#sets.get(key);
    set?.delete(callId);
    if (set?.size === 0) this.#sets.delete(key);
  }

  async renew(key: string, callId: string, leaseMs: number): Promise<boolean> {
    const now = Math.floor(this.#now());
    const set = this.#live(key, now) ?? new Map<string, number>();
    const held = set.has(callId);
    set.set(callId, now + leaseMs);
    this.#sets.set(key, set);
    return held;
  }

  async count(key: string): Promise<number> {
    return this.#live(key, Math.floor(this.#now()))?.size ?? 0;
  }
}
