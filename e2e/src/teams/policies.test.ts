// Per-deployment call policies (issue [4/10] items 7 and 8): 183 turned into 180 without SDP toward carriers
// (SWITCHBOARD_CARRIER_PROVISIONAL=183-as-180, M5.10) and caller-ID screening in Replace mode (H3.11: a number the
// tenant does not own becomes its defaultCallerId).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../sbc-pod/src/sip/message/index.ts';
import { BASE, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { nextInboundCall } from '../b2bua/helpers.ts';
import { tenant } from '../b2bua/manifests.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';

const NORTHWIND = `northwind.${BASE}`;
let f: Fixture;
let carrier: UdpPeer;

before(async () => {
  f = await startFixture({
    env: { SWITCHBOARD_CARRIER_PROVISIONAL: '183-as-180' },
    extraManifests: () =>
      tenant({
        name: 'northwind',
        fqdn: NORTHWIND,
        numbers: '+15551250000-+15551250999',
        spec: ['callerIdScreening: Replace', 'defaultCallerId: "+15551250000"'],
      }),
  });
  f.sim.tenants.add(NORTHWIND, { name: 'northwind' });
  f.sim.sbcHosts[NORTHWIND] = '127.0.0.1';
  carrier = await UdpPeer.start({ port: f.ports.a });
});
after(async () => {
  await carrier?.close();
  await f?.close();
});

test('M5.10 (183-as-180): Teams’ 183 with SDP reaches the carrier as a 180 without SDP', async () => {
  f.sim.setScript([{ status: 183, sdp: true }], { number: '+15551230001' }); // Teams answers below, by hand
  const inbound = nextInboundCall(f, '+15551230001');
  const call = carrier.invite({ address: '127.0.0.1', port: f.udpPort }, { to: '+15551230001', from: '+15559877001' });
  const teams = await inbound;
  await call.waitFor((r) => r.status > 100 && r.status < 200, 10_000);
  teams.respond(200, { sdp: true });
  assert.equal((await call.final(10_000)).status, 200);
  const provisional = call.responses().filter((r: SipResponse) => r.status > 100 && r.status < 200);
  assert.deepEqual(
    provisional.map((r) => [r.status, r.body.length]),
    [[180, 0]],
  );
  assert.equal((await teams.bye()).status, 200);
  f.sim.clearScripts();
});

test('H3.11 (Replace): a caller ID the tenant does not own is replaced by its defaultCallerId', async () => {
  const mark = carrier.received.length;
  const call = await f.sim.placeCall({ tenantFqdn: NORTHWIND, from: '+15551230001', to: '+12125557001' });
  assert.equal((await call.final(10_000)).status, 200);
  const invite = await carrier.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && (r.msg as SipRequest).uri.user === '+12125557001',
    'the INVITE at the carrier',
    5_000,
    mark,
  );
  assert.equal((invite.msg as SipRequest).from.uri.user, '+15551250000');
  assert.equal((await call.bye()).status, 200);
  const cdr = await f.waitForCdr((c) => c.callee === '+12125557001');
  assert.equal(cdr.caller, '+15551250000');
  assert.equal(cdr.tenant, 'northwind/northwind');
});
