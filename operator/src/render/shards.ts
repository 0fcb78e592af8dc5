// Rendered config → ConfigMaps, and back (the pods' kubernetes config source uses assembleConfig).
//
// Sharding strategy (DESIGN.md §4; a ConfigMap holds at most 1 MiB):
// - One manifest ConfigMap, `switchboard-config` (role `manifest`), key `manifest.json`: the snapshot's version,
//   generatedAt, baseDomain and wildcard certificate, and the list of shard ConfigMaps with each one's content hash.
// - Shard ConfigMaps hold the documents, one data key per document (`<namespace>_<name>.json`; `_` cannot occur in
//   Kubernetes names, so keys are unambiguous). Tenant documents are grouped by signalling pool (label
//   `switchboard.dev/signalling-pool`), trunk documents go to their own shards (role `trunks`).
// - Within a group, a document goes to bucket `hash(id) mod K`, where K is the smallest power of two that keeps every
//   bucket under the byte budget (default 900 KiB). A tenant change therefore rewrites one shard; K only changes when
//   a group doubles or halves in size (names carry K, e.g. `switchboard-config-tenants-default-4-1`, so a re-shard
//   creates new names and the old ones are deleted after the manifest points at the new ones).
// - Write order: changed shards first, the manifest last, stale shards deleted after it. A reader assembles only
//   when every shard listed in the manifest is present with the listed hash, so it never sees a mixed snapshot.
import { createHash } from 'node:crypto';
import {
  CONFIG_API_VERSION,
  CONFIG_KIND,
  type RenderedConfig,
  type SecretRefConfig,
  type TenantConfig,
  type TrunkConfig,
} from '../../../crds/src/render/config-types.ts';
import { contentHash } from '../../../crds/src/render/hash.ts';

export const CONFIG_LABEL = 'switchboard.dev/config';
export const CONFIG_LABEL_VALUE = 'rendered';
export const ROLE_LABEL = 'switchboard.dev/config-role';
export const POOL_LABEL = 'switchboard.dev/signalling-pool';
export const HASH_ANNOTATION = 'switchboard.dev/content-hash';
export const MANIFEST_NAME = 'switchboard-config';
export const MANIFEST_KEY = 'manifest.json';
export const MANIFEST_API_VERSION = 'switchboard.dev/config-manifest-v1';
/** Budget per ConfigMap (data keys + values), well under the 1 MiB object limit (metadata, encoding overhead). */
export const DEFAULT_MAX_BYTES = 900 * 1024;
const MAX_BUCKETS = 1 << 16;

export type ShardRole = 'tenants' | 'trunks';

export interface ShardRef {
  name: string;
  role: ShardRole;
  /** contentHash of the shard's data. */
  hash: string;
  documents: number;
  /** Tenant shards: the signalling pool of every tenant in it (manifests before this field: parsed from the name). */
  pool?: string;
}

export interface ConfigManifest {
  apiVersion: typeof MANIFEST_API_VERSION;
  /** The RenderedConfig version this manifest assembles to. */
  version: string;
  generatedAt: string;
  baseDomain: string | null;
  wildcardCertificate: SecretRefConfig;
  shards: ShardRef[];
}

/** A ConfigMap to write: name, labels and data; `hash` is the content hash (also stored as an annotation). */
export interface ConfigMapSpec {
  name: string;
  labels: Record<string, string>;
  data: Record<string, string>;
  hash: string;
}

export interface ShardedConfig {
  manifest: ConfigMapSpec;
  shards: ConfigMapSpec[];
}

export function documentKey(id: string): string {
  const [ns, name] = id.split('/');
  return `${ns}_${name}.json`;
}

function bucketOf(id: string, buckets: number): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) % buckets;
}

