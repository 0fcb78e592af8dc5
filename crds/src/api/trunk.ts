// Trunk: a carrier connection. Either Dedicated to one Tenant, or Shared with the tenants of allowed namespaces
// (Gateway API's allowedRoutes idea: the trunk owner decides who may attach), with per-tenant reservations.
import { cel, has } from './cel.ts';
import {
  type API_VERSION,
  COUNTRY_CODE_PATTERN,
  conditionsSchema,
  DIGITS_AFFIX_PATTERN,
  DIGITS_PREFIX_PATTERN,
  HOST_PATTERN,
  labelSelectorSchema,
  type ObjectMeta,
  observedGenerationSchema,
  secretRefSchema,
  tenantRefSchema,
} from './common.ts';
import type { FromSchema, JSONSchemaProps } from './schema.ts';

export const TRUNK_DEFAULTS = {
  transport: 'UDP',
  udpTcpPort: 5060,
  tlsPort: 5061,
  priority: 10,
  weight: 100,
  registrationExpiresSeconds: 3600,
  healthCheckEnabled: true,
  optionsIntervalSeconds: 30,
  failureThreshold: 3,
  allowedFrom: 'Same',
  reservationPriority: 100,
  srtp: 'Disabled',
  codecs: ['PCMU', 'PCMA'],
  outboundFormat: 'E164',
  nationalPrefix: '0',
  internationalPrefix: '00',
} as const;

const optKey = (v: string) => `(has(${v}.port) ? ${v}.port : 0)`;

export const targetSchema = {
  type: 'object',
  required: ['host'],
  properties: {
    host: { type: 'string', minLength: 1, maxLength: 253, pattern: HOST_PATTERN },
    port: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      description: 'Default 5060 (UDP/TCP) or 5061 (TLS).',
    },
    transport: { type: 'string', enum: ['UDP', 'TCP', 'TLS'], default: TRUNK_DEFAULTS.transport },
    priority: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      default: TRUNK_DEFAULTS.priority,
      description: 'Lower is tried first (like DNS SRV).',
    },
    weight: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      default: TRUNK_DEFAULTS.weight,
      description: 'Share of traffic among targets of equal priority.',
    },
  },
} as const satisfies JSONSchemaProps;

export const sharingSchema = {
  type: 'object',
  description:
    'Dedicated: only tenantRef may route to this trunk. Shared: tenants in the namespaces allowedTenants admits ' +
    "(default: the trunk's own namespace), with optional per-tenant channel reservations and priorities.",
  required: ['mode'],
  properties: {
    mode: { type: 'string', enum: ['Dedicated', 'Shared'] },
    tenantRef: tenantRefSchema,
    allowedTenants: {
      type: 'object',
      properties: {
        namespaces: {
          type: 'object',
          required: ['from'],
          properties: {
            from: { type: 'string', enum: ['All', 'Selector', 'Same'], default: TRUNK_DEFAULTS.allowedFrom },
            selector: labelSelectorSchema,
          },
          'x-kubernetes-validations': [
            cel(
              "self.from != 'Selector' || has(self.selector)",
              'required when from is Selector',
              (self) => self.from !== 'Selector' || has(self, 'selector'),
              { fieldPath: '.selector', reason: 'FieldValueRequired' },
            ),
            cel(
              "self.from == 'Selector' || !has(self.selector)",
              'only valid when from is Selector',
              (self) => self.from === 'Selector' || !has(self, 'selector'),
              { fieldPath: '.selector', reason: 'FieldValueForbidden' },
            ),
          ],
        },
      },
    },
    reservations: {
      type: 'array',
      description: 'Channels guaranteed to a tenant on this shared trunk, and its priority when the trunk is full.',
      maxItems: 256,
      items: {
        type: 'object',
        required: ['tenantRef', 'channels'],
        properties: {
          tenantRef: tenantRefSchema,
          channels: { type: 'integer', minimum: 1, maximum: 1000000 },
          priority: {
            type: 'integer',
            minimum: 0,
            maximum: 1000,
            default: TRUNK_DEFAULTS.reservationPriority,
            description: 'Lower wins unreserved capacity first.',
          },
        },
      },
      'x-kubernetes-validations': [
        cel(
          // Whole-object equality (tenantRef has exactly namespace and name, both required): comparing the fields
          // one by one is equivalent but exceeds the API server's estimated CEL cost budget at maxItems 256.
          'self.all(r, self.exists_one(s, s.tenantRef == r.tenantRef))',
          'each tenant may have at most one reservation',
          (self: { tenantRef: { namespace: string; name: string } }[]) =>
            self.every(
              (r) =>
                self.filter(
                  (s) => s.tenantRef.namespace === r.tenantRef.namespace && s.tenantRef.name === r.tenantRef.name,
                ).length === 1,
            ),
        ),
      ],
    },
  },
  'x-kubernetes-validations': [
    cel(
      "self.mode != 'Dedicated' || has(self.tenantRef)",
      'required when mode is Dedicated',
      (self) => self.mode !== 'Dedicated' || has(self, 'tenantRef'),
      { fieldPath: '.tenantRef', reason: 'FieldValueRequired' },
    ),
    cel(
      "self.mode != 'Shared' || !has(self.tenantRef)",
      'must not be set when mode is Shared (use allowedTenants)',
      (self) => self.mode !== 'Shared' || !has(self, 'tenantRef'),
      { fieldPath: '.tenantRef', reason: 'FieldValueForbidden' },
    ),
    cel(
      "self.mode != 'Dedicated' || !has(self.allowedTenants)",
      'only valid when mode is Shared',
      (self) => self.mode !== 'Dedicated' || !has(self, 'allowedTenants'),
      { fieldPath: '.allowedTenants', reason: 'FieldValueForbidden' },
    ),
    cel(
      "self.mode != 'Dedicated' || !has(self.reservations)",
      'only valid when mode is Shared',
      (self) => self.mode !== 'Dedicated' || !has(self, 'reservations'),
      { fieldPath: '.reservations', reason: 'FieldValueForbidden' },
    ),
  ],
} as const satisfies JSONSchemaProps;

