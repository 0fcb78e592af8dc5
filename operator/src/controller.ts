// The operator's reconciler: whole-world and level-based (DESIGN.md §4, anchors §7). Watches only enqueue the one
// key `world`, coalesced over a short window; a reconcile reads every cache, renders the world, and converges the
// ConfigMaps, Certificates, mirrored TLS Secrets, finalizers and statuses, writing only what changed (server-side
// apply, field manager `switchboard-operator`). Failures are retried with per-key exponential backoff; a periodic
// resync repairs anything a watch missed.
import { EventEmitter } from 'node:events';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RoutePolicy } from '../../crds/src/api/route-policy.ts';
import type { Tenant } from '../../crds/src/api/tenant.ts';
import type { Trunk } from '../../crds/src/api/trunk.ts';
import type { RenderedConfig } from '../../crds/src/render/config-types.ts';
import { contentHash } from '../../crds/src/render/hash.ts';
import { type RenderProblem, render } from '../../crds/src/render/index.ts';
import { isNotFound, KubeClient, type KubeObject, resourcePath } from './kube/client.ts';
import { objectKey, Reflector } from './kube/reflector.ts';
import { WorkQueue } from './kube/workqueue.ts';
import {
  checkTlsSecret,
  MANAGED_LABEL,
  MANAGED_VALUE,
  ownerLabels,
  type SecretCheck,
  TENANT_CERT_LABEL,
  tenantCertificate,
} from './render/certificates.ts';
import {
  assembleConfig,
  CONFIG_LABEL,
  CONFIG_LABEL_VALUE,
  type ConfigMapSpec,
  configMapBytes,
  HASH_ANNOTATION,
  MANIFEST_NAME,
  shardConfig,
} from './render/shards.ts';
import { carryOver, localiseSecrets, tenantSecretName } from './render/world.ts';
import {
  type Condition,
  type DesiredCondition,
  mergeConditions,
  readyCondition,
  sameStatus,
  transitions,
} from './status/conditions.ts';
import { simpleConditions, tenantConditions } from './status/objects.ts';

export const FIELD_MANAGER = 'switchboard-operator';
export const FINALIZER = 'switchboard.dev/cleanup';
export const GROUP_VERSION = 'switchboard.dev/v1alpha1';
const WORLD = 'world';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** Where rendered ConfigMaps, Certificates and tenant TLS Secrets live. Default switchboard-system. */
  systemNamespace?: string;
  baseDomain?: string;
  /** The wildcard certificate Secret in the system namespace. Default switchboard-wildcard-tls. */
  wildcardSecretName?: string;
  /** Coalescing window for bursts of watch events (default 250 ms). */
  coalesceMs?: number;
  /** Periodic full reconcile (default 60 s). */
  resyncMs?: number;
  /** How long a referenced Secret read is trusted (default 60 s; missing ones are re-checked with backoff). */
  secretTtlMs?: number;
  maxConfigMapBytes?: number;
  /** Extra labels on rendered ConfigMaps (e.g. a pool/region label). */
  configMapLabels?: Record<string, string>;
  now?: () => Date;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface OperatorStats {
  reconciles: number;
  failures: number;
  writes: number;
  /** Writes skipped because the content hash was unchanged. */
  suppressed: number;
  lastRenderMs: number;
  lastReconcileMs: number;
  version: string | undefined;
  configMaps: number;
  configMapBytes: number;
  /** Date.now() of the last reconcile pass that finished without an error (0: none yet). */
  lastSuccessAt: number;
}

export type ObjectKind = 'Tenant' | 'Trunk' | 'RoutePolicy';
export type ObjectResult = 'ready' | 'not_ready' | 'error';

/** Emitted as 'pass' after every whole-world reconcile (the admin server's /metrics counts these). */
export interface PassEvent {
  result: 'success' | 'error';
  durationMs: number;
  /** Per object of each kind, the outcome of this pass: its Ready condition, or an error writing its status. */
  objects: Record<ObjectKind, Record<ObjectResult, number>>;
  writes: number;
  suppressed: number;
}

