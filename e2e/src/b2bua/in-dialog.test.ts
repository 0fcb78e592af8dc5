// In-dialog requests across the B2BUA: re-INVITE both ways, UPDATE (turned into a re-INVITE toward Teams, which takes
// no UPDATE), INFO and OPTIONS relayed and answered, BYE from the callee side, Max-Forwards decremented.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { CONTOSO, type Fixture, startFixture } from './fixture.ts';
import { nextInboundCall } from './helpers.ts';
import { UdpPeer } from './udp-peer.ts';

let f: Fixture;
let peer: UdpPeer;

before(async () => {
  f = await startFixture();
  peer = await UdpPeer.start({ port: f.ports.b });
});
after(async () => {
  await peer?.close();
  await f?.close();
});

const inDialog = (method: string) => (r: SipRequest) => r.method === method && r.to.params.has('tag');

test('carrier → Teams: INFO, OPTIONS, UPDATE and re-INVITE relayed both ways; Teams (the callee) hangs up', async () => {
  const sbc = { address: '127.0.0.1', port: f.udpPort };
  const inbound = nextInboundCall(f, '+15551230001');
  const call = peer.invite(sbc, { to: '+15551230001', from: '+15559873001', maxForwards: 30 });
  const teams = await inbound;
  assert.equal(teams.invite.maxForwards, 29, 'the INVITE lost one hop crossing the B2BUA');
  assert.equal((await call.final(10_000)).status, 200);
  await teams.waitForState('confirmed');

  for (const method of ['INFO', 'OPTIONS']) {
    const seen = teams.requests.length;
    const res = await call.request(method, { maxForwards: 20 });
    assert.equal(res.status, 200, `${method} answered by Teams`);
    const relayed = await teams.waitForRequest(method, 5_000, seen);
    assert.equal(relayed.maxForwards, 19, `${method} lost one hop`);
    assert.notEqual(relayed.callId, call.invite.callId);
  }

  // An UPDATE with an offer reaches Teams as a re-INVITE (M5.20: no UPDATE toward Teams) and its answer comes back.
  let seen = teams.requests.length;
  const update = await call.request('UPDATE', { sdp: true });
  assert.equal(update.status, 200);
  assert.ok(update.body.toString().includes('m=audio'), 'the UPDATE answer carries SDP');
  const reinvite = await teams.waitForRequest('INVITE', 5_000, seen);
  assert.ok(reinvite.to.params.has('tag'), 'an in-dialog INVITE');
  await teams.waitForRequest('ACK', 5_000, seen);
  // An UPDATE without SDP (a session refresh) is answered by the SBC; Teams sees nothing.
  seen = teams.requests.length;
  assert.equal((await call.request('UPDATE')).status, 200);
  assert.equal(teams.requests.length, seen, 'nothing sent to Teams');

  // re-INVITE from the carrier.
  seen = teams.requests.length;
  const re = await call.request('INVITE', { sdp: true });
  assert.equal(re.status, 200);
  assert.ok(re.body.length > 0);
  await teams.waitForRequest('INVITE', 5_000, seen);

  // re-INVITE from Teams reaches the carrier, in the carrier's dialog.
  const mark = peer.received.length;
  const teamsRe = await teams.reinvite();
  assert.equal(teamsRe.status, 200);
  const atCarrier = await peer.received.waitFor(
    (r) => r.msg.kind === 'request' && inDialog('INVITE')(r.msg),
    'the re-INVITE at the carrier',
    5_000,
    mark,
  );
  assert.equal(atCarrier.msg.callId, call.invite.callId);
  await peer.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'ACK' && r.msg.callId === call.invite.callId,
    'the ACK of the re-INVITE at the carrier',
    5_000,
    mark,
  );

  // Teams hangs up: the carrier gets the BYE.
  assert.equal((await teams.bye()).status, 200);
  await peer.waitForRequest('BYE', (r) => r.callId === call.invite.callId);
  const cdr = await f.waitForCdr((c) => c.caller === '+15559873001');
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.endedBy, 'callee');
  // H3.3 (OPTIONS Contact = carrier FQDN) is about keep-alive OPTIONS; the sim also applies it to in-dialog OPTIONS,
  // whose Contact is the dialog's (the tenant FQDN, H3.8).
  f.sim.assertNoViolations({ ignore: ['D6.1', 'H3.3'] });
});

test('Teams → carrier: re-INVITE from Teams reaches the carrier; the carrier (the callee) re-INVITEs and hangs up', async () => {
  const mark = peer.received.length;
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230002', to: '+16665553002' });
  assert.equal((await call.final(10_000)).status, 200);
  const invite = await peer.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && !r.msg.to.params.has('tag'),
    'the INVITE at the carrier',
    5_000,
    mark,
  );
  assert.equal((invite.msg as SipRequest).maxForwards, 69);
  await peer.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'ACK' && r.msg.callId === invite.msg.callId,
    'the ACK at the carrier',
  );

  const before2 = peer.received.length;
  assert.equal((await call.reinvite()).status, 200);
  const re = await peer.received.waitFor(
    (r) => r.msg.kind === 'request' && inDialog('INVITE')(r.msg) && r.msg.callId === invite.msg.callId,
    'the relayed re-INVITE',
    5_000,
    before2,
  );
  assert.equal((re.msg as SipRequest).maxForwards, 69);

  const seen = call.requests.length;
  const fromCarrier = await peer.uasRequest(invite, 'INVITE', { sdp: true });
  assert.equal(fromCarrier.status, 200);
  assert.ok(fromCarrier.body.length > 0);
  await call.waitForRequest('INVITE', 5_000, seen);

  assert.equal((await peer.uasRequest(invite, 'BYE')).status, 200);
  await call.waitForRequest('BYE', 5_000, seen);
  const cdr = await f.waitForCdr((c) => c.callee === '+16665553002');
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.endedBy, 'callee');
});

test('a request with no hops left is refused with 483 and starts no call', async () => {
  const sbc = { address: '127.0.0.1', port: f.udpPort };
  const calls = f.sim.inboundCalls.length;
  const call = peer.invite(sbc, { to: '+15551230001', from: '+15559873003', maxForwards: 0 });
  assert.equal((await call.final()).status, 483);
  assert.equal(f.sim.inboundCalls.length, calls, 'nothing went to Teams');
  // One hop left: it crosses, and arrives with none.
  const inbound = nextInboundCall(f, '+15551230001');
  const last = peer.invite(sbc, { to: '+15551230001', from: '+15559873004', maxForwards: 1 });
  const teams = await inbound;
  assert.equal(teams.invite.maxForwards, 0);
  assert.equal((await last.final(10_000)).status, 200);
  assert.equal((await teams.bye()).status, 200);
  assert.ok(
    f.cdrs().every((c) => c.caller !== '+15559873003'),
    'no CDR: no tenant was ever involved',
  );
});
