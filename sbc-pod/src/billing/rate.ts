// Rating: the billable seconds and the charge of one CDR under a tenant's rate plan. Pure and exact.
//
// Rules (documented in docs/cdr.md, "Rating"):
// 1. Talk time (answer → end, `talkMs`) is turned into whole seconds rounding UP: 0.2 s bills as 1 s.
// 2. Unanswered attempts, and answered calls with talkMs ≤ graceMs (0-second calls), bill 0 seconds.
// 3. Otherwise billable = max(talk, initial) for talk ≤ initial, else initial + ceil((talk − initial) / increment)
//    × increment. "60/6": 1 s → 60, 60 s → 60, 61 s → 66, 66 s → 66, 67 s → 72.
// 4. The tariff is the plan's, overridden field by field by the longest matching destination prefix (the callee).
// 5. charge = perCallFee (when it applies) + billable × ratePerMinute / 60, computed exactly and rounded ONCE to the
//    plan's decimals with its rounding mode (default half-up). Directions not in chargedDirections charge 0.
// 6. Flat model: per-call charge is 0; `flatMonthlyCharges` prices the trunks per month (pro rata by UTC days).
import type { Cdr } from '../cdr/record.ts';
import { divRound, formatUnits, parseDecimal, type RoundingMode, SCALE } from './decimal.ts';
import { currencyDecimals, type PrefixRate, type RatePlan, type Tariff } from './plan.ts';

export interface Charge {
  /** Decimal string with exactly the plan's decimals, e.g. "0.60". Never negative. */
  amount: string;
  currency: string;
}

export interface Rating {
  billableSeconds: number;
  charge: Charge;
  /** The prefix whose rates applied, when one did. */
  prefix?: string;
}

/** What rating needs from a CDR (a full Cdr fits). */
export type RatableCdr = Pick<Cdr, 'direction' | 'callee' | 'talkMs'> & Partial<Pick<Cdr, 'answerTime'>>;

/** Billable seconds for a talk time under initial/increment rules (see header, rules 1–3). */
export function billableSeconds(
  talkMs: number,
  tariff: Pick<Tariff, 'initialSeconds' | 'incrementSeconds'>,
  graceMs = 0,
): number {
  if (!Number.isFinite(talkMs) || talkMs <= 0 || talkMs <= graceMs) return 0;
  const talk = Math.ceil(talkMs / 1000);
  const { initialSeconds: initial, incrementSeconds: inc } = tariff;
  if (talk <= initial) return initial;
  return initial + Math.ceil((talk - initial) / inc) * inc;
}

/** Prefix table compiled for longest-match lookups on digits ("+" ignored). */
export class PrefixTable {
  readonly #byPrefix = new Map<string, PrefixRate>();
  readonly #lengths: number[];

  constructor(rates: readonly PrefixRate[] = []) {
    const lengths = new Set<number>();
    for (const r of rates) {
      const digits = r.prefix.replace(/^\+/, '');
      this.#byPrefix.set(digits, r);
      lengths.add(digits.length);
    }
    this.#lengths = [...lengths].sort((a, b) => b - a);
  }

  /** The longest prefix matching a number (E.164 or digits; other characters ignored). */
  match(number: string): PrefixRate | undefined {
    const digits = number.replace(/[^0-9]/g, '');
    for (const len of this.#lengths) {
      if (len > digits.length) continue;
      const hit = this.#byPrefix.get(digits.slice(0, len));
      if (hit) return hit;
    }
    return undefined;
  }
}

const tables = new WeakMap<RatePlan, PrefixTable>();

function prefixTable(plan: RatePlan): PrefixTable {
  let t = tables.get(plan);
  if (!t) {
    t = new PrefixTable(plan.prefixRates);
    tables.set(plan, t);
  }
  return t;
}

function decimalsOf(plan: RatePlan): number {
  return plan.decimals ?? currencyDecimals(plan.currency);
}

function zero(plan: RatePlan): Charge {
  return { amount: formatUnits(0n, decimalsOf(plan)), currency: plan.currency };
}

