import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { numberInBlock } from '../../../crds/src/api/numbers.ts';
import { validateManifests } from '../../../crds/src/manifests/index.ts';
import { loadManifests } from '../../../crds/src/manifests/load.ts';
import type {
  ActionConfig,
  RenderedConfig,
  RouteConfig,
  TenantConfig,
  TrunkConfig,
} from '../../../crds/src/render/config-types.ts';
import { render } from '../../../crds/src/render/index.ts';
import { cidrContains } from '../routing/cidr.ts';
import { compileConfig, decomposeRange } from './compiled.ts';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples');

async function renderedExamples(): Promise<RenderedConfig> {
  const loaded = await loadManifests([examples]);
  const { world, problems } = validateManifests(loaded.objects, { baseDomain: 'sbc.example.net' });
  assert.deepEqual(
    problems.filter((p) => p.severity === 'error'),
    [],
  );
  const result = render(world, { generatedAt: '2025-01-01T00:00:00.000Z', baseDomain: 'sbc.example.net' });
  assert.deepEqual(result.excluded, { tenants: [], trunks: [] });
  return result.snapshot;
}

function trunk(id: string, opts: Partial<TrunkConfig> = {}): TrunkConfig {
  const [namespace, name] = id.split('/') as [string, string];
  return {
    id,
    namespace,
    name,
    description: null,
    targets: [{ host: `${name}.example.com`, port: 5060, transport: 'UDP', priority: 10, weight: 100 }],
    inbound: null,
    outbound: { auth: null, registration: null },
    healthCheck: { enabled: true, optionsIntervalSeconds: 30, failureThreshold: 3 },
    capacity: { channels: null, callsPerSecond: null },
    sharing: { mode: 'Shared', allowedTenants: 'All', reservations: [] },
    numberNormalisation: {
      countryCode: null,
      nationalPrefix: '0',
      internationalPrefix: '00',
      outboundFormat: 'E164',
      rules: [],
    },
    media: { srtp: 'Optional', codecs: ['PCMU', 'PCMA'] },
    hash: '0000000000000000',
    ...opts,
  };
}

function route(name: string, match: Partial<RouteConfig['match']>, action: ActionConfig): RouteConfig {
  return {
    name,
    match: { destinationPrefix: null, destinationPattern: null, sourcePrefix: null, timeOfDay: null, ...match },
    action,
  };
}

const to = (...trunks: string[]): ActionConfig => ({ type: 'Route', trunks, translate: null });
const block = (sipCode = 403): ActionConfig => ({ type: 'Block', sipCode, reason: 'No route' });

function tenant(id: string, opts: Partial<TenantConfig> = {}): TenantConfig {
  const [namespace, name] = id.split('/') as [string, string];
  return {
    id,
    namespace,
    name,
    displayName: name,
    fqdn: `${name}.sbc.example.net`,
    certificate: { mode: 'Wildcard', secret: { namespace: 'switchboard-system', name: 'wildcard' }, issuer: null },
    numbers: [],
    limits: { callsPerSecond: 10, maxConcurrentCalls: 100 },
    callerIdScreening: 'Pass',
    defaultCallerId: null,
    signallingPool: 'default',
    mediaPool: 'default',
    routing: { policy: id, routes: [], defaultAction: block() },
    suspended: false,
    billing: { accountId: name, currency: 'USD', model: 'PerMinute', ratePlan: null },
    hash: '0000000000000000',
    ...opts,
  };
}

function config(tenants: TenantConfig[], trunks: TrunkConfig[]): RenderedConfig {
  return {
    apiVersion: 'switchboard.dev/config-v1',
    kind: 'SwitchboardConfig',
    version: 'abcdef0123456789',
    generatedAt: '2025-01-01T00:00:00.000Z',
    baseDomain: 'sbc.example.net',
    wildcardCertificate: { namespace: 'switchboard-system', name: 'wildcard' },
    tenants,
    trunks,
  };
}

