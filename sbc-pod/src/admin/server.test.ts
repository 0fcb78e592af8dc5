import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startAdminServer } from './server.ts';

test('readyz follows the pod readiness and says why it is not ready', async () => {
  let ready = false;
  const server = await startAdminServer(
    { host: '127.0.0.1', port: 0 },
    { ready: () => ready, notReadyReason: () => 'no config loaded yet', status: () => ({ configVersion: 'v1' }) },
  );
  try {
    const base = `http://127.0.0.1:${server.address.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.equal(((await notReady.json()) as { reason: string }).reason, 'no config loaded yet');
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.deepEqual(await (await fetch(`${base}/status`)).json(), { configVersion: 'v1' });
  } finally {
    await server.close();
  }
});
