// The kubernetes config source against a real kube-apiserver, fed by the real operator (both with their own
// least-privilege ServiceAccounts: operator/rbac/{operator,sbc-pod}.yaml).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { createCa, issueLeaf } from '../../../../e2e/src/harness/pki.ts';
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
import type { Rejection, Snapshot } from './types.ts';

const WAIT = 30_000;

describe('KubernetesSource', { timeout: 300_000 }, () => {
  let c: TestCluster;
  let op: RunningOperator;
  let source: KubernetesSource;
  let podKc: KubeConfig;
  const snapshots: Snapshot[] = [];
  const rejections: Rejection[] = [];

  before(async () => {
    c = await startTestCluster({ certManager: true });
    ({ op, podKc } = await runOperatorWithPodIdentity(c));
    // The provider's wildcard certificate.
    const ca = await createCa('test-ca');
    const wildcard = await issueLeaf(ca, {
      commonName: 'sbc.example.net',
      dnsNames: ['*.sbc.example.net', 'sbc.example.net'],
      eku: ['serverAuth', 'clientAuth'],
    });
    await apply(c.kc, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'switchboard-wildcard-tls', namespace: SYS },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': Buffer.from(wildcard.certPem).toString('base64'),
        'tls.key': Buffer.from(wildcard.keyPem).toString('base64'),
      },
    } as never);
    await applyExamples(c.kc);
  });
  after(async () => {
    await source?.close();
    await op?.stop();
    await c?.stop();
  });

  test('assembles the operator’s ConfigMaps into a validated, compiled snapshot with certificates', async () => {
    source = new KubernetesSource({ kubeConfig: podKc, namespace: SYS });
    source.on('snapshot', (s: Snapshot) => snapshots.push(s));
    source.on('rejected', (r: Rejection) => rejections.push(r));
    await source.start(AbortSignal.timeout(WAIT));
    const snap = await eventually(
      'a snapshot with the example tenants',
      () => {
        const s = source.current();
        return s && s.config.tenants.length === 2 ? s : undefined;
      },
      WAIT,
    );
    assert.equal(snap.origin, `kubernetes:${SYS}`);
    assert.ok(snap.compiled);
    assert.deepEqual(
      snap.config.tenants.map((t) => t.id),
      ['contoso/contoso', 'fabrikam/fabrikam'],
    );
    const def = snap.certificates.find((e) => e.default);
    assert.ok(def, 'the wildcard certificate is the default entry');
    assert.deepEqual(rejections, []);
  });

  test('a tenant created after start appears within seconds', async () => {
    await ensureNamespace(c.kc, 'late', { 'switchboard.dev/tenant': 'true' });
    await apply(c.kc, routePolicy('late', 'late'));
    const t0 = performance.now();
    await apply(c.kc, tenant('late', 'late'));
    const snap = await eventually(
      'late/late in a snapshot',
      () => {
        const s = source.current();
        return s?.config.tenants.some((t) => t.id === 'late/late') ? s : undefined;
      },
      WAIT,
    );
    console.log(
      `# onboarding latency (Tenant applied → kubernetes config source snapshot): ${(performance.now() - t0).toFixed(0)} ms`,
    );
    assert.ok(snap.compiled);
    assert.ok(snapshots.length >= 2);
  });

  test('a Dedicated tenant’s issued Secret becomes its SNI certificate', async () => {
    const ca = await createCa('issuer');
    const leaf = await issueLeaf(ca, {
      commonName: 'contoso.sbc.example.net',
      dnsNames: ['contoso.sbc.example.net'],
      eku: ['serverAuth', 'clientAuth'],
    });
    // What cert-manager would write (secretTemplate labels included).
    await apply(
      c.kc,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: 'tenant-contoso-contoso-tls',
          namespace: SYS,
          labels: { 'switchboard.dev/tenant-cert': 'true' },
        },
        type: 'kubernetes.io/tls',
        data: {
          'tls.crt': Buffer.from(leaf.certPem).toString('base64'),
          'tls.key': Buffer.from(leaf.keyPem).toString('base64'),
        },
      } as never,
      'cert-manager',
    );
    const snap = await eventually(
      'contoso certificate in a snapshot',
      () => {
        const s = source.current();
        return s?.certificates.some((e) => e.hostnames?.includes('contoso.sbc.example.net')) ? s : undefined;
      },
      WAIT,
    );
    assert.equal(snap.certificates.filter((e) => e.default).length, 1);
  });
});