test('the shipped examples: FQDN, numbers, sources, routes, sharing', async () => {
  const c = compileConfig(await renderedExamples());
  assert.equal(c.tenantByFqdn('contoso.sbc.example.net')?.id, 'contoso/contoso');
  assert.equal(c.tenantByFqdn('FABRIKAM.SBC.Example.NET.')?.id, 'fabrikam/fabrikam');
  assert.equal(c.tenantByFqdn('sbc.example.net'), undefined);
  assert.equal(c.tenantByFqdn('evil.sbc.example.net'), undefined);
  assert.equal(c.tenantById('contoso/contoso')?.fqdn, 'contoso.sbc.example.net');

  assert.equal(c.tenantForNumber('+15551230000')?.id, 'contoso/contoso');
  assert.equal(c.tenantForNumber('+15551234999')?.id, 'contoso/contoso');
  assert.equal(c.tenantForNumber('+15551235000')?.id, 'fabrikam/fabrikam');
  assert.equal(c.tenantForNumber('+15551239999')?.id, 'fabrikam/fabrikam');
  assert.equal(c.tenantForNumber('+442079460123')?.id, 'contoso/contoso');
  assert.equal(c.tenantForNumber('+15551240000'), undefined);
  assert.equal(c.tenantForNumber('+155512300001'), undefined, 'a longer number is not in a range');
  assert.equal(c.tenantForNumber(''), undefined);

  assert.deepEqual(
    c.trunksForSource('192.0.2.5').map((t) => t.id),
    ['carriers/trunk-1'],
  );
  assert.deepEqual(
    c.trunksForSource('::ffff:198.51.100.10').map((t) => t.id),
    ['carriers/trunk-1'],
  );
  assert.deepEqual(c.trunksForSource('192.0.2.16'), []);

  const us = c.route('contoso/contoso', '+15559876543');
  assert.equal(us?.routeName, 'us-1555');
  assert.equal(us?.action.type, 'Route');
  assert.deepEqual(us?.action.type === 'Route' && us.action.trunks.map((t) => t.id), ['carriers/trunk-1']);
  const uk = c.route('contoso/contoso', '+442071234567');
  assert.equal(uk?.routeName, 'uk');
  assert.deepEqual(uk?.action.type === 'Route' && uk.action.trunks.map((t) => t.id), ['carriers/international-trunk']);
  const other = c.route('fabrikam/fabrikam', '+442071234567');
  assert.deepEqual(other, {
    routeName: null,
    routeIndex: -1,
    action: { type: 'Block', sipCode: 403, reason: 'No route' },
  });
  assert.equal(c.route('nobody/nobody', '+1555'), undefined);

  assert.ok(c.tenantMayUseTrunk('contoso/contoso', 'carriers/trunk-1'));
  assert.ok(c.tenantMayUseTrunk('fabrikam/fabrikam', 'carriers/trunk-1'));
  assert.ok(c.tenantMayUseTrunk('contoso/contoso', 'carriers/international-trunk'));
  assert.ok(!c.tenantMayUseTrunk('fabrikam/fabrikam', 'carriers/international-trunk'));
  assert.ok(!c.tenantMayUseTrunk('fabrikam/fabrikam', 'carriers/nope'));
  assert.ok(!c.tenantMayUseTrunk('nobody/nobody', 'carriers/trunk-1'));
});

test('route: order wins over prefix length; conditions are checked in order', () => {
  const t = tenant('a/a', {
    routing: {
      policy: 'a/a',
      routes: [
        route('short-first', { destinationPrefix: '+1' }, to('c/t1')),
        route('long-second', { destinationPrefix: '+1555' }, to('c/t2')),
        route('pattern', { destinationPattern: '\\+44[0-9]{10}' }, to('c/t2')),
        route('uk', { destinationPrefix: '+44' }, block(404)),
        route('from-49', { destinationPrefix: '+33', sourcePrefix: '+49' }, to('c/t2')),
        route('fr', { destinationPrefix: '+33' }, to('c/t1', 'c/t2')),
      ],
      defaultAction: block(480),
    },
  });
  const c = compileConfig(config([t], [trunk('c/t1'), trunk('c/t2')]));
  assert.equal(c.route('a/a', '+15551234567')?.routeName, 'short-first');
  assert.equal(c.route('a/a', '+442071234567')?.routeName, 'pattern');
  assert.equal(c.route('a/a', '+4420712345678')?.routeName, 'uk', 'pattern is anchored: one digit too many');
  assert.equal(c.route('a/a', 'x+442071234567')?.routeName, null, 'pattern is anchored at the start');
  assert.equal(c.route('a/a', '+33123', { source: '+4930123' })?.routeName, 'from-49');
  assert.equal(c.route('a/a', '+33123', { source: '+4420' })?.routeName, 'fr');
  assert.equal(c.route('a/a', '+33123')?.routeName, 'fr', 'a source route never matches without a source');
  const fr = c.route('a/a', '+33123');
  assert.deepEqual(fr?.action.type === 'Route' && fr.action.trunks.map((x) => x.id), ['c/t1', 'c/t2']);
  assert.deepEqual(c.route('a/a', '+61')?.action, { type: 'Block', sipCode: 480, reason: 'No route' });
});

