// charts/switchboard against a REAL kube-apiserver + etcd (e2e/src/harness/kube-apiserver.ts):
// - the chart's CRDs installed for real;
// - the rendered output of every values set applied with server-side apply and ?dryRun=All (the API server runs
//   its full validation and admission, nothing is stored). cert-manager and the Prometheus Operator do not run here:
//   minimal schemaless stand-in CRDs for Certificate and ServiceMonitor are installed so those objects are checked
//   for shape (apiVersion/kind/metadata) but not against the real cert-manager/Prometheus schemas;
// - the default render installed for real, then `switchboard operator` run as the chart's operator ServiceAccount
//   (only the chart's RBAC) reconciling examples/ — Tenants become ConfigRendered=True (fabrikam Ready=True) — and
//   answering the rendered Deployment's readiness and liveness probe paths on its admin server, leader gauge 1.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type KubeControlPlane, startKubeControlPlane } from '../e2e/src/harness/kube-apiserver.ts';
import { CONTENT_TYPE, KubeApiError, KubeClient } from '../operator/src/kube/client.ts';
import { eventually as poll } from '../operator/src/testing/cluster.ts';
import { chartDir, find, type K8sObject, parseManifests, render, repoRoot, restPath, SYS, VALUES } from './helpers.ts';

const FIELD_MANAGER = 'switchboard-chart-test';
const WAIT_MS = 60_000;

/** The operator tests' poll, with this suite's longer default wait. */
const eventually = <T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> =>
  poll(what, attempt, timeoutMs);

function apply(client: KubeClient, o: K8sObject, dryRun: boolean): Promise<K8sObject> {
  return client.request<K8sObject>('PATCH', restPath(o), {
    body: o,
    contentType: CONTENT_TYPE.apply,
    query: { fieldManager: FIELD_MANAGER, force: true, ...(dryRun ? { dryRun: 'All' } : {}) },
  });
}

function stubCrd(group: string, kind: string, plural: string): K8sObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

async function installCrd(client: KubeClient, crd: K8sObject, listPath: string): Promise<void> {
  await apply(client, crd, false);
  await eventually(`CRD ${crd.metadata.name} Established`, async () => {
    const got = await client.get<K8sObject>(
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
    );
    return got.status?.conditions?.some((c: K8sObject) => c.type === 'Established' && c.status === 'True')
      ? true
      : undefined;
  });
  await eventually(`${listPath} served`, async () => {
    await client.list(listPath);
    return true;
  });
}

function chartCrds(): K8sObject[] {
  const dir = join(chartDir, 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseManifests(readFileSync(join(dir, f), 'utf8')));
}

type Cond = { type: string; status: string; reason: string; message: string };
async function condition(client: KubeClient, ns: string, name: string, type: string): Promise<Cond | undefined> {
  const t = await client.find<K8sObject>(`/apis/switchboard.dev/v1alpha1/namespaces/${ns}/tenants/${name}`);
  return (t?.status?.conditions as Cond[] | undefined)?.find((c) => c.type === type);
}