/** Bytes of a ConfigMap's data (keys + values), what counts against the budget. */
export function configMapBytes(data: Record<string, string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(data)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

function shardGroup(
  prefix: string,
  role: ShardRole,
  labels: Record<string, string>,
  docs: readonly (TenantConfig | TrunkConfig)[],
  maxBytes: number,
): ConfigMapSpec[] {
  if (docs.length === 0) return [];
  const encoded = docs.map((d) => ({ key: documentKey(d.id), id: d.id, value: JSON.stringify(d) }));
  for (const e of encoded) {
    if (Buffer.byteLength(e.key) + Buffer.byteLength(e.value) > maxBytes) {
      throw new Error(`document ${e.id} is larger than the ConfigMap budget of ${maxBytes} bytes`);
    }
  }
  for (let k = 1; k <= MAX_BUCKETS; k *= 2) {
    const buckets: Record<string, string>[] = Array.from({ length: k }, () => ({}));
    const sizes = new Array<number>(k).fill(0);
    let fits = true;
    for (const e of encoded) {
      const b = bucketOf(e.id, k);
      buckets[b]![e.key] = e.value;
      sizes[b]! += Buffer.byteLength(e.key) + Buffer.byteLength(e.value);
      if (sizes[b]! > maxBytes) {
        fits = false;
        break;
      }
    }
    if (!fits) continue;
    return buckets.flatMap((data, i) => {
      if (Object.keys(data).length === 0) return [];
      const sorted = Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      return [
        {
          name: `${prefix}-${k}-${i}`,
          labels: { ...labels, [ROLE_LABEL]: role },
          data: sorted,
          hash: contentHash(sorted),
        },
      ];
    });
  }
  throw new Error(`cannot shard ${docs.length} documents into ${MAX_BUCKETS} ConfigMaps of ${maxBytes} bytes`);
}

/** Split a snapshot into a manifest ConfigMap and shard ConfigMaps (pure, deterministic). */
export function shardConfig(
  config: RenderedConfig,
  opts: { maxBytes?: number; labels?: Record<string, string> } = {},
): ShardedConfig {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const base = { ...(opts.labels ?? {}), [CONFIG_LABEL]: CONFIG_LABEL_VALUE };
  const pools = new Map<string, TenantConfig[]>();
  for (const t of config.tenants) {
    const list = pools.get(t.signallingPool) ?? [];
    list.push(t);
    pools.set(t.signallingPool, list);
  }
  const shards: ConfigMapSpec[] = [];
  for (const [pool, docs] of [...pools].sort(([a], [b]) => (a < b ? -1 : 1))) {
    shards.push(
      ...shardGroup(`${MANIFEST_NAME}-tenants-${pool}`, 'tenants', { ...base, [POOL_LABEL]: pool }, docs, maxBytes),
    );
  }
  shards.push(...shardGroup(`${MANIFEST_NAME}-trunks`, 'trunks', base, config.trunks, maxBytes));
  const manifest: ConfigManifest = {
    apiVersion: MANIFEST_API_VERSION,
    version: config.version,
    generatedAt: config.generatedAt,
    baseDomain: config.baseDomain,
    wildcardCertificate: config.wildcardCertificate,
    shards: shards.map((s) => ({
      name: s.name,
      role: s.labels[ROLE_LABEL] as ShardRole,
      hash: s.hash,
      documents: Object.keys(s.data).length,
      ...(s.labels[POOL_LABEL] !== undefined ? { pool: s.labels[POOL_LABEL] } : {}),
    })),
  };
  // The manifest's hash ignores generatedAt, so a re-render of an unchanged world writes nothing.
  const { generatedAt: _g, ...stable } = manifest;
  return {
    manifest: {
      name: MANIFEST_NAME,
      labels: { ...base, [ROLE_LABEL]: 'manifest' },
      data: { [MANIFEST_KEY]: JSON.stringify(manifest) },
      hash: contentHash(stable),
    },
    shards,
  };
}

export type AssembleResult =
  | { ok: true; config: RenderedConfig; manifest: ConfigManifest }
  | {
      ok: false;
      reason: string /** Shards not (yet) consistent with the manifest: wait for more events. */;
      pending: boolean;
    };

/** The signalling pool of a tenant shard: the manifest's `pool`, else from `switchboard-config-tenants-<pool>-<K>-<i>`. */
export function shardPool(ref: ShardRef): string | undefined {
  if (ref.role !== 'tenants') return undefined;
  if (ref.pool !== undefined) return ref.pool;
  return new RegExp(`^${MANIFEST_NAME}-tenants-(.+)-\\d+-\\d+$`).exec(ref.name)?.[1];
}

/** Label selectors for a pod of one signalling pool: its own tenant shards, and the shards shared by every pool. */
export function poolSelectors(pool: string): { pool: string; shared: string } {
  return {
    pool: `${CONFIG_LABEL}=${CONFIG_LABEL_VALUE},${POOL_LABEL}=${pool}`,
    shared: `${CONFIG_LABEL}=${CONFIG_LABEL_VALUE},!${POOL_LABEL}`,
  };
}

export interface AssembleOptions {
  /**
   * Assemble for one signalling pool: tenant shards of other pools are skipped (they need not be present) and
   * tenants of other pools are left out. Unset: every pool.
   */
  signallingPool?: string | undefined;
}

/** Rebuild the RenderedConfig from the manifest data and the shard data by name (not validated here). */
export function assembleConfig(
  manifestData: Record<string, string> | undefined,
  shardData: ReadonlyMap<string, Record<string, string> | undefined>,
  opts: AssembleOptions = {},
): AssembleResult {
  const onlyPool = opts.signallingPool;
  const text = manifestData?.[MANIFEST_KEY];
  if (text === undefined) return { ok: false, pending: true, reason: `ConfigMap ${MANIFEST_NAME} not found` };
  let manifest: ConfigManifest;
  try {
    manifest = JSON.parse(text) as ConfigManifest;
  } catch (err) {
    return {
      ok: false,
      pending: false,
      reason: `${MANIFEST_NAME}: ${MANIFEST_KEY} is not JSON: ${(err as Error).message}`,
    };
  }
  if (manifest?.apiVersion !== MANIFEST_API_VERSION || !Array.isArray(manifest.shards)) {
    return {
      ok: false,
      pending: false,
      reason: `${MANIFEST_NAME}: unsupported manifest ${String(manifest?.apiVersion)}`,
    };
  }
  const tenants: TenantConfig[] = [];
  const trunks: TrunkConfig[] = [];
  for (const ref of manifest.shards) {
    if (onlyPool !== undefined && ref.role === 'tenants' && shardPool(ref) !== onlyPool) continue;
    const data = shardData.get(ref.name);
    if (!data) return { ok: false, pending: true, reason: `waiting for shard ConfigMap ${ref.name}` };
    const hash = contentHash(data);
    if (hash !== ref.hash) {
      return { ok: false, pending: true, reason: `shard ${ref.name} has hash ${hash}, manifest wants ${ref.hash}` };
    }
    for (const [key, value] of Object.entries(data)) {
      try {
        const doc = JSON.parse(value) as TenantConfig & TrunkConfig;
        if (ref.role === 'trunks') trunks.push(doc);
        else if (onlyPool === undefined || doc.signallingPool === onlyPool) tenants.push(doc);
      } catch (err) {
        return { ok: false, pending: false, reason: `shard ${ref.name} key ${key}: ${(err as Error).message}` };
      }
    }
  }
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return {
    ok: true,
    manifest,
    config: {
      apiVersion: CONFIG_API_VERSION,
      kind: CONFIG_KIND,
      version: manifest.version,
      generatedAt: manifest.generatedAt,
      baseDomain: manifest.baseDomain,
      wildcardCertificate: manifest.wildcardCertificate,
      tenants: tenants.sort(byId),
      trunks: trunks.sort(byId),
    },
  };
}
