// The supervised watch against a real API server: survives a resource that does not exist yet (backoff, then sync
// once its CRD appears), a forced re-list, and keeps delivering changes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  apply,
  ensureNamespace,
  eventually,
  installCertManagerCrd,
  startTestCluster,
  type TestCluster,
} from '../testing/cluster.ts';
import { KubeClient, resourcePath } from './client.ts';
import { Reflector } from './reflector.ts';

describe('Reflector', { timeout: 300_000 }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster();
    await ensureNamespace(c.kc, 'r');
  });
  after(async () => {
    await c?.stop();
  });

  test('retries with backoff until the resource exists, then lists and watches', async () => {
    let changes = 0;
    const r = new Reflector(new KubeClient(c.kc), {
      name: 'certs',
      path: '/apis/cert-manager.io/v1/namespaces/r/certificates',
      minBackoffMs: 50,
      maxBackoffMs: 500,
      onChange: () => changes++,
    });
    r.start();
    try {
      await eventually('a failed list', () => (r.restarts > 0 ? true : undefined));
      assert.equal(r.synced, false);
      await installCertManagerCrd(c.kc);
      await r.waitForSync(AbortSignal.timeout(30_000));
      await apply(c.kc, {
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        metadata: { name: 'x', namespace: 'r' },
        spec: {},
      } as never);
      await eventually('the Certificate in the cache', () => r.get('r/x'));
      assert.ok(changes >= 2);
    } finally {
      await r.stop();
    }
  });

  test('a forced re-list (as after a dropped watch) loses nothing and sees deletions', async () => {
    const r = new Reflector(new KubeClient(c.kc), {
      name: 'cms',
      path: '/api/v1/namespaces/r/configmaps',
      onChange: () => {},
    });
    r.start();
    try {
      await r.waitForSync(AbortSignal.timeout(30_000));
      await apply(c.kc, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'a', namespace: 'r' },
        data: { k: '1' },
      } as never);
      await eventually('a cached', () => r.get('r/a'));
      r.relist();
      await new KubeClient(c.kc).delete(resourcePath('v1', 'configmaps', 'r', 'a'));
      await apply(c.kc, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'b', namespace: 'r' },
        data: { k: '2' },
      } as never);
      await eventually('b cached and a gone', () => (r.get('r/b') && !r.get('r/a') ? true : undefined));
    } finally {
      await r.stop();
    }
  });
});
