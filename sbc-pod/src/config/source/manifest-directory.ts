// Local mode's config source: the same YAML users `kubectl apply` (SWITCHBOARD_MANIFESTS, a file or a directory read
// recursively), validated and rendered in-process on every change.
//
// What goes live:
// - Unreadable files and YAML syntax errors reject the whole input: half a file cannot say what was meant.
// - Object and reference errors leave the bad tenants/trunks out of the snapshot (reported, path-qualified, in
//   Snapshot.problems and Snapshot.excluded) and the valid rest goes live — but only when none of the excluded ones is
//   live now. An edit that would take a live tenant or trunk out of service is rejected as a whole and the last good
//   snapshot stays, so a typo never hangs up on a customer; fix the file and the next save goes live. (The operator
//   achieves the same per tenant by keeping its previous ConfigMap; local mode has one document.)
// - The rendered config is checked with validateRenderedConfig before it is compiled and swapped in.
import { stat } from 'node:fs/promises';
import { formatProblem, loadManifests, type Problem, validateManifests } from '../../../../crds/src/manifests/index.ts';
import { render, validateRenderedConfig } from '../../../../crds/src/render/index.ts';
import { configForPool, otherPoolTenants, otherPoolWarning } from './pool.ts';
import type { LoadOutcome, Snapshot, SourceOptions } from './types.ts';
import { WatchedSource } from './watched-source.ts';

export interface ManifestSourceOptions extends SourceOptions {
  /** The provider base domain: tenant FQDNs must be one label under it; the wildcard certificate covers it. */
  baseDomain?: string;
  /** Serve only the tenants of this signalling pool (SWITCHBOARD_SIGNALLING_POOL); unset = every pool. */
  signallingPool?: string | undefined;
}

export interface ManifestLoadOptions {
  baseDomain?: string;
  /** Keep only the tenants of this signalling pool (the others are named in one warning); unset = every pool. */
  signallingPool?: string | undefined;
  generatedAt: string;
  /** The live config: tenants/trunks in it must not be excluded by errors (see the header). */
  previous?: Snapshot['config'];
}

/** Load, validate and render manifests into a rendered config (or a rejection). */
export async function loadManifestConfig(path: string, opts: ManifestLoadOptions): Promise<LoadOutcome> {
  const loaded = await loadManifests([path]);
  const loadErrors = loaded.problems.filter((p) => p.severity === 'error');
  if (loadErrors.length > 0) {
    return { ok: false, reason: 'manifests could not be read or parsed', problems: loadErrors.map(formatProblem) };
  }
  // A file truncated for rewriting (O_TRUNC, then write) reads as empty for a moment; taking that at face value would
  // drop every object in it. An empty file is retried, and refused if it stays empty: delete it to remove its objects.
  const empty: string[] = [];
  for (const file of loaded.files) {
    if ((await stat(file).catch(() => undefined))?.size === 0) empty.push(file);
  }
  if (empty.length > 0) {
    return {
      ok: false,
      transient: true,
      reason: 'empty manifest file (being written?); delete the file to remove its objects',
      problems: empty.map((f) => `${f}: empty`),
    };
  }
  const validation = validateManifests(loaded.objects, opts.baseDomain ? { baseDomain: opts.baseDomain } : {});
  const problems: Problem[] = [...loaded.problems, ...validation.problems];
  const rendered = render(validation.world, {
    generatedAt: opts.generatedAt,
    ...(opts.baseDomain ? { baseDomain: opts.baseDomain } : {}),
  });
  // Tenants of other pools are valid but not ours: rendered (so conflicts across pools are still caught), then left
  // out of the snapshot — neither live nor "excluded" (which means: left out because of errors).
  const pool = opts.signallingPool;
  const others = otherPoolTenants(rendered.snapshot, pool);
  const config = rendered.snapshot;

  // Declared objects (valid or not) that did not make it into the snapshot.
  const declared = { tenants: new Set<string>(), trunks: new Set<string>() };
  for (const { object } of loaded.objects) {
    const meta = object.metadata as { name?: unknown; namespace?: unknown } | undefined;
    if (typeof object.apiVersion !== 'string' || !object.apiVersion.startsWith('switchboard.dev/')) continue;
    if (typeof meta?.name !== 'string') continue;
    const id = `${typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default'}/${meta.name}`;
    if (object.kind === 'Tenant') declared.tenants.add(id);
    if (object.kind === 'Trunk') declared.trunks.add(id);
  }
  const liveTenants = new Set([...config.tenants.map((t) => t.id), ...others]);
  const liveTrunks = new Set(config.trunks.map((t) => t.id));
  const excluded = {
    tenants: [...declared.tenants].filter((id) => !liveTenants.has(id)).sort(),
    trunks: [...declared.trunks].filter((id) => !liveTrunks.has(id)).sort(),
  };
  // Render problems the manifest validation did not already report (it runs the same checks, with file positions).
  const seen = new Set(problems.map((p) => `${p.kind}/${p.namespace}/${p.name}:${p.path}:${p.message}`));
  for (const p of rendered.problems) {
    if (!seen.has(`${p.kind}/${p.namespace}/${p.name}:${p.path}:${p.message}`)) problems.push(p);
  }
  const formatted = problems.map(formatProblem);
  const poolWarning = pool === undefined ? undefined : otherPoolWarning(others, pool);
  if (poolWarning) formatted.push(poolWarning);

  const check = validateRenderedConfig(config);
  if (!check.ok) {
    return { ok: false, reason: 'rendered config is invalid', problems: [...check.errors, ...formatted] };
  }
  if (opts.previous) {
    const wasLive = new Set([...opts.previous.tenants.map((t) => t.id), ...opts.previous.trunks.map((t) => t.id)]);
    const lost = [...excluded.tenants, ...excluded.trunks].filter((id) => wasLive.has(id));
    if (lost.length > 0) {
      return {
        ok: false,
        reason: `errors would take live ${lost.join(', ')} out of service; keeping config ${opts.previous.version}`,
        problems: formatted.filter((p) => !p.startsWith('warning: ')),
      };
    }
  }
  return { ok: true, config: configForPool(config, pool), problems: formatted, excluded };
}

/** Watches SWITCHBOARD_MANIFESTS and renders in-process. */
export class ManifestDirectorySource extends WatchedSource {
  #baseDomain: string | undefined;
  #signallingPool: string | undefined;

  constructor(path: string, opts: ManifestSourceOptions = {}) {
    super(path, `manifests:${path}`, opts);
    this.#baseDomain = opts.baseDomain;
    this.#signallingPool = opts.signallingPool;
  }

  protected override get recursive(): boolean {
    return true;
  }

  protected override load(previous: Snapshot | undefined): Promise<LoadOutcome> {
    return loadManifestConfig(this.path, {
      generatedAt: this.now().toISOString(),
      ...(this.#baseDomain ? { baseDomain: this.#baseDomain } : {}),
      ...(this.#signallingPool !== undefined ? { signallingPool: this.#signallingPool } : {}),
      ...(previous ? { previous: previous.config } : {}),
    });
  }
}
