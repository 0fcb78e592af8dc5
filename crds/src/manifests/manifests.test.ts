import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { allCelRules } from '../api/kinds.ts';
import type { Tenant } from '../api/tenant.ts';
import { checkNumberOverlaps, formatProblem, loadManifests, validateManifests, validatePaths } from './index.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const invalidDir = join(import.meta.dirname, 'testdata', 'invalid');
const rel = (p: string) => relative(root, p);

test('every shipped example validates with no problems (and the expected world)', async () => {
  const result = await validatePaths([join(root, 'examples')], { baseDomain: 'sbc.example.net' });
  assert.deepEqual(result.problems.map(formatProblem), []);
  const ids = (xs: readonly { metadata: { namespace?: string; name: string } }[]) =>
    xs.map((x) => `${x.metadata.namespace}/${x.metadata.name}`).sort();
  assert.deepEqual(ids(result.world.tenants), ['contoso/contoso', 'fabrikam/fabrikam']);
  assert.deepEqual(ids(result.world.trunks), ['carriers/international-trunk', 'carriers/trunk-1']);
  assert.deepEqual(ids(result.world.routePolicies), ['contoso/contoso', 'fabrikam/fabrikam']);
  const sharing = result.world.trunks.map((t) => t.spec.sharing.mode).sort();
  assert.deepEqual(sharing, ['Dedicated', 'Shared']);
});

interface Fixture {
  file: string;
  references: boolean;
  baseDomain?: string;
  errors: string[];
  warnings: string[];
}

function readFixture(file: string): Fixture {
  const text = readFileSync(file, 'utf8');
  const header = (key: string) => [...text.matchAll(new RegExp(`^# ${key}: (.*)$`, 'gm'))].map((m) => m[1]!.trim());
  const fixture: Fixture = {
    file,
    references: header('references')[0] !== 'off',
    errors: header('expect'),
    warnings: header('expect-warning'),
  };
  const base = header('base-domain')[0];
  if (base) fixture.baseDomain = base;
  return fixture;
}

const fixtures = readdirSync(invalidDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => readFixture(join(invalidDir, f)));

for (const fx of fixtures) {
  test(`invalid fixture ${rel(fx.file)} reports exactly its expected problems`, async () => {
    const opts = { references: fx.references, ...(fx.baseDomain ? { baseDomain: fx.baseDomain } : {}) };
    const result = await validatePaths([rel(fx.file)], opts);
    for (const severity of ['error', 'warning'] as const) {
      const got = result.problems.filter((p) => p.severity === severity).map(formatProblem);
      const want = severity === 'error' ? fx.errors : fx.warnings;
      for (const line of got)
        assert.ok(line.startsWith(`${severity === 'warning' ? 'warning: ' : ''}${rel(fx.file)}#`), line);
      for (const w of want)
        assert.ok(
          got.some((g) => g.includes(w)),
          `missing ${severity}: ${w}\ngot:\n${got.join('\n')}`,
        );
      assert.equal(got.length, want.length, `${severity} count; got:\n${got.join('\n')}`);
    }
  });
}

test('every CEL rule is violated (through its TS twin) by at least one invalid fixture', async () => {
  const fired = new Set<string>();
  for (const fx of fixtures) {
    const result = await validatePaths([fx.file], { references: false });
    for (const p of result.problems) if (p.rule) fired.add(p.rule);
  }
  const missing = allCelRules().filter((r) => !fired.has(r.rule));
  assert.deepEqual(
    missing.map((r) => `${r.kind} ${r.path}: ${r.rule}`),
    [],
    'add an invalid fixture that breaks these rules',
  );
});

test('loader: directories recurse in order; hidden entries and kustomization.yaml are skipped; Lists expand', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-manifests-'));
  try {
    mkdirSync(join(dir, 'sub'));
    mkdirSync(join(dir, '..data'));
    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: { name: b }\n');
    writeFileSync(join(dir, 'sub', 'a.yml'), '---\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n');
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [b.yaml]\n');
    writeFileSync(join(dir, '..data', 'x.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: { name: hidden }\n');
    writeFileSync(join(dir, 'notes.txt'), 'not yaml: [');
    writeFileSync(
      join(dir, 'list.json'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'l' } }],
      }),
    );
    const loaded = await loadManifests([dir]);
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual(
      loaded.objects.map((o) => [
        relative(dir, o.source.file),
        o.source.index,
        (o.object.metadata as { name: string }).name,
      ]),
      [
        ['b.yaml', 1, 'b'],
        ['list.json', 1, 'l'],
        [join('sub', 'a.yml'), 2, 'a'],
      ],
    );
    const missing = await loadManifests([join(dir, 'nope.yaml')]);
    assert.match(formatProblem(missing.problems[0]!), /nope\.yaml: cannot read: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('duplicate objects are reported at the second definition', () => {
  const ns = { apiVersion: 'switchboard.dev/v1alpha1', kind: 'RoutePolicy', metadata: { name: 'p', namespace: 'a' } };
  const obj = { ...ns, spec: { defaultAction: { block: {} } } };
  const result = validateManifests(
    [
      { source: { file: 'x.yaml', index: 1 }, object: obj },
      { source: { file: 'y.yaml', index: 3 }, object: obj },
    ],
    { references: false },
  );
  assert.deepEqual(result.problems.map(formatProblem), [
    'y.yaml#3 RoutePolicy a/p: duplicate object (first defined at x.yaml#1)',
  ]);
  assert.equal(result.world.routePolicies.length, 1);
});

test('number overlap check stays fast at 10,000 tenants', () => {
  const tenants: Tenant[] = [];
  for (let i = 0; i < 10_000; i++) {
    const base = 15550000000 + i * 100;
    tenants.push({
      apiVersion: 'switchboard.dev/v1alpha1',
      kind: 'Tenant',
      metadata: { name: `t${i}`, namespace: `t${i}` },
      spec: {
        fqdn: `t${i}.sbc.example.net`,
        certificate: { mode: 'Wildcard' },
        numbers: [`+${base}-+${base + 99}`, `+44${20000000 + i}*`],
        limits: { callsPerSecond: 1, maxConcurrentCalls: 1 },
        routePolicyRef: { name: 'p' },
        billing: { accountId: `${i}` },
      },
    });
  }
  tenants[5_000]!.spec.numbers!.push('+15550000050');
  const problems = checkNumberOverlaps({ tenants, trunks: [], routePolicies: [] });
  assert.deepEqual(
    problems.map((p) => `${p.namespace}/${p.name} ${p.path}: ${p.message}`),
    ['t5000/t5000 spec.numbers[2]: +15550000050 overlaps +15550000000-+15550000099 of Tenant t0/t0'],
  );
});
