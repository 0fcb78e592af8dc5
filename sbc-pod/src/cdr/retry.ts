// A CDR sink that never drops a CDR because its backend is briefly down (Redis restarting or failing over): a failed
// write is queued and retried with backoff, in order, until it is accepted. The wrapped sink is idempotent by CDR id
// (RedisStreamCdrSink), so a write that succeeded but whose reply was lost is not doubled by its retry.
import type { Cdr } from './record.ts';
import type { CdrSink } from './sinks.ts';

export interface RetryingCdrSinkOptions {
  /** Most CDRs held while the backend is down; beyond that the oldest is dropped (and counted). Default 100 000. */
  maxQueued?: number;
  /** Backoff between retries: starts at minDelayMs, doubles up to maxDelayMs. Defaults 100 ms / 5 s. */
  minDelayMs?: number;
  maxDelayMs?: number;
  onError?: (err: unknown, queued: number) => void;
}

export class RetryingCdrSink implements CdrSink {
  #sink: CdrSink;
  #queue: Cdr[] = [];
  #timer: NodeJS.Timeout | undefined;
  #delay: number;
  #o: Required<Omit<RetryingCdrSinkOptions, 'onError'>> & Pick<RetryingCdrSinkOptions, 'onError'>;
  #flushing = false;
  readonly counters = { retried: 0, dropped: 0 };

  constructor(sink: CdrSink, opts: RetryingCdrSinkOptions = {}) {
    this.#sink = sink;
    this.#o = { maxQueued: 100_000, minDelayMs: 100, maxDelayMs: 5000, ...opts };
    this.#delay = this.#o.minDelayMs;
  }

  /** CDRs waiting for the backend. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Resolves once the CDR is written or queued (queued CDRs are retried in the background). */
  async write(cdr: Cdr): Promise<void> {
    if (this.#queue.length === 0) {
      try {
        await this.#sink.write(cdr);
        return;
      } catch (err) {
        this.#o.onError?.(err, 1);
      }
    }
    this.#queue.push(cdr);
    if (this.#queue.length > this.#o.maxQueued) {
      this.#queue.shift();
      this.counters.dropped++;
    }
    this.#arm();
  }

  #arm(): void {
    if (this.#timer || this.#flushing) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#delay);
    this.#timer.unref();
  }

  /** Try to write everything queued now; true when the queue is empty. */
  async flush(): Promise<boolean> {
    if (this.#flushing) return false;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const cdr = this.#queue[0]!;
        await this.#sink.write(cdr);
        this.#queue.shift();
        this.counters.retried++;
      }
      this.#delay = this.#o.minDelayMs;
      return true;
    } catch (err) {
      this.#o.onError?.(err, this.#queue.length);
      this.#delay = Math.min(this.#delay * 2, this.#o.maxDelayMs);
      return false;
    } finally {
      this.#flushing = false;
      if (this.#queue.length > 0) this.#arm();
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
