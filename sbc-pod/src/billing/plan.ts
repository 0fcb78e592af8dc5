// A tenant's rating plan: what one call attempt costs (DESIGN.md §8, issue [9/10]).
//
// The Tenant CRD's billing block is minimal today ({accountId, currency, model, ratePlan}); this module defines the
// full shape sbc-pod rates with, so the CRD can grow into it. Fields the CRD needs later (spec.billing):
//   tariff.{ratePerMinute, initialSeconds, incrementSeconds, perCallFee}, prefixRates[] (listMapKey prefix),
//   chargedDirections[], decimals, rounding, graceMs, perCallFeeOn, flat.{perTrunkMonthly, trunks{}}.
// Until then `ratePlanFromBilling` builds a plan from the rendered billing block plus an optional plan catalogue
// (keyed by billing.ratePlan).
//
// Money is decimal strings in the JSON shape and bigint nano-units inside (decimal.ts): no floating point.
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { CallDirection } from '../cdr/record.ts';
import { parseDecimal, type RoundingMode, SCALE } from './decimal.ts';

export type BillingModel = 'PerMinute' | 'PerCall' | 'Flat';

/** How a call's duration and setup are priced. Money fields are non-negative decimal strings in `currency`. */
export interface Tariff {
  /** Price of 60 billable seconds. */
  ratePerMinute: string;
  /** The first billed block: any answered call shorter than this bills this many seconds (e.g. 60 in "60/6"). */
  initialSeconds: number;
  /** After the initial block, time bills in steps of this many seconds, rounded up (e.g. 6 in "60/6"). */
  incrementSeconds: number;
  /** Fixed charge per call (see `RatePlan.perCallFeeOn`). */
  perCallFee: string;
}

/** Overrides for destinations starting with `prefix` (E.164, "+" optional); the longest matching prefix wins. */
export interface PrefixRate extends Partial<Tariff> {
  prefix: string;
}

export interface RatePlan {
  accountId: string;
  /** ISO 4217 code, e.g. "EUR". */
  currency: string;
  /**
   * PerMinute: perCallFee (if any) + duration × rate.  PerCall: perCallFee only.
   * Flat: per-call charge 0; the money is `flat.perTrunkMonthly` per trunk per month (flatMonthlyCharges).
   * Every model fills billableSeconds from the tariff's initial/increment rules.
   */
  model: BillingModel;
  tariff: Tariff;
  prefixRates?: PrefixRate[];
  /** Directions that are charged; others get billableSeconds and a zero charge. Default: every direction. */
  chargedDirections?: CallDirection[];
  /** Fraction digits of a charge. Default: the currency's minor unit (2 for most, 0 for JPY, 3 for KWD…). */
  decimals?: number;
  /** How the total charge of one call is rounded to `decimals`, once. Default `half-up`. */
  rounding?: RoundingMode;
  /** Answered calls whose talk time is at most this many ms bill 0 seconds and no fee. Default 0. */
  graceMs?: number;
  /** `answered` (default): the per-call fee applies to answered, billed calls; `attempt`: to every attempt. */
  perCallFeeOn?: 'answered' | 'attempt';
  /** Flat model: monthly price per trunk, with optional per-trunk ("namespace/name") overrides. */
  flat?: { perTrunkMonthly: string; trunks?: Record<string, string> };
}

const DECIMAL_PATTERN = '^(0|[1-9][0-9]*)(\\.[0-9]{1,9})?$';
const money = { type: 'string', pattern: DECIMAL_PATTERN } as const;
const tariffProps = {
  ratePerMinute: money,
  initialSeconds: { type: 'integer', minimum: 0, maximum: 86400 },
  incrementSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
  perCallFee: money,
} as const;

