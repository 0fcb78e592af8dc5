// Desired conditions for Tenants, Trunks and RoutePolicies from one reconcile's facts (pure; table-testable).
import type { RenderProblem } from '../../../crds/src/render/index.ts';
import type { SecretCheck } from '../render/certificates.ts';
import type { DesiredCondition } from './conditions.ts';

export interface TenantFacts {
  id: string;
  generation: number | undefined;
  mode: 'Wildcard' | 'Dedicated' | 'Provided';
  policyId: string;
  routeNames: string[];
  /** Errors on the Tenant itself, and on its RoutePolicy. */
  tenantProblems: RenderProblem[];
  policyProblems: RenderProblem[];
  rendered: boolean;
  carried: boolean;
  version: string;
  /** Dedicated: the Certificate's Ready condition (undefined: no status yet); `applyError` when it could not be written. */
  certificate?: {
    ready?: { status: string; reason?: string; message?: string; observedGeneration?: number };
    generation?: number;
    applyError?: string;
    name: string;
  };
  /** Provided: the Secret check. */
  provided?: SecretCheck;
}

const ROUTE_PATH = /^spec\.routes\[(\d+)\]\.action\.trunks\[\d+\]$/;

/** "route uk: trunk carriers/international-trunk not found" from a RoutePolicy problem. */
export function describeRouteProblem(p: RenderProblem, routeNames: readonly string[]): string {
  const m = ROUTE_PATH.exec(p.path);
  const where = m
    ? `route ${routeNames[Number(m[1])] ?? m[1]}`
    : p.path.startsWith('spec.defaultAction')
      ? 'default action'
      : p.path;
  const msg = p.message.replace(/^Trunk (\S+) (not found|is invalid)$/, 'trunk $1 $2');
  return where ? `${where}: ${msg}` : msg;
}

export function referenceReason(message: string): string {
  if (/^(Trunk \S+|trunk \S+) not found/.test(message) || /: trunk \S+ not found/.test(message)) return 'TrunkNotFound';
  if (/trunk \S+ is invalid|Trunk \S+ is invalid/.test(message)) return 'TrunkInvalid';
  if (/RoutePolicy \S+ not found/.test(message)) return 'RoutePolicyNotFound';
  if (/RoutePolicy \S+ is invalid/.test(message)) return 'RoutePolicyInvalid';
  if (/Tenant \S+ not found/.test(message)) return 'TenantNotFound';
  if (/may not use|does not match/.test(message)) return 'TrunkNotAllowed';
  if (/Secret \S+ not found/.test(message)) return 'SecretNotFound';
  return 'ReferenceInvalid';
}

const isReference = (p: RenderProblem) => /not found|is invalid|may not use|does not match/.test(p.message);

function specReason(message: string): string {
  if (/already used by/.test(message)) return 'FQDNConflict';
  if (/overlaps/.test(message)) return 'NumberConflict';
  if (/base domain/.test(message)) return 'FQDNOutsideBaseDomain';
  return 'InvalidSpec';
}