test('route: a conditional route before a prefix route wins only when it matches', () => {
  const t = tenant('a/a', {
    routing: {
      policy: 'a/a',
      routes: [
        route(
          'office-hours',
          {
            destinationPrefix: '+1',
            timeOfDay: {
              timeZone: 'America/New_York',
              days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'],
              start: '09:00',
              end: '17:00',
            },
          },
          to('c/t1'),
        ),
        route(
          'night',
          {
            destinationPrefix: '+1',
            timeOfDay: { timeZone: 'Europe/London', days: ['Fri'], start: '22:00', end: '06:00' },
          },
          to('c/t1'),
        ),
        route('catch-all', { destinationPrefix: '' }, to('c/t2')),
      ],
      defaultAction: block(),
    },
  });
  const c = compileConfig(config([t], [trunk('c/t1'), trunk('c/t2')]));
  // 2025-01-06 is a Monday. 15:00Z = 10:00 New York (EST, UTC-5).
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-06T15:00:00Z') })?.routeName, 'office-hours');
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-06T13:59:00Z') })?.routeName, 'catch-all');
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-06T22:00:00Z') })?.routeName, 'catch-all');
  // Saturday 2025-01-04 09:00 New York: not a listed day.
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-04T14:00:00Z') })?.routeName, 'catch-all');
  // Friday 2025-01-10 23:30 London, and the wrapped part: Saturday 03:00 London belongs to Friday's window.
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-10T23:30:00Z') })?.routeName, 'night');
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-11T03:00:00Z') })?.routeName, 'night');
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-11T06:00:00Z') })?.routeName, 'catch-all');
  // Thursday 23:30 London: Thursday is not listed.
  assert.equal(c.route('a/a', '+1555', { now: Date.parse('2025-01-09T23:30:00Z') })?.routeName, 'catch-all');
  // Summer time: 2025-07-07 (Monday) 13:30Z = 09:30 EDT.
  assert.equal(c.route('a/a', '+1555', { now: new Date('2025-07-07T13:30:00Z') })?.routeName, 'office-hours');
  // Not +1: neither time route applies.
  assert.equal(c.route('a/a', '+44', { now: Date.parse('2025-01-06T15:00:00Z') })?.routeName, 'catch-all');
});

test('decomposeRange covers exactly the range', () => {
  assert.deepEqual(decomposeRange('+15551230000', '+15551234999'), [
    '+15551230',
    '+15551231',
    '+15551232',
    '+15551233',
    '+15551234',
  ]);
  assert.deepEqual(decomposeRange('+100', '+100'), ['+100']);
  assert.deepEqual(decomposeRange('+100', '+199'), ['+1']);
  assert.deepEqual(decomposeRange('+105', '+213'), [
    '+105',
    '+106',
    '+107',
    '+108',
    '+109',
    '+11',
    '+12',
    '+13',
    '+14',
    '+15',
    '+16',
    '+17',
    '+18',
    '+19',
    '+20',
    '+210',
    '+211',
    '+212',
    '+213',
  ]);
  // Exhaustive check on 3-digit ranges.
  for (let lo = 0; lo < 1000; lo += 37) {
    for (let hi = lo; hi < 1000; hi += 53) {
      const first = `+${String(lo).padStart(3, '0')}`;
      const last = `+${String(hi).padStart(3, '0')}`;
      const prefixes = decomposeRange(first, last);
      for (let n = 0; n < 1000; n++) {
        const num = `+${String(n).padStart(3, '0')}`;
        const hits = prefixes.filter((p) => num.startsWith(p)).length;
        assert.equal(hits, n >= lo && n <= hi ? 1 : 0, `${first}-${last} ∋ ${num}`);
      }
    }
  }
});