function emptyObjectCounts(): Record<ObjectKind, Record<ObjectResult, number>> {
  const z = (): Record<ObjectResult, number> => ({ ready: 0, not_ready: 0, error: 0 });
  return { Tenant: z(), Trunk: z(), RoutePolicy: z() };
}

interface CachedSecret {
  data: Record<string, string> | undefined;
  fetchedAt: number;
  /** Missing or failing validation: re-read at the next re-check (backoff), not after the TTL. */
  bad: boolean;
}

type Labeled = KubeObject & { status?: { conditions?: Condition[]; observedGeneration?: number } };

export class Operator extends EventEmitter {
  readonly client: KubeClient;
  readonly systemNamespace: string;
  readonly #opts: OperatorOptions;
  readonly #queue: WorkQueue;
  readonly #reflectors: Record<string, Reflector>;
  readonly #secrets = new Map<string, CachedSecret>();
  #missingSecretRounds = 0;
  #coalesce: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #lastConfig: RenderedConfig | undefined;
  #started = false;
  #stopped = false;
  #reconcileStartedAt: number | undefined;
  #passObjects = emptyObjectCounts();
  readonly stats: OperatorStats = {
    reconciles: 0,
    failures: 0,
    writes: 0,
    suppressed: 0,
    lastRenderMs: 0,
    lastReconcileMs: 0,
    version: undefined,
    configMaps: 0,
    configMapBytes: 0,
    lastSuccessAt: 0,
  };

