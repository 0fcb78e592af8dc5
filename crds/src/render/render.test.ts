// Golden tests: testdata/<name>.in.yaml → render → testdata/<name>.out.json (UPDATE_GOLDEN=1 rewrites the goldens).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RoutePolicy } from '../api/route-policy.ts';
import type { Tenant } from '../api/tenant.ts';
import type { Trunk } from '../api/trunk.ts';
import { formatProblem, loadManifests, type NamespaceInfo, type World } from '../manifests/index.ts';
import { type RenderedConfig, type RenderOptions, render, validateRenderedConfig } from './index.ts';

const testdata = join(import.meta.dirname, 'testdata');
const examples = join(import.meta.dirname, '..', '..', '..', 'examples');
const GENERATED_AT = '2025-01-01T00:00:00.000Z';

/** The raw world (no pre-validation: the renderer must cope with bad objects itself). */
async function rawWorld(paths: string[]): Promise<World> {
  const loaded = await loadManifests(paths);
  assert.deepEqual(loaded.problems, []);
  const world = {
    tenants: [] as Tenant[],
    trunks: [] as Trunk[],
    routePolicies: [] as RoutePolicy[],
    namespaces: [] as NamespaceInfo[],
  };
  for (const { object } of loaded.objects) {
    const meta = object.metadata as { name: string; labels?: Record<string, string> };
    if (object.kind === 'Tenant') world.tenants.push(object as unknown as Tenant);
    else if (object.kind === 'Trunk') world.trunks.push(object as unknown as Trunk);
    else if (object.kind === 'RoutePolicy') world.routePolicies.push(object as unknown as RoutePolicy);
    else if (object.kind === 'Namespace') world.namespaces.push({ name: meta.name, labels: meta.labels ?? {} });
  }
  return world;
}

function optionsFor(file: string): RenderOptions {
  const base = /^# base-domain: (.*)$/m.exec(readFileSync(file, 'utf8'))?.[1]?.trim();
  return { generatedAt: GENERATED_AT, ...(base ? { baseDomain: base } : {}) };
}

const cases = readdirSync(testdata)
  .filter((f) => f.endsWith('.in.yaml'))
  .sort()
  .map((f) => f.slice(0, -'.in.yaml'.length));

for (const name of cases) {
  test(`golden: ${name}.in.yaml → ${name}.out.json`, async () => {
    const input = join(testdata, `${name}.in.yaml`);
    const result = render(await rawWorld([input]), optionsFor(input));
    const out = `${JSON.stringify({ ...result, problems: result.problems.map(formatProblem) }, null, 2)}\n`;
    const golden = join(testdata, `${name}.out.json`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, out);
    assert.equal(out, readFileSync(golden, 'utf8'), `${name}: rendered output differs (UPDATE_GOLDEN=1 to accept)`);
    const check = validateRenderedConfig(JSON.parse(out).snapshot);
    assert.ok(check.ok, check.ok ? '' : check.errors.join('\n'));
  });
}

test('testdata/provider.in.yaml is the shipped examples', async () => {
  const a = render(await rawWorld([examples]), { generatedAt: GENERATED_AT, baseDomain: 'sbc.example.net' });
  const b = render(await rawWorld([join(testdata, 'provider.in.yaml')]), {
    generatedAt: GENERATED_AT,
    baseDomain: 'sbc.example.net',
  });
  assert.deepEqual(a.problems, []);
  assert.equal(a.snapshot.version, b.snapshot.version, 'copy examples/*.yaml into testdata/provider.in.yaml');
});

test('examples: fabrikam has no +44 route and cannot reach the trunk dedicated to contoso', async () => {
  const { snapshot } = render(await rawWorld([examples]), { generatedAt: GENERATED_AT });
  const fabrikam = snapshot.tenants.find((t) => t.id === 'fabrikam/fabrikam')!;
  const contoso = snapshot.tenants.find((t) => t.id === 'contoso/contoso')!;
  assert.deepEqual(
    contoso.routing.routes.map((r) => [
      r.match.destinationPrefix,
      r.action.type === 'Route' ? r.action.trunks : r.action.sipCode,
    ]),
    [
      ['+1555', ['carriers/trunk-1']],
      ['+44', ['carriers/international-trunk']],
    ],
  );
  assert.deepEqual(
    fabrikam.routing.routes.map((r) => r.match.destinationPrefix),
    ['+1555'],
  );
  assert.deepEqual(fabrikam.routing.defaultAction, { type: 'Block', sipCode: 403, reason: 'No route' });
  const intl = snapshot.trunks.find((t) => t.id === 'carriers/international-trunk')!;
  assert.deepEqual(intl.sharing.allowedTenants, ['contoso/contoso']);
});

