// Timer scheduling behind a tiny interface so the transaction state machines can be driven by a fake clock in tests.

/** Opaque handle returned by {@link Timers.set}. */
export type TimerHandle = unknown;

export interface Timers {
  /** Calls `fn` once after `ms` milliseconds (≥ 0). */
  set(ms: number, fn: () => void): TimerHandle;
  /** Cancels a timer; clearing an already fired or cleared timer is a no-op. */
  clear(handle: TimerHandle): void;
}

/**
 * Timers of a second or more (RFC 3261 Timers B, D, F, H, I, J, K, L: 5–32 s with the default T1) are kept in a
 * coarse wheel of {@link WHEEL_TICK_MS} slots driven by one unref'd Node interval, instead of one `setTimeout` each:
 * a transaction sets and clears them constantly (e.g. 32 s Timer J per UDP request), and a slot entry is cheaper to
 * create, clear and keep than a Node Timeout. They fire no earlier than asked and at most one tick later. Shorter
 * timers (retransmissions, the 0 ms Trying delay) stay on `setTimeout` for its precision.
 */
export const WHEEL_MIN_MS = 1000;
export const WHEEL_TICK_MS = 20;

class WheelEntry {
  fn: (() => void) | undefined;
  readonly slot: number;
  index: number;
  constructor(fn: () => void, slot: number, index: number) {
    this.fn = fn;
    this.slot = slot;
    this.index = index;
  }
}

class TimerWheel {
  readonly #slots = new Map<number, WheelEntry[]>();
  #size = 0;
  /** First slot not yet run. */
  #next = 0;
  #interval: ReturnType<typeof setInterval> | undefined;

  add(ms: number, fn: () => void): WheelEntry {
    const now = performance.now();
    const slot = Math.ceil((now + ms) / WHEEL_TICK_MS);
    let list = this.#slots.get(slot);
    if (list === undefined) {
      list = [];
      this.#slots.set(slot, list);
    }
    const entry = new WheelEntry(fn, slot, list.length);
    list.push(entry);
    this.#size++;
    if (this.#interval === undefined) {
      this.#next = Math.floor(now / WHEEL_TICK_MS);
      this.#interval = setInterval(this.#run, WHEEL_TICK_MS);
      this.#interval.unref();
    }
    return entry;
  }

  remove(entry: WheelEntry): void {
    if (entry.fn === undefined) return;
    entry.fn = undefined;
    this.#size--;
    const list = this.#slots.get(entry.slot);
    if (list === undefined) return; // its slot is being run right now
    const last = list.pop()!;
    if (last !== entry) {
      list[entry.index] = last;
      last.index = entry.index;
    }
    if (list.length === 0) this.#slots.delete(entry.slot);
  }

  readonly #run = (): void => {
    const current = Math.floor(performance.now() / WHEEL_TICK_MS);
    for (let slot = this.#next; slot <= current; slot++) {
      const list = this.#slots.get(slot);
      if (list === undefined) continue;
      this.#slots.delete(slot);
      for (let i = 0; i < list.length; i++) {
        const entry = list[i]!;
        const fn = entry.fn;
        if (fn === undefined) continue;
        entry.fn = undefined;
        this.#size--;
        try {
          fn();
        } catch (err) {
          // Like a throwing setTimeout callback: an uncaught exception, without losing the other timers.
          process.nextTick(() => {
            throw err;
          });
        }
      }
    }
    this.#next = current + 1;
    if (this.#size === 0 && this.#interval !== undefined) {
      clearInterval(this.#interval);
      this.#interval = undefined;
    }
  };
}

const wheel = new TimerWheel();

/**
 * Production timers: `setTimeout` below {@link WHEEL_MIN_MS}, the shared coarse wheel above. Everything is unref'd so
 * transaction timers never keep the process alive by themselves.
 */
export const realTimers: Timers = {
  set(ms, fn) {
    if (ms >= WHEEL_MIN_MS) return wheel.add(ms, fn);
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear(handle) {
    if (handle instanceof WheelEntry) wheel.remove(handle);
    else clearTimeout(handle as ReturnType<typeof setTimeout>);
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
