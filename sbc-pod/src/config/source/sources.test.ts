import assert from 'node:assert/strict';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { RenderedConfig } from '../../../../crds/src/render/config-types.ts';
import {
  type CheckResult,
  loadManifestConfig,
  ManifestDirectorySource,
  type Rejection,
  RenderedDirectorySource,
  type Snapshot,
} from './index.ts';

const examples = join(import.meta.dirname, '..', '..', '..', '..', 'examples');
const BASE = 'sbc.example.net';
const WAIT_MS = 15_000;
const temps: string[] = [];

after(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-config-'));
  temps.push(dir);
  return dir;
}

async function copyExamples(): Promise<string> {
  const dir = await tempDir();
  await cp(examples, join(dir, 'manifests'), { recursive: true });
  return join(dir, 'manifests');
}

/** Wait for one event, bounded. */
async function next<T>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  const [value] = await once(emitter, event, { signal: AbortSignal.timeout(WAIT_MS) });
  return value as T;
}

/** Wait for a snapshot satisfying `pred` (earlier snapshots of a burst are skipped), bounded. */
async function snapshotWhere(source: NodeJS.EventEmitter, pred: (s: Snapshot) => boolean): Promise<Snapshot> {
  const signal = AbortSignal.timeout(WAIT_MS);
  for (;;) {
    const [s] = (await once(source, 'snapshot', { signal })) as [Snapshot];
    if (pred(s)) return s;
  }
}

/** Wait for a rejection satisfying `pred`, bounded. */
async function rejectedWhere(source: NodeJS.EventEmitter, pred: (r: Rejection) => boolean): Promise<Rejection> {
  const signal = AbortSignal.timeout(WAIT_MS);
  for (;;) {
    const [r] = (await once(source, 'rejected', { signal })) as [Rejection];
    if (pred(r)) return r;
  }
}

/** Wait for a load attempt with this outcome, bounded. */
async function checkedWhere(source: NodeJS.EventEmitter, outcome: CheckResult['outcome']): Promise<CheckResult> {
  const signal = AbortSignal.timeout(WAIT_MS);
  for (;;) {
    const [c] = (await once(source, 'checked', { signal })) as [CheckResult];
    if (c.outcome === outcome) return c;
  }
}

function counter(source: NodeJS.EventEmitter, event: string): { count: number } {
  const c = { count: 0 };
  source.on(event, () => c.count++);
  return c;
}

const limitsOf = (s: Snapshot | undefined, id: string) => s?.compiled.tenantById(id)?.limits.callsPerSecond;

test('manifest directory: initial load, edit → new snapshot, identical content → none', async (t) => {
  const dir = await copyExamples();
  const source = new ManifestDirectorySource(dir, { baseDomain: BASE, debounceMs: 50 });
  t.after(() => source.close());
  const snapshots = counter(source, 'snapshot');
  await source.start();
  const first = source.current();
  assert.ok(first, 'a snapshot after start()');
  assert.equal(snapshots.count, 1);
  assert.equal(first.origin, `manifests:${dir}`);
  assert.deepEqual(
    first.config.tenants.map((x) => x.id),
    ['contoso/contoso', 'fabrikam/fabrikam'],
  );
  assert.deepEqual(first.excluded, { tenants: [], trunks: [] });
  assert.equal(limitsOf(first, 'contoso/contoso'), 10);

  const file = join(dir, 'tenants.yaml');
  const original = await readFile(file, 'utf8');
  const edited = original.replace('callsPerSecond: 10', 'callsPerSecond: 20');
  assert.notEqual(edited, original);
  // In place (truncate, then write): the empty moment in between must not go live.
  const changed = snapshotWhere(source, (x) => x.config.version !== first.config.version);
  await writeFile(file, edited);
  const second = await changed;
  assert.notEqual(second.config.version, first.config.version);
  assert.equal(limitsOf(second, 'contoso/contoso'), 20);
  assert.equal(source.current(), second);

  // Same bytes again: the watcher fires, the load finds the same version, nothing is emitted.
  const count = snapshots.count;
  const checked = checkedWhere(source, 'unchanged');
  await writeFile(file, edited);
  assert.deepEqual(await checked, { outcome: 'unchanged', version: second.config.version });
  assert.deepEqual(await source.reload(), { outcome: 'unchanged', version: second.config.version });
  assert.equal(snapshots.count, count);
  assert.equal(source.current(), second);
});

