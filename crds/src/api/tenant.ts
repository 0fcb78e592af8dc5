// Tenant: one customer of the provider — a Teams derived-trunk FQDN, its certificate, its numbers, limits, routing
// policy and billing account. Namespaced; a namespace per customer is encouraged so RBAC can delegate.
import { cel, has } from './cel.ts';
import {
  type API_VERSION,
  CURRENCY_PATTERN,
  conditionsSchema,
  E164_PATTERN,
  FQDN_PATTERN,
  localRefSchema,
  NUMBER_BLOCK_PATTERN,
  nameSchema,
  type ObjectMeta,
  observedGenerationSchema,
  secretRefSchema,
} from './common.ts';
import type { FromSchema, JSONSchemaProps } from './schema.ts';

export const TENANT_DEFAULTS = {
  signallingPool: 'default',
  mediaPool: 'default',
  callerIdScreening: 'Reject',
  currency: 'USD',
  billingModel: 'PerMinute',
  suspended: false,
} as const;

export const certificateSchema = {
  type: 'object',
  description:
    "How the TLS certificate for fqdn is obtained. Wildcard: the provider's base-domain certificate " +
    '(*.base + base). Dedicated: a cert-manager Certificate for fqdn from issuerRef (into secretRef.name, default ' +
    '"<tenant>-tls"). Provided: the customer supplies the Secret named by secretRef.',
  required: ['mode'],
  properties: {
    mode: { type: 'string', enum: ['Wildcard', 'Dedicated', 'Provided'] },
    issuerRef: {
      type: 'object',
      description: 'cert-manager issuer (Dedicated only).',
      required: ['name'],
      properties: {
        name: nameSchema,
        kind: { type: 'string', enum: ['Issuer', 'ClusterIssuer'], default: 'Issuer' },
        group: { type: 'string', maxLength: 253, default: 'cert-manager.io' },
      },
    },
    secretRef: secretRefSchema,
  },
  'x-kubernetes-validations': [
    cel(
      "self.mode != 'Dedicated' || has(self.issuerRef)",
      'required when mode is Dedicated',
      (self) => self.mode !== 'Dedicated' || has(self, 'issuerRef'),
      { fieldPath: '.issuerRef', reason: 'FieldValueRequired' },
    ),
    cel(
      "self.mode == 'Dedicated' || !has(self.issuerRef)",
      'only valid when mode is Dedicated',
      (self) => self.mode === 'Dedicated' || !has(self, 'issuerRef'),
      { fieldPath: '.issuerRef', reason: 'FieldValueForbidden' },
    ),
    cel(
      "self.mode != 'Provided' || has(self.secretRef)",
      'required when mode is Provided',
      (self) => self.mode !== 'Provided' || has(self, 'secretRef'),
      { fieldPath: '.secretRef', reason: 'FieldValueRequired' },
    ),
    cel(
      "self.mode != 'Wildcard' || !has(self.secretRef)",
      "must not be set when mode is Wildcard (the provider's base-domain certificate is used)",
      (self) => self.mode !== 'Wildcard' || !has(self, 'secretRef'),
      { fieldPath: '.secretRef', reason: 'FieldValueForbidden' },
    ),
  ],
} as const satisfies JSONSchemaProps;

export const numberBlockRule = cel(
  "!self.contains('-') || (self.split('-')[0].size() == self.split('-')[1].size() && self.split('-')[0] <= self.split('-')[1])",
  'a range must join two numbers of the same length, lowest first',
  (self: string) => {
    const parts = self.split('-');
    return parts.length < 2 || (parts[0]!.length === parts[1]!.length && parts[0]! <= parts[1]!);
  },
);

