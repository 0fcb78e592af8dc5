import { render, validateRenderedConfig } from '../../crds/src/render/index.ts';
import { compileConfig } from '../../sbc-pod/src/config/compiled.ts';
import { KubernetesSource } from '../../sbc-pod/src/config/source/kubernetes.ts';
import { validatePoolConfig } from '../../sbc-pod/src/config/source/pool.ts';
import type { Snapshot } from '../../sbc-pod/src/config/source/types.ts';
import { runOperator } from '../src/main.ts';
import { assembleConfig, configMapBytes, MANIFEST_NAME, shardConfig } from '../src/render/shards.ts';
import { localiseSecrets } from '../src/render/world.ts';
import { apply, ensureNamespace, eventually, startTestCluster } from '../src/testing/cluster.ts';
import { applyExamples, operatorKubeConfig, routePolicy, SYS, tenant } from '../src/testing/fixtures.ts';
import { syntheticWorld } from '../src/testing/synthetic-world.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const noCluster = process.argv.includes('--no-cluster');

interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
}
const figures: Figure[] = [];
function figure(name: string, value: number, unit: string, human?: string): void {
  const v = Math.round(value * 10) / 10;
  figures.push({ name, value: v, unit, baseline: null, ratio: null });
  if (!json && human !== '') console.log(human ?? `${name}: ${v.toLocaleString('en')} ${unit}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function time<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

// ---- 1. onboarding latency on a real apiserver ----

async function onboarding(rounds: number): Promise<void> {
  const c = await startTestCluster({ certManager: true });
  const opKc = await operatorKubeConfig(c);
  const podKc = await operatorKubeConfig(c, 'sbc-pod.yaml', 'switchboard-sbc');
  const op = runOperator({
    kubeConfig: opKc,
    systemNamespace: SYS,
    baseDomain: 'sbc.example.net',
    identity: 'bench',
    log: () => {},
  });
  const source = new KubernetesSource({
    kubeConfig: podKc,
    namespace: SYS,
    signallingPool: 'default',
    secretCertificates: false,
  });
  try {
    await applyExamples(c.kc);
    await source.start(AbortSignal.timeout(60_000));
    await eventually(
      'the examples in a snapshot',
      () => (source.current()?.config.tenants.length === 2 ? true : undefined),
      60_000,
    );
    const latencies: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const ns = `bench-${i}`;
      await ensureNamespace(c.kc, ns, { 'switchboard.dev/tenant': 'true' });
      await apply(c.kc, routePolicy(ns, ns));
      // The RoutePolicy alone changes nothing the pod sees; let its (no-op) reconcile pass first.
      await new Promise((r) => setTimeout(r, 500));
      // Timed to the 'snapshot' event itself (no polling interval in the figure).
      let t1 = 0;
      const seen = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${ns}/${ns} not in a snapshot within 30 s`)), 30_000);
        const on = (snap: Snapshot) => {
          if (!snap.config.tenants.some((t) => t.id === `${ns}/${ns}`)) return;
          t1 = performance.now();
          clearTimeout(timer);
          source.off('snapshot', on);
          resolve();
        };
        source.on('snapshot', on);
      });
      const t0 = performance.now();
      await apply(c.kc, tenant(ns, ns));
      await seen;
      latencies.push(t1 - t0);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    figure(
      'onboarding: Tenant create → pod config snapshot (median)',
      median(latencies),
      'ms',
      `onboarding (Tenant create → kubernetes config source snapshot, ${rounds} tenants): median ${median(latencies).toFixed(0)} ms, min ${sorted[0]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`,
    );
    figure('onboarding: Tenant create → pod config snapshot (max)', sorted.at(-1)!, 'ms', '');
  } finally {
    await source.close();
    await op.stop();
    await c.stop();
  }
}

// ---- 2. 10,000 tenants through the pure functions ----

const world = syntheticWorld;

