// Sharding: round trip, size budget, stable placement, and the 10,000-tenant figures (printed, not asserted).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { render, validateRenderedConfig } from '../../../crds/src/render/index.ts';
import { syntheticWorld } from '../testing/synthetic-world.ts';
import { assembleConfig, configMapBytes, DEFAULT_MAX_BYTES, MANIFEST_NAME, shardConfig } from './shards.ts';
import { carryOver, localiseSecrets } from './world.ts';

const world = syntheticWorld;

const OPTS = { generatedAt: '2026-01-01T00:00:00Z', baseDomain: 'sbc.example.net' };

function assemble(sharded: ReturnType<typeof shardConfig>) {
  const byName = new Map([sharded.manifest, ...sharded.shards].map((s) => [s.name, s.data]));
  return assembleConfig(byName.get(MANIFEST_NAME), byName);
}

test('shards round-trip to the same validated config, within the byte budget', () => {
  const { snapshot, problems } = render(world(200), OPTS);
  assert.deepEqual(
    problems.filter((p) => p.severity === 'error'),
    [],
  );
  const config = localiseSecrets(snapshot, 'switchboard-system');
  const sharded = shardConfig(config, { maxBytes: 16 * 1024 });
  assert.ok(sharded.shards.length > 2, `${sharded.shards.length} shards`);
  for (const s of sharded.shards) assert.ok(configMapBytes(s.data) <= 16 * 1024, s.name);
  assert.ok(sharded.shards.some((s) => s.name.startsWith('switchboard-config-tenants-gold-')));
  const back = assemble(sharded);
  assert.ok(back.ok);
  assert.deepEqual(back.config, config);
  assert.ok(validateRenderedConfig(back.config).ok);
});

test('a tenant change rewrites one shard and the manifest; a missing or stale shard is "pending"', () => {
  const w = world(200);
  const a = shardConfig(render(w, OPTS).snapshot, { maxBytes: 16 * 1024 });
  w.tenants[7] = {
    ...w.tenants[7]!,
    spec: { ...w.tenants[7]!.spec, limits: { callsPerSecond: 99, maxConcurrentCalls: 100 } },
  };
  const b = shardConfig(render(w, OPTS).snapshot, { maxBytes: 16 * 1024 });
  const before = new Map(a.shards.map((s) => [s.name, s.hash]));
  const changed = b.shards.filter((s) => before.get(s.name) !== s.hash);
  assert.equal(changed.length, 1);
  assert.notEqual(a.manifest.hash, b.manifest.hash);
  // The new manifest with an old shard: not assembled (pending), never mixed.
  const mixed = new Map([b.manifest, ...a.shards].map((s) => [s.name, s.data]));
  const res = assembleConfig(mixed.get(MANIFEST_NAME), mixed);
  assert.equal(res.ok, false);
  assert.equal(!res.ok && res.pending, true);
  // An unchanged world re-rendered at another time writes nothing.
  const c = shardConfig(render(w, { ...OPTS, generatedAt: '2027-01-01T00:00:00Z' }).snapshot, { maxBytes: 16 * 1024 });
  assert.equal(c.manifest.hash, b.manifest.hash);
});

test('an excluded live tenant keeps its previous document', () => {
  const w = world(5);
  const prev = render(w, OPTS).snapshot;
  const broken = { ...w, routePolicies: w.routePolicies.filter((p) => p.metadata.name !== 't3') };
  const next = render(broken, OPTS).snapshot;
  assert.equal(
    next.tenants.some((t) => t.id === 't3/t3'),
    false,
  );
  const live = new Set(w.tenants.map((t) => `${t.metadata.namespace}/${t.metadata.name}`));
  const { config, carried } = carryOver(next, prev, live);
  assert.deepEqual(carried, ['t3/t3']);
  assert.ok(validateRenderedConfig(config).ok);
  // A deleted one is not carried.
  live.delete('t3/t3');
  assert.deepEqual(carryOver(next, prev, live).carried, []);
});

test('10,000 tenants: render + shard figures (printed)', () => {
  const w = world(10_000);
  const t0 = performance.now();
  const { snapshot } = render(w, OPTS);
  const t1 = performance.now();
  const config = localiseSecrets(snapshot, 'switchboard-system');
  const sharded = shardConfig(config);
  const t2 = performance.now();
  const sizes = [sharded.manifest, ...sharded.shards].map((s) => configMapBytes(s.data));
  const total = sizes.reduce((a, b) => a + b, 0);
  console.log(
    `# 10,000 tenants: render ${(t1 - t0).toFixed(0)} ms, localise+shard ${(t2 - t1).toFixed(0)} ms; ` +
      `${sizes.length} ConfigMaps, ${(total / 1024 / 1024).toFixed(1)} MiB total, largest ${(Math.max(...sizes) / 1024).toFixed(0)} KiB, ` +
      `manifest ${(sizes[0]! / 1024).toFixed(1)} KiB`,
  );
  assert.equal(config.tenants.length, 10_000);
  for (const s of sizes) assert.ok(s <= DEFAULT_MAX_BYTES);
  const t3 = performance.now();
  const back = assemble(sharded);
  const t4 = performance.now();
  assert.ok(back.ok);
  console.log(`# 10,000 tenants: assemble from ConfigMaps ${(t4 - t3).toFixed(0)} ms`);
});