test('determinism: input order does not matter, generatedAt does not change the version, content does', async () => {
  const world = await rawWorld([examples]);
  const a = render(world, { generatedAt: GENERATED_AT });
  const shuffled: World = {
    tenants: [...world.tenants].reverse(),
    trunks: [...world.trunks].reverse(),
    routePolicies: [...world.routePolicies].reverse(),
    namespaces: [...(world.namespaces ?? [])].reverse(),
  };
  const b = render(shuffled, { generatedAt: '2030-06-01T12:00:00.000Z' });
  assert.equal(a.snapshot.version, b.snapshot.version);
  assert.deepEqual({ ...a.snapshot, generatedAt: '' }, { ...b.snapshot, generatedAt: '' });
  const changed = structuredClone(world.tenants as Tenant[]);
  changed[0]!.spec.limits.callsPerSecond += 1;
  const c = render({ ...world, tenants: changed }, { generatedAt: GENERATED_AT });
  assert.notEqual(c.snapshot.version, a.snapshot.version);
  const changedId = changed[0]!.metadata.namespace + '/' + changed[0]!.metadata.name;
  for (const t of c.snapshot.tenants) {
    const before = a.snapshot.tenants.find((x) => x.id === t.id)!;
    assert.equal(t.hash === before.hash, t.id !== changedId, `${t.id} hash changes only when its document does`);
  }
  // the world is not modified by rendering (defaults are applied to copies)
  assert.equal(
    (world.trunks[0]!.spec as { healthCheck?: { failureThreshold?: number } }).healthCheck?.failureThreshold,
    undefined,
  );
});

test('validateRenderedConfig refuses broken or tampered snapshots with a precise reason', async () => {
  const { snapshot } = render(await rawWorld([examples]), { generatedAt: GENERATED_AT });
  const fresh = (): RenderedConfig => structuredClone(snapshot);
  assert.ok(validateRenderedConfig(fresh()).ok);
  const bad = (mutate: (c: RenderedConfig) => void): string[] => {
    const c = fresh();
    mutate(c);
    const r = validateRenderedConfig(c);
    assert.ok(!r.ok);
    return r.errors;
  };
  assert.deepEqual(validateRenderedConfig(null), { ok: false, errors: ['$: must be an object'] });
  assert.match(
    bad((c) => ((c as { apiVersion: string }).apiVersion = 'switchboard.dev/config-v0'))[0]!,
    /^apiVersion: must be one of/,
  );
  assert.deepEqual(
    bad((c) => (c.tenants[0]!.limits.callsPerSecond = 999)),
    ['tenants[0].hash: does not match the document'],
  );
  assert.deepEqual(
    bad((c) => {
      c.tenants[0]!.routing.routes[0]!.action = { type: 'Route', trunks: ['carriers/nope'], translate: null };
    }).filter((e) => !e.endsWith('does not match the document')),
    ['tenants[0].routing.routes[0].action.trunks[0]: unknown trunk carriers/nope'],
  );
  assert.deepEqual(bad((c) => c.trunks.pop()).filter((e) => e.includes('unknown trunk carriers/trunk-1')).length, 2);
  assert.deepEqual(
    bad((c) => (c.version = '0000000000000000')),
    ['version: does not match the content (corrupted or edited snapshot)'],
  );
  assert.deepEqual(
    bad((c) => (c.tenants[1] = c.tenants[0]!)),
    [
      'tenants[1].id: duplicate id contoso/contoso',
      'tenants[1].fqdn: duplicate fqdn contoso.sbc.example.net',
      'trunks[1].sharing.allowedTenants[1]: unknown tenant fabrikam/fabrikam',
      'trunks[1].sharing.reservations[1].tenant: unknown tenant fabrikam/fabrikam',
    ],
  );
  assert.match(
    bad((c) => ((c.tenants[0] as { fqdn: unknown }).fqdn = 7)).join('\n'),
    /tenants\[0\]\.fqdn: must be a string/,
  );
});