export const tenantSpecSchema = {
  type: 'object',
  required: ['fqdn', 'certificate', 'limits', 'routePolicyRef', 'billing'],
  properties: {
    displayName: { type: 'string', maxLength: 256, description: 'Human-readable customer name.' },
    fqdn: {
      type: 'string',
      description:
        'The derived-trunk FQDN Teams knows this tenant by (one label under the provider base domain, e.g. ' +
        'contoso.sbc.example.net). Put in Contact/Record-Route toward Teams; identifies the tenant on calls from Teams.',
      minLength: 4,
      maxLength: 63,
      pattern: FQDN_PATTERN,
      'x-kubernetes-validations': [
        cel(
          "!self.endsWith('.onmicrosoft.com')",
          'must not be an onmicrosoft.com domain',
          (self: string) => !self.endsWith('.onmicrosoft.com'),
        ),
      ],
    },
    certificate: certificateSchema,
    numbers: {
      type: 'array',
      description:
        'E.164 numbers the tenant owns (inbound carrier calls are routed to the owner; caller-ID screening). ' +
        'Each entry is a number "+15551230000", an inclusive range of equal-length numbers ' +
        '"+15551230000-+15551239999", or a prefix "+44207946*".',
      maxItems: 1024,
      items: {
        type: 'string',
        maxLength: 33,
        pattern: NUMBER_BLOCK_PATTERN,
        'x-kubernetes-validations': [numberBlockRule],
      },
      'x-kubernetes-list-type': 'set',
    },
    limits: {
      type: 'object',
      description: 'Cluster-wide admission limits for this tenant.',
      required: ['callsPerSecond', 'maxConcurrentCalls'],
      properties: {
        callsPerSecond: { type: 'integer', minimum: 1, maximum: 100000 },
        maxConcurrentCalls: { type: 'integer', minimum: 1, maximum: 1000000 },
      },
    },
    routePolicyRef: { ...localRefSchema, description: 'The RoutePolicy (same namespace) for calls from Teams.' },
    signallingPool: {
      type: 'string',
      description: 'The sbc-pod pool serving this tenant.',
      maxLength: 63,
      default: TENANT_DEFAULTS.signallingPool,
    },
    mediaPool: {
      type: 'string',
      description: "The media-pod pool anchoring this tenant's media.",
      maxLength: 63,
      default: TENANT_DEFAULTS.mediaPool,
    },
    callerIdScreening: {
      type: 'string',
      description:
        'Calls from Teams whose caller ID is not one of numbers: Pass (send unchanged), Replace (send ' +
        'defaultCallerId instead), Reject (403).',
      enum: ['Pass', 'Replace', 'Reject'],
      default: TENANT_DEFAULTS.callerIdScreening,
    },
    defaultCallerId: { type: 'string', maxLength: 16, pattern: E164_PATTERN },
    billing: {
      type: 'object',
      required: ['accountId'],
      properties: {
        accountId: {
          type: 'string',
          minLength: 1,
          maxLength: 128,
          description: 'Billing account CDRs are tagged with.',
        },
        currency: { type: 'string', pattern: CURRENCY_PATTERN, maxLength: 3, default: TENANT_DEFAULTS.currency },
        model: {
          type: 'string',
          enum: ['PerMinute', 'PerCall', 'Flat'],
          default: TENANT_DEFAULTS.billingModel,
        },
        ratePlan: { type: 'string', maxLength: 128, description: 'Name of the rate plan (rating is out of the CRD).' },
      },
    },
    suspended: {
      type: 'boolean',
      description: 'Suspended tenants keep their config but every new call is refused (403).',
      default: TENANT_DEFAULTS.suspended,
    },
  },
  'x-kubernetes-validations': [
    cel(
      "self.callerIdScreening != 'Replace' || has(self.defaultCallerId)",
      'required when callerIdScreening is Replace',
      (self) => self.callerIdScreening !== 'Replace' || has(self, 'defaultCallerId'),
      { fieldPath: '.defaultCallerId', reason: 'FieldValueRequired' },
    ),
  ],
} as const satisfies JSONSchemaProps;

export const tenantStatusSchema = {
  type: 'object',
  properties: {
    observedGeneration: observedGenerationSchema,
    conditions: conditionsSchema,
    configVersion: { type: 'string', maxLength: 128, description: 'Rendered config version this tenant is in.' },
    certificate: {
      type: 'object',
      properties: {
        secretName: { type: 'string', maxLength: 253 },
        notAfter: { type: 'string', format: 'date-time' },
      },
    },
  },
} as const satisfies JSONSchemaProps;

export type TenantSpec = FromSchema<typeof tenantSpecSchema>;
export type TenantStatus = FromSchema<typeof tenantStatusSchema>;
export type TenantCertificate = TenantSpec['certificate'];
export type TenantLimits = TenantSpec['limits'];
export type TenantBilling = TenantSpec['billing'];

export interface Tenant {
  apiVersion: typeof API_VERSION;
  kind: 'Tenant';
  metadata: ObjectMeta;
  spec: TenantSpec;
  status?: TenantStatus;
}
