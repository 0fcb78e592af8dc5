// Shared pieces of the switchboard.dev/v1alpha1 schemas: group/version, patterns, references, status and conditions.
import { cel } from './cel.ts';
import type { FromSchema, JSONSchemaProps } from './schema.ts';

export const GROUP = 'switchboard.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** KEP-1623 condition types every kind reports (not all apply to every kind). */
export const CONDITION_TYPES = ['Ready', 'CertificateReady', 'ConfigRendered', 'ReferencesResolved'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

// ---- patterns (RE2-compatible, the apiserver evaluates them with Go's regexp) ----
/** A Kubernetes object name (DNS-1123 subdomain). */
export const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A namespace name (DNS-1123 label). */
export const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A lowercase DNS name with at least three labels (`<tenant>.<base domain>`). */
export const FQDN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}$';
/** One E.164 number: `+` then 2–15 digits, no leading zero. */
export const E164_PATTERN = '^\\+[1-9][0-9]{1,14}$';
/**
 * A block of E.164 numbers a tenant owns, one of:
 * - a single number: `+15551230000`
 * - an inclusive range of equal-length numbers: `+15551230000-+15551239999`
 * - a prefix, every number starting with it: `+44207946*`
 */
export const NUMBER_BLOCK_PATTERN = '^\\+[1-9][0-9]{0,14}\\*$|^\\+[1-9][0-9]{1,14}(-\\+[1-9][0-9]{1,14})?$';
/** Dialled-digit prefix (optionally with a leading `+`). */
export const DIGITS_PREFIX_PATTERN = '^\\+?[0-9]{1,16}$';
/** Digits to strip or add (may be just `+`). */
export const DIGITS_AFFIX_PATTERN = '^\\+?[0-9]{0,16}$';
/** A host: DNS name, IPv4 or IPv6 literal. */
export const HOST_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$|^[0-9A-Fa-f:.]+$';
export const TIME_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
export const CURRENCY_PATTERN = '^[A-Z]{3}$';
export const COUNTRY_CODE_PATTERN = '^[1-9][0-9]{0,2}$';

/** Human wording for patterns, used in offline error messages. */
export const PATTERN_HINTS: Readonly<Record<string, string>> = {
  [NAME_PATTERN]: 'a lowercase DNS-1123 name (a-z, 0-9, "-", ".")',
  [NAMESPACE_PATTERN]: 'a lowercase DNS-1123 label (a-z, 0-9, "-")',
  [FQDN_PATTERN]: 'a lowercase DNS name with at least three labels, e.g. contoso.sbc.example.net',
  [E164_PATTERN]: 'an E.164 number, e.g. +15551230000',
  [NUMBER_BLOCK_PATTERN]: 'an E.164 number (+15551230000), range (+15551230000-+15551239999) or prefix (+44207946*)',
  [DIGITS_PREFIX_PATTERN]: 'a digit prefix with optional leading "+", e.g. +1555',
  [DIGITS_AFFIX_PATTERN]: 'digits with optional leading "+"',
  [HOST_PATTERN]: 'a DNS name or IP address',
  [TIME_PATTERN]: 'a time HH:MM (24h)',
  [CURRENCY_PATTERN]: 'an ISO 4217 currency code, e.g. USD',
  [COUNTRY_CODE_PATTERN]: 'a country calling code without "+", e.g. 44',
};

// ---- reusable schema nodes ----
export const nameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 253,
  pattern: NAME_PATTERN,
} as const satisfies JSONSchemaProps;

export const namespaceSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: NAMESPACE_PATTERN,
} as const satisfies JSONSchemaProps;

/** `{name}`: a reference to an object in the same namespace. */
export const localRefSchema = {
  type: 'object',
  required: ['name'],
  properties: { name: nameSchema },
} as const satisfies JSONSchemaProps;
export type LocalRef = FromSchema<typeof localRefSchema>;

/** `{namespace, name}`: a reference to a Tenant. */
export const tenantRefSchema = {
  type: 'object',
  description: 'A Tenant, by namespace and name.',
  required: ['namespace', 'name'],
  properties: { namespace: namespaceSchema, name: nameSchema },
} as const satisfies JSONSchemaProps;
export type TenantRef = FromSchema<typeof tenantRefSchema>;

/** `{name}` of a Secret in the object's namespace. */
export const secretRefSchema = {
  type: 'object',
  description: "A Secret in the object's own namespace. Credentials never leave Secrets.",
  required: ['name'],
  properties: { name: nameSchema },
} as const satisfies JSONSchemaProps;
export type SecretRef = FromSchema<typeof secretRefSchema>;

/** metav1.LabelSelector. */
export const labelSelectorSchema = {
  type: 'object',
  description: 'A standard Kubernetes label selector.',
  properties: {
    matchLabels: {
      type: 'object',
      additionalProperties: { type: 'string', maxLength: 63 },
      maxProperties: 32,
    },
    matchExpressions: {
      type: 'array',
      maxItems: 16,
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: { type: 'string', minLength: 1, maxLength: 317 },
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 63 } },
        },
      },
    },
  },
  'x-kubernetes-map-type': 'atomic',
} as const satisfies JSONSchemaProps;
export type LabelSelector = FromSchema<typeof labelSelectorSchema>;

/** metav1.Condition (KEP-1623). */
export const conditionSchema = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: {
      type: 'string',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
  },
} as const satisfies JSONSchemaProps;
export type Condition = FromSchema<typeof conditionSchema>;

export const conditionsSchema = {
  type: 'array',
  description: 'KEP-1623 conditions: Ready, CertificateReady, ConfigRendered, ReferencesResolved.',
  maxItems: 16,
  items: conditionSchema,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
} as const satisfies JSONSchemaProps;

export const observedGenerationSchema = {
  type: 'integer',
  format: 'int64',
  minimum: 0,
  description: 'The metadata.generation the status was computed from.',
} as const satisfies JSONSchemaProps;

/** Every kind's name ends up in ConfigMap labels, so it must fit a label value. */
export const nameLengthRule = cel(
  'self.metadata.name.size() <= 63',
  'metadata.name must be at most 63 characters (it is used as a label value)',
  (self) => typeof self?.metadata?.name !== 'string' || self.metadata.name.length <= 63,
);

/** The ObjectMeta fields offline validation looks at. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  uid?: string;
  resourceVersion?: string;
}

/** The ObjectMeta schema used offline (the CRD itself only says `type: object`; the apiserver owns metadata). */
export const objectMetaSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: nameSchema,
    namespace: namespaceSchema,
    labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 63 } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const satisfies JSONSchemaProps;
