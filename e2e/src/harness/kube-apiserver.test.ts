// Proves the test control plane is a real kube-apiserver: CRUD + watch through @kubernetes/client-node, and RBAC
// enforced for a ServiceAccount token. Requires .cache/bin/{etcd,kube-apiserver} (scripts/ensure-kube-binaries.sh).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ApiException,
  AuthenticationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1ConfigMap,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
import { eventually } from '../../../operator/src/testing/cluster.ts';
import { runHelm } from './helm.ts';
import { type KubeControlPlane, startKubeControlPlane } from './kube-apiserver.ts';

const WAIT_MS = 30_000;

function httpCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

describe('kube-apiserver harness', { timeout: 240_000 }, () => {
  let cp: KubeControlPlane;

  before(async () => {
    cp = await startKubeControlPlane();
  });
  after(async () => {
    await cp?.stop();
  });

  test('serves the pinned Kubernetes version to the admin identity', async () => {
    const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
    const pinned = /^KUBERNETES_VERSION=(\S+)$/m.exec(
      readFileSync(join(import.meta.dirname, '../../kube-tools/versions.env'), 'utf8'),
    )?.[1];
    assert.ok(pinned, 'KUBERNETES_VERSION missing from e2e/kube-tools/versions.env');
    assert.equal(version.gitVersion, pinned, 'kube-apiserver is stale: run scripts/ensure-kube-binaries.sh');
    assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const who = await cp.kubeConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.ok(who.status?.userInfo?.groups?.includes('system:masters'), JSON.stringify(who.status?.userInfo));
  });

  test('a ConfigMap created through the API arrives through a watch', async () => {
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const namespace = 'watch-test';
    await core.createNamespace({ body: { metadata: { name: namespace } } });

    // Watch from the list's resourceVersion: no event can be missed, whenever the watch connection is established.
    const list = await core.listNamespacedConfigMap({ namespace });
    const phases: string[] = [];
    let onEvent: (phase: string, obj: V1ConfigMap) => void = () => {};
    let onDone: (err: unknown) => void = () => {};
    const added = new Promise<V1ConfigMap>((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`no ADDED event for greeting within ${WAIT_MS} ms; saw ${JSON.stringify(phases)}`)),
        WAIT_MS,
      );
      onEvent = (phase, obj) => {
        phases.push(phase);
        if (phase === 'ADDED' && obj.metadata?.name === 'greeting') {
          clearTimeout(timer);
          res(obj);
        }
      };
      onDone = (err) => {
        clearTimeout(timer);
        rej(new Error(`watch ended before the ADDED event: ${String(err)}`));
      };
    });
    added.catch(() => {}); // observed below; avoid an unhandled rejection while the create is in flight
    const controller = await new Watch(cp.kubeConfig).watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { resourceVersion: list.metadata?.resourceVersion },
      (phase, obj: V1ConfigMap) => onEvent(phase, obj),
      (err) => onDone(err),
    );
    try {
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: 'greeting', labels: { app: 'switchboard' } }, data: { hello: 'world' } },
      });
      const cm = await added;
      assert.equal(cm.data?.hello, 'world');
      assert.equal(cm.metadata?.namespace, namespace);
      assert.equal(cm.metadata?.labels?.app, 'switchboard');
    } finally {
      controller.abort();
    }
  });

  test('RBAC is enforced for a ServiceAccount token', async () => {
    const adminCore = cp.kubeConfig.makeApiClient(CoreV1Api);
    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const namespace = 'rbac-test';
    const other = 'rbac-other';
    await adminCore.createNamespace({ body: { metadata: { name: namespace } } });
    await adminCore.createNamespace({ body: { metadata: { name: other } } });

    const token = await cp.tokenFor(namespace, 'restricted');
    const saKc = cp.kubeconfigFor(token);
    const saCore = saKc.makeApiClient(CoreV1Api);

    const who = await saKc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(who.status?.userInfo?.username, `system:serviceaccount:${namespace}:restricted`);

    await assert.rejects(
      saCore.listNamespacedConfigMap({ namespace }),
      (err) => httpCode(err) === 403,
      'listing ConfigMaps without any RoleBinding must be forbidden',
    );

    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'restricted-reads-configmaps' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'restricted', namespace }],
      },
    });

    // The RBAC authorizer reads through an informer cache, so the grant becomes visible asynchronously: poll, but
    // only tolerate 403 while waiting.
    const list = await eventually('the RoleBinding to take effect', async () => {
      try {
        return await saCore.listNamespacedConfigMap({ namespace });
      } catch (err) {
        if (httpCode(err) === 403) return undefined;
        throw err;
      }
    });
    assert.ok(Array.isArray(list.items));

    // The grant is namespaced: still forbidden elsewhere, and still read-only.
    await assert.rejects(saCore.listNamespacedConfigMap({ namespace: other }), (err) => httpCode(err) === 403);
    await assert.rejects(
      saCore.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'nope' } } }),
      (err) => httpCode(err) === 403,
    );
  });

  test('writeKubeconfigFor produces a loadable kubeconfig file', async () => {
    const token = await cp.tokenFor('rbac-test', 'restricted');
    const path = await cp.writeKubeconfigFor(token, 'rbac-test');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    assert.equal(kc.getCurrentCluster()?.server, cp.server);
    assert.equal(kc.getCurrentUser()?.token, token);
    assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, 'rbac-test');
  });

  test('helm talks to the control plane through the admin kubeconfig (server-side dry-run)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-helm-kube-'));
    try {
      const chart = join(dir, 'demo');
      const created = await runHelm(['create', chart]);
      assert.equal(created.code, 0, created.stderr);
      await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'helm-test' } } });
      const r = await runHelm(['install', 'rel', chart, '--namespace', 'helm-test', '--dry-run=server'], {
        kubeconfig: cp.kubeconfigPath,
      });
      assert.equal(r.code, 0, `helm install --dry-run=server failed:\n${r.stderr}`);
      assert.match(r.stdout, /^kind: Deployment$/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
