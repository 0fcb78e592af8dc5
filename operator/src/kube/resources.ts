// The resources the operator (and its tests) touch: kind → plural and scope.
import { type KubeObject, resourcePath } from './client.ts';

const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  Namespace: { plural: 'namespaces', namespaced: false },
  Secret: { plural: 'secrets', namespaced: true },
  ConfigMap: { plural: 'configmaps', namespaced: true },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  Event: { plural: 'events', namespaced: true },
  Lease: { plural: 'leases', namespaced: true },
  Tenant: { plural: 'tenants', namespaced: true },
  Trunk: { plural: 'trunks', namespaced: true },
  RoutePolicy: { plural: 'routepolicies', namespaced: true },
  Certificate: { plural: 'certificates', namespaced: true },
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  ClusterRole: { plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false },
  Role: { plural: 'roles', namespaced: true },
  RoleBinding: { plural: 'rolebindings', namespaced: true },
};

export function pluralOf(kind: string): string {
  const r = RESOURCES[kind];
  if (!r) throw new Error(`unknown kind ${kind}`);
  return r.plural;
}

/** The REST path of an object (by its apiVersion, kind, namespace and name). */
export function objectPath(obj: KubeObject, subresource?: string): string {
  const r = RESOURCES[obj.kind ?? ''];
  if (!r || !obj.apiVersion) throw new Error(`unknown kind ${obj.kind} (${obj.apiVersion})`);
  const ns = r.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined;
  return resourcePath(obj.apiVersion, r.plural, ns, obj.metadata?.name, subresource);
}
