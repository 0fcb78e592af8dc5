// Shared plumbing for the four state machines: named timers and fire-and-forget sends with error capture.
import type { TimerHandle } from './timers.ts';
import type { TransactionEnv } from './types.ts';

export abstract class TransactionBase<T> {
  abstract readonly side: 'client' | 'server';
  readonly key: string;
  protected readonly env: TransactionEnv<T>;
  #timers = new Map<string, TimerHandle>();
  #done = false;

  constructor(env: TransactionEnv<T>, key: string) {
    this.env = env;
    this.key = key;
  }

  get terminated(): boolean {
    return this.#done;
  }

  /** Names of running timers (for tests and debugging). */
  activeTimers(): string[] {
    return [...this.#timers.keys()];
  }

  protected startTimer(name: string, ms: number, fn: () => void): void {
    this.stopTimer(name);
    const handle = this.env.timers.set(ms, () => {
      this.#timers.delete(name);
      if (!this.#done) fn();
    });
    this.#timers.set(name, handle);
  }

  protected stopTimer(name: string): void {
    const handle = this.#timers.get(name);
    if (handle === undefined) return;
    this.env.timers.clear(handle);
    this.#timers.delete(name);
  }

  /**
   * Sends `data` to `target`. A transport error (sync throw or rejection) is passed to `onError` unless the
   * transaction has terminated meanwhile. The returned promise never rejects; it settles once the send succeeded or
   * `onError` (and whatever it returned) finished.
   */
  protected transmit(target: T, data: Buffer, onError: (err: unknown) => void | Promise<void>): Promise<void> {
    let p: Promise<void>;
    try {
      p = this.env.transport.send(target, data);
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      () => undefined,
      (err: unknown) => (this.#done ? undefined : onError(err)),
    );
  }

  /** Enters Terminated: stops every timer and leaves the layer's table. Idempotent. Returns false if already done. */
  protected finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    for (const handle of this.#timers.values()) this.env.timers.clear(handle);
    this.#timers.clear();
    this.env.terminated(this);
    return true;
  }

  /** Terminates without telling the TU anything (layer shutdown). */
  dispose(): void {
    this.finish();
  }
}
