// RoutePolicy: a tenant's ordered routing table for calls from Teams. First matching route wins; defaultAction is
// mandatory, so "what happens to everything else" is always written down (usually a Block).
import { cel, has } from './cel.ts';
import {
  type API_VERSION,
  conditionsSchema,
  DIGITS_AFFIX_PATTERN,
  DIGITS_PREFIX_PATTERN,
  nameSchema,
  namespaceSchema,
  type ObjectMeta,
  observedGenerationSchema,
  TIME_PATTERN,
} from './common.ts';
import type { FromSchema, JSONSchemaProps } from './schema.ts';

export const ROUTE_POLICY_DEFAULTS = {
  timeZone: 'UTC',
  blockSipCode: 403,
} as const;

export const actionSchema = {
  type: 'object',
  description: 'Exactly one of trunks (ordered failover list) or block.',
  properties: {
    trunks: {
      type: 'array',
      description: 'Tried in order; the next one on timeout/408/5xx (not on 486/603).',
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: nameSchema,
          namespace: { ...namespaceSchema, description: "Default: the RoutePolicy's namespace." },
        },
      },
      'x-kubernetes-validations': [
        cel(
          // Whole-object equality: a ref has only name and namespace (namespace has minLength 1, so absent is the
          // only "default"). Comparing the two fields with has()-ternaries is equivalent but its estimated cost,
          // times routes' maxItems, exceeds the API server's CEL budget and the CRD is refused.
          'self.all(t, self.exists_one(u, u == t))',
          'trunks must be unique',
          (self: { name: string; namespace?: string }[]) =>
            self.every(
              (t) => self.filter((u) => u.name === t.name && (u.namespace ?? '') === (t.namespace ?? '')).length === 1,
            ),
        ),
      ],
    },
    translate: {
      type: 'object',
      description: 'Rewrite the called number before it is sent: strip stripPrefix if present, then add addPrefix.',
      properties: {
        stripPrefix: { type: 'string', maxLength: 17, pattern: DIGITS_AFFIX_PATTERN },
        addPrefix: { type: 'string', maxLength: 17, pattern: DIGITS_AFFIX_PATTERN },
      },
      'x-kubernetes-validations': [
        cel(
          'has(self.stripPrefix) || has(self.addPrefix)',
          'at least one of stripPrefix or addPrefix is required',
          (self) => has(self, 'stripPrefix') || has(self, 'addPrefix'),
          { reason: 'FieldValueRequired' },
        ),
      ],
    },
    block: {
      type: 'object',
      description: 'Refuse the call with this SIP response.',
      properties: {
        sipCode: { type: 'integer', minimum: 400, maximum: 699, default: ROUTE_POLICY_DEFAULTS.blockSipCode },
        reason: { type: 'string', maxLength: 128, description: 'Reason phrase (default: the standard phrase).' },
      },
    },
  },
  'x-kubernetes-validations': [
    cel(
      'has(self.trunks) != has(self.block)',
      'exactly one of trunks or block is required',
      (self) => has(self, 'trunks') !== has(self, 'block'),
    ),
    cel(
      '!has(self.translate) || has(self.trunks)',
      'only valid with trunks',
      (self) => !has(self, 'translate') || has(self, 'trunks'),
      { fieldPath: '.translate', reason: 'FieldValueForbidden' },
    ),
  ],
} as const satisfies JSONSchemaProps;

export const matchSchema = {
  type: 'object',
  description: 'All given conditions must hold. Exactly one of destinationPrefix or destinationPattern.',
  properties: {
    destinationPrefix: {
      type: 'string',
      maxLength: 17,
      pattern: DIGITS_PREFIX_PATTERN,
      description:
        'Called number starts with this (E.164 with "+", e.g. +1555). Longest prefix is NOT implied: order is.',
    },
    destinationPattern: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'Regular expression (RE2 subset: no backreferences or lookaround) the whole called number matches.',
    },
    sourcePrefix: {
      type: 'string',
      maxLength: 17,
      pattern: DIGITS_PREFIX_PATTERN,
      description: 'Calling number prefix.',
    },
    timeOfDay: {
      type: 'object',
      description: 'Active from start to end (end before start wraps past midnight) on the given days.',
      required: ['start', 'end'],
      properties: {
        timeZone: {
          type: 'string',
          maxLength: 64,
          default: ROUTE_POLICY_DEFAULTS.timeZone,
          description: 'IANA time zone, e.g. Europe/London.',
        },
        days: {
          type: 'array',
          maxItems: 7,
          items: { type: 'string', enum: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] },
          'x-kubernetes-list-type': 'set',
          description: 'Default: every day.',
        },
        start: { type: 'string', maxLength: 5, pattern: TIME_PATTERN },
        end: { type: 'string', maxLength: 5, pattern: TIME_PATTERN },
      },
      'x-kubernetes-validations': [
        cel(
          'self.start != self.end',
          'start and end must differ (omit timeOfDay to match all day)',
          (self) => self.start !== self.end,
          { fieldPath: '.end' },
        ),
      ],
    },
  },
  'x-kubernetes-validations': [
    cel(
      'has(self.destinationPrefix) != has(self.destinationPattern)',
      'exactly one of destinationPrefix or destinationPattern is required',
      (self) => has(self, 'destinationPrefix') !== has(self, 'destinationPattern'),
    ),
  ],
} as const satisfies JSONSchemaProps;

export const routePolicySpecSchema = {
  type: 'object',
  required: ['defaultAction'],
  properties: {
    routes: {
      type: 'array',
      description: 'Evaluated in order; the first match wins.',
      maxItems: 512,
      items: {
        type: 'object',
        required: ['name', 'match', 'action'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
          match: matchSchema,
          action: actionSchema,
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    defaultAction: { ...actionSchema, description: 'What happens when no route matches (explicit; often a block).' },
  },
} as const satisfies JSONSchemaProps;

export const routePolicyStatusSchema = {
  type: 'object',
  properties: {
    observedGeneration: observedGenerationSchema,
    conditions: conditionsSchema,
    tenants: { type: 'integer', minimum: 0, description: 'Tenants using this policy.' },
  },
} as const satisfies JSONSchemaProps;

export type RoutePolicySpec = FromSchema<typeof routePolicySpecSchema>;
export type RoutePolicyStatus = FromSchema<typeof routePolicyStatusSchema>;
export type Route = NonNullable<RoutePolicySpec['routes']>[number];
export type RouteMatch = Route['match'];
export type RouteAction = Route['action'];
export type TrunkRef = NonNullable<RouteAction['trunks']>[number];

export interface RoutePolicy {
  apiVersion: typeof API_VERSION;
  kind: 'RoutePolicy';
  metadata: ObjectMeta;
  spec: RoutePolicySpec;
  status?: RoutePolicyStatus;
}
