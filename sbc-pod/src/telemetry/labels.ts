// Bounded-cardinality label values for metrics. A metric label may carry a tenant, trunk, Teams target or
// certificate name — never a phone number, Call-ID or free text — and the number of distinct values per label is
// capped, so a flood of unknown tenants or a bug cannot blow up the time-series database.
//
// Rules (in order):
//   1. missing/empty → "none".
//   2. anything with a run of 7+ digits (an E.164 number, a Call-ID, a timestamp), longer than 128 characters, or
//      with characters outside [A-Za-z0-9._:/@-] → "other". Numbers never become labels, even for known names.
//   3. when a set of known values was given (from the loaded config): a known value passes, anything else is "other".
//   4. otherwise the first `max` distinct values pass and later new ones are "other".

export const OTHER = 'other';
export const NONE = 'none';

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/;
const NUMBERISH = /[0-9]{7,}/;
const MAX_LENGTH = 128;

/** Is this value acceptable as a label at all (rule 2)? */
export function safeLabelValue(value: string): boolean {
  return value.length <= MAX_LENGTH && SAFE.test(value) && !NUMBERISH.test(value);
}

export class LabelGuard {
  readonly max: number;
  #known: Set<string> | undefined;
  readonly #seen = new Set<string>();

  constructor(max: number) {
    this.max = max;
  }

  /** Restrict the label to these values (e.g. the tenants of the loaded config); `undefined` lifts the restriction. */
  setKnown(values: Iterable<string> | undefined): void {
    this.#known = values ? new Set(values) : undefined;
    this.#seen.clear();
  }

  /** The label value to use for `value`. */
  value(value: string | undefined | null): string {
    if (value === undefined || value === null || value === '') return NONE;
    if (!safeLabelValue(value)) return OTHER;
    if (this.#known) return this.#known.has(value) && (this.#seen.has(value) || this.#admit(value)) ? value : OTHER;
    if (this.#seen.has(value)) return value;
    return this.#admit(value) ? value : OTHER;
  }

  #admit(value: string): boolean {
    if (this.#seen.size >= this.max) return false;
    this.#seen.add(value);
    return true;
  }

  /** Distinct values passed so far. */
  get size(): number {
    return this.#seen.size;
  }
}

/** A label from a closed set of values; anything else is "other". */
export function enumLabel<T extends string>(allowed: readonly T[], value: string | undefined): T | typeof OTHER {
  return value !== undefined && (allowed as readonly string[]).includes(value) ? (value as T) : OTHER;
}