export function tenantConditions(f: TenantFacts): DesiredCondition[] {
  const g = f.generation === undefined ? {} : { observedGeneration: f.generation };
  const refMessages = [
    ...f.tenantProblems.filter(isReference).map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)),
    ...f.policyProblems.filter(isReference).map((p) => describeRouteProblem(p, f.routeNames)),
  ];
  const refs: DesiredCondition =
    refMessages.length === 0
      ? {
          type: 'ReferencesResolved',
          status: 'True',
          reason: 'ReferencesResolved',
          message: `RoutePolicy ${f.policyId} and its trunks resolved`,
          ...g,
        }
      : {
          type: 'ReferencesResolved',
          status: 'False',
          reason: referenceReason(refMessages[0]!),
          message: refMessages.join('; '),
          ...g,
        };

  const own = [...f.tenantProblems, ...f.policyProblems].filter((p) => !isReference(p));
  let rendered: DesiredCondition;
  if (f.rendered) {
    rendered = {
      type: 'ConfigRendered',
      status: 'True',
      reason: 'Rendered',
      message: `in config version ${f.version}`,
      ...g,
    };
  } else {
    const first = own[0];
    const reason = first ? specReason(first.message) : refMessages.length > 0 ? 'ReferencesUnresolved' : 'NotRendered';
    const why =
      [...own.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)), ...refMessages].join('; ') ||
      'left out of the rendered config';
    rendered = {
      type: 'ConfigRendered',
      status: 'False',
      reason,
      message: f.carried ? `${why}; pods keep serving the previous document` : why,
      ...g,
    };
  }

  let cert: DesiredCondition;
  if (f.mode === 'Wildcard') {
    cert = {
      type: 'CertificateReady',
      status: 'True',
      reason: 'WildcardCertificate',
      message: "served by the provider's wildcard certificate",
      ...g,
    };
  } else if (f.mode === 'Dedicated') {
    const c = f.certificate;
    if (!c) {
      cert = {
        type: 'CertificateReady',
        status: 'Unknown',
        reason: 'CertificatePending',
        message: 'no Certificate yet (tenant not rendered)',
        ...g,
      };
    } else if (c.applyError) {
      cert = {
        type: 'CertificateReady',
        status: 'False',
        reason: 'CertificateApplyFailed',
        message: c.applyError,
        ...g,
      };
    } else if (!c.ready) {
      cert = {
        type: 'CertificateReady',
        status: 'Unknown',
        reason: 'CertificatePending',
        message: `waiting for cert-manager to issue Certificate ${c.name}`,
        ...g,
      };
    } else if (
      c.ready.observedGeneration !== undefined &&
      c.generation !== undefined &&
      c.ready.observedGeneration < c.generation
    ) {
      cert = {
        type: 'CertificateReady',
        status: 'Unknown',
        reason: 'CertificatePending',
        message: `Certificate ${c.name} is being re-issued`,
        ...g,
      };
    } else {
      const status = c.ready.status === 'True' ? 'True' : c.ready.status === 'False' ? 'False' : 'Unknown';
      cert = {
        type: 'CertificateReady',
        status,
        reason: c.ready.reason || (status === 'True' ? 'Ready' : 'NotReady'),
        message: `Certificate ${c.name}: ${c.ready.message ?? ''}`.trim(),
        ...g,
      };
    }
  } else {
    const p = f.provided;
    cert = p
      ? { type: 'CertificateReady', status: p.ok ? 'True' : 'False', reason: p.reason, message: p.message, ...g }
      : {
          type: 'CertificateReady',
          status: 'Unknown',
          reason: 'SecretPending',
          message: 'Secret not checked yet',
          ...g,
        };
  }
  return [refs, rendered, cert];
}

export function simpleConditions(
  generation: number | undefined,
  problems: RenderProblem[],
  extraReferenceProblems: string[],
  renderedMessage: string,
  excluded: boolean,
): DesiredCondition[] {
  const g = generation === undefined ? {} : { observedGeneration: generation };
  const errors = problems.filter((p) => p.severity === 'error');
  const refMessages = [
    ...errors.filter(isReference).map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)),
    ...extraReferenceProblems,
  ];
  const refs: DesiredCondition =
    refMessages.length === 0
      ? {
          type: 'ReferencesResolved',
          status: 'True',
          reason: 'ReferencesResolved',
          message: 'all references resolved',
          ...g,
        }
      : {
          type: 'ReferencesResolved',
          status: 'False',
          reason: referenceReason(refMessages[0]!),
          message: refMessages.join('; '),
          ...g,
        };
  const own = errors.filter((p) => !isReference(p));
  const warnings = problems.filter((p) => p.severity === 'warning').map((p) => p.message);
  const rendered: DesiredCondition =
    own.length === 0 && !excluded
      ? {
          type: 'ConfigRendered',
          status: 'True',
          reason: 'Rendered',
          message: [renderedMessage, ...warnings].join('; '),
          ...g,
        }
      : {
          type: 'ConfigRendered',
          status: 'False',
          reason: own[0] ? specReason(own[0].message) : 'InvalidSpec',
          message:
            own.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ') ||
            'left out of the rendered config',
          ...g,
        };
  return [refs, rendered];
}
