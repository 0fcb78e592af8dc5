// GCRA (the Generic Cell Rate Algorithm, ITU-T I.371; "leaky bucket as a meter"): a rate limit with a burst
// allowance, held as one number per key — the theoretical arrival time (TAT) of the next conforming request.
//
//   T = 1 s / rate (the emission interval), τ = burst × T.
//   On a request at `now`:  tat' = max(TAT, now) + T;  conforming iff tat' − τ ≤ now;  if so, TAT := tat'.
//   A rejected request changes nothing, and may retry after (tat' − τ − now).
//
// So an idle key takes `burst` requests at once, then one per T; over any window W at most burst + W × rate pass.
//
// Two implementations of exactly the same integer arithmetic (microseconds, so rates like 3/s do not drift):
// `gcraStep` (pure, used by the per-pod fallback and as the test oracle) and `GCRA_LUA` (cluster-wide, one Redis key
// per limited thing, e.g. `sb:{tenant/ns/name}:cps`). Lua numbers are doubles: integers are exact up to 2^53 µs
// (~285 years since the epoch), and the script stores the TAT with `%.0f`, so both agree to the microsecond.
//
// Clocks: the script takes `now` (µs) as an argument so tests and the pure model can drive it; in production
// either every pod passes its own NTP-disciplined clock (a few ms of skew only shifts one pod's requests within the
// burst tolerance) or passes '' and the script reads Redis TIME (one clock for the whole cluster).
import type { Redis } from 'ioredis';
import { luaScript, runScript } from './redis-script.ts';

export interface GcraParams {
  /** Sustained rate, requests per second (> 0). */
  rate: number;
  /** Requests an idle key may take at once (≥ 1). */
  burst: number;
}

export interface GcraDecision {
  allowed: boolean;
  /** When rejected: milliseconds until a request would conform (≥ 1). 0 when allowed. */
  retryAfterMs: number;
  /** When allowed: how many more requests would conform right now. */
  remaining: number;
}

/** The emission interval in whole microseconds (≥ 1). */
export function gcraIntervalUs(rate: number): number {
  if (!(rate > 0)) throw new RangeError(`GCRA rate must be > 0, got ${rate}`);
  return Math.max(1, Math.round(1_000_000 / rate));
}

/** The burst as a whole number ≥ 1. */
export function gcraBurst(burst: number): number {
  return Math.max(1, Math.floor(burst));
}

/** Milliseconds (possibly fractional) to whole microseconds. */
export function toMicros(ms: number): number {
  return Math.floor(ms * 1000);
}

export interface GcraStep {
  decision: GcraDecision;
  /** The TAT to store (unchanged when rejected). */
  tat: number;
}

/** One GCRA step: pure. `tat` is the stored TAT (undefined for a new or expired key); times in µs. */
export function gcraStep(tat: number | undefined, nowUs: number, intervalUs: number, burst: number): GcraStep {
  const base = tat === undefined || tat < nowUs ? nowUs : tat;
  const next = base + intervalUs;
  const allowAt = next - burst * intervalUs;
  if (nowUs < allowAt) {
    return {
      decision: { allowed: false, retryAfterMs: Math.max(1, Math.ceil((allowAt - nowUs) / 1000)), remaining: 0 },
      tat: tat ?? nowUs,
    };
  }
  const remaining = Math.floor((nowUs + burst * intervalUs - next) / intervalUs);
  return { decision: { allowed: true, retryAfterMs: 0, remaining }, tat: next };
}

/**
 * KEYS[1] = the TAT key. ARGV = interval µs, burst, now µs ('' = Redis TIME).
 * Returns {allowed 0|1, wait µs, remaining}. The key expires once its TAT is in the past (then it is equivalent to
 * absent), so idle tenants cost no memory.
 */
export const GCRA_LUA = luaScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[3])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat == nil or tat < now then tat = now end
local nextTat = tat + interval
local allowAt = nextTat - burst * interval
if now < allowAt then
  return {0, allowAt - now, 0}
end
redis.call('SET', KEYS[1], string.format('%.0f', nextTat), 'PX', math.floor((nextTat - now) / 1000) + 1)
return {1, 0, math.floor((now + burst * interval - nextTat) / interval)}
`);

/** Anything that can meter a key: the Redis limiter and the in-process one. */
export interface RateLimiter {
  take(key: string, params: GcraParams): Promise<GcraDecision>;
}

export interface RedisGcraOptions {
  /** Milliseconds clock; 'redis' uses Redis TIME inside the script. Default Date.now. */
  now?: (() => number) | 'redis';
}

/** Cluster-wide GCRA: every pod calling `take` on the same key shares one limit. */
export class RedisGcra implements RateLimiter {
  readonly #redis: Redis;
  readonly #now: (() => number) | 'redis';

  constructor(redis: Redis, options: RedisGcraOptions = {}) {
    this.#redis = redis;
    this.#now = options.now ?? Date.now;
  }

  async take(key: string, params: GcraParams): Promise<GcraDecision> {
    const now = this.#now === 'redis' ? '' : String(toMicros(this.#now()));
    const reply = (await runScript(
      this.#redis,
      GCRA_LUA,
      [key],
      [gcraIntervalUs(params.rate), gcraBurst(params.burst), now],
    )) as [number, number, number];
    const [allowed, waitUs, remaining] = reply;
    return allowed === 1
      ? { allowed: true, retryAfterMs: 0, remaining }
      : { allowed: false, retryAfterMs: Math.max(1, Math.ceil(waitUs / 1000)), remaining: 0 };
  }
}

/** In-process GCRA over a Map (the per-pod fallback, and the oracle in tests). Expired keys are pruned lazily. */
export class LocalGcra implements RateLimiter {
  readonly #now: () => number;
  readonly #tats = new Map<string, number>();
  readonly #maxKeys: number;

  constructor(options: { now?: () => number; maxKeys?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  takeSync(key: string, params: GcraParams): GcraDecision {
    const nowUs = toMicros(this.#now());
    const step = gcraStep(this.#tats.get(key), nowUs, gcraIntervalUs(params.rate), gcraBurst(params.burst));
    if (step.decision.allowed) {
      if (!this.#tats.has(key) && this.#tats.size >= this.#maxKeys) this.#prune(nowUs);
      this.#tats.set(key, step.tat);
    }
    return step.decision;
  }

  async take(key: string, params: GcraParams): Promise<GcraDecision> {
    return this.takeSync(key, params);
  }

  get size(): number {
    return this.#tats.size;
  }

  #prune(nowUs: number): void {
    for (const [k, tat] of this.#tats) if (tat <= nowUs) this.#tats.delete(k);
    // Still full of live keys: drop the oldest inserted (forgetting a key only ever lets a request through).
    while (this.#tats.size >= this.#maxKeys) {
      const first = this.#tats.keys().next();
      if (first.done) break;
      this.#tats.delete(first.value);
    }
  }
}
