// Running a Lua script by SHA with a fallback to EVAL: the script cache is empty after a Redis restart (or on a
// replica promoted after failover), so NOSCRIPT is an expected answer, not an error.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface LuaScript {
  source: string;
  sha: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** EVALSHA, then EVAL once when the server does not know the script. Other errors propagate. */
export async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!String((err as Error)?.message ?? err).includes('NOSCRIPT')) throw err;
    return await redis.eval(script.source, keys.length, ...keys, ...args);
  }
}

/** Keys of one tenant or trunk share a Redis Cluster hash slot through the {…} hash tag. */
export function tenantKey(tenant: string, suffix: string): string {
  return `sb:{tenant/${tenant}}:${suffix}`;
}

export function trunkKey(trunk: string, suffix: string): string {
  return `sb:{trunk/${trunk}}:${suffix}`;
}