test('manifest directory: invalid edit → rejected, last good stays; the fix goes live', async (t) => {
  const dir = await copyExamples();
  const source = new ManifestDirectorySource(dir, { baseDomain: BASE, debounceMs: 50 });
  t.after(() => source.close());
  await source.start();
  const good = source.current()!;
  const file = join(dir, 'trunks.yaml');
  const original = await readFile(file, 'utf8');

  const rejected = rejectedWhere(source, (x) => /could not be read or parsed/.test(x.reason));
  await writeFile(file, `${original}\n---\nkind: [unclosed\n`);
  const r = await rejected;
  assert.ok(
    r.problems.some((p) => p.startsWith(`${file}#`) && p.includes('YAML')),
    r.problems.join('\n'),
  );
  assert.equal(source.current(), good);
  assert.equal((await source.reload()).outcome, 'rejected');

  const fixed = snapshotWhere(source, (x) => x.compiled.trunkById('carriers/trunk-1')?.capacity.channels === 300);
  await writeFile(file, original.replace('channels: 200', 'channels: 300'));
  await fixed;
});

test('manifest directory: a bad new tenant is reported and left out; breaking a live tenant is rejected', async (t) => {
  const dir = await copyExamples();
  const source = new ManifestDirectorySource(dir, { baseDomain: BASE, debounceMs: 50 });
  t.after(() => source.close());
  await source.start();
  const good = source.current()!;

  const extra = join(dir, 'more', 'northwind.yaml');
  await mkdir(join(dir, 'more'));
  const partial = snapshotWhere(source, (x) => x.excluded.tenants.length > 0);
  await writeFile(
    extra,
    [
      'apiVersion: switchboard.dev/v1alpha1',
      'kind: Tenant',
      'metadata: { name: northwind, namespace: fabrikam }',
      'spec:',
      '  fqdn: northwind.sbc.example.net',
      '  certificate: { mode: Wildcard }',
      '  limits: { callsPerSecond: 1, maxConcurrentCalls: 2 }',
      '  routePolicyRef: { name: missing-policy }',
      '  billing: { accountId: NW-1 }',
      '',
    ].join('\n'),
  );
  const s = await partial;
  assert.deepEqual(s.excluded.tenants, ['fabrikam/northwind']);
  assert.deepEqual(
    s.config.tenants.map((x) => x.id),
    ['contoso/contoso', 'fabrikam/fabrikam'],
  );
  assert.ok(
    s.problems.some((p) => p.startsWith(`${extra}#1 Tenant fabrikam/northwind: spec.routePolicyRef`)),
    s.problems.join('\n'),
  );
  // The snapshot differs only in nothing that renders: same tenants and trunks → same version.
  assert.equal(s.config.version, good.config.version);

  // Now break a live tenant: the whole edit is refused.
  const tenants = join(dir, 'tenants.yaml');
  const rejected = rejectedWhere(source, (x) => /out of service/.test(x.reason));
  await writeFile(
    tenants,
    (await readFile(tenants, 'utf8')).replace('routePolicyRef: { name: contoso }', 'routePolicyRef: { name: nope }'),
  );
  const r = await rejected;
  assert.match(r.reason, /live contoso\/contoso out of service/);
  assert.ok(
    r.problems.some((p) => p.includes('Tenant contoso/contoso') && p.includes('routePolicyRef')),
    r.problems.join('\n'),
  );
  assert.equal(source.current(), s);
});