test('tenantForNumber: most specific block wins; ranges pin the length', () => {
  const c = compileConfig(
    config(
      [
        tenant('a/a', { numbers: [{ type: 'prefix', prefix: '+4420' }] }),
        tenant('b/b', { numbers: [{ type: 'prefix', prefix: '+442079' }] }),
        tenant('c/c', {
          numbers: [{ type: 'range', first: '+442079460000', last: '+442079469999', prefix: '+44207946' }],
        }),
      ],
      [],
    ),
  );
  assert.equal(c.tenantForNumber('+442071111111')?.id, 'a/a');
  assert.equal(c.tenantForNumber('+442079111111')?.id, 'b/b');
  assert.equal(c.tenantForNumber('+442079460001')?.id, 'c/c');
  assert.equal(c.tenantForNumber('+4420794600011')?.id, 'b/b', 'longer than the range: falls back to the prefix');
  assert.equal(c.tenantForNumber('+4421'), undefined);
});

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The obvious implementation: scan routes in order. */
function naiveRoute(t: TenantConfig, destination: string, source: string | undefined): string | null {
  for (const r of t.routing.routes) {
    const m = r.match;
    if (m.destinationPrefix !== null && !destination.startsWith(m.destinationPrefix)) continue;
    if (m.destinationPattern !== null && !new RegExp(`^(?:${m.destinationPattern})$`, 'u').test(destination)) continue;
    if (m.sourcePrefix !== null && (source === undefined || !source.startsWith(m.sourcePrefix))) continue;
    return r.name;
  }
  return null;
}

test('differential: route() agrees with an in-order scan on random policies', () => {
  const rand = rng(42);
  const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(rand() * 3) + 1)).join('');
  const tenants: TenantConfig[] = [];
  for (let i = 0; i < 200; i++) {
    const routes: RouteConfig[] = [];
    const count = 1 + Math.floor(rand() * 12);
    for (let j = 0; j < count; j++) {
      const kind = rand();
      const match: Partial<RouteConfig['match']> =
        kind < 0.6
          ? { destinationPrefix: `+${digits(Math.floor(rand() * 4))}` }
          : kind < 0.8
            ? { destinationPattern: `\\+${digits(1)}[0-9]*` }
            : { destinationPrefix: `+${digits(Math.floor(rand() * 3))}`, sourcePrefix: `+${digits(1)}` };
      routes.push(route(`r${j}`, match, to('c/t1')));
    }
    tenants.push(tenant(`t${i}/t${i}`, { routing: { policy: 'x/x', routes, defaultAction: block() } }));
  }
  const c = compileConfig(config(tenants, [trunk('c/t1')]));
  for (let n = 0; n < 20_000; n++) {
    const t = tenants[Math.floor(rand() * tenants.length)]!;
    const destination = `+${digits(1 + Math.floor(rand() * 6))}`;
    const source = rand() < 0.7 ? `+${digits(3)}` : undefined;
    const got = c.route(t.id, destination, source === undefined ? {} : { source });
    assert.equal(got?.routeName, naiveRoute(t, destination, source), `${t.id} ${destination} from ${source}`);
  }
});

