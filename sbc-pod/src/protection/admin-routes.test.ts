import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { bearerMatches, protectionAdminRoutes } from './admin-routes.ts';
import { SourceGuard } from './source-guard.ts';

async function app(token = 's3cret') {
  const now = 5_000_000;
  const guard = new SourceGuard({ now: () => now });
  const server = Fastify({ logger: false });
  await server.register(protectionAdminRoutes, { guard, token, admission: { stats: () => ({ backend: 'redis' }) } });
  server.get('/healthz', async () => ({ status: 'ok' }));
  await server.ready();
  return { server, guard };
}

const auth = { authorization: 'Bearer s3cret' };

test('401 without a token or with a wrong one; other routes are not affected', async () => {
  const { server } = await app();
  for (const headers of [
    {},
    { authorization: 'Bearer nope' },
    { authorization: 's3cret' },
    { authorization: 'Basic czNjcmV0' },
  ]) {
    const r = await server.inject({ method: 'GET', url: '/admin/blocks', headers });
    assert.equal(r.statusCode, 401, JSON.stringify(headers));
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
    const d = await server.inject({ method: 'DELETE', url: '/admin/blocks/192.0.2.1', headers });
    assert.equal(d.statusCode, 401);
  }
  assert.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  await server.close();
});

test('an empty token disables the routes', async () => {
  const { server } = await app('');
  const r = await server.inject({ method: 'GET', url: '/admin/blocks', headers: { authorization: 'Bearer ' } });
  assert.equal(r.statusCode, 401);
  assert.equal(bearerMatches('Bearer x', ''), false);
  await server.close();
});

test('list blocks, clear one (IPv6 URL-encoded), 404 for a source not blocked, clear all', async () => {
  const { server, guard } = await app();
  guard.block('192.0.2.1', 'scanner', 60_000);
  guard.block('2001:db8::1', 'auth-failed', 60_000);
  guard.block('192.0.2.3');
  const list = await server.inject({ method: 'GET', url: '/admin/blocks', headers: auth });
  assert.equal(list.statusCode, 200);
  const body = list.json() as {
    blocks: { source: string; reason: string; until: number }[];
    stats: { blocks: number };
  };
  assert.deepEqual(
    body.blocks.map((b) => [b.source, b.reason, b.until]),
    [
      ['192.0.2.1', 'scanner', 5_060_000],
      ['2001:db8::1', 'auth-failed', 5_060_000],
      ['192.0.2.3', 'manual', 5_000_000 + 15 * 60_000],
    ],
  );
  assert.equal(body.stats.blocks, 3);
  const del = await server.inject({
    method: 'DELETE',
    url: `/admin/blocks/${encodeURIComponent('2001:db8::1')}`,
    headers: auth,
  });
  assert.equal(del.statusCode, 200);
  assert.deepEqual(del.json(), { cleared: 1 });
  assert.equal(guard.isBlocked('2001:db8::1'), false);
  const missing = await server.inject({ method: 'DELETE', url: '/admin/blocks/203.0.113.1', headers: auth });
  assert.equal(missing.statusCode, 404);
  const all = await server.inject({ method: 'DELETE', url: '/admin/blocks', headers: auth });
  assert.deepEqual(all.json(), { cleared: 2 });
  assert.deepEqual(guard.list(), []);
  const adm = await server.inject({ method: 'GET', url: '/admin/admission', headers: auth });
  assert.deepEqual(adm.json(), { backend: 'redis' });
  await server.close();
});
