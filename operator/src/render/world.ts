// From the cluster's objects to the snapshot the operator writes: render (crds/src/render), then the operator's own
// rules on top:
// - Dedicated and Provided tenants serve a TLS Secret in the system namespace (pods may only read that namespace):
//   the cert-manager Certificate writes it there (Dedicated), the operator mirrors a validated customer Secret there
//   (Provided). Named `tenant-<namespace>-<name>-tls`, labelled `switchboard.dev/tenant-cert: "true"`.
// - A live tenant left out of this render because of an error keeps its previous document (the last good one), as
//   long as the result still validates; status says why.
import type { RenderedConfig, TenantConfig, TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { contentHash } from '../../../crds/src/render/hash.ts';
import { snapshotVersion, validateRenderedConfig } from '../../../crds/src/render/index.ts';

export function tenantSecretName(namespace: string, name: string): string {
  return `tenant-${namespace}-${name}-tls`;
}
export function tenantCertificateName(namespace: string, name: string): string {
  return `tenant-${namespace}-${name}`;
}

function rehash<T extends { hash: string }>(doc: T): T {
  const { hash: _h, ...rest } = doc;
  return { ...rest, hash: contentHash(rest) } as T;
}

/** Point Dedicated/Provided tenants at their Secret in the system namespace; recompute hashes and the version. */
export function localiseSecrets(config: RenderedConfig, systemNamespace: string): RenderedConfig {
  const tenants = config.tenants.map((t) =>
    t.certificate.mode === 'Wildcard'
      ? t
      : rehash({
          ...t,
          certificate: {
            ...t.certificate,
            secret: { namespace: systemNamespace, name: tenantSecretName(t.namespace, t.name) },
          },
        }),
  );
  return withVersion({ ...config, tenants });
}

function withVersion(config: RenderedConfig): RenderedConfig {
  return { ...config, version: snapshotVersion(config) };
}

/**
 * Carry the previous documents of tenants that are still declared (`live`) but were excluded from this render, plus
 * trunks they route to that are gone from it. Dropped again if the result would not validate.
 */
export function carryOver(
  next: RenderedConfig,
  previous: RenderedConfig | undefined,
  live: ReadonlySet<string>,
): { config: RenderedConfig; carried: string[] } {
  if (!previous) return { config: next, carried: [] };
  const have = new Set(next.tenants.map((t) => t.id));
  const fqdns = new Set(next.tenants.map((t) => t.fqdn));
  const carriedTenants: TenantConfig[] = previous.tenants.filter(
    (t) => live.has(t.id) && !have.has(t.id) && !fqdns.has(t.fqdn),
  );
  if (carriedTenants.length === 0) return { config: next, carried: [] };
  const trunkIds = new Set(next.trunks.map((t) => t.id));
  const prevTrunks = new Map(previous.trunks.map((t) => [t.id, t]));
  const extraTrunks = new Map<string, TrunkConfig>();
  for (const t of carriedTenants) {
    const actions = [...t.routing.routes.map((r) => r.action), t.routing.defaultAction];
    for (const a of actions) {
      if (a.type !== 'Route') continue;
      for (const id of a.trunks) {
        const prev = prevTrunks.get(id);
        if (!trunkIds.has(id) && prev) extraTrunks.set(id, prev);
      }
    }
  }
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const merged = withVersion({
    ...next,
    tenants: [...next.tenants, ...carriedTenants].sort(byId),
    trunks: [...next.trunks, ...extraTrunks.values()].sort(byId),
  });
  if (!validateRenderedConfig(merged).ok) return { config: next, carried: [] };
  return { config: merged, carried: carriedTenants.map((t) => t.id) };
}
