// The pure renderer: world (Tenants, Trunks, RoutePolicies, namespace labels) → RenderedConfig snapshot + problems.
//
// No I/O, no clock: generatedAt is injected, and the version is a content hash, so identical input renders an
// identical snapshot (golden tests; the operator skips writes that change nothing). Each object is validated again
// (schema + CEL twins, defaults applied) and the world's references are checked. A bad object must not take the
// others down: a tenant with an error (its own, or its RoutePolicy's — a missing or forbidden trunk) is left out
// of the snapshot and reported; the operator keeps serving that tenant's previous document and says why in status.
// Invalid trunks are left out too (and so are the tenants whose routes use them).
import { compareNumberBlocks, formatNumberBlock, type NumberBlock, parseNumberBlock } from '../api/numbers.ts';
import type { RouteAction, RoutePolicy } from '../api/route-policy.ts';
import { ROUTE_POLICY_DEFAULTS } from '../api/route-policy.ts';
import type { Tenant } from '../api/tenant.ts';
import { TENANT_DEFAULTS } from '../api/tenant.ts';
import { TRUNK_DEFAULTS, type Trunk } from '../api/trunk.ts';
import { checkReferences, idOf, namespaceOf, trunkAllowsTenant, type World } from '../manifests/references.ts';
import { type ObjectProblem, validateObject } from '../manifests/validate-object.ts';
import {
  type ActionConfig,
  CONFIG_API_VERSION,
  CONFIG_KIND,
  type RenderedConfig,
  type RouteConfig,
  type SecretRefConfig,
  type TenantConfig,
  type TrunkConfig,
  type Weekday,
} from './config-types.ts';
import { contentHash } from './hash.ts';

export interface RenderOptions {
  /** ISO 8601 time to stamp the snapshot with (injected for determinism). */
  generatedAt: string;
  /** The provider base domain; when set, tenant FQDNs must be one label under it. */
  baseDomain?: string;
  /** The provider's wildcard certificate Secret. Default switchboard-system/switchboard-wildcard-tls. */
  wildcardCertificate?: SecretRefConfig;
}

/** A problem on an object of the world; `excluded` says whether it kept a tenant or trunk out of the snapshot. */
export type RenderProblem = ObjectProblem;

export interface RenderResult {
  snapshot: RenderedConfig;
  problems: RenderProblem[];
  /** Ids left out of the snapshot because of errors. */
  excluded: { tenants: string[]; trunks: string[] };
}

export const DEFAULT_WILDCARD_SECRET: SecretRefConfig = {
  namespace: 'switchboard-system',
  name: 'switchboard-wildcard-tls',
};

const WEEK: Weekday[] = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Standard reason phrases for block codes (RFC 3261 and friends). */
const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  410: 'Gone',
  480: 'Temporarily Unavailable',
  484: 'Address Incomplete',
  486: 'Busy Here',
  488: 'Not Acceptable Here',
  500: 'Server Internal Error',
  503: 'Service Unavailable',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
};

export function render(world: World, opts: RenderOptions): RenderResult {
  const problems: RenderProblem[] = [];
  const invalid = new Set<string>();

  const valid = <T extends Tenant | Trunk | RoutePolicy>(objects: readonly T[]): T[] => {
    const out: T[] = [];
    for (const obj of objects) {
      const result = validateObject(obj);
      problems.push(...result.problems);
      if (result.object) out.push(result.object as T);
      else invalid.add(`${obj.kind}/${namespaceOf(obj)}/${obj.metadata?.name}`);
    }
    return out.sort((a, b) => cmp(idOf(a), idOf(b)));
  };
  const tenants = valid(world.tenants);
  const trunks = valid(world.trunks);
  const routePolicies = valid(world.routePolicies);
  const checked: World = { tenants, trunks, routePolicies, namespaces: world.namespaces ?? [] };

  const refOpts: { baseDomain?: string; invalid: Set<string> } = { invalid };
  if (opts.baseDomain) refOpts.baseDomain = opts.baseDomain;
  const badTenants = new Set<string>();
  const badPolicies = new Map<string, Set<string> | 'all'>();
  for (const { tenant, ...p } of checkReferences(checked, refOpts)) {
    problems.push(p);
    if (p.severity !== 'error') continue;
    const id = `${p.namespace}/${p.name}`;
    if (p.kind === 'Tenant') badTenants.add(id);
    if (p.kind === 'RoutePolicy') {
      const current = badPolicies.get(id);
      if (!tenant) badPolicies.set(id, 'all');
      else if (current !== 'all') badPolicies.set(id, (current ?? new Set()).add(tenant));
    }
  }

  const policyById = new Map(routePolicies.map((p) => [idOf(p), p]));
  const included: Tenant[] = [];
  const excludedTenants: string[] = [];
  for (const t of world.tenants) {
    if (invalid.has(`Tenant/${namespaceOf(t)}/${t.metadata?.name}`)) excludedTenants.push(idOf(t));
  }
  for (const tenant of tenants) {
    const id = idOf(tenant);
    const policyId = `${namespaceOf(tenant)}/${tenant.spec.routePolicyRef.name}`;
    const bad = badPolicies.get(policyId);
    if (badTenants.has(id) || !policyById.has(policyId) || bad === 'all' || bad?.has(id)) excludedTenants.push(id);
    else included.push(tenant);
  }

  const wildcard = opts.wildcardCertificate ?? DEFAULT_WILDCARD_SECRET;
  const tenantDocs = included.map((t) =>
    renderTenant(t, policyById.get(`${namespaceOf(t)}/${t.spec.routePolicyRef.name}`)!, wildcard),
  );
  const trunkDocs = trunks.map((t) => renderTrunk(t, included, checked));

  const body: Omit<RenderedConfig, 'version' | 'generatedAt'> = {
    apiVersion: CONFIG_API_VERSION,
    kind: CONFIG_KIND,
    baseDomain: opts.baseDomain ? opts.baseDomain.toLowerCase().replace(/\.$/, '') : null,
    wildcardCertificate: { namespace: wildcard.namespace, name: wildcard.name },
    tenants: tenantDocs,
    trunks: trunkDocs,
  };
  const snapshot: RenderedConfig = {
    apiVersion: CONFIG_API_VERSION,
    kind: CONFIG_KIND,
    version: snapshotVersion(body),
    generatedAt: opts.generatedAt,
    baseDomain: body.baseDomain,
    wildcardCertificate: body.wildcardCertificate,
    tenants: tenantDocs,
    trunks: trunkDocs,
  };
  const excludedTrunks = world.trunks
    .filter((t) => invalid.has(`Trunk/${namespaceOf(t)}/${t.metadata?.name}`))
    .map((t) => idOf(t));
  return {
    snapshot,
    problems,
    excluded: { tenants: [...new Set(excludedTenants)].sort(), trunks: [...new Set(excludedTrunks)].sort() },
  };
}

