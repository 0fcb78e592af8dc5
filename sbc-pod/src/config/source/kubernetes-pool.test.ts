// Signalling pools against a real kube-apiserver fed by the real operator: a pod source for pool P holds only P's
// tenant shards (plus the shared trunk shards and the manifest), so a tenant pinned to `regulated` reaches only
// `regulated` pods.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RunningOperator } from '../../../../operator/src/main.ts';
import {
  apply,
  ensureNamespace,
  eventually,
  startTestCluster,
  type TestCluster,
} from '../../../../operator/src/testing/cluster.ts';
import {
  applyExamples,
  routePolicy,
  runOperatorWithPodIdentity,
  SYS,
  tenant,
} from '../../../../operator/src/testing/fixtures.ts';
import { KubernetesSource } from './kubernetes.ts';
import type { Rejection } from './types.ts';

const WAIT = 30_000;

describe('KubernetesSource with a signalling pool', { timeout: 300_000 }, () => {
  let c: TestCluster;
  let op: RunningOperator;
  let podKc: KubeConfig;
  const sources: Record<string, KubernetesSource> = {};
  const rejections: Rejection[] = [];

  before(async () => {
    c = await startTestCluster({ certManager: true });
    ({ op, podKc } = await runOperatorWithPodIdentity(c));
    await applyExamples(c.kc);
    for (const pool of ['default', 'regulated']) {
      const s = new KubernetesSource({
        kubeConfig: podKc,
        namespace: SYS,
        signallingPool: pool,
        secretCertificates: false,
      });
      s.on('rejected', (r: Rejection) => rejections.push(r));
      sources[pool] = s;
    }
    sources.all = new KubernetesSource({ kubeConfig: podKc, namespace: SYS, secretCertificates: false });
    await Promise.all(Object.values(sources).map((s) => s.start(AbortSignal.timeout(WAIT))));
  });
  after(async () => {
    await Promise.all(Object.values(sources).map((s) => s.close()));
    await op?.stop();
    await c?.stop();
  });

  const tenantsOf = (pool: string) => sources[pool]?.current()?.config.tenants.map((t) => t.id) ?? [];

  test('a tenant in pool `regulated` appears in the `regulated` source and not in the `default` one', async () => {
    // The examples first (a tenant with a dedicated certificate is rendered once it is issued: on a loaded machine
    // that can come after the tenant this test adds).
    await eventually(
      'the examples in the default snapshot',
      () => (tenantsOf('default').length === 2 ? true : undefined),
      WAIT,
    );
    await ensureNamespace(c.kc, 'sovereign', { 'switchboard.dev/tenant': 'true' });
    await apply(c.kc, routePolicy('sovereign', 'sovereign'));
    await apply(c.kc, tenant('sovereign', 'sovereign', { signallingPool: 'regulated' }));
    await eventually(
      'sovereign/sovereign in the regulated snapshot',
      () => (tenantsOf('regulated').includes('sovereign/sovereign') ? true : undefined),
      WAIT,
    );
    await eventually(
      'the unfiltered source at the same version',
      () =>
        sources.all!.current()?.config.version === sources.regulated!.current()?.config.version ? true : undefined,
      WAIT,
    );
    await eventually(
      'the default source at the same version',
      () =>
        sources.default!.current()?.config.version === sources.regulated!.current()?.config.version ? true : undefined,
      WAIT,
    );
    assert.deepEqual(tenantsOf('regulated'), ['sovereign/sovereign']);
    assert.deepEqual(tenantsOf('default'), ['contoso/contoso', 'fabrikam/fabrikam']);
    assert.deepEqual(tenantsOf('all'), ['contoso/contoso', 'fabrikam/fabrikam', 'sovereign/sovereign']);
    // Trunks are shared: every pool has all of them, untouched (reservations of other pools' tenants included).
    assert.deepEqual(sources.regulated!.current()!.config.trunks, sources.all!.current()!.config.trunks);
    const regulated = sources.regulated!.current()!.compiled;
    assert.ok(regulated.tenantByFqdn('sovereign.sbc.example.net'));
    assert.equal(sources.default!.current()!.compiled.tenantByFqdn('sovereign.sbc.example.net'), undefined);
    assert.equal(regulated.tenantByFqdn('contoso.sbc.example.net'), undefined);

    // The default pod never even held the regulated shard (and vice versa).
    const names = (pool: string) => sources[pool]!.configMapNames();
    assert.ok(names('all').some((n) => n.startsWith('switchboard-config-tenants-regulated-')));
    assert.ok(
      !names('default').some((n) => n.startsWith('switchboard-config-tenants-regulated-')),
      String(names('default')),
    );
    assert.ok(!names('regulated').some((n) => n.startsWith('switchboard-config-tenants-default-')));
    assert.ok(names('regulated').includes('switchboard-config'));
    assert.ok(names('regulated').some((n) => n.startsWith('switchboard-config-trunks-')));
    assert.deepEqual(rejections, []);
  });

  test('moving a tenant between pools moves it between the pods', async () => {
    await apply(c.kc, tenant('sovereign', 'sovereign', { signallingPool: 'default' }));
    await eventually(
      'sovereign/sovereign in the default snapshot',
      () => (tenantsOf('default').includes('sovereign/sovereign') ? true : undefined),
      WAIT,
    );
    // The regulated pool now has no tenants at all: its shards are gone, the manifest and trunks remain.
    await eventually(
      'sovereign/sovereign gone from the regulated snapshot',
      () => (!tenantsOf('regulated').includes('sovereign/sovereign') ? true : undefined),
      WAIT,
    );
    assert.deepEqual(tenantsOf('regulated'), []);
    assert.deepEqual(rejections, []);
  });
});
