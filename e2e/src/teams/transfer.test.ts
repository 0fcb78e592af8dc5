// Transfers from Teams (issue [4/10] item 4, M5.24–M5.28): REFER terminated by the SBC (202, sipfrag NOTIFYs, a new
// INVITE back to Teams with Request-URI = Refer-To and Referred-By byte for byte, the carrier leg kept up and
// re-INVITEd when the target answers, no early BYE), a rejected transfer leaving the call as it was, and INVITE with
// Replaces (call queues, consultative transfer) accepted without 420 and without a retried call.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getHeader, type SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { nextInboundCall } from '../b2bua/helpers.ts';
import { type UacCall, UdpPeer } from '../b2bua/udp-peer.ts';
import type { IncomingCall } from '../teams-sim/calls.ts';

let f: Fixture;
let carrier: UdpPeer;

before(async () => {
  f = await startFixture();
  carrier = await UdpPeer.start({ port: f.ports.b });
});
after(async () => {
  await carrier?.close();
  await f?.close();
});

/** A confirmed carrier → Teams call. */
async function connected(callee: string, caller: string): Promise<{ call: UacCall; teams: IncomingCall }> {
  const inbound = nextInboundCall(f, callee);
  const call = carrier.invite({ address: '127.0.0.1', port: f.udpPort }, { to: callee, from: caller });
  const teams = await inbound;
  assert.equal((await call.final(10_000)).status, 200);
  await teams.waitForState('confirmed');
  return { call, teams };
}

const carrierRequests = (call: UacCall, method: string) =>
  carrier.received.filter(
    (r) => r.msg.kind === 'request' && r.msg.method === method && r.msg.callId === call.invite.callId,
  );
const sipfrags = (teams: IncomingCall) =>
  teams.requests.filter((r) => r.method === 'NOTIFY').map((r) => r.body.toString().trim());