test('manifest directory: replacement by rename (editor style) is seen', async (t) => {
  const dir = await copyExamples();
  const source = new ManifestDirectorySource(dir, { baseDomain: BASE, debounceMs: 50 });
  t.after(() => source.close());
  await source.start();
  const file = join(dir, 'tenants.yaml');
  const tmp = join(dir, '.tenants.yaml.swp');
  await writeFile(tmp, (await readFile(file, 'utf8')).replace('maxConcurrentCalls: 40', 'maxConcurrentCalls: 41'));
  const changed = snapshotWhere(
    source,
    (s) => s.compiled.tenantById('fabrikam/fabrikam')?.limits.maxConcurrentCalls === 41,
  );
  await rename(tmp, file);
  await changed;
});

test('manifest file: SWITCHBOARD_MANIFESTS is one file, replaced twice by rename (the watch never goes deaf)', async (t) => {
  const dir = await tempDir();
  const parts: string[] = [];
  for (const name of (await readdir(examples)).filter((n) => n.endsWith('.yaml')).sort()) {
    parts.push(await readFile(join(examples, name), 'utf8'));
  }
  const all = parts.join('\n---\n');
  const file = join(dir, 'switchboard.yaml');
  await writeFile(file, all);
  const source = new ManifestDirectorySource(file, { baseDomain: BASE, debounceMs: 50 });
  t.after(() => source.close());
  await source.start();
  assert.equal(source.current()?.config.tenants.length, 2);
  for (const cps of [7, 8]) {
    const tmp = join(dir, `switchboard.yaml.${cps}.tmp`);
    await writeFile(tmp, all.replace('callsPerSecond: 5', `callsPerSecond: ${cps}`));
    const changed = snapshotWhere(source, (s) => limitsOf(s, 'fabrikam/fabrikam') === cps);
    await rename(tmp, file);
    await changed;
  }
});

test('manifest directory: a missing path is rejected, then picked up when it appears', async (t) => {
  const root = await tempDir();
  const dir = join(root, 'later');
  const source = new ManifestDirectorySource(dir, { baseDomain: BASE, debounceMs: 50 });
  t.after(() => source.close());
  const rejected = next<Rejection>(source, 'rejected');
  await source.start();
  assert.match((await rejected).problems.join('\n'), /ENOENT/);
  assert.equal(source.current(), undefined);
  // The parent directory is watched while the path does not exist.
  // cp writes file by file: intermediate worlds may go live on the way; the complete one must arrive.
  const appeared = snapshotWhere(source, (s) => s.config.tenants.length === 2);
  await cp(examples, dir, { recursive: true });
  await appeared;
});

test('certificate provider: asked on every load; its entries ride on the snapshot', async (t) => {
  const dir = await copyExamples();
  const calls: string[] = [];
  const source = new ManifestDirectorySource(dir, {
    baseDomain: BASE,
    debounceMs: 50,
    certificates: (config) => {
      calls.push(config.version);
      return [{ certPem: `cert-${config.version}`, keyPem: 'key', default: true }];
    },
  });
  t.after(() => source.close());
  await source.start();
  const first = source.current()!;
  assert.deepEqual(first.certificates, [{ certPem: `cert-${first.config.version}`, keyPem: 'key', default: true }]);
  // Asked again on every load (renewals); the same certificates → no new snapshot.
  assert.deepEqual(await source.reload(), { outcome: 'unchanged', version: first.config.version });
  assert.deepEqual(calls, [first.config.version, first.config.version]);
  assert.equal(source.current(), first);
});

// --- Rendered config directory, kubelet AtomicWriter layout --------------------------------------------------------

