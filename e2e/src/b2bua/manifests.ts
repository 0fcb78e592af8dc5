// Builders for the manifests e2e tests write (YAML text, as a user would): one place that knows the shape of a test
// Trunk and of a tenant with its namespace and route policy, so tests only say what differs.

const DOC = '---\napiVersion: switchboard.dev/v1alpha1\n';

export interface TestTrunk {
  name: string;
  /** One target on 127.0.0.1, or the YAML `targets:` block lines for several. */
  port?: number;
  transport?: 'UDP' | 'TCP' | 'TLS';
  targets?: string[];
  /** `inbound:` value (flow YAML), e.g. `{ sourceCidrs: ["127.0.0.1/32"] }`. */
  inbound?: string;
  /** `outbound:` block lines (indented under outbound). */
  outbound?: string[];
  /** `healthCheck:` value; default off (an OPTIONS in the middle of a sipp scenario is unexpected for it). */
  healthCheck?: string;
  /** A tenant namespace (Dedicated to the tenant of that name in it), or Shared with every tenant namespace. */
  dedicatedTo?: string;
}

/** A Trunk in namespace `carriers` with US number normalisation. */
export function trunk(t: TestTrunk): string {
  const targets = t.targets
    ? `  targets:\n${t.targets.map((l) => `    - ${l}`).join('\n')}`
    : `  targets: [{ host: 127.0.0.1, port: ${t.port}, transport: ${t.transport ?? 'UDP'} }]`;
  const sharing = t.dedicatedTo
    ? `{ mode: Dedicated, tenantRef: { namespace: ${t.dedicatedTo}, name: ${t.dedicatedTo} } }`
    : '{ mode: Shared, allowedTenants: { namespaces: { from: All } } }';
  return [
    `${DOC}kind: Trunk`,
    `metadata: { name: ${t.name}, namespace: carriers }`,
    'spec:',
    targets,
    ...(t.inbound ? [`  inbound: ${t.inbound}`] : []),
    ...(t.outbound ? ['  outbound:', ...t.outbound.map((l) => `    ${l}`)] : []),
    `  healthCheck: ${t.healthCheck ?? '{ enabled: false }'}`,
    '  numberNormalisation: { countryCode: "1" }',
    `  sharing: ${sharing}`,
    '',
  ].join('\n');
}

export interface TestTenant {
  /** Tenant, namespace and route policy name. */
  name: string;
  fqdn: string;
  /** A number range, e.g. `+15551250000-+15551250999`. */
  numbers: string;
  /** More `spec:` lines of the Tenant (two-space indented already stripped), e.g. `callerIdScreening: Replace`. */
  spec?: string[];
  limits?: { callsPerSecond: number; maxConcurrentCalls: number };
  /** Route policy: `routes` YAML lines under `routes:`; default one route of every +1 number to `trunk`. */
  routes?: string[];
  trunk?: string;
}

/** A tenant namespace, its Tenant (wildcard certificate) and its RoutePolicy. */
export function tenant(t: TestTenant): string {
  const limits = t.limits ?? { callsPerSecond: 10, maxConcurrentCalls: 10 };
  const routes = t.routes ?? [
    '- name: all',
    '  match: { destinationPrefix: "+1" }',
    `  action: { trunks: [{ name: ${t.trunk ?? 'carrier-a'}, namespace: carriers }] }`,
  ];
  const account = `ACC-${t.name.toUpperCase()}`;
  return [
    '---\napiVersion: v1\nkind: Namespace',
    `metadata: { name: ${t.name}, labels: { switchboard.dev/tenant: "true" } }`,
    `${DOC}kind: Tenant`,
    `metadata: { name: ${t.name}, namespace: ${t.name} }`,
    'spec:',
    `  displayName: ${t.name[0]!.toUpperCase()}${t.name.slice(1)}`,
    `  fqdn: ${t.fqdn}`,
    '  certificate: { mode: Wildcard }',
    `  numbers: ["${t.numbers}"]`,
    ...(t.spec ?? []).map((l) => `  ${l}`),
    `  limits: { callsPerSecond: ${limits.callsPerSecond}, maxConcurrentCalls: ${limits.maxConcurrentCalls} }`,
    `  routePolicyRef: { name: ${t.name} }`,
    `  billing: { accountId: ${account} }`,
    `${DOC}kind: RoutePolicy`,
    `metadata: { name: ${t.name}, namespace: ${t.name} }`,
    'spec:',
    '  routes:',
    ...routes.map((l) => `    ${l}`),
    '  defaultAction: { block: { sipCode: 403, reason: No route } }',
    '',
  ].join('\n');
}
