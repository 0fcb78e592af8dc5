// Moves CDRs from the per-tenant Redis Streams to a sink, at least once, with the sink deduplicating by id:
// XREADGROUP (consumer group per exporter pipeline) → sink.writeBatch → XACK only after the sink accepted.
// On start it first re-reads its own pending entries (what a crashed run had read but not acknowledged).
import type { Redis } from 'ioredis';
import type { Cdr } from '../record.ts';
import { CDR_STREAMS_KEY, cdrStreamKey } from '../sinks.ts';
import type { BatchSink } from './batch-sinks.ts';

export interface ExporterOptions {
  redis: Redis;
  sink: BatchSink;
  /** Consumer group: one per independent destination (e.g. "billing", "analytics"). */
  group?: string;
  /** This exporter's name inside the group. */
  consumer?: string;
  /** Only these tenants ("namespace/name"); default every stream in the registry. */
  tenants?: string[];
  batchSize?: number;
  /** How long one XREADGROUP waits for new entries (ms). */
  blockMs?: number;
  /** Delete acknowledged entries from the stream (the sink is then the system of record). */
  trim?: boolean;
  onBatch?: (info: { stream: string; count: number }) => void;
  onError?: (err: unknown) => void;
}

type StreamReply = [stream: string, entries: [id: string, fields: string[]][]][] | null;

export class CdrExporter {
  #o: Required<Omit<ExporterOptions, 'tenants' | 'onBatch' | 'onError'>> &
    Pick<ExporterOptions, 'tenants' | 'onBatch' | 'onError'>;
  #groupsMade = new Set<string>();
  #stopped = false;
  exported = 0;

  constructor(opts: ExporterOptions) {
    this.#o = {
      group: 'switchboard-export',
      consumer: 'exporter-1',
      batchSize: 200,
      blockMs: 1000,
      trim: false,
      ...opts,
    };
  }

  async #streams(): Promise<string[]> {
    if (this.#o.tenants) return this.#o.tenants.map(cdrStreamKey);
    return (await this.#o.redis.smembers(CDR_STREAMS_KEY)).sort();
  }

  async #ensureGroup(stream: string): Promise<void> {
    if (this.#groupsMade.has(stream)) return;
    try {
      await this.#o.redis.xgroup('CREATE', stream, this.#o.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
    this.#groupsMade.add(stream);
  }

  /** One pass over every stream: pending entries first, then new ones. Returns how many CDRs were exported. */
  async runOnce(block = false): Promise<number> {
    let total = 0;
    for (const stream of await this.#streams()) {
      await this.#ensureGroup(stream);
      for (const start of ['0', '>'] as const) {
        for (;;) {
          const reply = (await this.#o.redis.xreadgroup(
            'GROUP',
            this.#o.group,
            this.#o.consumer,
            'COUNT',
            this.#o.batchSize,
            ...((block && start === '>' ? ['BLOCK', this.#o.blockMs] : []) as ['BLOCK', number]),
            'STREAMS',
            stream,
            start,
          )) as StreamReply;
          const entries = reply?.[0]?.[1] ?? [];
          if (entries.length === 0) break;
          await this.#deliver(stream, entries);
          total += entries.length;
          if (start === '>' && entries.length < this.#o.batchSize) break;
        }
      }
    }
    return total;
  }

  async #deliver(stream: string, entries: [string, string[]][]): Promise<void> {
    const cdrs: Cdr[] = [];
    for (const [, fields] of entries) {
      const at = fields.indexOf('cdr');
      if (at >= 0) cdrs.push(JSON.parse(fields[at + 1]!) as Cdr);
    }
    await this.#o.sink.writeBatch(cdrs); // throws → nothing acknowledged → re-read as pending next pass
    const ids = entries.map(([id]) => id);
    await this.#o.redis.xack(stream, this.#o.group, ...ids);
    if (this.#o.trim) await this.#o.redis.xdel(stream, ...ids);
    this.exported += cdrs.length;
    this.#o.onBatch?.({ stream, count: cdrs.length });
  }

  /** Export until stop(): retries failed batches after a pause, picks up new tenant streams as they appear. */
  async run(): Promise<void> {
    let backoff = 500;
    while (!this.#stopped) {
      try {
        const n = await this.runOnce(true);
        backoff = 500;
        if (n === 0 && (await this.#streams()).length === 0) await new Promise((r) => setTimeout(r, this.#o.blockMs));
      } catch (err) {
        this.#o.onError?.(err);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  stop(): void {
    this.#stopped = true;
  }
}