test('M5.25: REFER → 202, NOTIFY 100/18x/200, new INVITE to Teams with Refer-To and Referred-By verbatim, carrier re-INVITEd, no early BYE', async () => {
  const { call, teams } = await connected('+15551230001', '+15559872001');
  const guid = '7e6f5b3c-1111-4a2b-9c3d-0123456789ab';
  const mri = `8:orgid:${'a'.repeat(36)}`;
  const uri = `sip:+15551230002@sip.pstnhub.microsoft.com;user=phone;x-m=${mri};x-t=${guid};x-pad=${'p'.repeat(300)}`;
  const referTo = `<${uri}>`;
  const referredBy = `<sip:sip.pstnhub.microsoft.com;x-m=${mri};x-t=${guid};x-ti=${'b'.repeat(32)};x-tt=${encodeURIComponent(`sip:+15551230002@sip.pstnhub.microsoft.com;${'q'.repeat(120)}`)}>`;
  assert.ok(referTo.length > 400 && referredBy.length > 300);
  const target = nextInboundCall(f, '+15551230002');
  // The REFER comes on a new TLS connection from another Teams address (T1.13, T1.14).
  const accepted = await teams.refer({ referTo, referredBy, newConnection: true, localAddress: '127.0.2.51' });
  assert.equal(accepted.status, 202);
  const transfer = await target;
  assert.equal(transfer.invite.uriText, uri, 'Request-URI = Refer-To, not truncated or re-encoded');
  assert.equal(getHeader(transfer.invite, 'Referred-By'), referredBy, 'Referred-By copied byte for byte');
  assert.equal(transfer.listener, 'sip', 'sent back to the Microsoft proxy, never to the PSTN');
  assert.equal(transfer.tenant?.name, 'contoso');
  const sdp = transfer.invite.body.toString();
  assert.match(sdp, /a=sendrecv/);
  assert.doesNotMatch(sdp, /a=inactive/, 'M5.27');
  await transfer.waitForState('confirmed');
  const notify200 = await teams.requests.waitFor(
    (r) => r.method === 'NOTIFY' && r.body.toString().startsWith('SIP/2.0 200'),
    'NOTIFY with the final sipfrag',
  );
  assert.match(getHeader(notify200, 'Subscription-State') ?? '', /^terminated/);
  assert.match(getHeader(notify200, 'Event') ?? '', /^refer/);
  assert.equal(getHeader(notify200, 'Content-Type'), 'message/sipfrag;version=2.0');
  assert.deepEqual(sipfrags(teams), ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']);
  // The carrier is connected to the new call by a re-INVITE carrying the new SDP.
  await carrier.received.waitFor(
    (r) =>
      r.msg.kind === 'request' &&
      r.msg.method === 'INVITE' &&
      r.msg.to.params.has('tag') &&
      r.msg.callId === call.invite.callId,
    'the re-INVITE of the carrier',
  );
  assert.ok(
    teams.requests.items.every((r) => r.method !== 'BYE'),
    'no BYE from the SBC on the old dialog',
  );
  assert.equal(carrierRequests(call, 'BYE').length, 0, 'the carrier leg stays up');
  // Teams ends the old dialog: the call lives on.
  assert.equal((await teams.bye()).status, 200);
  assert.equal(carrierRequests(call, 'BYE').length, 0);
  // The transfer target hangs up: that ends the call toward the carrier.
  assert.equal((await transfer.bye()).status, 200);
  await carrier.waitForRequest('BYE', (r) => r.callId === call.invite.callId);
  const cdr = await f.waitForCdr((c) => c.caller === '+15559872001');
  assert.equal(cdr.disposition, 'answered');
  f.sim.assertNoViolations({ ignore: ['D6.1', 'H3.3'] });
});

test('M5.25: a transfer the target rejects (486) is reported in the NOTIFY and the original call stays up', async () => {
  f.sim.setScript([{ status: 486, reason: 'Busy Here' }], { number: '+15551230003' });
  const { call, teams } = await connected('+15551230001', '+15559872002');
  const calls = f.sim.inboundCalls.length;
  const accepted = await teams.refer({ referTo: '<sip:+15551230003@sip.pstnhub.microsoft.com;user=phone>' });
  assert.equal(accepted.status, 202);
  await teams.requests.waitFor(
    (r) => r.method === 'NOTIFY' && r.body.toString().startsWith('SIP/2.0 486'),
    'NOTIFY 486',
  );
  assert.equal(f.sim.inboundCalls.length, calls + 1, 'one INVITE, no retry after a 486 (M5.13)');
  assert.equal(carrierRequests(call, 'BYE').length, 0);
  // The call is still there: Teams hangs up and the carrier gets the BYE.
  assert.equal((await teams.bye()).status, 200);
  await carrier.waitForRequest('BYE', (r) => r.callId === call.invite.callId);
  f.sim.clearScripts();
});

test('M5.28: INVITE with Replaces from Teams replaces the Teams leg: 200 (no 420), carrier re-INVITEd, old dialog BYEd, no retried call', async () => {
  const { call, teams } = await connected('+15551230002', '+15559872003');
  const calls = f.sim.inboundCalls.length;
  const sbcTag = teams.invite.from.params.get('tag')!;
  const agent = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230003',
    to: '+15559872003',
    headers: [{ name: 'Replaces', value: `${teams.callId};to-tag=${sbcTag};from-tag=${teams.localTag}` }],
    newConnection: true,
    localAddress: '127.0.2.52',
  });
  const final = await agent.final(10_000);
  assert.equal(final.status, 200);
  assert.ok(final.body.length > 0, 'the answer to the new offer');
  assert.equal(final.contacts[0]?.uri.host, CONTOSO);
  await carrier.received.waitFor(
    (r) =>
      r.msg.kind === 'request' &&
      r.msg.method === 'INVITE' &&
      r.msg.to.params.has('tag') &&
      r.msg.callId === call.invite.callId,
    'the re-INVITE of the carrier with the new offer',
  );
  await teams.waitForRequest('BYE');
  assert.equal(f.sim.inboundCalls.length, calls, 'no new call toward Teams');
  assert.equal(carrierRequests(call, 'BYE').length, 0);
  // The new Teams leg is the call now: its BYE reaches the carrier.
  assert.equal((await agent.bye()).status, 200);
  await carrier.waitForRequest('BYE', (r) => r.callId === call.invite.callId);
  const cdrs = f.cdrs().filter((c) => c.caller === '+15559872003');
  assert.ok(cdrs.length <= 1);
  const cdr = await f.waitForCdr((c) => c.caller === '+15559872003');
  assert.equal(cdr.disposition, 'answered');
});

test('M5.28: Replaces naming no dialog → 481, never 420', async () => {
  const agent = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230003',
    to: '+15559872004',
    headers: [
      { name: 'Replaces', value: 'nope@x;to-tag=a;from-tag=b' },
      { name: 'Require', value: 'replaces' },
    ],
  });
  assert.equal((await agent.final()).status, 481);
  const reqs = (m: string) => (r: SipRequest) => r.method === m;
  assert.equal(agent.requests.filter(reqs('BYE')).length, 0);
});
