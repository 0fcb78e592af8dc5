// An append-only log of events that tests can await: `waitFor` resolves with the first entry (already logged or
// still to come) that matches, or rejects after a bounded timeout with a message that lists what was seen.

export const DEFAULT_WAIT_MS = 5_000;

interface Waiter<T> {
  pred: (item: T) => boolean;
  resolve: (item: T) => void;
}

export class EventLog<T> {
  readonly items: T[] = [];
  private readonly waiters = new Set<Waiter<T>>();
  private readonly describe: (item: T) => string;

  constructor(describe: (item: T) => string = (item) => String(item)) {
    this.describe = describe;
  }

  push(item: T): void {
    this.items.push(item);
    for (const w of [...this.waiters]) {
      if (w.pred(item)) {
        this.waiters.delete(w);
        w.resolve(item);
      }
    }
  }

  find(pred: (item: T) => boolean): T | undefined {
    return this.items.find(pred);
  }

  filter(pred: (item: T) => boolean): T[] {
    return this.items.filter(pred);
  }

  get length(): number {
    return this.items.length;
  }

  /**
   * The first entry matching `pred` (from the start of the log, or only among entries logged after index `from`).
   * Rejects after `timeoutMs` with `what` and a summary of the entries seen so far.
   */
  waitFor(pred: (item: T) => boolean, what: string, timeoutMs: number = DEFAULT_WAIT_MS, from = 0): Promise<T> {
    for (let i = from; i < this.items.length; i++) {
      const item = this.items[i]!;
      if (pred(item)) return Promise.resolve(item);
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        pred,
        resolve: (item) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.items.slice(-20).map(this.describe);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; seen ${this.items.length}` +
              (seen.length > 0 ? `:\n  ${seen.join('\n  ')}` : ''),
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

/** Resolve with `promise`, or reject with `what` after `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs: number = DEFAULT_WAIT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
