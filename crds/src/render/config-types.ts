// The rendered config: the versioned, self-contained snapshot the operator compiles from Tenants, Trunks and
// RoutePolicies, and the sbc-pods (and media-pods) load — from ConfigMaps (kubernetes source) or files (directory
// source). This file is the contract between the renderer and the pods; change it only with a new apiVersion.
//
// Conventions: every field is present (absent optional data is `null` or `[]`, never missing), ids are
// "namespace/name", arrays are in a deterministic order (tenants and trunks by id; routes, trunks-per-route and
// targets in their meaningful order), credentials are never inlined (Secret references only).
import type { NumberBlock } from '../api/numbers.ts';

export const CONFIG_API_VERSION = 'switchboard.dev/config-v1';
export const CONFIG_KIND = 'SwitchboardConfig';

export interface RenderedConfig {
  apiVersion: typeof CONFIG_API_VERSION;
  kind: typeof CONFIG_KIND;
  /** Content hash (16 hex chars) of everything below except generatedAt: identical input → identical version. */
  version: string;
  /** When the operator rendered it (ISO 8601); injected, not part of the version. */
  generatedAt: string;
  /** The provider base domain (carrier-trunk FQDN, wildcard certificate), when configured. */
  baseDomain: string | null;
  /** The provider's wildcard certificate Secret, served for Wildcard tenants and the base domain. */
  wildcardCertificate: SecretRefConfig;
  /** Sorted by id. */
  tenants: TenantConfig[];
  /** Sorted by id. Shared documents: routes refer to them by id. */
  trunks: TrunkConfig[];
}

export interface SecretRefConfig {
  namespace: string;
  name: string;
}

export interface TenantConfig {
  /** "namespace/name" of the Tenant. */
  id: string;
  namespace: string;
  name: string;
  displayName: string;
  /** Lowercase derived-trunk FQDN (Contact/Record-Route toward Teams; Request-URI host from Teams). */
  fqdn: string;
  certificate: {
    mode: 'Wildcard' | 'Dedicated' | 'Provided';
    /** The TLS Secret to serve for fqdn (the wildcard Secret for Wildcard tenants). */
    secret: SecretRefConfig;
    /** cert-manager issuer for Dedicated, else null. */
    issuer: { name: string; kind: 'Issuer' | 'ClusterIssuer'; group: string } | null;
  };
  /** Normalised, sorted, de-duplicated number blocks (see api/numbers.ts). */
  numbers: NumberBlock[];
  limits: { callsPerSecond: number; maxConcurrentCalls: number };
  callerIdScreening: 'Pass' | 'Replace' | 'Reject';
  defaultCallerId: string | null;
  signallingPool: string;
  mediaPool: string;
  routing: {
    /** "namespace/name" of the RoutePolicy. */
    policy: string;
    /** In order; the first match wins. */
    routes: RouteConfig[];
    defaultAction: ActionConfig;
  };
  /** New calls are refused with 403 while suspended. */
  suspended: boolean;
  billing: { accountId: string; currency: string; model: 'PerMinute' | 'PerCall' | 'Flat'; ratePlan: string | null };
  /** Content hash of this tenant document (write-skipping, per-tenant ConfigMaps). */
  hash: string;
}

export interface RouteConfig {
  name: string;
  match: {
    destinationPrefix: string | null;
    /** Anchored by the pod: the whole called number must match. */
    destinationPattern: string | null;
    sourcePrefix: string | null;
    timeOfDay: TimeOfDayConfig | null;
  };
  action: ActionConfig;
}

export type Weekday = 'Mon' | 'Tue' | 'Wed' | 'Thu' | 'Fri' | 'Sat' | 'Sun';

export interface TimeOfDayConfig {
  timeZone: string;
  /** Week order; all seven when the manifest gave none. */
  days: Weekday[];
  /** "HH:MM"; end < start wraps past midnight. */
  start: string;
  end: string;
}

export type ActionConfig =
  | {
      type: 'Route';
      /** Trunk ids ("namespace/name") in failover order; every one is in RenderedConfig.trunks. */
      trunks: string[];
      translate: { stripPrefix: string; addPrefix: string } | null;
    }
  | { type: 'Block'; sipCode: number; reason: string };

export interface TrunkConfig {
  /** "namespace/name" of the Trunk. */
  id: string;
  namespace: string;
  name: string;
  description: string | null;
  /** Sorted by priority (stable); ports defaulted (5060, TLS 5061). */
  targets: { host: string; port: number; transport: 'UDP' | 'TCP' | 'TLS'; priority: number; weight: number }[];
  /** null: outbound-only trunk. */
  inbound: { sourceCidrs: string[]; digest: { secret: SecretRefConfig; realm: string | null } | null } | null;
  outbound: {
    auth: { secret: SecretRefConfig } | null;
    registration: { registrar: string; expiresSeconds: number } | null;
  };
  healthCheck: { enabled: boolean; optionsIntervalSeconds: number; failureThreshold: number };
  capacity: { channels: number | null; callsPerSecond: number | null };
  sharing: {
    mode: 'Dedicated' | 'Shared';
    /** 'All', or the ids of the tenants (that exist) allowed to use the trunk, sorted. */
    allowedTenants: 'All' | string[];
    reservations: { tenant: string; channels: number; priority: number }[];
  };
  numberNormalisation: {
    countryCode: string | null;
    nationalPrefix: string;
    internationalPrefix: string;
    outboundFormat: 'E164' | 'E164NoPlus' | 'National';
    rules: { direction: 'Inbound' | 'Outbound'; matchPrefix: string | null; stripPrefix: string; addPrefix: string }[];
  };
  media: { srtp: 'Required' | 'Optional' | 'Disabled'; codecs: ('PCMU' | 'PCMA' | 'G722' | 'G729' | 'opus')[] };
  /** Content hash of this trunk document. */
  hash: string;
}
