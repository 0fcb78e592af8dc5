import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openApiPath } from './openapi.ts';
import {
  type AdminApi,
  type AdminState,
  type BlockedSource,
  buildAdminApp,
  type CallDetail,
  type CallSummary,
  MAX_PAGE_SIZE,
  startAdminServer,
} from './server.ts';

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

const TOKEN = 's3cr3t-admin-token';
const state: AdminState = { ready: () => true, notReadyReason: () => '', status: () => ({}) };

function fakeApi() {
  const calls: CallSummary[] = [];
  for (let i = 0; i < 7; i++) {
    calls.push({
      id: `call-${i}`,
      tenant: i % 2 ? 'fabrikam/fabrikam' : 'contoso/contoso',
      direction: 'teams-to-carrier',
      state: 'confirmed',
      inboundCallId: `in-${i}@teams`,
      setupTime: new Date(Date.UTC(2026, 2, 1, 10, 0, 7 - i)).toISOString(), // newest first in insertion order
    });
  }
  let blocked: BlockedSource[] = [
    { source: '198.51.100.7', reason: 'rate', hits: 900 },
    { source: '203.0.113.0/24', reason: 'manual' },
  ];
  let draining = false;
  const api: AdminApi = {
    config: () => ({
      version: 'v42',
      tenants: [
        { id: 'contoso/contoso', fqdn: 'contoso.sbc.example.net', suspended: false, activeCalls: 4 },
        { id: 'fabrikam/fabrikam', fqdn: 'fabrikam.sbc.example.net', suspended: false, activeCalls: 3 },
      ],
    }),
    activeCalls: (tenant) => calls.filter((c) => !tenant || c.tenant === tenant),
    call: (id): CallDetail | undefined => {
      const c = calls.find((x) => x.id === id);
      return (
        c && {
          ...c,
          legs: [
            { name: 'inbound', side: 'teams', transport: 'TLS', callId: c.inboundCallId, state: 'confirmed' },
            { name: 'outbound', side: 'carrier', transport: 'UDP', callId: `out-${id}`, state: 'confirmed' },
          ],
        }
      );
    },
    drain: () => {
      draining = true;
      return { draining, activeCalls: calls.length };
    },
    blockedSources: {
      list: () => blocked,
      clear: (source) => {
        const before = blocked.length;
        blocked = source ? blocked.filter((b) => b.source !== source) : [];
        return before - blocked.length;
      },
    },
  };
  return { api, isDraining: () => draining };
}

/** "METHOD /path" of every route in fastify's printRoutes tree (HEAD omitted, ":param" → "{param}"). */
function servedRoutes(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = openApiPath(stack.join(''));
    for (const method of m[3]!.split(', ')) if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out.sort();
}

const PROTECTED: [string, string][] = [
  ['GET', '/admin/config'],
  ['GET', '/admin/calls'],
  ['GET', '/admin/calls/call-1'],
  ['POST', '/admin/drain'],
  ['GET', '/admin/blocked-sources'],
  ['DELETE', '/admin/blocked-sources'],
  ['DELETE', '/admin/blocked-sources/198.51.100.7'],
];

