// The kubernetes config source (DESIGN.md §4): label-selected watches on the rendered-config ConfigMaps and on the
// Secrets of the Switchboard system namespace, assembling the RenderedConfig from the operator's manifest and shards
// (operator/src/render/shards.ts), validating it, compiling it and emitting snapshots — the same stream as the
// directory sources ('snapshot' / 'rejected' / 'checked'; the last good snapshot stays on a bad input).
//
// - Consistency: the operator writes shards first and the manifest last; a load assembles only when every shard the
//   manifest lists is present with the listed content hash. Until then the load is "pending" (not a rejection):
//   the current snapshot stays and the next watch event retries.
// - Certificates (unless a CertificateProvider is given): the tenant TLS Secrets the operator/cert-manager put in the
//   system namespace (label switchboard.dev/tenant-cert=true) serve their tenant's FQDN; the wildcard Secret named
//   in the config is the default (no SNI / unknown name).
// - Signalling pools (sovereignty): with `signallingPool` set, the pod watches only the tenant shards labelled with
//   its pool plus the shards every pool shares (trunks, the manifest) — two label-selected watches — and assembles
//   without the other pools' shards, so it never holds another pool's tenants.
// - Watches are supervised (backoff with jitter, 410 Gone → re-list, periodic re-list); events are debounced.
// RBAC: get/list/watch configmaps and secrets in the system namespace (operator/rbac/sbc-pod.yaml).
import { EventEmitter } from 'node:events';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RenderedConfig } from '../../../../crds/src/render/config-types.ts';
import { validateRenderedConfig } from '../../../../crds/src/render/index.ts';
import { KubeClient, type KubeObject } from '../../../../operator/src/kube/client.ts';
import { Reflector } from '../../../../operator/src/kube/reflector.ts';
import {
  assembleConfig,
  CONFIG_LABEL,
  CONFIG_LABEL_VALUE,
  MANIFEST_NAME,
  poolSelectors,
} from '../../../../operator/src/render/shards.ts';
import type { CertificateEntry } from '../../sip/transport/tls-certificates.ts';
import { compileConfig } from '../compiled.ts';
import { validatePoolConfig } from './pool.ts';
import type { CertificateProvider, CheckResult, ConfigSource, Rejection, Snapshot, SourceOptions } from './types.ts';

export interface KubernetesSourceOptions extends SourceOptions {
  /** Default: KUBECONFIG, else the in-cluster ServiceAccount (loaded at start()). */
  kubeConfig?: KubeConfig;
  /** The Switchboard system namespace (default switchboard-system). */
  namespace?: string;
  /** Load certificates from the system namespace's Secrets (default true; ignored when `certificates` is given). */
  secretCertificates?: boolean;
  /** Full re-list interval of the watches (default 5 min). */
  relistMs?: number;
  /** Serve only the tenants of this signalling pool (SWITCHBOARD_SIGNALLING_POOL); unset = every pool. */
  signallingPool?: string | undefined;
}

const TENANT_CERT_LABEL = 'switchboard.dev/tenant-cert';

export class KubernetesSource extends EventEmitter implements ConfigSource {
  readonly origin: string;
  readonly namespace: string;
  readonly #opts: KubernetesSourceOptions;
  readonly signallingPool: string | undefined;
  /** One watch on every rendered ConfigMap, or (with a pool) the pool's shards and the shared ones. */
  #configMaps: Reflector[] = [];
  #secrets: Reflector | undefined;
  #certificates: CertificateProvider | undefined;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #now: () => Date;
  #current: Snapshot | undefined;
  #certKey = '';
  #lastRejection = '';
  #timer: NodeJS.Timeout | undefined;
  #pendingSince = 0;
  #running: Promise<CheckResult> | undefined;
  #again = false;
  #closed = false;
  #started = false;

  constructor(opts: KubernetesSourceOptions) {
    super();
    this.namespace = opts.namespace ?? 'switchboard-system';
    this.signallingPool = opts.signallingPool;
    this.origin = `kubernetes:${this.namespace}${opts.signallingPool !== undefined ? `?pool=${opts.signallingPool}` : ''}`;
    this.#debounceMs = opts.debounceMs ?? 100;
    this.#maxDelayMs = opts.maxDelayMs ?? 1000;
    this.#now = opts.now ?? (() => new Date());
    this.#opts = opts;
    if (opts.certificates) this.#certificates = opts.certificates;
  }

