// Rating of CDRs under a tenant's rate plan (see rate.ts for the rules, plan.ts for the plan shape).

export { loadRateCatalogue, parseRateCatalogue, type RateCatalogue, tenantRater } from './catalogue.ts';
export { divRound, formatNano, formatUnits, isDecimal, parseDecimal, type RoundingMode } from './decimal.ts';
export {
  type BillingModel,
  currencyDecimals,
  type PrefixRate,
  parseRatePlan,
  RATE_PLAN_SCHEMA,
  type RatePlan,
  RatePlanError,
  ratePlanFromBilling,
  type Tariff,
  ZERO_TARIFF,
} from './plan.ts';
export {
  applyRating,
  billableSeconds,
  type Charge,
  type FlatInvoice,
  type FlatLine,
  type FlatTrunk,
  flatMonthlyCharges,
  PrefixTable,
  type RatableCdr,
  type Rating,
  rate,
} from './rate.ts';