const affixRuleSchema = {
  type: 'object',
  properties: {
    direction: { type: 'string', enum: ['Inbound', 'Outbound'] },
    matchPrefix: { type: 'string', maxLength: 17, pattern: DIGITS_PREFIX_PATTERN },
    stripPrefix: { type: 'string', maxLength: 17, pattern: DIGITS_AFFIX_PATTERN },
    addPrefix: { type: 'string', maxLength: 17, pattern: DIGITS_AFFIX_PATTERN },
  },
  required: ['direction'],
} as const satisfies JSONSchemaProps;

export const trunkSpecSchema = {
  type: 'object',
  required: ['targets', 'sharing'],
  properties: {
    description: { type: 'string', maxLength: 256 },
    targets: {
      type: 'array',
      description: 'Where outbound calls go: lowest priority first, weighted within a priority.',
      minItems: 1,
      maxItems: 32,
      items: targetSchema,
      'x-kubernetes-validations': [
        cel(
          `self.all(t, self.exists_one(u, u.host == t.host && u.transport == t.transport && ${optKey('u')} == ${optKey('t')}))`,
          'targets must be unique (host, port, transport)',
          (self: { host: string; transport?: string; port?: number }[]) =>
            self.every(
              (t) =>
                self.filter((u) => u.host === t.host && u.transport === t.transport && (u.port ?? 0) === (t.port ?? 0))
                  .length === 1,
            ),
        ),
      ],
    },
    inbound: {
      type: 'object',
      description:
        'How calls from this carrier are recognised: by source address and/or digest credentials. ' +
        'Without inbound the trunk is outbound-only.',
      properties: {
        sourceCidrs: {
          type: 'array',
          maxItems: 64,
          items: { type: 'string', format: 'cidr', maxLength: 43 },
          'x-kubernetes-list-type': 'set',
        },
        digest: {
          type: 'object',
          required: ['secretRef'],
          properties: {
            secretRef: { ...secretRefSchema, description: 'Secret with keys "username" and "password".' },
            realm: { type: 'string', maxLength: 253 },
          },
        },
      },
      'x-kubernetes-validations': [
        cel(
          '(has(self.sourceCidrs) && size(self.sourceCidrs) > 0) || has(self.digest)',
          'at least one of sourceCidrs or digest is required',
          (self) => (has(self, 'sourceCidrs') && self.sourceCidrs.length > 0) || has(self, 'digest'),
          { reason: 'FieldValueRequired' },
        ),
      ],
    },
    outbound: {
      type: 'object',
      properties: {
        auth: {
          type: 'object',
          description: 'Digest credentials to answer carrier challenges with.',
          required: ['secretRef'],
          properties: { secretRef: { ...secretRefSchema, description: 'Secret with keys "username" and "password".' } },
        },
        registration: {
          type: 'object',
          description: 'Register with the carrier (uses auth).',
          properties: {
            registrar: {
              type: 'string',
              maxLength: 253,
              pattern: HOST_PATTERN,
              description: 'Default: the host of the most preferred (lowest priority) target.',
            },
            expiresSeconds: {
              type: 'integer',
              minimum: 60,
              maximum: 86400,
              default: TRUNK_DEFAULTS.registrationExpiresSeconds,
            },
          },
        },
      },
      'x-kubernetes-validations': [
        cel(
          '!has(self.registration) || has(self.auth)',
          'registration requires auth',
          (self) => !has(self, 'registration') || has(self, 'auth'),
          { fieldPath: '.auth', reason: 'FieldValueRequired' },
        ),
      ],
    },
    healthCheck: {
      type: 'object',
      default: {},
      properties: {
        enabled: { type: 'boolean', default: TRUNK_DEFAULTS.healthCheckEnabled },
        optionsIntervalSeconds: {
          type: 'integer',
          minimum: 5,
          maximum: 3600,
          default: TRUNK_DEFAULTS.optionsIntervalSeconds,
        },
        failureThreshold: { type: 'integer', minimum: 1, maximum: 100, default: TRUNK_DEFAULTS.failureThreshold },
      },
    },
    capacity: {
      type: 'object',
      properties: {
        channels: { type: 'integer', minimum: 1, maximum: 1000000, description: 'Concurrent calls.' },
        callsPerSecond: { type: 'integer', minimum: 1, maximum: 100000 },
      },
    },
    sharing: sharingSchema,
    numberNormalisation: {
      type: 'object',
      description:
        'How numbers look on this carrier. Switchboard works in E.164 internally; outboundFormat converts called ' +
        'and calling numbers for the carrier, rules are applied after it (outbound) or before E.164 conversion ' +
        '(inbound), in order.',
      properties: {
        countryCode: { type: 'string', maxLength: 3, pattern: COUNTRY_CODE_PATTERN },
        nationalPrefix: {
          type: 'string',
          maxLength: 4,
          pattern: '^[0-9]{0,4}$',
          default: TRUNK_DEFAULTS.nationalPrefix,
        },
        internationalPrefix: {
          type: 'string',
          maxLength: 4,
          pattern: '^[0-9]{0,4}$',
          default: TRUNK_DEFAULTS.internationalPrefix,
        },
        outboundFormat: {
          type: 'string',
          enum: ['E164', 'E164NoPlus', 'National'],
          default: TRUNK_DEFAULTS.outboundFormat,
          description:
            'E164 "+4420…", E164NoPlus "4420…", National "020…" (international numbers get internationalPrefix).',
        },
        rules: { type: 'array', maxItems: 32, items: affixRuleSchema },
      },
      'x-kubernetes-validations': [
        cel(
          "self.outboundFormat != 'National' || has(self.countryCode)",
          'required when outboundFormat is National',
          (self) => self.outboundFormat !== 'National' || has(self, 'countryCode'),
          { fieldPath: '.countryCode', reason: 'FieldValueRequired' },
        ),
      ],
    },
    media: {
      type: 'object',
      default: {},
      properties: {
        srtp: { type: 'string', enum: ['Required', 'Optional', 'Disabled'], default: TRUNK_DEFAULTS.srtp },
        codecs: {
          type: 'array',
          description: 'Offered to the carrier in this order (telephone-event is always passed through).',
          minItems: 1,
          maxItems: 8,
          items: { type: 'string', enum: ['PCMU', 'PCMA', 'G722', 'G729', 'opus'] },
          'x-kubernetes-list-type': 'set',
          default: TRUNK_DEFAULTS.codecs,
        },
      },
    },
  },
  'x-kubernetes-validations': [
    cel(
      '!has(self.sharing.reservations) || (has(self.capacity) && has(self.capacity.channels))',
      'required when sharing.reservations are set',
      (self) => !has(self.sharing, 'reservations') || (has(self, 'capacity') && has(self.capacity, 'channels')),
      { fieldPath: '.capacity.channels', reason: 'FieldValueRequired' },
    ),
    cel(
      '!has(self.sharing.reservations) || !has(self.capacity) || !has(self.capacity.channels) || ' +
        'self.sharing.reservations.map(r, r.channels).sum() <= self.capacity.channels',
      'reserved channels must not exceed capacity.channels',
      (self) =>
        !has(self.sharing, 'reservations') ||
        !has(self, 'capacity') ||
        !has(self.capacity, 'channels') ||
        (self.sharing.reservations as { channels: number }[]).reduce((sum, r) => sum + r.channels, 0) <=
          self.capacity.channels,
      { fieldPath: '.sharing.reservations' },
    ),
  ],
} as const satisfies JSONSchemaProps;

export const trunkStatusSchema = {
  type: 'object',
  properties: {
    observedGeneration: observedGenerationSchema,
    conditions: conditionsSchema,
    configVersion: { type: 'string', maxLength: 128 },
    tenants: { type: 'integer', minimum: 0, description: 'Tenants whose routes use this trunk.' },
  },
} as const satisfies JSONSchemaProps;

export type TrunkSpec = FromSchema<typeof trunkSpecSchema>;
export type TrunkStatus = FromSchema<typeof trunkStatusSchema>;
export type TrunkTarget = TrunkSpec['targets'][number];
export type TrunkSharing = TrunkSpec['sharing'];
export type TrunkReservation = NonNullable<TrunkSharing['reservations']>[number];

export interface Trunk {
  apiVersion: typeof API_VERSION;
  kind: 'Trunk';
  metadata: ObjectMeta;
  spec: TrunkSpec;
  status?: TrunkStatus;
}