  constructor(opts: OperatorOptions) {
    super();
    this.#opts = opts;
    this.client = new KubeClient(opts.kubeConfig);
    this.systemNamespace = opts.systemNamespace ?? 'switchboard-system';
    this.#queue = new WorkQueue((key) => this.#handle(key), { baseDelayMs: 100, maxDelayMs: 30_000 });
    this.#queue.onError = (key, err, ms) => {
      this.stats.failures++;
      this.#log('warn', `reconcile ${key} failed; retry in ${ms} ms`, { error: errorText(err) });
    };
    const sys = this.systemNamespace;
    const mk = (name: string, path: string, labelSelector?: string): Reflector =>
      new Reflector(this.client, {
        name,
        path,
        ...(labelSelector ? { labelSelector } : {}),
        onChange: () => this.#trigger(),
        onError: (err) => this.#log('warn', `watch ${name} restarting`, { error: errorText(err) }),
      });
    this.#reflectors = {
      tenants: mk('tenants', `/apis/${GROUP_VERSION}/tenants`),
      trunks: mk('trunks', `/apis/${GROUP_VERSION}/trunks`),
      routePolicies: mk('routepolicies', `/apis/${GROUP_VERSION}/routepolicies`),
      namespaces: mk('namespaces', '/api/v1/namespaces'),
      configMaps: mk('configmaps', `/api/v1/namespaces/${sys}/configmaps`, `${CONFIG_LABEL}=${CONFIG_LABEL_VALUE}`),
      certificates: mk(
        'certificates',
        `/apis/cert-manager.io/v1/namespaces/${sys}/certificates`,
        `${MANAGED_LABEL}=${MANAGED_VALUE}`,
      ),
      tlsSecrets: mk('tls-secrets', `/api/v1/namespaces/${sys}/secrets`, `${TENANT_CERT_LABEL}=true`),
    };
  }

  #log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
    this.#opts.log?.(level, msg, fields);
  }

  #now(): Date {
    return this.#opts.now?.() ?? new Date();
  }

  /** Start watching and reconciling. Resolves once the caches have synced (cert-manager's is optional). */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const r of Object.values(this.#reflectors)) r.start();
    const required = Object.entries(this.#reflectors).filter(([k]) => k !== 'certificates');
    await Promise.all(required.map(([, r]) => r.waitForSync(signal)));
    const resync = this.#opts.resyncMs ?? 60_000;
    this.#resync = setInterval(() => this.#queue.add(WORLD), resync);
    this.#resync.unref();
    this.#queue.add(WORLD);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#coalesce);
    clearInterval(this.#resync);
    await this.#queue.stop();
    await Promise.all(Object.values(this.#reflectors).map((r) => r.stop()));
  }

  /** Watch caches by name: synced (listed at least once) or not. cert-manager's is optional (see start()). */
  cacheStatus(): Record<string, { synced: boolean; required: boolean; restarts: number }> {
    const out: Record<string, { synced: boolean; required: boolean; restarts: number }> = {};
    for (const [k, r] of Object.entries(this.#reflectors)) {
      out[r.opts.name] = { synced: r.synced, required: k !== 'certificates', restarts: r.restarts };
    }
    return out;
  }

  /** How long the reconcile now running has been running (ms), or undefined when none runs (liveness). */
  reconcilingForMs(): number | undefined {
    return this.#reconcileStartedAt === undefined ? undefined : Date.now() - this.#reconcileStartedAt;
  }

  /** Resolves when no reconcile is queued or running. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Coalesce: the first event opens a window; everything inside it becomes one reconcile. */
  #trigger(): void {
    if (this.#stopped || !this.#started || this.#coalesce) return;
    this.#coalesce = setTimeout(() => {
      this.#coalesce = undefined;
      this.#queue.add(WORLD);
    }, this.#opts.coalesceMs ?? 250);
  }

  async #handle(key: string): Promise<void> {
    if (key === WORLD) {
      const t0 = performance.now();
      const before = { writes: this.stats.writes, suppressed: this.stats.suppressed };
      this.#reconcileStartedAt = Date.now();
      this.#passObjects = emptyObjectCounts();
      let result: PassEvent['result'] = 'error';
      try {
        await this.#reconcile();
        result = 'success';
        this.stats.lastSuccessAt = Date.now();
      } finally {
        this.#reconcileStartedAt = undefined;
        const pass: PassEvent = {
          result,
          durationMs: performance.now() - t0,
          objects: this.#passObjects,
          writes: this.stats.writes - before.writes,
          suppressed: this.stats.suppressed - before.suppressed,
        };
        this.emit('pass', pass);
      }
      return;
    }
    if (key === 'recheck-secrets') {
      for (const [k, v] of this.#secrets) if (v.bad) this.#secrets.delete(k);
      this.#queue.add(WORLD);
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // reconcile

  async #reconcile(): Promise<void> {
    const t0 = performance.now();
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<void>): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (err) {
        errors.push(`${what}: ${errorText(err)}`);
        return false;
      }
    };
    const count = (kind: ObjectKind, ok: boolean, ready: DesiredCondition): void => {
      this.#passObjects[kind][!ok ? 'error' : ready.status === 'True' ? 'ready' : 'not_ready']++;
    };
    const sys = this.systemNamespace;
    const r = this.#reflectors;
    const allTenants = r.tenants!.list() as unknown as (Tenant & Labeled)[];
    const trunks = r.trunks!.list().filter((o) => !o.metadata?.deletionTimestamp) as unknown as (Trunk & Labeled)[];
    const policies = r.routePolicies!.list().filter((o) => !o.metadata?.deletionTimestamp) as unknown as (RoutePolicy &
      Labeled)[];
    const namespaces = r
      .namespaces!.list()
      .map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} }));

    // 1. Finalizers first (before any cross-namespace child exists for a tenant).
    for (const t of allTenants) {
      if (t.metadata.deletionTimestamp || t.metadata.finalizers?.includes(FINALIZER)) continue;
      await step(`add finalizer to Tenant ${objectKey(t)}`, async () => {
        await this.client.mergePatch(
          this.#tenantPath(t),
          {
            metadata: {
              finalizers: [...(t.metadata.finalizers ?? []), FINALIZER],
              resourceVersion: t.metadata.resourceVersion,
            },
          },
          FIELD_MANAGER,
        );
      });
    }
    const live = allTenants.filter((t) => !t.metadata.deletionTimestamp);
    const deleting = allTenants.filter((t) => t.metadata.deletionTimestamp);

    // 2. Render.
    const tr = performance.now();
    const result = render(
      { tenants: live, trunks, routePolicies: policies, namespaces },
      {
        generatedAt: this.#now().toISOString(),
        ...(this.#opts.baseDomain ? { baseDomain: this.#opts.baseDomain } : {}),
        wildcardCertificate: { namespace: sys, name: this.#opts.wildcardSecretName ?? 'switchboard-wildcard-tls' },
      },
    );
    const localised = localiseSecrets(result.snapshot, sys);
    const previous = this.#lastConfig ?? this.#configFromCache();
    const liveIds = new Set(live.map((t) => `${t.metadata.namespace}/${t.metadata.name}`));
    const { config, carried } = carryOver(localised, previous, liveIds);
    const sharded = shardConfig(config, {
      ...(this.#opts.maxConfigMapBytes ? { maxBytes: this.#opts.maxConfigMapBytes } : {}),
      ...(this.#opts.configMapLabels ? { labels: this.#opts.configMapLabels } : {}),
    });
    this.stats.lastRenderMs = performance.now() - tr;

    // 3. ConfigMaps: shards, then the manifest, then stale shards.
    const errorsBeforeWrite = errors.length;
    await step('write config', async () => {
      for (const s of sharded.shards) await this.#applyConfigMap(s);
      await this.#applyConfigMap(sharded.manifest);
      const want = new Set([sharded.manifest.name, ...sharded.shards.map((s) => s.name)]);
      for (const cm of r.configMaps!.list()) {
        const name = cm.metadata?.name ?? '';
        if (!want.has(name)) await this.client.delete(resourcePath('v1', 'configmaps', sys, name));
      }
      this.#lastConfig = config;
      this.stats.version = config.version;
      this.stats.configMaps = want.size;
      this.stats.configMapBytes = [sharded.manifest, ...sharded.shards].reduce((n, s) => n + configMapBytes(s.data), 0);
    });
    const configWritten = errors.length === errorsBeforeWrite;

    // 4. Certificates (Dedicated) and mirrored Secrets (Provided).
    const certErrors = new Map<string, string>();
    const wantCerts = new Map<string, Record<string, unknown>>();
    for (const t of config.tenants) {
      if (t.certificate.mode !== 'Dedicated' || !t.certificate.issuer) continue;
      const cert = tenantCertificate(
        { namespace: t.namespace, name: t.name, fqdn: t.fqdn, issuer: t.certificate.issuer },
        sys,
      );
      wantCerts.set(`${sys}/${(cert.metadata as { name: string }).name}`, cert);
    }
    for (const [key, cert] of wantCerts) {
      await step(`apply Certificate ${key}`, async () => {
        try {
          await this.#applyHashed(
            r.certificates!,
            key,
            resourcePath('cert-manager.io/v1', 'certificates', sys, key.split('/')[1]),
            cert,
          );
        } catch (err) {
          const labels = (cert.metadata as { labels: Record<string, string> }).labels;
          certErrors.set(
            `${labels['switchboard.dev/tenant-namespace']}/${labels['switchboard.dev/tenant-name']}`,
            errorText(err),
          );
          throw err;
        }
      });
    }
    for (const c of r.certificates!.list()) {
      if (!wantCerts.has(objectKey(c))) {
        await step(`delete Certificate ${objectKey(c)}`, () =>
          this.client.delete(resourcePath('cert-manager.io/v1', 'certificates', sys, c.metadata?.name)),
        );
      }
    }

    const provided = new Map<string, SecretCheck>();
    const wantMirrors = new Set<string>();
    let missingSecrets = 0;
    const tenantById = new Map(live.map((t) => [`${t.metadata.namespace}/${t.metadata.name}`, t]));
    for (const t of live) {
      if (t.spec.certificate.mode !== 'Provided') continue;
      const id = `${t.metadata.namespace}/${t.metadata.name}`;
      const ref = `${t.metadata.namespace}/${t.spec.certificate.secretRef?.name ?? `${t.metadata.name}-tls`}`;
      const data = await this.#readSecret(ref).catch((err: unknown) => {
        errors.push(`read Secret ${ref}: ${errorText(err)}`);
        return null;
      });
      if (data === null) continue;
      const check = data
        ? checkTlsSecret(data, t.spec.fqdn.toLowerCase(), ref, this.#now())
        : { ok: false, reason: 'SecretNotFound', message: `Secret ${ref} not found` };
      if (!check.ok) {
        missingSecrets++;
        this.#secrets.get(ref)!.bad = true;
      }
      provided.set(id, check);
      const mirror = tenantSecretName(t.metadata.namespace ?? '', t.metadata.name);
      wantMirrors.add(`${sys}/${mirror}`);
      if (check.ok && data) {
        const body = {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'kubernetes.io/tls',
          metadata: {
            name: mirror,
            namespace: sys,
            labels: { [TENANT_CERT_LABEL]: 'true', ...ownerLabels(t.metadata.namespace ?? '', t.metadata.name) },
          },
          data: { 'tls.crt': data['tls.crt']!, 'tls.key': data['tls.key']! },
        };
        await step(`mirror Secret ${ref}`, () =>
          this.#applyHashed(r.tlsSecrets!, `${sys}/${mirror}`, resourcePath('v1', 'secrets', sys, mirror), body),
        );
      }
    }
    for (const s of r.tlsSecrets!.list()) {
      const labels = s.metadata?.labels ?? {};
      // Only our mirrors (cert-manager's Secrets are removed with their Certificate by cert-manager, or by us below).
      if (labels[MANAGED_LABEL] !== MANAGED_VALUE) continue;
      const owner = `${labels['switchboard.dev/tenant-namespace']}/${labels['switchboard.dev/tenant-name']}`;
      const t = tenantById.get(owner);
      const isMirror = !s.metadata?.annotations?.['cert-manager.io/certificate-name'];
      const keep = isMirror ? wantMirrors.has(objectKey(s)) : t?.spec.certificate.mode === 'Dedicated';
      if (!keep) {
        await step(`delete Secret ${objectKey(s)}`, () =>
          this.client.delete(resourcePath('v1', 'secrets', sys, s.metadata?.name)),
        );
      }
    }

    // 5. Status.
    const problemsOf = (kind: string, id: string): RenderProblem[] =>
      result.problems.filter((p) => p.kind === kind && `${p.namespace}/${p.name}` === id && p.severity === 'error');
    const renderedIds = new Set(result.snapshot.tenants.map((t) => t.id));
    const policyById = new Map(policies.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
    for (const t of live) {
      const id = `${t.metadata.namespace}/${t.metadata.name}`;
      const policyId = `${t.metadata.namespace}/${t.spec.routePolicyRef.name}`;
      const policy = policyById.get(policyId);
      const certName = `tenant-${t.metadata.namespace}-${t.metadata.name}`;
      const certObj = r.certificates!.get(`${sys}/${certName}`) as
        | (KubeObject & {
            status?: {
              conditions?: {
                type: string;
                status: string;
                reason?: string;
                message?: string;
                observedGeneration?: number;
              }[];
            };
          })
        | undefined;
      const inConfig = config.tenants.some((c) => c.id === id);
      const desired = tenantConditions({
        id,
        generation: t.metadata.generation,
        mode: t.spec.certificate.mode,
        policyId,
        routeNames: (policy?.spec.routes ?? []).map((x) => x.name),
        tenantProblems: problemsOf('Tenant', id),
        policyProblems: problemsOf('RoutePolicy', policyId),
        rendered: renderedIds.has(id) && configWritten,
        carried: carried.includes(id),
        version: config.version,
        ...(t.spec.certificate.mode === 'Dedicated' && inConfig
          ? {
              certificate: {
                name: `${sys}/${certName}`,
                ...(certErrors.has(id) ? { applyError: certErrors.get(id)! } : {}),
                ...(certObj?.metadata?.generation !== undefined ? { generation: certObj.metadata.generation } : {}),
                ...(certObj?.status?.conditions?.find((c) => c.type === 'Ready')
                  ? { ready: certObj.status.conditions.find((c) => c.type === 'Ready')! }
                  : {}),
              },
            }
          : {}),
        ...(provided.has(id) ? { provided: provided.get(id)! } : {}),
      });
      const ready = readyCondition(
        desired,
        t.metadata.generation,
        `serving ${t.spec.fqdn} in config version ${config.version}`,
      );
      count(
        'Tenant',
        await step(`status of Tenant ${id}`, () => this.#writeStatus(t, 'tenants', [ready, ...desired])),
        ready,
      );
    }
    for (const t of trunks) {
      const id = `${t.metadata.namespace}/${t.metadata.name}`;
      const secretProblems: string[] = [];
      for (const [what, name] of [
        ['spec.inbound.digest.secretRef', t.spec.inbound?.digest?.secretRef?.name],
        ['spec.outbound.auth.secretRef', t.spec.outbound?.auth?.secretRef?.name],
      ] as const) {
        if (!name) continue;
        const ref = `${t.metadata.namespace}/${name}`;
        const data = await this.#readSecret(ref).catch(() => null);
        if (data === undefined) {
          secretProblems.push(`${what}: Secret ${ref} not found`);
          missingSecrets++;
        }
      }
      const desired = simpleConditions(
        t.metadata.generation,
        problemsOf('Trunk', id).concat(
          result.problems.filter(
            (p) => p.kind === 'Trunk' && `${p.namespace}/${p.name}` === id && p.severity === 'warning',
          ),
        ),
        secretProblems,
        `in config version ${config.version}`,
        result.excluded.trunks.includes(id),
      );
      const ready = readyCondition(desired, t.metadata.generation, 'usable');
      count(
        'Trunk',
        await step(`status of Trunk ${id}`, () => this.#writeStatus(t, 'trunks', [ready, ...desired])),
        ready,
      );
    }
    for (const p of policies) {
      const id = `${p.metadata.namespace}/${p.metadata.name}`;
      const all = result.problems.filter((x) => x.kind === 'RoutePolicy' && `${x.namespace}/${x.name}` === id);
      const desired = simpleConditions(p.metadata.generation, all, [], `in config version ${config.version}`, false);
      const ready = readyCondition(desired, p.metadata.generation, 'usable');
      const ok = await step(`status of RoutePolicy ${id}`, () =>
        this.#writeStatus(p, 'routepolicies', [ready, ...desired]),
      );
      count('RoutePolicy', ok, ready);
    }

    if (missingSecrets > 0) {
      this.#missingSecretRounds++;
      this.#queue.addAfter('recheck-secrets', Math.min(30_000, 250 * 2 ** Math.min(this.#missingSecretRounds, 7)));
    } else this.#missingSecretRounds = 0;

    // 6. Deleting tenants: their config is gone (written above) and so are their Certificate and Secrets.
    for (const t of deleting) {
      if (!t.metadata.finalizers?.includes(FINALIZER)) continue;
      const id = `${t.metadata.namespace}/${t.metadata.name}`;
      if (!configWritten || config.tenants.some((c) => c.id === id)) continue;
      await step(`finalize Tenant ${id}`, async () => {
        const name = `tenant-${t.metadata.namespace}-${t.metadata.name}`;
        await this.client
          .delete(resourcePath('cert-manager.io/v1', 'certificates', sys, name))
          .catch((err: unknown) => {
            // No cert-manager CRD installed: nothing to delete.
            if (!(isNotFound(err) || /the server could not find the requested resource/.test(errorText(err))))
              throw err;
          });
        await this.client.delete(
          resourcePath('v1', 'secrets', sys, tenantSecretName(t.metadata.namespace ?? '', t.metadata.name)),
        );
        await this.client.mergePatch(
          this.#tenantPath(t),
          {
            metadata: {
              finalizers: (t.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
              resourceVersion: t.metadata.resourceVersion,
            },
          },
          FIELD_MANAGER,
        );
        this.#log('info', `Tenant ${id} finalized`);
      });
    }

    this.stats.reconciles++;
    this.stats.lastReconcileMs = performance.now() - t0;
    this.emit('reconciled', { version: config.version, errors });
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  #tenantPath(t: KubeObject): string {
    return resourcePath(GROUP_VERSION, 'tenants', t.metadata?.namespace, t.metadata?.name);
  }

  #configFromCache(): RenderedConfig | undefined {
    const cms = new Map(
      this.#reflectors.configMaps!.list().map((c) => [c.metadata?.name ?? '', c.data as Record<string, string>]),
    );
    const res = assembleConfig(cms.get(MANIFEST_NAME), cms);
    return res.ok ? res.config : undefined;
  }

  async #applyConfigMap(spec: ConfigMapSpec): Promise<void> {
    const sys = this.systemNamespace;
    const cached = this.#reflectors.configMaps!.get(`${sys}/${spec.name}`);
    if (cached?.metadata?.annotations?.[HASH_ANNOTATION] === spec.hash) {
      this.stats.suppressed++;
      return;
    }
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: spec.name, namespace: sys, labels: spec.labels, annotations: { [HASH_ANNOTATION]: spec.hash } },
      data: spec.data,
    };
    await this.client.apply(resourcePath('v1', 'configmaps', sys, spec.name), body, FIELD_MANAGER);
    this.stats.writes++;
  }

  /** Server-side apply unless the cached object carries the same content hash. */
  async #applyHashed(cache: Reflector, key: string, path: string, body: Record<string, unknown>): Promise<void> {
    const hash = contentHash(body);
    if (cache.get(key)?.metadata?.annotations?.[HASH_ANNOTATION] === hash) {
      this.stats.suppressed++;
      return;
    }
    const meta = body.metadata as { annotations?: Record<string, string> };
    const withHash = {
      ...body,
      metadata: { ...meta, annotations: { ...(meta.annotations ?? {}), [HASH_ANNOTATION]: hash } },
    };
    await this.client.apply(path, withHash, FIELD_MANAGER);
    this.stats.writes++;
  }

  /** undefined: not found; cached for secretTtlMs (found) — missing ones are re-read on every re-check. */
  async #readSecret(ref: string): Promise<Record<string, string> | undefined> {
    const ttl = this.#opts.secretTtlMs ?? 60_000;
    const hit = this.#secrets.get(ref);
    if (hit && Date.now() - hit.fetchedAt < ttl) return hit.data;
    const [ns, name] = ref.split('/');
    const s = await this.client.find<KubeObject & { data?: Record<string, string> }>(
      resourcePath('v1', 'secrets', ns, name),
    );
    const data = s ? (s.data ?? {}) : undefined;
    this.#secrets.set(ref, { data, fetchedAt: Date.now(), bad: data === undefined });
    return data;
  }

  async #writeStatus(obj: Labeled, plural: string, desired: DesiredCondition[]): Promise<void> {
    const now = this.#now().toISOString();
    const existing = obj.status?.conditions;
    const conditions = mergeConditions(existing, desired, now);
    const status = { observedGeneration: obj.metadata?.generation, conditions };
    if (sameStatus(obj.status, status)) {
      this.stats.suppressed++;
      return;
    }
    await this.client.apply(
      resourcePath(GROUP_VERSION, plural, obj.metadata?.namespace, obj.metadata?.name, 'status'),
      {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        metadata: { name: obj.metadata?.name, namespace: obj.metadata?.namespace },
        status,
      },
      FIELD_MANAGER,
    );
    this.stats.writes++;
    for (const c of transitions(existing, conditions)) await this.#event(obj, c);
  }

  async #event(obj: KubeObject, c: Condition): Promise<void> {
    const ns = obj.metadata?.namespace ?? 'default';
    const now = this.#now().toISOString();
    try {
      await this.client.create(resourcePath('v1', 'events', ns), {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${obj.metadata?.name}.`, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata?.name,
          namespace: ns,
          uid: obj.metadata?.uid,
          resourceVersion: obj.metadata?.resourceVersion,
        },
        reason: c.reason,
        message: `${c.type}=${c.status}: ${c.message}`.slice(0, 1000),
        type: c.status === 'False' ? 'Warning' : 'Normal',
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: FIELD_MANAGER,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      this.#log('warn', 'event not recorded', { error: errorText(err) });
    }
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
