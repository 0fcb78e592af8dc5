// Objects and helpers shared by the operator's integration tests.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { KubeClient, type KubeObject, resourcePath } from '../kube/client.ts';
import { type RunningOperator, runOperator } from '../main.ts';
import { apply, ensureNamespace, parseYaml, repoRoot, type TestCluster } from './cluster.ts';

export const SYS = 'switchboard-system';

export async function applyExamples(kc: KubeConfig): Promise<void> {
  for (const f of ['namespaces.yaml', 'secrets.yaml', 'trunks.yaml', 'route-policies.yaml', 'tenants.yaml']) {
    for (const obj of parseYaml(await readFile(join(repoRoot, 'examples', f), 'utf8'))) await apply(kc, obj);
  }
}

/** Apply the operator's RBAC and return a kubeconfig for its ServiceAccount (no other permissions). */
export async function operatorKubeConfig(
  c: TestCluster,
  file = 'operator.yaml',
  sa = 'switchboard-operator',
): Promise<KubeConfig> {
  await ensureNamespace(c.kc, SYS);
  for (const obj of parseYaml(await readFile(join(repoRoot, 'operator', 'rbac', file), 'utf8'))) await apply(c.kc, obj);
  const token = await c.cp.tokenFor(SYS, sa);
  return c.cp.kubeconfigFor(token);
}

export function tenant(ns: string, name: string, spec: Record<string, unknown> = {}): KubernetesObject {
  return {
    apiVersion: 'switchboard.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name, namespace: ns },
    spec: {
      fqdn: `${name}.sbc.example.net`,
      certificate: { mode: 'Wildcard' },
      limits: { callsPerSecond: 5, maxConcurrentCalls: 10 },
      routePolicyRef: { name },
      billing: { accountId: `ACC-${name}` },
      ...spec,
    },
  } as KubernetesObject;
}

export function routePolicy(ns: string, name: string, routes: unknown[] = []): KubernetesObject {
  return {
    apiVersion: 'switchboard.dev/v1alpha1',
    kind: 'RoutePolicy',
    metadata: { name, namespace: ns },
    spec: { routes, defaultAction: { block: { sipCode: 403 } } },
  } as KubernetesObject;
}

export function trunk(ns: string, name: string, spec: Record<string, unknown> = {}): KubernetesObject {
  return {
    apiVersion: 'switchboard.dev/v1alpha1',
    kind: 'Trunk',
    metadata: { name, namespace: ns },
    spec: {
      targets: [{ host: `${name}.carrier.example.com` }],
      sharing: { mode: 'Shared', allowedTenants: { namespaces: { from: 'All' } } },
      ...spec,
    },
  } as KubernetesObject;
}

export interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export async function getObject(
  kc: KubeConfig,
  apiVersion: string,
  plural: string,
  ns: string | undefined,
  name: string,
): Promise<KubeObject | undefined> {
  return new KubeClient(kc).find(resourcePath(apiVersion, plural, ns, name));
}

export async function conditionOf(
  kc: KubeConfig,
  plural: string,
  ns: string,
  name: string,
  type: string,
): Promise<Cond | undefined> {
  const obj = (await getObject(kc, 'switchboard.dev/v1alpha1', plural, ns, name)) as
    | (KubeObject & { status?: { conditions?: Cond[] } })
    | undefined;
  return obj?.status?.conditions?.find((c) => c.type === type);
}

/**
 * The operator running under its own ServiceAccount (base domain sbc.example.net), and a kubeconfig for the
 * sbc-pod's ServiceAccount: what a pod-side test against the real API server needs.
 */
export async function runOperatorWithPodIdentity(c: TestCluster): Promise<{ op: RunningOperator; podKc: KubeConfig }> {
  const opKc = await operatorKubeConfig(c);
  const podKc = await operatorKubeConfig(c, 'sbc-pod.yaml', 'switchboard-sbc');
  const op = runOperator({
    kubeConfig: opKc,
    systemNamespace: SYS,
    baseDomain: 'sbc.example.net',
    identity: 'op',
    log: () => {},
  });
  return { op, podKc };
}
