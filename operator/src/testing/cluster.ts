// Test helpers for the real kube-apiserver + etcd harness: start it, install the CRDs, apply manifests with
// server-side apply, and wait (bounded) for conditions.
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { type KubeControlPlane, startKubeControlPlane } from '../../../e2e/src/harness/kube-apiserver.ts';
import { KubeApiError, KubeClient, type KubeObject } from '../kube/client.ts';
import { objectPath } from '../kube/resources.ts';

export const repoRoot = resolve(import.meta.dirname, '../../..');

/** Polls `attempt` until it returns a value other than undefined, or fails after `timeoutMs` with `what`. */
export async function eventually<T>(
  what: string,
  attempt: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await attempt();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last error: ${errText(last)}` : ''}`,
      );
    }
    await delay(50); // poll interval, not synchronisation
  }
}

export function errText(err: unknown): string {
  if (err instanceof KubeApiError) return `HTTP ${err.code}: ${err.message.replace(/^\S+ \S+: /, '')}`;
  if (err instanceof ApiException) {
    try {
      const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      if (body?.message) return `HTTP ${err.code}: ${body.message}`;
    } catch {
      // fall through
    }
    return `HTTP ${err.code}: ${String(err.body)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Parse a multi-document YAML text into objects (skipping empty documents). */
export function parseYaml(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null && typeof o === 'object');
}

export async function crdObjects(): Promise<KubernetesObject[]> {
  const dir = join(repoRoot, 'crds', 'generated');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  const out: KubernetesObject[] = [];
  for (const f of files) out.push(...parseYaml(await readFile(join(dir, f), 'utf8')));
  return out;
}

/** Server-side apply one object (as the given field manager), returning the stored object. */
export async function apply(
  kc: KubeConfig,
  obj: KubernetesObject,
  fieldManager = 'switchboard-test',
): Promise<KubernetesObject> {
  const o = obj as KubeObject;
  return new KubeClient(kc).apply<KubernetesObject>(objectPath(o), o, fieldManager);
}

/** Installs the CRDs and waits until every one is Established (bounded). */
export async function installCrds(kc: KubeConfig): Promise<void> {
  const crds = await crdObjects();
  for (const crd of crds) await apply(kc, crd);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    await eventually(`CRD ${name} Established`, async () => {
      const got = await ext.readCustomResourceDefinition({ name });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    });
  }
  // Discovery catches up a little after Established; KubernetesObjectApi resolves paths through it.
  await eventually('switchboard.dev/v1alpha1 discovery', async () => {
    await new KubeClient(kc).list('/apis/switchboard.dev/v1alpha1/tenants');
    return true;
  });
}

export async function ensureNamespace(kc: KubeConfig, name: string, labels?: Record<string, string>): Promise<void> {
  await apply(kc, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } });
}

/** Creates the cert-manager Certificate CRD (a minimal, schemaless stand-in: cert-manager itself does not run). */
export async function installCertManagerCrd(kc: KubeConfig): Promise<void> {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'certificates.cert-manager.io' },
    spec: {
      group: 'cert-manager.io',
      names: { kind: 'Certificate', listKind: 'CertificateList', plural: 'certificates', singular: 'certificate' },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
  await apply(kc, crd as KubernetesObject);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  await eventually('Certificate CRD Established', async () => {
    const got = await ext.readCustomResourceDefinition({ name: crd.metadata.name });
    return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
  await eventually('cert-manager.io/v1 discovery', async () => {
    await new KubeClient(kc).list('/apis/cert-manager.io/v1/certificates');
    return true;
  });
}

export interface TestCluster {
  cp: KubeControlPlane;
  kc: KubeConfig;
  core: CoreV1Api;
  stop(): Promise<void>;
}

/** A control plane with the Switchboard CRDs (and the cert-manager Certificate CRD) installed. */
export async function startTestCluster(opts: { certManager?: boolean } = {}): Promise<TestCluster> {
  const cp = await startKubeControlPlane();
  try {
    await installCrds(cp.kubeConfig);
    if (opts.certManager) await installCertManagerCrd(cp.kubeConfig);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  return { cp, kc: cp.kubeConfig, core: cp.kubeConfig.makeApiClient(CoreV1Api), stop: () => cp.stop() };
}
