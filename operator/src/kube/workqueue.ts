// A keyed work queue with workqueue semantics: a key is queued at most once, a key re-added while it is being
// processed runs once more afterwards, failures are retried with per-key exponential backoff (base → max, with
// jitter), and success forgets the key's failure count. One worker: reconciles never overlap.
export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class WorkQueue {
  readonly #handler: (key: string) => Promise<void>;
  readonly #base: number;
  readonly #max: number;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #processing: string | undefined;
  #dirtyWhileProcessing = new Set<string>();
  #running: Promise<void> | undefined;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];
  /** Errors by key (last one), for logs and tests. */
  readonly errors = new Map<string, unknown>();
  onError: ((key: string, err: unknown, retryInMs: number) => void) | undefined;

  constructor(handler: (key: string) => Promise<void>, opts: WorkQueueOptions = {}) {
    this.#handler = handler;
    this.#base = opts.baseDelayMs ?? 50;
    this.#max = opts.maxDelayMs ?? 60_000;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#processing === key) {
      this.#dirtyWhileProcessing.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#kick();
  }

  /** Add after a delay; an earlier pending delayed add for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped || this.#timers.has(key)) return;
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    t.unref?.();
    this.#timers.set(key, t);
  }

  /** Retry with backoff: base · 2^failures, capped, ±25% jitter. */
  addRateLimited(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    const delay = Math.min(this.#max, this.#base * 2 ** n);
    const ms = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.addAfter(key, ms);
    return ms;
  }

  forget(key: string): void {
    this.#failures.delete(key);
    this.errors.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  get length(): number {
    return this.#queue.length;
  }

  #kick(): void {
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0 && !this.#stopped) this.#kick();
      else for (const w of this.#idleWaiters.splice(0)) w();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      const key = this.#queue.shift();
      if (key === undefined) return;
      this.#queued.delete(key);
      this.#processing = key;
      try {
        await this.#handler(key);
        this.forget(key);
      } catch (err) {
        this.errors.set(key, err);
        const ms = this.addRateLimited(key);
        this.onError?.(key, err, ms);
      } finally {
        this.#processing = undefined;
      }
      if (this.#dirtyWhileProcessing.delete(key)) this.add(key);
    }
  }

  /** Resolves when nothing is queued or running (delayed adds are not waited for). */
  idle(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#queue.length = 0;
    this.#queued.clear();
    await this.#running;
  }
}
