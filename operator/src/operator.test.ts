// The operator against a real kube-apiserver + etcd, running as its ServiceAccount with only operator/rbac/operator.yaml.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RenderedConfig } from '../../crds/src/render/config-types.ts';
import { KubeClient, type KubeObject, resourcePath } from './kube/client.ts';
import { type RunningOperator, runOperator } from './main.ts';
import { assembleConfig, CONFIG_LABEL, MANIFEST_NAME } from './render/shards.ts';
import { apply, ensureNamespace, eventually, startTestCluster, type TestCluster } from './testing/cluster.ts';
import {
  applyExamples,
  type Cond,
  conditionOf,
  getObject,
  operatorKubeConfig,
  routePolicy,
  SYS,
  tenant,
  trunk,
} from './testing/fixtures.ts';

const WAIT = 30_000;

async function renderedConfig(kc: KubeConfig): Promise<RenderedConfig | undefined> {
  const list = await new KubeClient(kc).list<KubeObject & { data?: Record<string, string> }>(
    resourcePath('v1', 'configmaps', SYS),
    { labelSelector: `${CONFIG_LABEL}=rendered` },
  );
  const byName = new Map(list.items.map((c) => [c.metadata?.name ?? '', c.data ?? {}]));
  const res = assembleConfig(byName.get(MANIFEST_NAME), byName);
  return res.ok ? res.config : undefined;
}

