// Signalling pools in the directory sources (local mode, mounted rendered config) and in shard assembly: a pod of
// pool P serves only P's tenants; trunks are shared. (The kubernetes source: kubernetes-pool.test.ts.)
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { validateRenderedConfig } from '../../../../crds/src/render/index.ts';
import {
  assembleConfig,
  MANIFEST_KEY,
  MANIFEST_NAME,
  shardConfig,
  shardPool,
} from '../../../../operator/src/render/shards.ts';
import { loadManifestConfig, ManifestDirectorySource, RenderedDirectorySource, type Snapshot } from './index.ts';
import { configForPool, validatePoolConfig } from './pool.ts';

const examples = join(import.meta.dirname, '..', '..', '..', '..', 'examples');
const BASE = 'sbc.example.net';
const temps: string[] = [];
after(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

/** The examples with fabrikam moved to the `regulated` pool. */
async function examplesWithRegulatedFabrikam(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-pool-'));
  temps.push(dir);
  const manifests = join(dir, 'manifests');
  await cp(examples, manifests, { recursive: true });
  const file = join(manifests, 'tenants.yaml');
  const text = await readFile(file, 'utf8');
  const moved = text.replace(
    '  fqdn: fabrikam.sbc.example.net\n',
    '  fqdn: fabrikam.sbc.example.net\n  signallingPool: regulated\n',
  );
  assert.notEqual(moved, text);
  await writeFile(file, moved);
  return manifests;
}

const ids = (s: { config: { tenants: { id: string }[] } }) => s.config.tenants.map((t) => t.id);

test('local mode: tenants of another pool are left out (one warning), not "excluded"', async () => {
  const manifests = await examplesWithRegulatedFabrikam();
  const all = await loadManifestConfig(manifests, { baseDomain: BASE, generatedAt: '2025-01-01T00:00:00Z' });
  assert.ok(all.ok);
  assert.deepEqual(ids(all), ['contoso/contoso', 'fabrikam/fabrikam']);

  const def = await loadManifestConfig(manifests, {
    baseDomain: BASE,
    generatedAt: '2025-01-01T00:00:00Z',
    signallingPool: 'default',
  });
  assert.ok(def.ok);
  assert.deepEqual(ids(def), ['contoso/contoso']);
  assert.deepEqual(def.excluded, { tenants: [], trunks: [] });
  assert.ok(
    def.problems.some(
      (p) => p.startsWith('warning: 1 tenant(s) of other signalling pools') && p.includes('fabrikam/fabrikam'),
    ),
  );
  assert.equal(def.config.trunks.length, all.config.trunks.length, 'trunks are shared');
  assert.equal(def.config.version, all.config.version, 'the version is the whole document’s');

  const reg = await loadManifestConfig(manifests, {
    baseDomain: BASE,
    generatedAt: '2025-01-01T00:00:00Z',
    signallingPool: 'regulated',
  });
  assert.ok(reg.ok);
  assert.deepEqual(ids(reg), ['fabrikam/fabrikam']);

  // A live tenant moving to another pool is not "taken out of service by errors": the load is not rejected.
  const moved = await loadManifestConfig(manifests, {
    baseDomain: BASE,
    generatedAt: '2025-01-01T00:00:00Z',
    signallingPool: 'default',
    previous: all.config,
  });
  assert.ok(moved.ok);

  const source = new ManifestDirectorySource(manifests, {
    baseDomain: BASE,
    signallingPool: 'regulated',
    pollIntervalMs: 0,
  });
  try {
    await source.start();
    const snap = source.current() as Snapshot;
    assert.deepEqual(ids(snap), ['fabrikam/fabrikam']);
    assert.ok(snap.compiled.tenantForNumber('+15551235001'), 'fabrikam’s numbers are served');
    assert.equal(snap.compiled.tenantForNumber('+15551230001'), undefined, 'contoso’s are not');
  } finally {
    await source.close();
  }
});

test('a mounted rendered config: the pool filter applies; unset = every pool', async () => {
  const manifests = await examplesWithRegulatedFabrikam();
  const all = await loadManifestConfig(manifests, { baseDomain: BASE, generatedAt: '2025-01-01T00:00:00Z' });
  assert.ok(all.ok);
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-pool-rendered-'));
  temps.push(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify(all.config));
  for (const [pool, want] of [
    ['default', ['contoso/contoso']],
    ['regulated', ['fabrikam/fabrikam']],
    ['elsewhere', []],
    [undefined, ['contoso/contoso', 'fabrikam/fabrikam']],
  ] as const) {
    const source = new RenderedDirectorySource(dir, { signallingPool: pool, pollIntervalMs: 0 });
    try {
      await source.start();
      assert.deepEqual(ids(source.current()!), want, String(pool));
    } finally {
      await source.close();
    }
  }
  assert.equal(configForPool(all.config, undefined), all.config);
});

test('shard assembly for one pool: other pools’ shards are neither needed nor read', async () => {
  const manifests = await examplesWithRegulatedFabrikam();
  const all = await loadManifestConfig(manifests, { baseDomain: BASE, generatedAt: '2025-01-01T00:00:00Z' });
  assert.ok(all.ok);
  const sharded = shardConfig(all.config);
  const poolOf = (name: string) =>
    sharded.shards.find((s) => s.name === name)?.labels['switchboard.dev/signalling-pool'];
  const manifest = JSON.parse(sharded.manifest.data[MANIFEST_KEY]!) as { shards: { name: string; pool?: string }[] };
  for (const ref of manifest.shards) assert.equal(ref.pool, poolOf(ref.name), ref.name);

  // Only the manifest, the trunk shards and the default pool's shards are present (what the pod's watches see).
  const visible = new Map(
    [sharded.manifest, ...sharded.shards]
      .filter((s) => poolOf(s.name) === undefined || poolOf(s.name) === 'default')
      .map((s) => [s.name, s.data]),
  );
  assert.equal(assembleConfig(visible.get(MANIFEST_NAME), visible).ok, false, 'all pools: waits for the rest');
  const res = assembleConfig(visible.get(MANIFEST_NAME), visible, { signallingPool: 'default' });
  assert.ok(res.ok);
  assert.deepEqual(ids(res), ['contoso/contoso']);
  assert.equal(res.config.trunks.length, all.config.trunks.length);
  // One pool's document fails the whole-document checks (version; a trunk reserving channels for fabrikam) but
  // passes the pool validation, with the trunks untouched: fabrikam's reservation still counts on the shared trunk.
  assert.equal(validateRenderedConfig(res.config).ok, false);
  const check = validatePoolConfig(res.config);
  assert.ok(check.ok, check.ok ? '' : check.errors.join('\n'));
  assert.equal(check.config, res.config);
  assert.ok(res.config.trunks.some((t) => t.sharing.reservations.some((r) => r.tenant === 'fabrikam/fabrikam')));
  // …but a trunk edited after rendering (its hash no longer matches) is still refused, as is a broken tenant.
  const tampered = structuredClone(res.config);
  const shared = tampered.trunks.find((t) => t.sharing.reservations.length > 0)!;
  shared.sharing.reservations[0]!.channels += 1;
  assert.equal(validatePoolConfig(tampered).ok, false);
  const badTenant = structuredClone(res.config);
  badTenant.tenants[0]!.fqdn = '';
  assert.equal(validatePoolConfig(badTenant).ok, false);

  // A manifest written before ShardRef.pool existed: the pool comes from the shard name.
  assert.equal(
    shardPool({ name: 'switchboard-config-tenants-eu-west-2-4-3', role: 'tenants', hash: '', documents: 1 }),
    'eu-west-2',
  );
  assert.equal(shardPool({ name: 'switchboard-config-trunks-1-0', role: 'trunks', hash: '', documents: 1 }), undefined);
  const legacy = JSON.parse(sharded.manifest.data[MANIFEST_KEY]!) as { shards: { pool?: string }[] };
  for (const ref of legacy.shards) delete ref.pool;
  const legacyData = { [MANIFEST_KEY]: JSON.stringify(legacy) };
  const reg = new Map(sharded.shards.filter((s) => poolOf(s.name) !== 'default').map((s) => [s.name, s.data] as const));
  const res2 = assembleConfig(legacyData, reg, { signallingPool: 'regulated' });
  assert.ok(res2.ok);
  assert.deepEqual(ids(res2), ['fabrikam/fabrikam']);
});
