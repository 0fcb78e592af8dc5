// Timer scheduling behind a tiny interface so the transaction state machines can be driven by a fake clock in tests.

/** Opaque handle returned by {@link Timers.set}. */
export type TimerHandle = unknown;

export interface Timers {
  /** Calls `fn` once after `ms` milliseconds (≥ 0). */
  set(ms: number, fn: () => void): TimerHandle;
  /** Cancels a timer; clearing an already fired or cleared timer is a no-op. */
  clear(handle: TimerHandle): void;
}

/** Production timers on `setTimeout`; unref'd so retransmission timers never keep the process alive by themselves. */
export const realTimers: Timers = {
  set(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

interface ManualEntry {
  at: number;
  seq: number;
  fn: () => void;
  active: boolean;
}

/**
 * A deterministic clock for tests: nothing fires until {@link ManualTimers.advance} is called; timers fire in
 * (due time, creation order) order, and timers set while advancing fire in the same advance if they fall due.
 */
export class ManualTimers implements Timers {
  #now = 0;
  #seq = 0;
  #queue: ManualEntry[] = [];

  /** Milliseconds since the clock was created. */
  get now(): number {
    return this.#now;
  }

  set(ms: number, fn: () => void): TimerHandle {
    const entry: ManualEntry = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, active: true };
    this.#queue.push(entry);
    return entry;
  }

  clear(handle: TimerHandle): void {
    const entry = handle as ManualEntry;
    if (!entry?.active) return;
    entry.active = false;
    const i = this.#queue.indexOf(entry);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  /** Number of timers scheduled and not yet fired or cleared. */
  pending(): number {
    return this.#queue.length;
  }

  /** Due time of the next timer, if any. */
  nextAt(): number | undefined {
    return this.#earliest()?.at;
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due (including ones set meanwhile). */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  advanceTo(time: number): void {
    if (time < this.#now) throw new Error(`ManualTimers: cannot go back from ${this.#now} to ${time}`);
    for (;;) {
      const next = this.#earliest();
      if (!next || next.at > time) break;
      this.#now = next.at;
      this.clear(next);
      next.fn();
    }
    this.#now = time;
  }

  /** Fires timers until none are left (or `limit` fired, to catch runaway loops); returns the final time. */
  runAll(limit = 10_000): number {
    for (let n = 0; n < limit; n++) {
      const next = this.#earliest();
      if (!next) return this.#now;
      this.advanceTo(next.at);
    }
    throw new Error(`ManualTimers: still ${this.#queue.length} timers after ${limit} steps`);
  }

  #earliest(): ManualEntry | undefined {
    let best: ManualEntry | undefined;
    for (const e of this.#queue) {
      if (!best || e.at < best.at || (e.at === best.at && e.seq < best.seq)) best = e;
    }
    return best;
  }
}