describe('chart on a real kube-apiserver', { timeout: 600_000 }, () => {
  let cp: KubeControlPlane;
  let admin: KubeClient;

  before(async () => {
    cp = await startKubeControlPlane();
    admin = new KubeClient(cp.kubeConfig);
    await apply(admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYS } }, false);
    // The chart's CRDs for real (helm installs crds/ before the templates), then stand-ins for the CRDs the chart
    // references but does not own (see the header).
    for (const crd of chartCrds()) {
      await installCrd(admin, crd, `/apis/${crd.spec.group}/${crd.spec.versions[0].name}/${crd.spec.names.plural}`);
    }
    await installCrd(
      admin,
      stubCrd('cert-manager.io', 'Certificate', 'certificates'),
      '/apis/cert-manager.io/v1/certificates',
    );
    await installCrd(
      admin,
      stubCrd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors'),
      '/apis/monitoring.coreos.com/v1/servicemonitors',
    );
  });
  after(async () => {
    await cp?.stop();
  });

  test("the chart's CRDs are installed, Established and serve their kinds", async () => {
    const crds = chartCrds();
    assert.deepEqual(crds.map((c) => c.metadata.name).sort(), [
      'routepolicies.switchboard.dev',
      'tenants.switchboard.dev',
      'trunks.switchboard.dev',
    ]);
    for (const crd of crds) {
      const got = await admin.get<K8sObject>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      );
      assert.ok(got.status.conditions.some((c: K8sObject) => c.type === 'Established' && c.status === 'True'));
      await admin.list(`/apis/switchboard.dev/v1alpha1/${crd.spec.names.plural}`);
    }
  });

  test('the dry run is not vacuous: an invalid object is refused', async () => {
    const bad: K8sObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'bad', namespace: SYS },
      spec: { type: 'LoadBalancer', ports: [{ name: 'sip', port: 70000, protocol: 'UDP' }] },
    };
    await assert.rejects(apply(admin, bad, true), (err: unknown) => err instanceof KubeApiError && err.code === 422);
    assert.equal(await admin.find(restPath(bad)), undefined, 'nothing stored');
  });

  for (const [name, files] of Object.entries(VALUES)) {
    test(`server-side dry run of the rendered chart: ${name} values`, async () => {
      const objs = await render(
        files,
        name === 'default' ? ['metrics.serviceMonitor.enabled=true', 'cdrExport.enabled=true'] : [],
      );
      const failures: string[] = [];
      for (const o of objs) {
        try {
          const out = await apply(admin, o, true);
          assert.equal(out.kind, o.kind);
        } catch (err) {
          failures.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
        }
      }
      assert.deepEqual(failures, [], `the API server refused:\n${failures.join('\n')}`);
      // Dry run stored nothing.
      const ds = await admin.list(`/apis/apps/v1/namespaces/${SYS}/deployments`);
      assert.equal(ds.items.length, 0);
    });
  }

  test("installed for real, `switchboard operator` as the chart's ServiceAccount reconciles examples/", async () => {
    const objs = await render([]);
    for (const o of objs) await apply(admin, o, false);

    // The sbc-pods' identity: the rendered config namespace only.
    const sbcClient = new KubeClient(cp.kubeconfigFor(await cp.tokenFor(SYS, 'switchboard-sbc')));
    await sbcClient.list(`/api/v1/namespaces/${SYS}/configmaps`);
    await sbcClient.list(`/api/v1/namespaces/${SYS}/secrets`);
    await assert.rejects(
      sbcClient.list('/api/v1/namespaces/contoso/secrets'),
      (e: unknown) => (e as KubeApiError).code === 403,
    );
    await assert.rejects(
      sbcClient.list('/apis/switchboard.dev/v1alpha1/tenants'),
      (e: unknown) => (e as KubeApiError).code === 403,
    );

    // The operator's environment is the rendered Deployment's (literal values), its identity the chart's SA.
    const deployment = find(objs, 'Deployment', 'switchboard-operator');
    const container = deployment.spec.template.spec.containers[0];
    assert.deepEqual(container.args, ['operator']);
    const env: Record<string, string> = {};
    for (const e of container.env as { name: string; value?: string }[])
      if (e.value !== undefined) env[e.name] = e.value;
    const token = await cp.tokenFor(SYS, deployment.spec.template.spec.serviceAccountName);
    const kubeconfig = await cp.writeKubeconfigFor(token);
    const adminPort = container.ports.find((p: K8sObject) => p.name === 'admin').containerPort;
    assert.equal(env.SWITCHBOARD_OPERATOR_ADMIN_LISTEN, `0.0.0.0:${adminPort}`);
    let output = '';
    const child: ChildProcess = spawn(process.execPath, [join(repoRoot, 'cli/src/main.ts'), ...container.args], {
      env: {
        ...process.env,
        ...env,
        KUBECONFIG: kubeconfig,
        POD_NAME: 'switchboard-operator-chart-0',
        // Not the pod's 0.0.0.0:8081 on a shared test machine: any free loopback port (logged at start).
        SWITCHBOARD_OPERATOR_ADMIN_LISTEN: '127.0.0.1:0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const withOutput = (err: unknown): never => {
      throw new Error(`${(err as Error).message}\n--- operator output (tail) ---\n${output.slice(-4000)}`);
    };
    try {
      for (const f of ['namespaces.yaml', 'secrets.yaml', 'trunks.yaml', 'route-policies.yaml', 'tenants.yaml']) {
        for (const o of parseManifests(readFileSync(join(repoRoot, 'examples', f), 'utf8')))
          await apply(admin, o, false);
      }
      const lease = await eventually('the operator holds the Lease', async () => {
        const l = await admin.find<K8sObject>(
          `/apis/coordination.k8s.io/v1/namespaces/${SYS}/leases/switchboard-operator`,
        );
        return l?.spec?.holderIdentity === 'switchboard-operator-chart-0' ? l : undefined;
      }).catch(withOutput);
      assert.ok(lease);
      for (const [ns, name] of [
        ['contoso', 'contoso'],
        ['fabrikam', 'fabrikam'],
      ] as const) {
        const c = await eventually(`${ns}/${name} ConfigRendered=True`, async () => {
          const got = await condition(admin, ns, name, 'ConfigRendered');
          return got?.status === 'True' ? got : undefined;
        }).catch(withOutput);
        assert.equal(c.reason, 'Rendered');
        const refs = await condition(admin, ns, name, 'ReferencesResolved');
        assert.equal(refs?.status, 'True', JSON.stringify(refs));
      }
      // fabrikam uses the wildcard certificate: Ready. contoso's Dedicated certificate waits for cert-manager.
      await eventually('fabrikam Ready=True', async () =>
        (await condition(admin, 'fabrikam', 'fabrikam', 'Ready'))?.status === 'True' ? true : undefined,
      ).catch(withOutput);
      const cert = await eventually('the Certificate for contoso', () =>
        admin.find<K8sObject>(`/apis/cert-manager.io/v1/namespaces/${SYS}/certificates/tenant-contoso-contoso`),
      );
      assert.deepEqual(cert.spec.dnsNames, ['contoso.sbc.example.net']);
      const manifest = await admin.get<K8sObject>(`/api/v1/namespaces/${SYS}/configmaps/switchboard-config`);
      assert.equal(manifest.metadata.labels?.['switchboard.dev/config'], 'rendered');

      // The kubelet's view: the rendered probe paths answer 200 on the leader, whose /metrics says it leads.
      const base = await eventually('the admin URL in the operator log', async () =>
        Promise.resolve(/"url":"(http:\/\/[^"]+)"/.exec(output)?.[1]),
      ).catch(withOutput);
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        assert.equal(probe.httpGet.port, 'admin');
        await eventually(`${probe.httpGet.path} 200`, async () => {
          const res = await fetch(`${base}${probe.httpGet.path}`, { signal: AbortSignal.timeout(10_000) });
          return res.status === 200 ? true : undefined;
        }).catch(withOutput);
      }
      // The statuses above are written mid-pass: the pass is counted when it ends.
      const metrics = await eventually('a successful reconcile pass counted on /metrics', async () => {
        const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        return /^switchboard_operator_reconciles_total\{result="success"\} [1-9]/m.test(text) ? text : undefined;
      }).catch(withOutput);
      assert.match(metrics, /^switchboard_operator_leader 1$/m);
      assert.match(metrics, /^switchboard_operator_object_reconciles_total\{kind="Tenant",result="ready"\} [1-9]/m);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    // A graceful stop: SIGTERM releases the Lease and exits 0.
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await Promise.race([exited, delay(30_000).then(() => ['timeout'])])) as [unknown];
    if (code === 'timeout') child.kill('SIGKILL');
    assert.equal(code, 0, `operator exit code; output:\n${output.slice(-2000)}`);
  });
});
