// Where CDRs go. Every sink is idempotent by CDR id: writing the same CDR twice stores it once.
import { appendFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import type { Cdr } from './record.ts';

export interface CdrSink {
  write(cdr: Cdr): Promise<void>;
}

/** Appends one JSON line per CDR. One write per record (O_APPEND) so concurrent writers never interleave lines. */
export class JsonlCdrSink implements CdrSink {
  #path: string;
  #seen = new Set<string>();
  constructor(path: string) {
    this.#path = path;
  }
  async write(cdr: Cdr): Promise<void> {
    if (this.#seen.has(cdr.id)) return;
    await appendFile(this.#path, `${JSON.stringify(cdr)}\n`);
    this.#seen.add(cdr.id);
  }
}

/** Stream key per tenant; the hash tag keeps a tenant's CDR keys in one Redis Cluster slot. */
export function cdrStreamKey(tenant: string): string {
  return `sb:{${tenant}}:cdr`;
}

function cdrMarkerKey(tenant: string, id: string): string {
  return `sb:{${tenant}}:cdr-id:${id}`;
}

/** The set of tenant CDR streams, so exporters can find every stream without SCAN. */
export const CDR_STREAMS_KEY = 'sb:cdr-streams';

// Atomically: if this CDR id was never written, append it to the tenant's stream and remember the id.
// No MAXLEN: a stream is trimmed only by the exporter, after its sink accepted the records (nothing lost).
const XADD_ONCE = `
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  return redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'cdr', ARGV[2])
end
return false`;

/** Appends each CDR to the Redis Stream of its tenant, exactly once per CDR id. */
export class RedisStreamCdrSink implements CdrSink {
  #redis: Redis;
  #dedupSeconds: number;
  constructor(redis: Redis, opts: { dedupSeconds?: number } = {}) {
    this.#redis = redis;
    this.#dedupSeconds = opts.dedupSeconds ?? 7 * 24 * 3600;
  }
  async write(cdr: Cdr): Promise<void> {
    const stream = cdrStreamKey(cdr.tenant);
    await this.#redis.eval(
      XADD_ONCE,
      2,
      stream,
      cdrMarkerKey(cdr.tenant, cdr.id),
      cdr.id,
      JSON.stringify(cdr),
      String(this.#dedupSeconds),
    );
    // A separate command: the registry lives in its own slot under Redis Cluster. Sent for every CDR, not once per
    // process: a Redis that restarted empty must learn the stream again or exporters would never find it.
    await this.#redis.sadd(CDR_STREAMS_KEY, stream);
  }
}

/** Writes to every sink; a failing sink does not stop the others, and the first failure is rethrown. */
export class FanOutCdrSink implements CdrSink {
  #sinks: CdrSink[];
  constructor(sinks: CdrSink[]) {
    this.#sinks = sinks;
  }
  async write(cdr: Cdr): Promise<void> {
    const results = await Promise.allSettled(this.#sinks.map((s) => s.write(cdr)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
