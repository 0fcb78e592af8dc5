import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from './redis.ts';

let a: RedisServer;
let b: RedisServer;
before(async () => {
  [a, b] = await Promise.all([startRedis(), startRedis()]);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

test('each suite gets its own redis-server with no shared state', async () => {
  assert.notEqual(a.port, b.port);
  const ca = new Redis(a.url, { lazyConnect: true });
  const cb = new Redis(b.url, { lazyConnect: true });
  try {
    await ca.connect();
    await cb.connect();
    await ca.set('k', 'from-a');
    assert.equal(await ca.get('k'), 'from-a');
    assert.equal(await cb.get('k'), null);
  } finally {
    ca.disconnect();
    cb.disconnect();
  }
});

test('restart empties the data and serves again on the same port', async () => {
  const client = new Redis(a.url, { lazyConnect: true, maxRetriesPerRequest: null });
  try {
    await client.connect();
    await client.set('before', '1');
    await a.restart();
    // ioredis reconnects by itself; the first command after the restart waits for it.
    assert.equal(await client.get('before'), null);
    assert.equal(await client.ping(), 'PONG');
  } finally {
    client.disconnect();
  }
});

test('stop really stops the server', async () => {
  const server = await startRedis();
  await server.stop();
  const client = new Redis(server.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => {}); // the refused connection is the expected outcome, reported by connect() below
  await assert.rejects(client.connect());
  client.disconnect();
});