/** The version of a snapshot: the content hash of everything but version and generatedAt. */
export function snapshotVersion(config: Omit<RenderedConfig, 'version' | 'generatedAt'> | RenderedConfig): string {
  const { version: _v, generatedAt: _g, ...body } = config as RenderedConfig;
  return contentHash(body);
}

function withHash<T extends object>(doc: T): T & { hash: string } {
  return { ...doc, hash: contentHash(doc) };
}

function renderTenant(tenant: Tenant, policy: RoutePolicy, wildcard: SecretRefConfig): TenantConfig {
  const s = tenant.spec;
  const ns = namespaceOf(tenant);
  const cert = s.certificate;
  const secret: SecretRefConfig =
    cert.mode === 'Wildcard'
      ? { namespace: wildcard.namespace, name: wildcard.name }
      : { namespace: ns, name: cert.secretRef?.name ?? `${tenant.metadata.name}-tls` };
  const issuer =
    cert.mode === 'Dedicated' && cert.issuerRef
      ? {
          name: cert.issuerRef.name,
          kind: cert.issuerRef.kind ?? 'Issuer',
          group: cert.issuerRef.group ?? 'cert-manager.io',
        }
      : null;
  const blocks = new Map<string, NumberBlock>();
  for (const text of s.numbers ?? []) {
    const block = parseNumberBlock(text);
    if (block) blocks.set(formatNumberBlock(block), block);
  }
  const routes: RouteConfig[] = (policy.spec.routes ?? []).map((r) => ({
    name: r.name,
    match: {
      destinationPrefix: r.match.destinationPrefix ?? null,
      destinationPattern: r.match.destinationPattern ?? null,
      sourcePrefix: r.match.sourcePrefix ?? null,
      timeOfDay: r.match.timeOfDay
        ? {
            timeZone: r.match.timeOfDay.timeZone ?? ROUTE_POLICY_DEFAULTS.timeZone,
            days: r.match.timeOfDay.days?.length ? WEEK.filter((d) => r.match.timeOfDay!.days!.includes(d)) : [...WEEK],
            start: r.match.timeOfDay.start,
            end: r.match.timeOfDay.end,
          }
        : null,
    },
    action: renderAction(r.action, policy),
  }));
  return withHash({
    id: idOf(tenant),
    namespace: ns,
    name: tenant.metadata.name,
    displayName: s.displayName ?? tenant.metadata.name,
    fqdn: s.fqdn.toLowerCase(),
    certificate: { mode: cert.mode, secret, issuer },
    numbers: [...blocks.values()].sort(compareNumberBlocks),
    limits: { callsPerSecond: s.limits.callsPerSecond, maxConcurrentCalls: s.limits.maxConcurrentCalls },
    callerIdScreening: s.callerIdScreening ?? TENANT_DEFAULTS.callerIdScreening,
    defaultCallerId: s.defaultCallerId ?? null,
    signallingPool: s.signallingPool ?? TENANT_DEFAULTS.signallingPool,
    mediaPool: s.mediaPool ?? TENANT_DEFAULTS.mediaPool,
    routing: { policy: idOf(policy), routes, defaultAction: renderAction(policy.spec.defaultAction, policy) },
    suspended: s.suspended ?? TENANT_DEFAULTS.suspended,
    billing: {
      accountId: s.billing.accountId,
      currency: s.billing.currency ?? TENANT_DEFAULTS.currency,
      model: s.billing.model ?? TENANT_DEFAULTS.billingModel,
      ratePlan: s.billing.ratePlan ?? null,
    },
  });
}

