// Validating a set of loaded manifests: each switchboard.dev object on its own (schema + CEL twins), then the
// world they form (references, sharing, FQDNs, numbers). Namespace objects feed allowedTenants selectors; other
// kinds (Secrets, ConfigMaps...) are passed over.
import type { RoutePolicy } from '../api/route-policy.ts';
import type { Tenant } from '../api/tenant.ts';
import type { Trunk } from '../api/trunk.ts';
import { type LoadedManifest, loadManifests, type ManifestSource } from './load.ts';
import type { Problem } from './problems.ts';
import { checkReferences, type NamespaceInfo, type ReferenceOptions, type World } from './references.ts';
import { isSwitchboardApiVersion, validateObject } from './validate-object.ts';

export interface ValidateOptions extends Omit<ReferenceOptions, 'invalid'> {
  /** Check cross-object references (default true). Turn off to check files that are only part of a world. */
  references?: boolean;
}

export interface ValidationResult {
  /** The valid switchboard.dev objects (defaulted) and the namespaces seen. */
  world: World & { namespaces: NamespaceInfo[] };
  /** Errors and warnings, in file/document order. */
  problems: Problem[];
  /** Where each world object came from. */
  sources: Map<object, ManifestSource>;
  counts: { files: number; objects: number; switchboard: number; ignored: number };
}

export function validateManifests(manifests: readonly LoadedManifest[], opts: ValidateOptions = {}): ValidationResult {
  const problems: Problem[] = [];
  const tenants: Tenant[] = [];
  const trunks: Trunk[] = [];
  const routePolicies: RoutePolicy[] = [];
  const namespaces: NamespaceInfo[] = [];
  const sources = new Map<object, ManifestSource>();
  const byId = new Map<string, ManifestSource>();
  const invalid = new Set<string>();
  let switchboard = 0;
  let ignored = 0;

  for (const { source, object } of manifests) {
    if (!isSwitchboardApiVersion(object.apiVersion)) {
      if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
        problems.push({
          ...source,
          severity: 'error',
          path: '',
          message: 'not a Kubernetes object (apiVersion and kind are required)',
        });
        continue;
      }
      ignored++;
      if (object.apiVersion === 'v1' && object.kind === 'Namespace') {
        const meta = (object.metadata ?? {}) as { name?: unknown; labels?: unknown };
        if (typeof meta.name === 'string') {
          const labels = meta.labels && typeof meta.labels === 'object' ? (meta.labels as Record<string, string>) : {};
          namespaces.push({ name: meta.name, labels });
        }
      }
      continue;
    }
    switchboard++;
    const result = validateObject(object);
    for (const p of result.problems) problems.push({ ...source, ...p });
    const meta = (object.metadata ?? {}) as { name?: unknown; namespace?: unknown };
    const key = `${String(object.kind)}/${typeof meta.namespace === 'string' ? meta.namespace : 'default'}/${String(meta.name)}`;
    const earlier = byId.get(key);
    if (earlier && typeof meta.name === 'string') {
      problems.push({
        ...source,
        severity: 'error',
        kind: String(object.kind),
        namespace: key.split('/')[1]!,
        name: meta.name,
        path: '',
        message: `duplicate object (first defined at ${earlier.file}#${earlier.index})`,
      });
      continue;
    }
    byId.set(key, source);
    const obj = result.object;
    if (!obj) {
      invalid.add(key);
      continue;
    }
    sources.set(obj, source);
    if (obj.kind === 'Tenant') tenants.push(obj);
    else if (obj.kind === 'Trunk') trunks.push(obj);
    else routePolicies.push(obj);
  }

  const world = { tenants, trunks, routePolicies, namespaces };
  if (opts.references !== false) {
    const refOpts: ReferenceOptions = { invalid };
    if (opts.baseDomain) refOpts.baseDomain = opts.baseDomain;
    for (const p of checkReferences(world, refOpts)) {
      const { tenant: _tenant, ...problem } = p;
      const key = `${p.kind}/${p.namespace}/${p.name}`;
      const source = byId.get(key);
      problems.push({ ...source, ...problem });
    }
  }

  problems.sort((a, b) => compare(a.file ?? '', b.file ?? '') || (a.index ?? 0) - (b.index ?? 0));
  const files = new Set(manifests.map((m) => m.source.file));
  return {
    world,
    problems,
    sources,
    counts: { files: files.size, objects: manifests.length, switchboard, ignored },
  };
}

/** Load and validate files/directories in one go. */
export async function validatePaths(
  paths: readonly string[],
  opts: ValidateOptions = {},
): Promise<ValidationResult & { files: string[] }> {
  const loaded = await loadManifests(paths);
  const result = validateManifests(loaded.objects, opts);
  const problems = [...loaded.problems, ...result.problems];
  problems.sort((a, b) => compare(a.file ?? '', b.file ?? '') || (a.index ?? 0) - (b.index ?? 0));
  return { ...result, problems, files: loaded.files, counts: { ...result.counts, files: loaded.files.length } };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
