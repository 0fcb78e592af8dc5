// The pod-level rate catalogue (SWITCHBOARD_RATE_PLANS, docs/cdr.md "Rate catalogue"): a JSON object of rate plans
// keyed by the name a Tenant gives in `spec.billing.ratePlan`, each without accountId/currency/model (those come
// from the Tenant). A tenant whose plan is not in the catalogue is rated with a zero tariff. Plans are built once
// per tenant config object (a new snapshot brings new objects, so a config change is picked up).
import { readFileSync } from 'node:fs';
import type { TenantConfig } from '../../../crds/src/render/config-types.ts';
import type { Cdr } from '../cdr/record.ts';
import { type RatePlan, RatePlanError, ratePlanFromBilling } from './plan.ts';
import { applyRating } from './rate.ts';

export type RateCatalogue = ReadonlyMap<string, Omit<RatePlan, 'accountId' | 'currency' | 'model'>>;

export function parseRateCatalogue(doc: unknown): RateCatalogue {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new RatePlanError('rate catalogue: expected a JSON object of plans keyed by name');
  }
  const out = new Map<string, Omit<RatePlan, 'accountId' | 'currency' | 'model'>>();
  for (const [name, entry] of Object.entries(doc as Record<string, unknown>)) {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new RatePlanError(`rate catalogue: plan ${name} is not an object`);
    }
    const plan = entry as Omit<RatePlan, 'accountId' | 'currency' | 'model'>;
    // Validate with placeholder identity fields: the tenant supplies the real ones.
    try {
      ratePlanFromBilling(
        { accountId: 'x', currency: 'EUR', model: 'PerMinute', ratePlan: name },
        new Map([[name, plan]]),
      );
    } catch (err) {
      throw new RatePlanError(`rate catalogue: plan ${name}: ${(err as Error).message}`);
    }
    out.set(name, plan);
  }
  return out;
}

export function loadRateCatalogue(path: string): RateCatalogue {
  return parseRateCatalogue(JSON.parse(readFileSync(path, 'utf8')));
}

/** A rater for the B2BUA: the CDR rated under the tenant's plan (catalogue entry + the tenant's billing block). */
export function tenantRater(catalogue: () => RateCatalogue): (cdr: Cdr, tenant: TenantConfig) => Cdr {
  const plans = new WeakMap<TenantConfig, RatePlan>();
  return (cdr, tenant) => {
    let plan = plans.get(tenant);
    if (!plan) {
      plan = ratePlanFromBilling(tenant.billing, catalogue());
      plans.set(tenant, plan);
    }
    return applyRating(cdr, plan);
  };
}