  #watch(kubeConfig: KubeConfig): void {
    const opts = this.#opts;
    const client = new KubeClient(kubeConfig);
    const onChange = () => this.#schedule();
    const selectors =
      opts.signallingPool === undefined
        ? { all: `${CONFIG_LABEL}=${CONFIG_LABEL_VALUE}` }
        : poolSelectors(opts.signallingPool);
    this.#configMaps = Object.entries(selectors).map(
      ([which, labelSelector]) =>
        new Reflector(client, {
          name: `config-configmaps-${which}`,
          path: `/api/v1/namespaces/${this.namespace}/configmaps`,
          labelSelector,
          ...(opts.relistMs ? { relistMs: opts.relistMs } : {}),
          onChange,
        }),
    );
    if (!opts.certificates && opts.secretCertificates !== false) {
      // All Secrets of the namespace: tenant certificates carry a label, the wildcard one is found by name.
      this.#secrets = new Reflector(client, {
        name: 'config-secrets',
        path: `/api/v1/namespaces/${this.namespace}/secrets`,
        ...(opts.relistMs ? { relistMs: opts.relistMs } : {}),
        onChange,
      });
      this.#certificates = (config) => this.#secretCertificates(config);
    }
    for (const r of this.#configMaps) r.start();
    this.#secrets?.start();
  }

  current(): Snapshot | undefined {
    return this.#current;
  }

  /** Names of the rendered-config ConfigMaps this source holds (diagnostics; with a pool: never another pool's). */
  configMapNames(): string[] {
    return this.#configMaps.flatMap((r) => r.list().map((c) => c.metadata?.name ?? '')).sort();
  }

  /** Starts the watches; resolves after the first load attempt (bounded by `signal`, if given). */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    let kubeConfig = this.#opts.kubeConfig;
    if (!kubeConfig) {
      const { KubeConfig } = await import('@kubernetes/client-node');
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromDefault();
    }
    this.#watch(kubeConfig);
    await Promise.all([...this.#configMaps.map((r) => r.waitForSync(signal)), this.#secrets?.waitForSync(signal)]);
    await this.reload();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.all([...this.#configMaps.map((r) => r.stop()), this.#secrets?.stop()]);
    await this.#running?.catch(() => undefined);
  }

  reload(): Promise<CheckResult> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = (async () => {
      let result: CheckResult;
      do {
        this.#again = false;
        result = await this.#loadOnce();
        if (!this.#closed) this.emit('checked', result);
      } while (this.#again && !this.#closed);
      return result;
    })();
    this.#running = run;
    void run.finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    return run;
  }

  #schedule(): void {
    if (this.#closed || !this.#started) return;
    const now = Date.now();
    if (!this.#timer) this.#pendingSince = now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#debounceMs, this.#pendingSince + this.#maxDelayMs - now));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reload();
    }, wait);
  }

  async #loadOnce(): Promise<CheckResult> {
    const previous = this.#current;
    const unchanged: CheckResult = { outcome: 'unchanged', version: previous?.config.version };
    const byName = new Map(
      this.#configMaps
        .flatMap((r) => r.list())
        .map((c) => [c.metadata?.name ?? '', (c as KubeObject & { data?: Record<string, string> }).data ?? {}]),
    );
    const assembled = assembleConfig(byName.get(MANIFEST_NAME), byName, { signallingPool: this.signallingPool });
    if (!assembled.ok) {
      // Half-written (shards ahead of or behind the manifest): wait for the next event.
      if (assembled.pending) return unchanged;
      return this.#reject(assembled.reason, []);
    }
    // One pool's tenants cannot pass the whole-document checks (version, trunks naming other pools' tenants).
    const check =
      this.signallingPool === undefined
        ? validateRenderedConfig(assembled.config)
        : validatePoolConfig(assembled.config);
    if (!check.ok) return this.#reject(`rendered config ${assembled.manifest.version} is not valid`, check.errors);
    const config: RenderedConfig = check.config;

    let certificates: CertificateEntry[] = previous?.certificates ?? [];
    let certKey = this.#certKey;
    if (this.#certificates) {
      try {
        certificates = await this.#certificates(config);
      } catch (err) {
        return this.#reject(`certificates: ${(err as Error)?.message ?? String(err)}`, []);
      }
      certKey = certificates.map((c) => `${(c.hostnames ?? []).join(',')}|${c.certPem}`).join('\n');
    }
    if (this.#closed) return unchanged;
    const sameConfig = previous !== undefined && previous.config.version === config.version;
    if (sameConfig && certKey === this.#certKey) {
      this.#lastRejection = '';
      return unchanged;
    }
    let compiled: Snapshot['compiled'];
    try {
      compiled = sameConfig ? previous.compiled : compileConfig(config);
    } catch (err) {
      return this.#reject(`compile failed: ${(err as Error)?.message ?? String(err)}`, []);
    }
    const snapshot: Snapshot = {
      config: sameConfig ? previous.config : config,
      compiled,
      certificates,
      loadedAt: this.#now(),
      origin: this.origin,
      problems: [],
      excluded: { tenants: [], trunks: [] },
    };
    this.#current = snapshot;
    this.#certKey = certKey;
    this.#lastRejection = '';
    this.emit('snapshot', snapshot);
    return { outcome: 'snapshot', version: snapshot.config.version };
  }

  #reject(reason: string, problems: string[]): CheckResult {
    const key = JSON.stringify([reason, problems]);
    if (key !== this.#lastRejection) {
      this.#lastRejection = key;
      const rejection: Rejection = { reason, problems, origin: this.origin };
      this.emit('rejected', rejection);
    }
    return { outcome: 'rejected', version: this.#current?.config.version };
  }

  #secretCertificates(config: RenderedConfig): CertificateEntry[] {
    const secrets = this.#secrets;
    if (!secrets) return [];
    const pemOf = (name: string): { certPem: string; keyPem: string } | undefined => {
      const s = secrets.get(`${this.namespace}/${name}`) as
        | (KubeObject & { data?: Record<string, string> })
        | undefined;
      const crt = s?.data?.['tls.crt'];
      const key = s?.data?.['tls.key'];
      if (!crt || !key) return undefined;
      return {
        certPem: Buffer.from(crt, 'base64').toString('utf8'),
        keyPem: Buffer.from(key, 'base64').toString('utf8'),
      };
    };
    const out: CertificateEntry[] = [];
    const wildcard = config.wildcardCertificate;
    if (wildcard.namespace === this.namespace) {
      const pem = pemOf(wildcard.name);
      if (pem) out.push({ ...pem, default: true });
    }
    for (const t of config.tenants) {
      const ref = t.certificate.secret;
      if (t.certificate.mode === 'Wildcard' || ref.namespace !== this.namespace) continue;
      const s = secrets.get(`${this.namespace}/${ref.name}`);
      if (s?.metadata?.labels?.[TENANT_CERT_LABEL] !== 'true') continue;
      const pem = pemOf(ref.name);
      // Not issued yet: the tenant's calls get the default certificate until it is (status says why).
      if (pem) out.push({ ...pem, hostnames: [t.fqdn] });
    }
    return out;
  }
}
