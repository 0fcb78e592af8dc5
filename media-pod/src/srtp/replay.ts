// Replay window over 48-bit packet indices (RFC 3711 §3.3.2). A slot per index modulo the window size remembers the
// index that last used it: within the window a slot holds either this index (a replay) or an older one.

export class ReplayWindow {
  readonly size: number;
  readonly #slots: Float64Array;
  #max = -1;

  constructor(size = 128) {
    this.size = size;
    this.#slots = new Float64Array(size).fill(-1);
  }

  get highest(): number {
    return this.#max;
  }

  /** 'ok', 'replay' (seen before) or 'old' (left of the window). Does not record: call `commit` after auth. */
  check(index: number): 'ok' | 'replay' | 'old' {
    if (index > this.#max) return 'ok';
    if (this.#max - index >= this.size) return 'old';
    return this.#slots[index % this.size] === index ? 'replay' : 'ok';
  }

  commit(index: number): void {
    this.#slots[index % this.size] = index;
    if (index > this.#max) this.#max = index;
  }
}