/** Rate one CDR. Does not look at the CDR's existing billableSeconds/charge. */
export function rate(cdr: RatableCdr, plan: RatePlan): Rating {
  const hit = plan.prefixRates?.length ? prefixTable(plan).match(cdr.callee) : undefined;
  const tariff: Tariff = {
    ratePerMinute: hit?.ratePerMinute ?? plan.tariff.ratePerMinute,
    initialSeconds: hit?.initialSeconds ?? plan.tariff.initialSeconds,
    incrementSeconds: hit?.incrementSeconds ?? plan.tariff.incrementSeconds,
    perCallFee: hit?.perCallFee ?? plan.tariff.perCallFee,
  };
  const answered = cdr.talkMs > 0 || cdr.answerTime !== undefined;
  const seconds = answered ? billableSeconds(cdr.talkMs, tariff, plan.graceMs ?? 0) : 0;
  const result: Rating = { billableSeconds: seconds, charge: zero(plan), ...(hit ? { prefix: hit.prefix } : {}) };
  if (plan.chargedDirections && !plan.chargedDirections.includes(cdr.direction)) return result;
  if (plan.model === 'Flat') return result;

  const feeApplies = (plan.perCallFeeOn ?? 'answered') === 'attempt' || seconds > 0;
  const fee = feeApplies ? parseDecimal(tariff.perCallFee) : 0n;
  const perMinute = plan.model === 'PerMinute' ? parseDecimal(tariff.ratePerMinute) : 0n;
  // total (nano-units) = fee + perMinute × seconds / 60  →  numerator over 60, then scaled down to `decimals`.
  const decimals = decimalsOf(plan);
  const numerator = fee * 60n + perMinute * BigInt(seconds);
  const denominator = 60n * 10n ** BigInt(SCALE - decimals);
  const units = divRound(numerator, denominator, plan.rounding ?? 'half-up');
  result.charge = { amount: formatUnits(units, decimals), currency: plan.currency };
  return result;
}

/** The CDR with account, billableSeconds and charge filled from the plan (a new object; the input is untouched). */
export function applyRating<T extends RatableCdr & { account?: string }>(
  cdr: T,
  plan: RatePlan,
): T & { account: string; billableSeconds: number; charge: Charge; ratedPrefix?: string } {
  const { billableSeconds: s, charge, prefix } = rate(cdr, plan);
  return {
    ...cdr,
    account: cdr.account ?? plan.accountId,
    billableSeconds: s,
    charge,
    ...(prefix !== undefined ? { ratedPrefix: prefix } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Flat rate per trunk per month.

export interface FlatTrunk {
  /** Trunk id ("namespace/name"). */
  id: string;
  /** ISO date/time the trunk started serving the tenant; before the month → the whole month. */
  activeFrom?: string;
  /** ISO date/time it stopped; absent → still active. */
  activeUntil?: string;
}

export interface FlatLine {
  trunk: string;
  /** UTC days of the month the trunk was active (a day counts when it was active for any part of it). */
  days: number;
  daysInMonth: number;
  amount: string;
}

export interface FlatInvoice {
  accountId: string;
  /** "YYYY-MM". */
  month: string;
  currency: string;
  lines: FlatLine[];
  /** Sum of the rounded line amounts, so the invoice adds up. */
  total: string;
}

const DAY_MS = 86_400_000;

/**
 * The monthly flat charges of a plan's trunks for a month ("YYYY-MM"): monthly price × active days / days in the
 * month, each line rounded with the plan's rounding. A trunk active the whole month pays exactly the monthly price.
 */
export function flatMonthlyCharges(plan: RatePlan, trunks: readonly FlatTrunk[], month: string): FlatInvoice {
  const m = /^([0-9]{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) throw new RangeError(`month must be YYYY-MM: ${month}`);
  const year = Number(m[1]);
  const mon = Number(m[2]) - 1;
  const start = Date.UTC(year, mon, 1);
  const end = Date.UTC(year, mon + 1, 1);
  const daysInMonth = Math.round((end - start) / DAY_MS);
  const decimals = decimalsOf(plan);
  const mode: RoundingMode = plan.rounding ?? 'half-up';
  const lines: FlatLine[] = [];
  let total = 0n;
  for (const t of [...trunks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const from = t.activeFrom ? Date.parse(t.activeFrom) : start;
    const until = t.activeUntil ? Date.parse(t.activeUntil) : end;
    if (Number.isNaN(from) || Number.isNaN(until)) throw new RangeError(`bad activeFrom/activeUntil for ${t.id}`);
    const a = Math.max(from, start);
    const b = Math.min(until, end);
    // Whole UTC days touched by [a, b).
    const days = b <= a ? 0 : Math.ceil((b - start) / DAY_MS) - Math.floor((a - start) / DAY_MS);
    const price = parseDecimal(plan.flat?.trunks?.[t.id] ?? plan.flat?.perTrunkMonthly ?? '0');
    const units = divRound(price * BigInt(days), BigInt(daysInMonth) * 10n ** BigInt(SCALE - decimals), mode);
    total += units;
    lines.push({ trunk: t.id, days, daysInMonth, amount: formatUnits(units, decimals) });
  }
  return { accountId: plan.accountId, month, currency: plan.currency, lines, total: formatUnits(total, decimals) };
}
