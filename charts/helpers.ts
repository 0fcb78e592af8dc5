// Shared by the chart tests: render charts/switchboard with helm (the e2e harness binary) and parse the output.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type HelmResult, runHelm } from '../e2e/src/harness/helm.ts';

export const repoRoot = resolve(import.meta.dirname, '..');
export const chartDir = join(repoRoot, 'charts', 'switchboard');
export const SYS = 'switchboard-system';
export const RELEASE = 'switchboard';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are inspected structurally
  [k: string]: any;
}

/** Values files (relative to the chart) every "valid" test uses, by short name. */
export const VALUES: Record<string, string[]> = {
  default: [],
  hostNetwork: ['tests/values/hostnetwork.yaml'],
  externalSentinel: ['tests/values/external-sentinel.yaml'],
  eu: ['values-eu.yaml'],
  us: ['values-us.yaml'],
  dedicatedPool: ['tests/values/dedicated-pool.yaml'],
};

export function invalidValuesFiles(): { file: string; expect: string }[] {
  const dir = join(chartDir, 'tests', 'invalid');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const m = /^# expect: (.+)$/m.exec(text);
      assert.ok(m, `${f}: needs a "# expect: <schema message>" line`);
      return { file: `tests/invalid/${f}`, expect: m[1]!.trim() };
    });
}

export function helm(args: string[]): Promise<HelmResult> {
  return runHelm(args, { cwd: chartDir });
}

export function valuesArgs(files: string[], sets: string[] = []): string[] {
  return [...files.flatMap((f) => ['-f', f]), ...sets.flatMap((s) => ['--set', s])];
}

/** `helm template` → objects (fails the test on a helm error). */
export async function render(files: string[], sets: string[] = [], extra: string[] = []): Promise<K8sObject[]> {
  const r = await helm(['template', RELEASE, '.', '-n', SYS, ...valuesArgs(files, sets), ...extra]);
  assert.equal(r.code, 0, `helm template ${files.join(' ')} ${sets.join(' ')} failed:\n${r.stderr}`);
  return parseManifests(r.stdout);
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`YAML error: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export function find(objs: K8sObject[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} not rendered; have: ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

export function ofKind(objs: K8sObject[], kind: string): K8sObject[] {
  return objs.filter((x) => x.kind === kind);
}

/** The RBAC documents of operator/rbac/<file>. */
export function rbacFile(file: string): K8sObject[] {
  return parseManifests(readFileSync(join(repoRoot, 'operator', 'rbac', file), 'utf8'));
}

/** Kind → REST plural and scope, for the objects the chart renders. */
export const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  Namespace: { plural: 'namespaces', namespaced: false },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  ConfigMap: { plural: 'configmaps', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  Service: { plural: 'services', namespaced: true },
  Deployment: { plural: 'deployments', namespaced: true },
  DaemonSet: { plural: 'daemonsets', namespaced: true },
  StatefulSet: { plural: 'statefulsets', namespaced: true },
  PodDisruptionBudget: { plural: 'poddisruptionbudgets', namespaced: true },
  NetworkPolicy: { plural: 'networkpolicies', namespaced: true },
  ClusterRole: { plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false },
  Role: { plural: 'roles', namespaced: true },
  RoleBinding: { plural: 'rolebindings', namespaced: true },
  Certificate: { plural: 'certificates', namespaced: true },
  ServiceMonitor: { plural: 'servicemonitors', namespaced: true },
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  Tenant: { plural: 'tenants', namespaced: true },
  Trunk: { plural: 'trunks', namespaced: true },
  RoutePolicy: { plural: 'routepolicies', namespaced: true },
};

export function restPath(o: K8sObject): string {
  const r = RESOURCES[o.kind];
  if (!r) throw new Error(`no REST mapping for ${o.kind}`);
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = r.namespaced ? `/namespaces/${o.metadata.namespace ?? SYS}` : '';
  return `${base}${ns}/${r.plural}/${o.metadata.name}`;
}