function renderAction(action: RouteAction, policy: RoutePolicy): ActionConfig {
  if (action.trunks) {
    return {
      type: 'Route',
      trunks: action.trunks.map((t) => `${t.namespace ?? namespaceOf(policy)}/${t.name}`),
      translate: action.translate
        ? { stripPrefix: action.translate.stripPrefix ?? '', addPrefix: action.translate.addPrefix ?? '' }
        : null,
    };
  }
  const sipCode = action.block?.sipCode ?? ROUTE_POLICY_DEFAULTS.blockSipCode;
  return { type: 'Block', sipCode, reason: action.block?.reason ?? REASON_PHRASES[sipCode] ?? 'Blocked' };
}

function renderTrunk(trunk: Trunk, tenants: readonly Tenant[], world: World): TrunkConfig {
  const s = trunk.spec;
  const ns = namespaceOf(trunk);
  const targets = s.targets
    .map((t) => {
      const transport = t.transport ?? TRUNK_DEFAULTS.transport;
      return {
        host: t.host,
        port: t.port ?? (transport === 'TLS' ? TRUNK_DEFAULTS.tlsPort : TRUNK_DEFAULTS.udpTcpPort),
        transport,
        priority: t.priority ?? TRUNK_DEFAULTS.priority,
        weight: t.weight ?? TRUNK_DEFAULTS.weight,
      };
    })
    .sort((a, b) => a.priority - b.priority);
  const allowedFrom = s.sharing.allowedTenants?.namespaces?.from ?? TRUNK_DEFAULTS.allowedFrom;
  const allowed =
    s.sharing.mode === 'Shared' && allowedFrom === 'All'
      ? ('All' as const)
      : tenants.filter((t) => trunkAllowsTenant(world, trunk, t).allowed).map((t) => idOf(t));
  const tenantIds = new Set(tenants.map((t) => idOf(t)));
  const reservations = (s.sharing.reservations ?? [])
    .map((r) => ({
      tenant: `${r.tenantRef.namespace}/${r.tenantRef.name}`,
      channels: r.channels,
      priority: r.priority ?? TRUNK_DEFAULTS.reservationPriority,
    }))
    .filter((r) => tenantIds.has(r.tenant) && (allowed === 'All' || allowed.includes(r.tenant)))
    .sort((a, b) => cmp(a.tenant, b.tenant));
  const nn = s.numberNormalisation;
  const hc = s.healthCheck;
  return withHash({
    id: idOf(trunk),
    namespace: ns,
    name: trunk.metadata.name,
    description: s.description ?? null,
    targets,
    inbound: s.inbound
      ? {
          sourceCidrs: [...(s.inbound.sourceCidrs ?? [])],
          digest: s.inbound.digest
            ? {
                secret: { namespace: ns, name: s.inbound.digest.secretRef.name },
                realm: s.inbound.digest.realm ?? null,
              }
            : null,
        }
      : null,
    outbound: {
      auth: s.outbound?.auth ? { secret: { namespace: ns, name: s.outbound.auth.secretRef.name } } : null,
      registration: s.outbound?.registration
        ? {
            registrar: s.outbound.registration.registrar ?? targets[0]!.host,
            expiresSeconds: s.outbound.registration.expiresSeconds ?? TRUNK_DEFAULTS.registrationExpiresSeconds,
          }
        : null,
    },
    healthCheck: {
      enabled: hc?.enabled ?? TRUNK_DEFAULTS.healthCheckEnabled,
      optionsIntervalSeconds: hc?.optionsIntervalSeconds ?? TRUNK_DEFAULTS.optionsIntervalSeconds,
      failureThreshold: hc?.failureThreshold ?? TRUNK_DEFAULTS.failureThreshold,
    },
    capacity: { channels: s.capacity?.channels ?? null, callsPerSecond: s.capacity?.callsPerSecond ?? null },
    sharing: { mode: s.sharing.mode, allowedTenants: allowed, reservations },
    numberNormalisation: {
      countryCode: nn?.countryCode ?? null,
      nationalPrefix: nn?.nationalPrefix ?? TRUNK_DEFAULTS.nationalPrefix,
      internationalPrefix: nn?.internationalPrefix ?? TRUNK_DEFAULTS.internationalPrefix,
      outboundFormat: nn?.outboundFormat ?? TRUNK_DEFAULTS.outboundFormat,
      rules: (nn?.rules ?? []).map((r) => ({
        direction: r.direction,
        matchPrefix: r.matchPrefix ?? null,
        stripPrefix: r.stripPrefix ?? '',
        addPrefix: r.addPrefix ?? '',
      })),
    },
    media: {
      srtp: s.media?.srtp ?? TRUNK_DEFAULTS.srtp,
      codecs: [...(s.media?.codecs ?? TRUNK_DEFAULTS.codecs)],
    },
  });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
