// Tenant isolation (issue [3/10]): routing is per tenant, a dedicated trunk serves only its tenant, an unknown trunk
// FQDN borrows no tenant's settings, and each tenant's CDRs go to its own Redis stream only.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { cdrStreamKey } from '../../../sbc-pod/src/cdr/sinks.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';
import { BASE, CONTOSO, FABRIKAM, type Fixture, startFixture } from './fixture.ts';
import { nextInboundCall } from './helpers.ts';
import { UdpPeer } from './udp-peer.ts';

let f: Fixture;
let redis: RedisServer;
let carrierA: UdpPeer;
let carrierC: UdpPeer;

before(async () => {
  redis = await startRedis();
  f = await startFixture({ redisUrl: redis.url });
  carrierA = await UdpPeer.start({ port: f.ports.a });
  carrierC = await UdpPeer.start({ port: f.ports.c });
});
after(async () => {
  await carrierA?.close();
  await carrierC?.close();
  await f?.close();
  await redis?.stop();
});

test('the same dialled number routes by each tenant’s own policy', async () => {
  const number = '+15559875000';
  for (const [tenant, from, carrier] of [
    [CONTOSO, '+15551230001', carrierA],
    [FABRIKAM, '+15551240001', carrierC],
  ] as const) {
    const mark = carrier.received.length;
    const call = await f.sim.placeCall({ tenantFqdn: tenant, from, to: number });
    assert.equal((await call.final(10_000)).status, 200);
    const invite = await carrier.received.waitFor(
      (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE',
      `the INVITE of ${tenant}`,
      5_000,
      mark,
    );
    assert.ok(invite.msg.kind === 'request' && invite.msg.uri.user === number);
    await call.bye();
  }
  const contoso = await f.waitForCdr((c) => c.callee === number && c.tenant === 'contoso/contoso');
  const fabrikam = await f.waitForCdr((c) => c.callee === number && c.tenant === 'fabrikam/fabrikam');
  assert.equal(contoso.trunk, 'carriers/carrier-a');
  assert.equal(fabrikam.trunk, 'carriers/carrier-c');
  assert.equal(fabrikam.account, 'ACC-FABRIKAM');
});

test('a call for fabrikam’s number on contoso’s dedicated trunk is refused; contoso’s number is served', async () => {
  const peer = await UdpPeer.start({ host: '127.0.0.2' });
  try {
    const sbc = { address: '127.0.0.1', port: f.udpPort };
    const calls = f.sim.inboundCalls.length;
    const refused = peer.invite(sbc, { to: '+15551240001', from: '+15559875001' });
    assert.equal((await refused.final()).status, 404);
    assert.equal(f.sim.inboundCalls.length, calls, 'nothing reached Teams');
    const inbound = nextInboundCall(f, '+15551230002');
    const served = peer.invite(sbc, { to: '+15551230002', from: '+15559875002' });
    assert.equal((await inbound).tenant?.name, 'contoso');
    assert.equal((await served.final(10_000)).status, 200);
    await served.request('BYE');
    const cdr = await f.waitForCdr((c) => c.caller === '+15559875002');
    assert.equal(cdr.trunk, 'carriers/carrier-b');
    assert.ok(
      f.cdrs().every((c) => c.caller !== '+15559875001'),
      'the refused call belongs to no tenant',
    );
  } finally {
    await peer.close();
  }
});

test('a Teams call to an unknown trunk FQDN gets 404 and uses no tenant’s settings', async () => {
  const before = f.cdrs().length;
  const mark = carrierA.received.length + carrierC.received.length;
  const call = await f.sim.placeCall({ tenantFqdn: `unknown.${BASE}`, from: '+15551230001', to: '+15559875003' });
  assert.equal((await call.final()).status, 404);
  assert.equal(carrierA.received.length + carrierC.received.length, mark, 'no carrier was called');
  assert.equal(f.cdrs().length, before, 'no tenant CDR');
});

test('each tenant’s CDRs are in its own Redis stream only', async () => {
  const client = new Redis(redis.url);
  try {
    const read = async (tenant: string) => {
      const key = cdrStreamKey(tenant);
      const entries = await client.xrange(key, '-', '+');
      return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('cdr') + 1]!) as Cdr);
    };
    // Every CDR written so far reaches Redis (the sink writes JSONL and Redis side by side).
    const expected = f.cdrs();
    const deadline = Date.now() + 10_000;
    let contoso: Cdr[] = [];
    let fabrikam: Cdr[] = [];
    for (;;) {
      contoso = await read('contoso/contoso');
      fabrikam = await read('fabrikam/fabrikam');
      if (contoso.length + fabrikam.length >= expected.length || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50)); // polling Redis: no event to wait on
    }
    assert.ok(contoso.length > 0 && fabrikam.length > 0);
    assert.ok(contoso.every((c) => c.tenant === 'contoso/contoso' && c.account === 'ACC-CONTOSO'));
    assert.ok(fabrikam.every((c) => c.tenant === 'fabrikam/fabrikam' && c.account === 'ACC-FABRIKAM'));
    assert.equal(contoso.length + fabrikam.length, expected.length);
    const ids = new Set(contoso.map((c) => c.id));
    assert.ok(fabrikam.every((c) => !ids.has(c.id)));
  } finally {
    client.disconnect();
  }
});
