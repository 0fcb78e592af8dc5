// Test helpers for the admission modules: a manual clock and a seeded PRNG (deterministic schedules).
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../e2e/src/harness/redis.ts';

export interface ManualClock {
  now: () => number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function manualClock(start = 1_767_225_600_000): ManualClock {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
    set(ms) {
      t = ms;
    },
  };
}

/** mulberry32: small, fast, good enough for test schedules. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A private redis-server for the suite and two clients on it, standing for two sbc-pods sharing the limits
 * (registers the suite's before/after hooks; read the clients inside tests).
 */
export function redisForTwoPods(): { readonly a: Redis; readonly b: Redis } {
  let server: RedisServer | undefined;
  const pods: { a?: Redis; b?: Redis } = {};
  before(async () => {
    server = await startRedis();
    pods.a = new Redis(server.url);
    pods.b = new Redis(server.url);
  });
  after(async () => {
    pods.a?.disconnect();
    pods.b?.disconnect();
    await server?.stop();
  });
  return {
    get a() {
      return pods.a!;
    },
    get b() {
      return pods.b!;
    },
  };
}