function tenThousand(rounds: number): void {
  const N = 10_000;
  const w = world(N);
  const OPTS = { generatedAt: '2026-01-01T00:00:00Z', baseDomain: 'sbc.example.net' };
  const renderMs: number[] = [];
  const shardMs: number[] = [];
  const assembleMs: number[] = [];
  const validateMs: number[] = [];
  const compileMs: number[] = [];
  const poolMs: number[] = [];
  let sharded: ReturnType<typeof shardConfig> | undefined;
  let poolTenants = 0;
  for (let r = 0; r < rounds; r++) {
    const rendered = time(() => render(w, OPTS));
    renderMs.push(rendered.ms);
    const s = time(() => shardConfig(localiseSecrets(rendered.value.snapshot, SYS)));
    shardMs.push(s.ms);
    sharded = s.value;
    const byName = new Map([s.value.manifest, ...s.value.shards].map((x) => [x.name, x.data]));
    const back = time(() => assembleConfig(byName.get(MANIFEST_NAME), byName));
    assembleMs.push(back.ms);
    if (!back.value.ok) throw new Error(`assemble failed: ${back.value.reason}`);
    const config = back.value.config;
    const v = time(() => validateRenderedConfig(config));
    validateMs.push(v.ms);
    if (!v.value.ok) throw new Error(`invalid: ${v.value.errors.slice(0, 3).join('; ')}`);
    compileMs.push(time(() => compileConfig(config)).ms);
    // A pod of the `default` pool: only its shards (three quarters of the tenants), pool validation, compile.
    const pool = time(() => {
      const res = assembleConfig(byName.get(MANIFEST_NAME), byName, { signallingPool: 'default' });
      if (!res.ok) throw new Error(res.reason);
      const check = validatePoolConfig(res.config);
      if (!check.ok) throw new Error(check.errors.slice(0, 3).join('; '));
      compileConfig(check.config);
      return res.config.tenants.length;
    });
    poolMs.push(pool.ms);
    poolTenants = pool.value;
  }
  const sizes = [sharded!.manifest, ...sharded!.shards].map((s) => configMapBytes(s.data));
  const shardSizes = sharded!.shards.map((s) => configMapBytes(s.data));
  const total = sizes.reduce((a, b) => a + b, 0);
  const mib = (b: number) => b / 1024 / 1024;
  const kib = (b: number) => b / 1024;
  if (!json) console.log(`10,000 tenants (medians of ${rounds}; a quarter in pool "gold"):`);
  figure('10k tenants: render', median(renderMs), 'ms', `  render ${median(renderMs).toFixed(0)} ms`);
  figure('10k tenants: localise + shard', median(shardMs), 'ms', `  localise + shard ${median(shardMs).toFixed(0)} ms`);
  figure(
    '10k tenants: ConfigMaps (manifest + shards)',
    sizes.length,
    'ConfigMaps',
    `  ${sizes.length} ConfigMaps (1 manifest + ${shardSizes.length} shards), ${mib(total).toFixed(1)} MiB total`,
  );
  figure('10k tenants: total ConfigMap data', mib(total), 'MiB', '');
  figure(
    '10k tenants: largest shard',
    kib(Math.max(...shardSizes)),
    'KiB',
    `  shard sizes: largest ${kib(Math.max(...shardSizes)).toFixed(0)} KiB, median ${kib(median(shardSizes)).toFixed(0)} KiB, smallest ${kib(Math.min(...shardSizes)).toFixed(0)} KiB; manifest ${kib(sizes[0]!).toFixed(1)} KiB`,
  );
  figure('10k tenants: median shard', kib(median(shardSizes)), 'KiB', '');
  figure('10k tenants: manifest', kib(sizes[0]!), 'KiB', '');
  figure(
    '10k tenants: pod reassembly from ConfigMaps',
    median(assembleMs),
    'ms',
    `  pod side, all pools: assemble ${median(assembleMs).toFixed(0)} ms, validate ${median(validateMs).toFixed(0)} ms, compile ${median(compileMs).toFixed(0)} ms`,
  );
  figure('10k tenants: pod validate', median(validateMs), 'ms', '');
  figure('10k tenants: pod compile', median(compileMs), 'ms', '');
  figure(
    '10k tenants: pod of one pool, assemble + validate + compile',
    median(poolMs),
    'ms',
    `  pod side, pool "default" (${poolTenants.toLocaleString('en')} tenants): assemble + validate + compile ${median(poolMs).toFixed(0)} ms`,
  );
}

tenThousand(quick ? 1 : 3);
if (!noCluster) await onboarding(quick ? 3 : 9);
if (json) for (const f of figures) console.log(JSON.stringify(f));