async function waitCondition(
  kc: KubeConfig,
  plural: string,
  ns: string,
  name: string,
  type: string,
  want: (c: Cond) => boolean,
  what: string,
): Promise<Cond> {
  let last: Cond | undefined;
  try {
    return await eventually(
      what,
      async () => {
        last = await conditionOf(kc, plural, ns, name, type);
        return last && want(last) ? last : undefined;
      },
      WAIT,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last ${type}: ${JSON.stringify(last)}`);
  }
}

describe('operator on a real kube-apiserver', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let opKc: KubeConfig;
  let op: RunningOperator;
  const logs: string[] = [];

  before(async () => {
    c = await startTestCluster({ certManager: true });
    opKc = await operatorKubeConfig(c);
    op = runOperator({
      kubeConfig: opKc,
      systemNamespace: SYS,
      baseDomain: 'sbc.example.net',
      identity: 'op-1',
      log: (level, msg, fields) => logs.push(`${level} ${msg} ${fields ? JSON.stringify(fields) : ''}`),
    });
    await eventually('op-1 leading', async () => (op.operator ? true : undefined), WAIT);
  });
  after(async () => {
    await op?.stop();
    await c?.stop();
    if (process.env.OPERATOR_TEST_LOGS) console.log(logs.join('\n'));
  });

  test('examples converge: ConfigMaps, Certificate, finalizers, status', async () => {
    const t0 = performance.now();
    await applyExamples(c.kc);
    const config = await eventually(
      'rendered config with contoso and fabrikam',
      async () => {
        const cfg = await renderedConfig(c.kc);
        return cfg && cfg.tenants.length === 2 ? cfg : undefined;
      },
      WAIT,
    );
    console.log(`# onboarding (examples applied → ConfigMaps assembled): ${(performance.now() - t0).toFixed(0)} ms`);
    const contoso = config.tenants.find((t) => t.id === 'contoso/contoso')!;
    assert.deepEqual(contoso.certificate.secret, { namespace: SYS, name: 'tenant-contoso-contoso-tls' });
    assert.equal(config.trunks.length, 2);

    const cert = await eventually(
      'Certificate for contoso',
      () => getObject(c.kc, 'cert-manager.io/v1', 'certificates', SYS, 'tenant-contoso-contoso'),
      WAIT,
    );
    const spec = cert.spec as Record<string, unknown>;
    assert.deepEqual(spec.dnsNames, ['contoso.sbc.example.net']);
    assert.deepEqual(spec.usages, ['server auth', 'client auth']);
    assert.deepEqual(spec.issuerRef, { name: 'switchboard-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
    assert.equal(spec.secretName, 'tenant-contoso-contoso-tls');
    assert.deepEqual(
      (spec.secretTemplate as { labels: Record<string, string> }).labels['switchboard.dev/tenant-cert'],
      'true',
    );

    const t = await getObject(c.kc, 'switchboard.dev/v1alpha1', 'tenants', 'contoso', 'contoso');
    assert.ok(t?.metadata?.finalizers?.includes('switchboard.dev/cleanup'));

    // fabrikam (Wildcard) becomes Ready; contoso waits for its certificate.
    await waitCondition(c.kc, 'tenants', 'fabrikam', 'fabrikam', 'Ready', (x) => x.status === 'True', 'fabrikam Ready');
    const pending = await waitCondition(
      c.kc,
      'tenants',
      'contoso',
      'contoso',
      'CertificateReady',
      (x) => x.status === 'Unknown',
      'contoso CertificateReady Unknown',
    );
    assert.equal(pending.reason, 'CertificatePending');
    const ready = await conditionOf(c.kc, 'tenants', 'contoso', 'contoso', 'Ready');
    assert.equal(ready?.status, 'Unknown');
    const rendered = await conditionOf(c.kc, 'tenants', 'contoso', 'contoso', 'ConfigRendered');
    assert.equal(rendered?.status, 'True');
    assert.equal(rendered?.observedGeneration, t?.metadata?.generation);
    await waitCondition(c.kc, 'trunks', 'carriers', 'trunk-1', 'Ready', (x) => x.status === 'True', 'trunk-1 Ready');
    await waitCondition(
      c.kc,
      'routepolicies',
      'contoso',
      'contoso',
      'Ready',
      (x) => x.status === 'True',
      'policy Ready',
    );
  });

  test("cert-manager's Ready condition is mirrored into CertificateReady", async () => {
    const client = new KubeClient(c.kc);
    const path = resourcePath('cert-manager.io/v1', 'certificates', SYS, 'tenant-contoso-contoso', 'status');
    const setReady = (status: string, reason: string, message: string) =>
      client.mergePatch(path, {
        status: {
          conditions: [
            {
              type: 'Ready',
              status,
              reason,
              message,
              lastTransitionTime: new Date().toISOString(),
              observedGeneration: 1,
            },
          ],
        },
      });
    await setReady('False', 'Failed', 'issuer switchboard-ca not found');
    const failed = await waitCondition(
      c.kc,
      'tenants',
      'contoso',
      'contoso',
      'CertificateReady',
      (x) => x.status === 'False',
      'CertificateReady False',
    );
    assert.equal(failed.reason, 'Failed');
    assert.match(failed.message, /issuer switchboard-ca not found/);
    await setReady('True', 'Ready', 'Certificate is up to date and has not expired');
    await waitCondition(
      c.kc,
      'tenants',
      'contoso',
      'contoso',
      'CertificateReady',
      (x) => x.status === 'True',
      'CertificateReady True',
    );
    const ready = await waitCondition(
      c.kc,
      'tenants',
      'contoso',
      'contoso',
      'Ready',
      (x) => x.status === 'True',
      'contoso Ready',
    );
    assert.ok(ready.lastTransitionTime);
  });

  test('a missing trunk shows in ReferencesResolved and recovers when it appears', async () => {
    await ensureNamespace(c.kc, 'acme', { 'switchboard.dev/tenant': 'true' });
    await apply(
      c.kc,
      routePolicy('acme', 'acme', [
        {
          name: 'uk',
          match: { destinationPrefix: '+44' },
          action: { trunks: [{ namespace: 'carriers', name: 'acme-intl' }] },
        },
      ]),
    );
    await apply(c.kc, tenant('acme', 'acme', { numbers: ['+33100000000'] }));
    const missing = await waitCondition(
      c.kc,
      'tenants',
      'acme',
      'acme',
      'ReferencesResolved',
      (x) => x.status === 'False',
      'acme ReferencesResolved False',
    );
    assert.equal(missing.reason, 'TrunkNotFound');
    assert.equal(missing.message, 'route uk: trunk carriers/acme-intl not found');
    const notRendered = await conditionOf(c.kc, 'tenants', 'acme', 'acme', 'ConfigRendered');
    assert.equal(notRendered?.status, 'False');
    const notReady = await conditionOf(c.kc, 'tenants', 'acme', 'acme', 'Ready');
    assert.equal(notReady?.status, 'False');
    assert.equal(notReady?.reason, 'TrunkNotFound');
    const events = await new KubeClient(c.kc).list<
      KubeObject & { reason?: string; involvedObject?: { name?: string } }
    >(resourcePath('v1', 'events', 'acme'));
    assert.ok(
      events.items.some((e) => e.reason === 'TrunkNotFound' && e.involvedObject?.name === 'acme'),
      'a Warning Event on the flip',
    );
    assert.equal(
      (await renderedConfig(c.kc))?.tenants.some((t) => t.id === 'acme/acme'),
      false,
    );

    await apply(c.kc, trunk('carriers', 'acme-intl'));
    const ok = await waitCondition(c.kc, 'tenants', 'acme', 'acme', 'Ready', (x) => x.status === 'True', 'acme Ready');
    assert.ok(Date.parse(ok.lastTransitionTime) >= Date.parse(notReady!.lastTransitionTime));
    await eventually(
      'acme in rendered config',
      async () => ((await renderedConfig(c.kc))?.tenants.some((t) => t.id === 'acme/acme') ? true : undefined),
      WAIT,
    );
  });

  test('a Provided Secret is validated: missing, wrong name, then valid and mirrored to the system namespace', async () => {
    await apply(c.kc, routePolicy('acme', 'prov'));
    await apply(c.kc, tenant('acme', 'prov', { certificate: { mode: 'Provided', secretRef: { name: 'prov-tls' } } }));
    const missing = await waitCondition(
      c.kc,
      'tenants',
      'acme',
      'prov',
      'CertificateReady',
      (x) => x.status === 'False',
      'prov CertificateReady False',
    );
    assert.equal(missing.reason, 'SecretNotFound');
    // A self-signed certificate for the wrong name.
    const { certPem, keyPem } = await selfSigned('wrong.sbc.example.net');
    await apply(c.kc, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'prov-tls', namespace: 'acme' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': Buffer.from(certPem).toString('base64'), 'tls.key': Buffer.from(keyPem).toString('base64') },
    } as never);
    const mismatch = await waitCondition(
      c.kc,
      'tenants',
      'acme',
      'prov',
      'CertificateReady',
      (x) => x.reason === 'SANMismatch',
      'prov SANMismatch',
    );
    assert.match(mismatch.message, /does not cover prov\.sbc\.example\.net/);
    const good = await selfSigned('prov.sbc.example.net');
    await apply(c.kc, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'prov-tls', namespace: 'acme' },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': Buffer.from(good.certPem).toString('base64'),
        'tls.key': Buffer.from(good.keyPem).toString('base64'),
      },
    } as never);
    // The operator re-reads referenced Secrets on its resync/TTL; nudge a reconcile via the tenant.
    await apply(
      c.kc,
      tenant('acme', 'prov', {
        displayName: 'Prov',
        certificate: { mode: 'Provided', secretRef: { name: 'prov-tls' } },
      }),
    );
    const valid = await waitCondition(
      c.kc,
      'tenants',
      'acme',
      'prov',
      'CertificateReady',
      (x) => x.status === 'True',
      'prov CertificateReady True',
    );
    assert.equal(valid.reason, 'SecretValid');
    const mirror = await eventually(
      'mirrored Secret',
      () => getObject(c.kc, 'v1', 'secrets', SYS, 'tenant-acme-prov-tls'),
      WAIT,
    );
    assert.equal(mirror.metadata?.labels?.['switchboard.dev/tenant-cert'], 'true');
  });

  test('updates re-render; deleting a tenant removes its config and Certificate, then its finalizer', async () => {
    await apply(
      c.kc,
      tenant('acme', 'acme', { numbers: ['+33100000000'], limits: { callsPerSecond: 7, maxConcurrentCalls: 10 } }),
    );
    await eventually(
      'acme limits updated',
      async () => {
        const t = (await renderedConfig(c.kc))?.tenants.find((x) => x.id === 'acme/acme');
        return t?.limits.callsPerSecond === 7 ? true : undefined;
      },
      WAIT,
    );

    const client = new KubeClient(c.kc);
    await client.delete(resourcePath('switchboard.dev/v1alpha1', 'tenants', 'contoso', 'contoso'));
    await eventually(
      'contoso gone (finalizer removed)',
      async () =>
        (await getObject(c.kc, 'switchboard.dev/v1alpha1', 'tenants', 'contoso', 'contoso')) ? undefined : true,
      WAIT,
    );
    const cfg = await renderedConfig(c.kc);
    assert.equal(
      cfg?.tenants.some((t) => t.id === 'contoso/contoso'),
      false,
    );
    assert.equal(await getObject(c.kc, 'cert-manager.io/v1', 'certificates', SYS, 'tenant-contoso-contoso'), undefined);
  });

  test('RBAC: the operator ServiceAccount cannot list Secrets cluster-wide or write outside the system namespace', async () => {
    const op = new KubeClient(opKc);
    await assert.rejects(op.list('/api/v1/secrets'), (e: unknown) => (e as { code?: number }).code === 403);
    await assert.rejects(
      op.apply(
        resourcePath('v1', 'configmaps', 'acme', 'x'),
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'acme' } },
        'test',
      ),
      (e: unknown) => (e as { code?: number }).code === 403,
    );
    await assert.rejects(
      op.mergePatch(resourcePath('switchboard.dev/v1alpha1', 'trunks', 'carriers', 'trunk-1'), {
        metadata: { labels: { x: 'y' } },
      }),
      (e: unknown) => (e as { code?: number }).code === 403,
    );
  });

  test('status writes and ConfigMap writes are skipped when nothing changed', async () => {
    const operator = op.operator!;
    await operator.idle();
    const before = { ...operator.stats };
    // A resync-style reconcile of an unchanged world writes nothing.
    const cm = await getObject(c.kc, 'v1', 'configmaps', SYS, MANIFEST_NAME);
    await new KubeClient(c.kc).mergePatch(resourcePath('v1', 'configmaps', SYS, MANIFEST_NAME), {
      metadata: { labels: { poke: String(Date.now()) } },
    });
    await eventually(
      'a reconcile after the poke',
      async () => (operator.stats.reconciles > before.reconciles ? true : undefined),
      WAIT,
    );
    await operator.idle();
    assert.equal(operator.stats.writes, before.writes, 'no writes for an unchanged world');
    assert.ok(cm);
  });
});

async function selfSigned(cn: string): Promise<{ certPem: string; keyPem: string }> {
  const { createCa, issueLeaf } = await import('../../e2e/src/harness/pki.ts');
  const ca = await createCa('test-ca');
  const leaf = await issueLeaf(ca, { commonName: cn, dnsNames: [cn], eku: ['serverAuth', 'clientAuth'] });
  return { certPem: leaf.certPem + ca.certPem, keyPem: leaf.keyPem };
}