/** JSON Schema (2020-12) of a rate plan document. */
export const RATE_PLAN_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://switchboard.dev/schemas/rate-plan-v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['accountId', 'currency', 'model', 'tariff'],
  properties: {
    accountId: { type: 'string', minLength: 1, maxLength: 253 },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
    model: { enum: ['PerMinute', 'PerCall', 'Flat'] },
    tariff: {
      type: 'object',
      additionalProperties: false,
      required: ['ratePerMinute', 'initialSeconds', 'incrementSeconds', 'perCallFee'],
      properties: tariffProps,
    },
    prefixRates: {
      type: 'array',
      maxItems: 100000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['prefix'],
        properties: { prefix: { type: 'string', pattern: '^\\+?[0-9]{1,15}$' }, ...tariffProps },
      },
    },
    chargedDirections: {
      type: 'array',
      uniqueItems: true,
      items: { enum: ['teams-to-carrier', 'carrier-to-teams', 'teams-to-teams'] },
    },
    decimals: { type: 'integer', minimum: 0, maximum: SCALE },
    rounding: { enum: ['half-up', 'half-even', 'up', 'down'] },
    graceMs: { type: 'integer', minimum: 0, maximum: 3600000 },
    perCallFeeOn: { enum: ['answered', 'attempt'] },
    flat: {
      type: 'object',
      additionalProperties: false,
      required: ['perTrunkMonthly'],
      properties: {
        perTrunkMonthly: money,
        trunks: { type: 'object', additionalProperties: money },
      },
    },
  },
} as const;

let validatePlan: ReturnType<Ajv2020['compile']> | undefined;

export class RatePlanError extends Error {
  override name = 'RatePlanError';
}

/** Validate a rate plan document (schema + semantic checks); returns it typed, or throws RatePlanError. */
export function parseRatePlan(doc: unknown): RatePlan {
  validatePlan ??= new Ajv2020({ allErrors: true, strict: true }).compile(RATE_PLAN_SCHEMA);
  if (!validatePlan(doc)) {
    const msg = (validatePlan.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new RatePlanError(`invalid rate plan: ${msg}`);
  }
  const plan = doc as RatePlan;
  const seen = new Set<string>();
  for (const p of plan.prefixRates ?? []) {
    const key = p.prefix.replace(/^\+/, '');
    if (seen.has(key)) throw new RatePlanError(`invalid rate plan: prefix ${p.prefix} appears twice`);
    seen.add(key);
  }
  if (plan.model === 'Flat' && !plan.flat) throw new RatePlanError('invalid rate plan: model Flat needs flat');
  if (plan.decimals !== undefined && plan.decimals > SCALE) throw new RatePlanError('decimals too large');
  // Every money string is parseable (the pattern guarantees it; this keeps the invariant explicit).
  parseDecimal(plan.tariff.ratePerMinute);
  return plan;
}

/** ISO 4217 minor units that are not 2 (the common ones). */
const MINOR_UNITS: Record<string, number> = {
  BHD: 3,
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  IQD: 3,
  ISK: 0,
  JOD: 3,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  PYG: 0,
  RWF: 0,
  TND: 3,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  CLF: 4,
  UYW: 4,
};

export function currencyDecimals(currency: string): number {
  return MINOR_UNITS[currency] ?? 2;
}

/** The default tariff when only the rendered billing block is known: nothing charged, per-second billing. */
export const ZERO_TARIFF: Tariff = { ratePerMinute: '0', initialSeconds: 1, incrementSeconds: 1, perCallFee: '0' };

/**
 * A plan for a tenant from its rendered billing block (TenantConfig.billing) and a catalogue of plans keyed by
 * `billing.ratePlan`. The catalogue entry supplies tariff and options; account, currency and model always come
 * from the tenant (the Tenant is the source of truth for who pays and how). Missing entry → a zero tariff,
 * so CDRs still carry account, billable seconds and a "0" charge.
 */
export function ratePlanFromBilling(
  billing: { accountId: string; currency: string; model: BillingModel; ratePlan: string | null },
  catalogue: ReadonlyMap<string, Omit<RatePlan, 'accountId' | 'currency' | 'model'>> = new Map(),
): RatePlan {
  const entry = billing.ratePlan ? catalogue.get(billing.ratePlan) : undefined;
  const plan: RatePlan = {
    tariff: ZERO_TARIFF,
    ...(billing.model === 'Flat' ? { flat: { perTrunkMonthly: '0' } } : {}),
    ...entry,
    accountId: billing.accountId,
    currency: billing.currency,
    model: billing.model,
  };
  return parseRatePlan(plan);
}
