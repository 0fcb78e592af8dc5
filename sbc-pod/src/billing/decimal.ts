// Decimal money without floating point: amounts are bigint counts of 10^-SCALE units ("nano-units").
// Parsing accepts plain decimal strings only ("0.0125", "12", "-3.5" is refused: prices are never negative).
// Division happens once, at the very end of a rating, with an explicit rounding mode (see `divRound`).

/** Internal scale: 9 decimal places, enough for any per-minute or per-second tariff a carrier quotes. */
export const SCALE = 9;
const SCALE_FACTOR = 10n ** BigInt(SCALE);

export type RoundingMode = 'half-up' | 'half-even' | 'up' | 'down';

const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/** A non-negative decimal string → nano-units. Throws on anything else, or on more than 9 decimal places. */
export function parseDecimal(text: string): bigint {
  const m = DECIMAL.exec(text);
  if (!m) throw new RangeError(`not a non-negative decimal number: ${JSON.stringify(text)}`);
  const whole = m[1]!;
  const frac = m[2] ?? '';
  if (frac.length > SCALE) throw new RangeError(`more than ${SCALE} decimal places: ${text}`);
  return BigInt(whole) * SCALE_FACTOR + BigInt(frac.padEnd(SCALE, '0') || '0');
}

/** Is this a decimal string `parseDecimal` accepts? */
export function isDecimal(text: string): boolean {
  try {
    parseDecimal(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * numerator / denominator rounded to an integer (both ≥ 0, denominator > 0).
 * - `half-up`: ties away from zero (0.5 → 1) — the default for charges; the usual commercial rounding.
 * - `half-even`: ties to the even neighbour (banker's rounding).
 * - `up`: any remainder rounds up (ceiling) — never under-charges.
 * - `down`: truncates (floor) — never over-charges.
 */
export function divRound(numerator: bigint, denominator: bigint, mode: RoundingMode): bigint {
  if (denominator <= 0n || numerator < 0n) throw new RangeError('divRound needs numerator ≥ 0 and denominator > 0');
  const q = numerator / denominator;
  const r = numerator % denominator;
  if (r === 0n) return q;
  switch (mode) {
    case 'down':
      return q;
    case 'up':
      return q + 1n;
    case 'half-up':
      return 2n * r >= denominator ? q + 1n : q;
    case 'half-even': {
      const twice = 2n * r;
      if (twice > denominator) return q + 1n;
      if (twice < denominator) return q;
      return q % 2n === 0n ? q : q + 1n;
    }
  }
}

/** An integer count of 10^-decimals units → its decimal string with exactly `decimals` fraction digits. */
export function formatUnits(units: bigint, decimals: number): string {
  if (units < 0n) throw new RangeError('negative amount');
  if (decimals === 0) return units.toString();
  const s = units.toString().padStart(decimals + 1, '0');
  return `${s.slice(0, -decimals)}.${s.slice(-decimals)}`;
}

/** Nano-units → a decimal string with `decimals` fraction digits, rounded with `mode`. */
export function formatNano(nano: bigint, decimals: number, mode: RoundingMode): string {
  if (decimals > SCALE) throw new RangeError(`at most ${SCALE} decimals`);
  return formatUnits(divRound(nano, 10n ** BigInt(SCALE - decimals), mode), decimals);
}

/** Sum of decimal strings (same or different scales) → exact nano-units. */
export function sumDecimals(values: readonly string[]): bigint {
  return values.reduce((acc, v) => acc + parseDecimal(v), 0n);
}