async function renderedVersions(): Promise<[RenderedConfig, RenderedConfig]> {
  const a = await loadManifestConfig(examples, { baseDomain: BASE, generatedAt: '2025-01-01T00:00:00.000Z' });
  const dir = await copyExamples();
  const file = join(dir, 'tenants.yaml');
  await writeFile(file, (await readFile(file, 'utf8')).replace('callsPerSecond: 10', 'callsPerSecond: 99'));
  const b = await loadManifestConfig(dir, { baseDomain: BASE, generatedAt: '2025-01-02T00:00:00.000Z' });
  assert.ok(a.ok && b.ok);
  return [a.config, b.config];
}

/** What kubelet's AtomicWriter does for a ConfigMap volume update. */
async function atomicWrite(dir: string, files: Record<string, string>, stamp: string): Promise<void> {
  const ts = `..${stamp}`;
  await mkdir(join(dir, ts));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, ts, name), content);
  const entries = await readdir(dir);
  const old = entries.includes('..data')
    ? await import('node:fs/promises').then((fs) => fs.readlink(join(dir, '..data')))
    : undefined;
  await symlink(ts, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (!entries.includes(name)) await symlink(join('..data', name), join(dir, name));
  }
  if (old) await rm(join(dir, old), { recursive: true, force: true });
}

test('rendered directory: AtomicWriter ..data swap is seen; a bad document is rejected', async (t) => {
  const [v1, v2] = await renderedVersions();
  const dir = await tempDir();
  await atomicWrite(dir, { 'config.json': JSON.stringify(v1) }, '2025_01_01_00_00_00.000000001');
  const source = new RenderedDirectorySource(dir, { debounceMs: 50 });
  t.after(() => source.close());
  await source.start();
  assert.equal(source.current()?.config.version, v1.version);
  assert.equal(source.current()?.origin, `rendered:${join(dir, 'config.json')}`);

  const swapped = next<Snapshot>(source, 'snapshot');
  await atomicWrite(dir, { 'config.json': JSON.stringify(v2) }, '2025_01_01_00_01_00.000000002');
  const s = await swapped;
  assert.equal(s.config.version, v2.version);
  assert.equal(limitsOf(s, 'contoso/contoso'), 99);

  // A tampered document (hash no longer matches) is refused; the good one stays.
  const tampered = structuredClone(v2);
  tampered.tenants[0]!.limits.callsPerSecond = 1000;
  const rejected = next<Rejection>(source, 'rejected');
  await atomicWrite(dir, { 'config.json': JSON.stringify(tampered) }, '2025_01_01_00_02_00.000000003');
  const r = await rejected;
  assert.match(r.reason, /not a valid rendered config/);
  assert.ok(
    r.problems.some((p) => p.includes('hash')),
    r.problems.join('\n'),
  );
  assert.equal(source.current(), s);

  const notJson = next<Rejection>(source, 'rejected');
  await atomicWrite(dir, { 'config.json': '{"apiVersion": ' }, '2025_01_01_00_03_00.000000004');
  assert.match((await notJson).reason, /is not JSON/);

  // Back to v1: goes live again.
  const back = next<Snapshot>(source, 'snapshot');
  await atomicWrite(dir, { 'config.json': JSON.stringify(v1) }, '2025_01_01_00_04_00.000000005');
  assert.equal((await back).config.version, v1.version);
});

test('rendered directory: a burst of writes is coalesced and ends on the last content', async (t) => {
  const [v1, v2] = await renderedVersions();
  const dir = await tempDir();
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify(v1));
  const source = new RenderedDirectorySource(dir, { debounceMs: 100 });
  t.after(() => source.close());
  await source.start();
  const snapshots = counter(source, 'snapshot');
  const done = snapshotWhere(source, (s) => s.config.version === v2.version);
  for (let i = 0; i < 20; i++) await writeFile(file, JSON.stringify(i % 2 === 0 ? v1 : v2));
  await done;
  // Whatever the timing, the result is v2; far fewer loads than writes ran (not asserted exactly: timing).
  assert.ok(snapshots.count >= 1);
  assert.equal(source.current()?.config.version, v2.version);
});
