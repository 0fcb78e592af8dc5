// The three kinds, their CRD metadata (names, short names, printer columns) and their root schemas.
import { API_VERSION, GROUP, nameLengthRule, VERSION } from './common.ts';
import { routePolicySpecSchema, routePolicyStatusSchema } from './route-policy.ts';
import { type JSONSchemaProps, walkSchema } from './schema.ts';
import { tenantSpecSchema, tenantStatusSchema } from './tenant.ts';
import { trunkSpecSchema, trunkStatusSchema } from './trunk.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindInfo {
  kind: 'Tenant' | 'Trunk' | 'RoutePolicy';
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: JSONSchemaProps;
  status: JSONSchemaProps;
  printerColumns: PrinterColumn[];
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const KINDS: readonly KindInfo[] = [
  {
    kind: 'Tenant',
    plural: 'tenants',
    singular: 'tenant',
    shortNames: ['sbt'],
    description:
      'A customer of the provider: Teams derived-trunk FQDN, certificate, numbers, limits, routing, billing.',
    spec: tenantSpecSchema,
    status: tenantStatusSchema,
    printerColumns: [
      { name: 'FQDN', type: 'string', jsonPath: '.spec.fqdn' },
      { name: 'Certificate', type: 'string', jsonPath: '.spec.certificate.mode' },
      { name: 'Policy', type: 'string', jsonPath: '.spec.routePolicyRef.name', priority: 1 },
      { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspended' },
      readyColumn,
      ageColumn,
    ],
  },
  {
    kind: 'Trunk',
    plural: 'trunks',
    singular: 'trunk',
    shortNames: ['sbtr'],
    description: 'A carrier connection, dedicated to one Tenant or shared with allowed tenants.',
    spec: trunkSpecSchema,
    status: trunkStatusSchema,
    printerColumns: [
      { name: 'Sharing', type: 'string', jsonPath: '.spec.sharing.mode' },
      { name: 'Target', type: 'string', jsonPath: '.spec.targets[0].host' },
      { name: 'Channels', type: 'integer', jsonPath: '.spec.capacity.channels' },
      readyColumn,
      ageColumn,
    ],
  },
  {
    kind: 'RoutePolicy',
    plural: 'routepolicies',
    singular: 'routepolicy',
    shortNames: ['sbrp'],
    description: "A tenant's ordered routes for calls from Teams, with an explicit default action.",
    spec: routePolicySpecSchema,
    status: routePolicyStatusSchema,
    printerColumns: [{ name: 'Tenants', type: 'integer', jsonPath: '.status.tenants' }, readyColumn, ageColumn],
  },
];

export type KindName = KindInfo['kind'];

export function kindInfo(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** The openAPIV3Schema of a kind's CRD (what the apiserver validates). */
export function crdRootSchema(info: KindInfo): JSONSchemaProps {
  return {
    type: 'object',
    description: info.description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: info.spec,
      status: info.status,
    },
    'x-kubernetes-validations': [nameLengthRule],
  };
}

/** The CustomResourceDefinition object for a kind. */
export function crdObject(info: KindInfo): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${info.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'switchboard', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: info.shortNames,
        categories: ['switchboard'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: crdRootSchema(info) },
          subresources: { status: {} },
          additionalPrinterColumns: info.printerColumns,
        },
      ],
    },
  };
}

export { API_VERSION };

/** Every CEL rule of every kind, with the schema path it sits at (`[]` marks array items). */
export function allCelRules(): { kind: KindName; path: string; rule: string; message: string; fieldPath?: string }[] {
  const out: { kind: KindName; path: string; rule: string; message: string; fieldPath?: string }[] = [];
  for (const info of KINDS) {
    walkSchema(crdRootSchema(info), (node, path) => {
      for (const r of node['x-kubernetes-validations'] ?? []) {
        out.push({
          kind: info.kind,
          path,
          rule: r.rule,
          message: r.message,
          ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}),
        });
      }
    });
  }
  return out;
}