describe('admin API', () => {
  test('401 without a token, with a wrong token, or with another scheme; 200 with the right one', async () => {
    const { api, isDraining } = fakeApi();
    const app = await buildAdminApp(state, { token: TOKEN, api });
    try {
      for (const [method, url] of PROTECTED) {
        for (const authorization of [undefined, 'Bearer wrong', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, 'Bearer']) {
          const res = await app.inject({
            method: method as 'GET',
            url,
            headers: authorization ? { authorization } : {},
          });
          assert.equal(res.statusCode, 401, `${method} ${url} with ${authorization}`);
          assert.match(String(res.headers['www-authenticate']), /^Bearer/);
          assert.equal(res.json().error, 'unauthorized');
        }
      }
      assert.equal(isDraining(), false, 'an unauthorised drain did nothing');
      const ok = await app.inject({ url: '/admin/config', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.json().version, 'v42');
      assert.deepEqual(
        ok.json().tenants.map((t: { id: string }) => t.id),
        ['contoso/contoso', 'fabrikam/fabrikam'],
      );
      // Public routes stay public.
      assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/openapi.json' })).statusCode, 200);
    } finally {
      await app.close();
    }
  });

  test('without a configured token the protected routes are not served (404)', async () => {
    const { api } = fakeApi();
    for (const token of [undefined, '', '  ']) {
      const app = await buildAdminApp(state, { token, api });
      try {
        for (const [method, url] of PROTECTED) {
          const res = await app.inject({ method: method as 'GET', url, headers: { authorization: 'Bearer anything' } });
          assert.equal(res.statusCode, 404, `${method} ${url}`);
        }
        const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
        assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/admin')), 'no admin paths documented');
      } finally {
        await app.close();
      }
    }
  });

  test('active calls are paged, filtered by tenant, sorted by setup time', async () => {
    const { api } = fakeApi();
    const app = await buildAdminApp(state, { token: TOKEN, api });
    const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } });
    try {
      const p1 = (await get('/admin/calls?page=1&pageSize=3')).json();
      assert.deepEqual([p1.page, p1.pageSize, p1.total], [1, 3, 7]);
      assert.deepEqual(
        p1.items.map((c: CallSummary) => c.id),
        ['call-6', 'call-5', 'call-4'],
      );
      const p3 = (await get('/admin/calls?page=3&pageSize=3')).json();
      assert.deepEqual(
        p3.items.map((c: CallSummary) => c.id),
        ['call-0'],
      );
      const beyond = (await get('/admin/calls?page=9&pageSize=3')).json();
      assert.deepEqual([beyond.total, beyond.items.length], [7, 0]);
      const fab = (await get('/admin/calls?tenant=fabrikam%2Ffabrikam')).json();
      assert.deepEqual([fab.total, fab.pageSize], [3, 50]);
      assert.ok(fab.items.every((c: CallSummary) => c.tenant === 'fabrikam/fabrikam'));
      for (const bad of ['page=0', 'pageSize=0', `pageSize=${MAX_PAGE_SIZE + 1}`, 'page=x']) {
        assert.equal((await get(`/admin/calls?${bad}`)).statusCode, 400, bad);
      }
      const one = await get('/admin/calls/call-3');
      assert.equal(one.statusCode, 200);
      assert.deepEqual(
        one.json().legs.map((l: { name: string; side: string }) => [l.name, l.side]),
        [
          ['inbound', 'teams'],
          ['outbound', 'carrier'],
        ],
      );
      assert.equal((await get('/admin/calls/nope')).statusCode, 404);
    } finally {
      await app.close();
    }
  });

  test('drain and blocked sources', async () => {
    const { api, isDraining } = fakeApi();
    const app = await buildAdminApp(state, { token: TOKEN, api });
    const auth = { authorization: `Bearer ${TOKEN}` };
    try {
      const drain = await app.inject({ method: 'POST', url: '/admin/drain', headers: auth });
      assert.equal(drain.statusCode, 202);
      assert.deepEqual(drain.json(), { draining: true, activeCalls: 7 });
      assert.equal(isDraining(), true);
      const list = (await app.inject({ url: '/admin/blocked-sources', headers: auth })).json();
      assert.equal(list.items.length, 2);
      const one = await app.inject({
        method: 'DELETE',
        url: `/admin/blocked-sources/${encodeURIComponent('203.0.113.0/24')}`,
        headers: auth,
      });
      assert.deepEqual(one.json(), { cleared: 1 });
      const all = await app.inject({ method: 'DELETE', url: '/admin/blocked-sources', headers: auth });
      assert.deepEqual(all.json(), { cleared: 1 });
    } finally {
      await app.close();
    }
  });

  test('the OpenAPI document lists every route, generated from the route schemas', async () => {
    const { api } = fakeApi();
    const metrics = { contentType: 'text/plain; version=0.0.4', scrape: async () => '# none\n' };
    const app = await buildAdminApp(state, {
      token: TOKEN,
      api,
      metrics,
      plugins: [
        (a, ctx) => {
          a.get(
            '/admin/extra',
            { preHandler: ctx.requireToken, schema: { summary: 'from a plugin' } },
            async () => ({}),
          );
        },
      ],
    });
    try {
      const doc = (await app.inject({ url: '/openapi.json' })).json() as {
        openapi: string;
        paths: Record<string, Record<string, { security?: unknown; parameters?: { name: string; in: string }[] }>>;
        components: { securitySchemes: Record<string, unknown> };
      };
      assert.equal(doc.openapi, '3.1.0');
      const documented = Object.entries(doc.paths)
        .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
        .sort();
      // Every route fastify serves (HEAD twins excluded), read from fastify's own route tree.
      assert.deepEqual(documented, servedRoutes(app.printRoutes({ commonPrefix: false })));
      const expected = [
        'GET /healthz',
        'GET /readyz',
        'GET /status',
        'GET /metrics',
        'GET /openapi.json',
        'GET /admin/config',
        'GET /admin/calls',
        'GET /admin/calls/{id}',
        'POST /admin/drain',
        'GET /admin/blocked-sources',
        'DELETE /admin/blocked-sources',
        'DELETE /admin/blocked-sources/{source}',
        'GET /admin/extra',
      ].sort();
      assert.deepEqual(documented, expected);
      for (const entry of expected) {
        const [method, path] = entry.split(' ') as [string, string];
        const url = path.replace('{id}', 'call-1').replace('{source}', '198.51.100.7');
        const res = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
        assert.notEqual(res.statusCode, 404, `${entry} is served`);
        const op = doc.paths[path]![method.toLowerCase()]!;
        if (path.startsWith('/admin/') && path !== '/admin/extra') {
          assert.deepEqual(op.security, [{ bearer: [] }], `${entry} is marked as bearer-protected`);
        }
      }
      assert.ok(doc.components.securitySchemes.bearer);
      const callsParams = doc.paths['/admin/calls']!.get!.parameters!.map((p) => `${p.in}:${p.name}`);
      assert.deepEqual(callsParams, ['query:tenant', 'query:page', 'query:pageSize']);
      assert.deepEqual(
        doc.paths['/admin/calls/{id}']!.get!.parameters!.map((p) => `${p.in}:${p.name}`),
        ['path:id'],
      );
      assert.equal(openApiPath('/a/:x/b/:y'), '/a/{x}/b/{y}');
    } finally {
      await app.close();
    }
  });
});