test('scale: 10,000 tenants × 5 routes compile and route correctly (timings printed, not asserted)', () => {
  const TENANTS = 10_000;
  const trunks: TrunkConfig[] = [];
  for (let i = 0; i < 100; i++) {
    trunks.push(
      trunk(`carriers/trunk-${i}`, {
        inbound: { sourceCidrs: [`10.${i}.0.0/16`, `2001:db8:${i.toString(16)}::/48`], digest: null },
        sharing:
          i % 2 === 0
            ? { mode: 'Shared', allowedTenants: 'All', reservations: [] }
            : { mode: 'Dedicated', allowedTenants: [`t${i}/t${i}`], reservations: [] },
      }),
    );
  }
  const tenants: TenantConfig[] = [];
  for (let i = 0; i < TENANTS; i++) {
    const id = `t${i}/t${i}`;
    const base = `+1555${String(i).padStart(5, '0')}`;
    const own = i % 2 === 1 && i < 100 ? `carriers/trunk-${i}` : `carriers/trunk-${(i * 2) % 100}`;
    tenants.push(
      tenant(id, {
        fqdn: `t${i}.sbc.example.net`,
        numbers: [
          { type: 'range', first: `${base}000`, last: `${base}499`, prefix: `${base}` },
          { type: 'prefix', prefix: `+44${String(i).padStart(5, '0')}` },
        ],
        routing: {
          policy: id,
          routes: [
            route('emergency', { destinationPattern: '\\+1911|\\+44999' }, block(503)),
            route('premium', { destinationPrefix: '+1900' }, block(403)),
            route('us', { destinationPrefix: '+1' }, to(own)),
            route('uk-from-us', { destinationPrefix: '+44', sourcePrefix: '+1' }, to(own)),
            route('uk', { destinationPrefix: '+44' }, to(`carriers/trunk-${(i * 2 + 2) % 100}`)),
          ],
          defaultAction: block(404),
        },
      }),
    );
  }
  const cfg = config(tenants, trunks);
  const t0 = performance.now();
  const c = compileConfig(cfg);
  const compileMs = performance.now() - t0;

  const rand = rng(7);
  const LOOKUPS = 100_000;
  const picks = Array.from({ length: LOOKUPS }, () => Math.floor(rand() * TENANTS));
  // Lookups are timed without assertions (results are kept and checked afterwards).
  const time = <T>(fn: (i: number) => T): { ns: number; results: T[] } => {
    const results = new Array<T>(LOOKUPS);
    const start = performance.now();
    for (let k = 0; k < LOOKUPS; k++) results[k] = fn(picks[k]!);
    return { ns: ((performance.now() - start) * 1e6) / LOOKUPS, results };
  };
  const numberOf = (i: number) => `+1555${String(i).padStart(5, '0')}${String(i % 500).padStart(3, '0')}`;
  const fqdns = picks.map((i) => `T${i}.sbc.example.net`);
  const numbers = picks.map(numberOf);
  const ids = picks.map((i) => `t${i}/t${i}`);
  const ips = picks.map((i) => `10.${i % 100}.1.2`);
  let k = 0;
  const fqdn = time(() => c.tenantByFqdn(fqdns[k++]!));
  k = 0;
  const number = time(() => c.tenantForNumber(numbers[k++]!));
  k = 0;
  const routeUs = time(() => c.route(ids[k++]!, '+12125550100'));
  k = 0;
  const routeUk = time(() => c.route(ids[k++]!, '+442071234567', { source: '+12125550100' }));
  k = 0;
  const routeDefault = time(() => c.route(ids[k++]!, '+61'));
  k = 0;
  const source = time(() => c.trunksForSource(ips[k++]!));
  picks.forEach((i, n) => {
    assert.equal(fqdn.results[n]?.id, `t${i}/t${i}`);
    assert.equal(number.results[n]?.id, `t${i}/t${i}`);
    assert.equal(routeUs.results[n]?.routeName, 'us');
    assert.equal(routeUk.results[n]?.routeName, 'uk-from-us');
    assert.equal(routeDefault.results[n]?.routeName, null);
    assert.equal(source.results[n]?.[0]?.id, `carriers/trunk-${i % 100}`);
  });
  assert.equal(c.route('t1/t1', '+1911')?.routeName, 'emergency');
  const timings = {
    fqdnNs: fqdn.ns,
    numberNs: number.ns,
    routeNs: (routeUs.ns + routeUk.ns + routeDefault.ns) / 3,
    sourceNs: source.ns,
  };
  // Outside the ranges: the +1555…500–999 half of each block belongs to nobody.
  assert.equal(c.tenantForNumber('+155500042500'), undefined);
  assert.equal(c.tenantForNumber('+4400042123456')?.id, 't42/t42');
  assert.ok(c.tenantMayUseTrunk('t3/t3', 'carriers/trunk-3'));
  assert.ok(!c.tenantMayUseTrunk('t4/t4', 'carriers/trunk-3'));
  // Cross-check a sample against the obvious implementations.
  for (let n = 0; n < 200; n++) {
    const i = Math.floor(rand() * TENANTS);
    const t = tenants[i]!;
    const num = `+1555${String(i).padStart(5, '0')}${String(Math.floor(rand() * 1000)).padStart(3, '0')}`;
    const owner = tenants.find((x) => x.numbers.some((b) => numberInBlock(num, b)));
    assert.equal(c.tenantForNumber(num)?.id, owner?.id, num);
    assert.equal(c.route(t.id, '+1900123')?.routeName, naiveRoute(t, '+1900123', undefined));
    const ip = `10.${Math.floor(rand() * 120)}.3.4`;
    assert.deepEqual(
      c.trunksForSource(ip).map((x) => x.id),
      trunks.filter((x) => x.inbound?.sourceCidrs.some((cidr) => cidrContains(cidr, ip))).map((x) => x.id),
    );
  }
  console.log(
    `scale: ${TENANTS} tenants × 5 routes, 100 trunks: compile ${compileMs.toFixed(0)} ms; per lookup: ` +
      `tenantByFqdn ${timings.fqdnNs.toFixed(0)} ns, tenantForNumber ${timings.numberNs.toFixed(0)} ns, ` +
      `route ${timings.routeNs.toFixed(0)} ns (mean of prefix, source-conditional, default), ` +
      `trunksForSource ${timings.sourceNs.toFixed(0)} ns`,
  );
});
