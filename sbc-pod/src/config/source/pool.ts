// Signalling pools (sovereignty): a pod serves the tenants of its own pool only (SWITCHBOARD_SIGNALLING_POOL). The
// kubernetes source does not even read other pools' shards (operator/src/render/shards.ts poolSelectors); the
// directory sources, which get one whole document, leave the other pools' tenants out of the compiled config.
// Trunks are shared by every pool and kept whole: their sharing lists may name tenants of other pools, and those
// tenants' channel reservations must still count against a shared trunk's capacity (admission is cluster-wide).
// The config version stays the whole document's.
import type { RenderedConfig, TrunkConfig } from '../../../../crds/src/render/config-types.ts';
import { contentHash } from '../../../../crds/src/render/hash.ts';
import { type ConfigValidation, validateRenderedConfig } from '../../../../crds/src/render/index.ts';
import { snapshotVersion } from '../../../../crds/src/render/render.ts';

/** The config with only the tenants of `pool` (the same object when nothing is left out; every tenant when unset). */
export function configForPool(config: RenderedConfig, pool: string | undefined): RenderedConfig {
  if (pool === undefined || config.tenants.every((t) => t.signallingPool === pool)) return config;
  return { ...config, tenants: config.tenants.filter((t) => t.signallingPool === pool) };
}

/** Ids of the tenants another pool serves. */
export function otherPoolTenants(config: RenderedConfig, pool: string | undefined): string[] {
  if (pool === undefined) return [];
  return config.tenants.filter((t) => t.signallingPool !== pool).map((t) => t.id);
}

/** One warning line naming (the first few) tenants left out, for local mode where it may surprise. */
export function otherPoolWarning(ids: string[], pool: string): string | undefined {
  if (ids.length === 0) return undefined;
  const shown = ids.slice(0, 5).join(', ');
  const more = ids.length > 5 ? ` and ${ids.length - 5} more` : '';
  return `warning: ${ids.length} tenant(s) of other signalling pools left out (this pod serves "${pool}", SWITCHBOARD_SIGNALLING_POOL): ${shown}${more}`;
}

/**
 * validateRenderedConfig for a document that holds one pool's tenants (assembled from that pool's shards only), where
 * two whole-document checks cannot hold: trunks may name tenants of other pools (allowedTenants, reservations), and
 * the version is the hash of the whole document. Everything else is checked as usual, on a view with those
 * references dropped (after checking each such trunk's own hash) and the version recomputed for the view; integrity
 * of the whole comes from the manifest's per-shard content hashes. On success the original document is returned.
 */
export function validatePoolConfig(doc: RenderedConfig): ConfigValidation {
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.tenants) || !Array.isArray(doc.trunks)) {
    return validateRenderedConfig(doc);
  }
  const ids = new Set(doc.tenants.map((t) => t?.id));
  const errors: string[] = [];
  const trunks = doc.trunks.map((t: TrunkConfig, i) => {
    const sharing = t?.sharing;
    if (!sharing || typeof sharing !== 'object') return t;
    const allowed = Array.isArray(sharing.allowedTenants) ? sharing.allowedTenants : undefined;
    const reservations = Array.isArray(sharing.reservations) ? sharing.reservations : undefined;
    const foreign =
      (allowed?.some((id) => !ids.has(id)) ?? false) || (reservations?.some((r) => !ids.has(r?.tenant)) ?? false);
    if (!foreign) return t;
    const { hash, ...rest } = t;
    if (contentHash(rest) !== hash) errors.push(`trunks[${i}].hash: does not match the document`);
    const view = {
      ...rest,
      sharing: {
        ...sharing,
        ...(allowed ? { allowedTenants: allowed.filter((id) => ids.has(id)) } : {}),
        ...(reservations ? { reservations: reservations.filter((r) => ids.has(r?.tenant)) } : {}),
      },
    };
    return { ...view, hash: contentHash(view) };
  });
  const view = { ...doc, trunks };
  const check = validateRenderedConfig({ ...view, version: snapshotVersion(view) });
  if (!check.ok) return { ok: false, errors: [...errors, ...check.errors] };
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: doc };
}
