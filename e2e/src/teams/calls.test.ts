// Teams call features through the B2BUA (issue [4/10] items 5, 7, 8, 9): hold and re-INVITE rules toward Teams
// (M5.22, M5.23), delayed-offer re-INVITEs toward carriers, forked 18x from Teams and the first-18x policy toward
// carriers (M5.9, M5.10), PRACK toward carriers only (M5.20), a 180 to Teams when the carrier is silent (M5.19),
// caller identity (M5.3, M5.17, M5.18, H3.11) and SIP ⇄ Q.850 mapping without retries (M5.13, M5.14, X7.6).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getHeader, type SipRequest, type SipResponse } from '../../../sbc-pod/src/sip/message/index.ts';
import { CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { nextInboundCall } from '../b2bua/helpers.ts';
import { type Received, type UacCall, UdpPeer } from '../b2bua/udp-peer.ts';
import type { IncomingCall } from '../teams-sim/calls.ts';

let f: Fixture;
/** carrier-b (untrusted, +1666 routes); carrier-a (trusted with identity, other +1 routes). */
let carrierB: UdpPeer;
let carrierA: UdpPeer;

before(async () => {
  f = await startFixture({
    timers: { teamsEarlyRingingMs: 300 },
    env: { SWITCHBOARD_TRUSTED_TRUNKS: 'carriers/carrier-a' },
  });
  carrierB = await UdpPeer.start({ port: f.ports.b });
  carrierA = await UdpPeer.start({ port: f.ports.a });
});
after(async () => {
  await carrierA?.close();
  await carrierB?.close();
  await f?.close();
});

const sbc = () => ({ address: '127.0.0.1', port: f.udpPort });

async function carrierToTeams(callee: string, caller: string, headers = [] as { name: string; value: string }[]) {
  const inbound = nextInboundCall(f, callee);
  const call = carrierB.invite(sbc(), { to: callee, from: caller, headers });
  const teams = await inbound;
  return { call, teams };
}

function inviteAt(peer: UdpPeer, pred: (r: SipRequest) => boolean, mark: number): Promise<Received> {
  return peer.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && !r.msg.to.params.has('tag') && pred(r.msg),
    'the INVITE at the carrier',
    10_000,
    mark,
  );
}

const holdSdp = (dir: string, address: string) =>
  [
    'v=0',
    `o=peer 1 2 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    'm=audio 40000 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    `a=${dir}`,
    '',
  ].join('\r\n');

// ---- item 5: hold and re-INVITE ------------------------------------------------------------------------------------

test('M5.22: a carrier hold (sendonly, c=0.0.0.0) reaches Teams as a=inactive at the previous address; unhold restores', async () => {
  const { call, teams } = await carrierToTeams('+15551230001', '+15559874001');
  assert.equal((await call.final(10_000)).status, 200);
  await teams.waitForState('confirmed');
  const address = /^c=IN IP4 (\S+)/m.exec(teams.invite.body.toString())?.[1];
  let seen = teams.requests.length;
  assert.equal((await call.request('INVITE', { body: holdSdp('sendonly', '0.0.0.0') })).status, 200);
  const hold = (await teams.waitForRequest('INVITE', 5_000, seen)).body.toString();
  assert.match(hold, /^a=inactive\r$/m);
  assert.doesNotMatch(hold, /a=sendonly|a=recvonly|c=IN IP4 0\.0\.0\.0/);
  assert.equal(/^c=IN IP4 (\S+)/m.exec(hold)?.[1], address, 'no media re-targeting (M5.22)');
  seen = teams.requests.length;
  assert.equal((await call.request('INVITE', { body: holdSdp('sendrecv', '127.0.0.1') })).status, 200);
  const unhold = (await teams.waitForRequest('INVITE', 5_000, seen)).body.toString();
  assert.match(unhold, /^a=sendrecv\r$/m);
  assert.equal((await teams.bye()).status, 200);
  f.sim.assertNoViolations({ ignore: ['D6.1', 'H3.3'] });
});

test('M5.23: an ICE-restart re-INVITE from Teams is accepted and relayed', async () => {
  const { call, teams } = await carrierToTeams('+15551230001', '+15559874002');
  assert.equal((await call.final(10_000)).status, 200);
  await teams.waitForState('confirmed');
  const mark = carrierB.received.length;
  const restart = f.sim
    .sdp(9)
    .replace(/a=ice-ufrag:\S+/, 'a=ice-ufrag:restart9')
    .replace(/a=ice-pwd:\S+/, `a=ice-pwd:${'r'.repeat(24)}`);
  const res = await teams.reinvite(restart);
  assert.equal(res.status, 200);
  assert.ok(res.body.length > 0);
  await carrierB.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.callId === call.invite.callId,
    'the relayed re-INVITE',
    5_000,
    mark,
  );
  assert.equal((await teams.bye()).status, 200);
});

test('delayed offer: a re-INVITE without SDP reaches the carrier; its 2xx offer is answered in the relayed ACK', async () => {
  const mark = carrierB.received.length;
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230002', to: '+16665554001' });
  assert.equal((await call.final(10_000)).status, 200);
  const invite = await inviteAt(carrierB, () => true, mark);
  const before = carrierB.received.length;
  const { res, ack } = await call.reinviteWithoutSdp();
  assert.equal(res.status, 200);
  assert.match(res.body.toString(), /m=audio/, 'the carrier’s offer reaches Teams in the 2xx');
  assert.ok(ack.body.length > 0);
  const reinvite = await carrierB.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.callId === invite.msg.callId,
    're-INVITE at the carrier',
    5_000,
    before,
  );
  assert.equal(reinvite.msg.body.length, 0, 'no SDP invented');
  const carrierAck = await carrierB.received.waitFor(
    (r) =>
      r.msg.kind === 'request' &&
      r.msg.method === 'ACK' &&
      r.msg.callId === invite.msg.callId &&
      r.msg.cseq.seq === reinvite.msg.cseq.seq,
    'the ACK of the re-INVITE, with the answer',
    5_000,
    before,
  );
  assert.match(carrierAck.msg.body.toString(), /m=audio/);
  assert.equal((await call.bye()).status, 200);
});

// ---- item 7: early media and provisional responses -----------------------------------------------------------------

test('M5.9/M5.10: several 180s (different To tags) and a 183 from Teams → the carrier sees only the first 18x', async () => {
  f.sim.setScript(
    [
      { status: 180, toTag: 'fork-a' },
      { status: 180, toTag: 'fork-b' },
      { status: 183, sdp: true, toTag: 'fork-b' },
      { status: 200, sdp: true, toTag: 'fork-b' },
    ],
    { number: '+15551230003' },
  );
  try {
    const { call, teams } = await carrierToTeams('+15551230003', '+15559874003');
    assert.equal((await call.final(10_000)).status, 200);
    const ack = await teams.waitForAck();
    assert.equal(ack.to.params.get('tag'), 'fork-b', 'the answering fork is ACKed');
    const provisional = call.responses().filter((r: SipResponse) => r.status > 100 && r.status < 200);
    assert.equal(provisional.length, 1, provisional.map((r) => r.status).join(','));
    assert.equal(provisional[0]?.status, 180);
    assert.equal((await teams.bye()).status, 200);
    await carrierB.waitForRequest('BYE', (r) => r.callId === call.invite.callId);
  } finally {
    f.sim.clearScripts();
  }
});

test('RFC 3262: a carrier 18x with Require: 100rel is PRACKed; Teams never sees 100rel (M5.20)', async () => {
  carrierB.script = [
    {
      status: 180,
      headers: [
        { name: 'Require', value: '100rel' },
        { name: 'RSeq', value: '7' },
      ],
    },
    { status: 200, sdp: true },
  ];
  try {
    const mark = carrierB.received.length;
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230002', to: '+16665554002' });
    const ringing = await call.waitFor(180, 10_000);
    assert.equal(getHeader(ringing, 'RSeq'), undefined);
    assert.equal((await call.final(10_000)).status, 200);
    const invite = await inviteAt(carrierB, () => true, mark);
    const prack = await carrierB.waitForRequest('PRACK', (r) => r.callId === invite.msg.callId);
    assert.equal(getHeader(prack.msg, 'RAck'), `7 ${invite.msg.cseq.seq} INVITE`);
    assert.equal((await call.bye()).status, 200);
    const bye = await carrierB.waitForRequest('BYE', (r) => r.callId === invite.msg.callId);
    assert.ok(bye.msg.cseq.seq > prack.msg.cseq.seq, 'CSeq keeps rising after the PRACK');
    f.sim.assertNoViolations({ ignore: ['D6.1', 'H3.3'] });
  } finally {
    carrierB.script = [{ status: 180 }, { status: 200, sdp: true }];
  }
});

test('M5.19: Teams gets a 180 within its failover timer when the carrier sends no provisional', async () => {
  carrierB.script = [{ status: 100 }];
  try {
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230002', to: '+16665554003' });
    const ringing = await call.waitFor(180, 5_000);
    assert.equal(ringing.contacts[0]?.uri.host, CONTOSO);
    assert.equal((await call.cancel()).status, 200);
    assert.equal((await call.final()).status, 487);
  } finally {
    carrierB.script = [{ status: 180 }, { status: 200, sdp: true }];
  }
});

// ---- item 8: caller identity ---------------------------------------------------------------------------------------

test('M5.17: Privacy: id → anonymous From toward carriers; PAI only toward a trusted trunk; the CDR keeps the caller', async () => {
  const headers = [
    { name: 'P-Asserted-Identity', value: '<tel:+15551230002>' },
    { name: 'Privacy', value: 'id' },
  ];
  let mark = carrierB.received.length;
  const untrusted = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: 'anonymous', to: '+16665554004', headers });
  assert.equal((await untrusted.final(10_000)).status, 200);
  const atB = (await inviteAt(carrierB, () => true, mark)).msg as SipRequest;
  assert.equal(atB.from.uri.user, 'anonymous');
  assert.equal(getHeader(atB, 'P-Asserted-Identity'), undefined, 'no identity to an untrusted carrier');
  assert.equal(getHeader(atB, 'Privacy'), 'id');
  assert.doesNotMatch(JSON.stringify(atB.headers), /15551230002/);
  assert.equal((await untrusted.bye()).status, 200);
  const cdr = await f.waitForCdr((c) => c.callee === '+16665554004');
  assert.equal(cdr.caller, '+15551230002');

  mark = carrierA.received.length;
  const trusted = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: 'anonymous', to: '+12125554005', headers });
  assert.equal((await trusted.final(10_000)).status, 200);
  const atA = (await inviteAt(carrierA, () => true, mark)).msg as SipRequest;
  assert.equal(atA.from.uri.user, 'anonymous');
  assert.match(getHeader(atA, 'P-Asserted-Identity') ?? '', /^<sip:\+15551230002@/);
  assert.equal((await trusted.bye()).status, 200);
});

test('H3.11: a Teams caller ID the tenant does not own is refused with 403 (screening Reject) and never routed', async () => {
  const mark = carrierB.received.length;
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551240001', to: '+16665554006' });
  assert.equal((await call.final(10_000)).status, 403);
  const cdr = await f.waitForCdr((c) => c.callee === '+16665554006');
  assert.equal(cdr.disposition, 'rejected');
  assert.equal(cdr.tenant, 'contoso/contoso');
  assert.ok(carrierB.received.items.slice(mark).every((r) => r.msg.kind !== 'request' || r.msg.method !== 'INVITE'));
});

test('M5.3/M5.18: carrier PAI → From toward Teams, Diversion → History-Info; Teams History-Info → Diversion', async () => {
  const { call, teams } = await carrierToTeams('+15551230001', 'anonymous', [
    { name: 'P-Asserted-Identity', value: '<sip:+15559874007@carrier.example>' },
    { name: 'Diversion', value: '<sip:+15551230009@carrier.example>;reason=user-busy' },
  ]);
  assert.equal(teams.invite.from.uri.user, '+15559874007', 'From rewritten from PAI');
  const hi = getHeader(teams.invite, 'History-Info') ?? '';
  assert.match(
    hi,
    /^<sip:\+15551230009@contoso\.[^?]+\?Reason=SIP%3Bcause%3D486>;index=1,<sip:\+15551230001@.*;index=1\.1$/,
  );
  assert.equal((await call.final(10_000)).status, 200);
  assert.equal((await teams.bye()).status, 200);

  const mark = carrierB.received.length;
  const forwarded = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230002',
    to: '+16665554008',
    headers: [
      {
        name: 'History-Info',
        value:
          '<sip:+15551230003@sip.pstnhub.microsoft.com:5061;user=phone?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%20temporarily%22>;index=1,<sip:+16665554008@sip.pstnhub.microsoft.com:5061;user=phone>;index=1.1',
      },
    ],
  });
  assert.equal((await forwarded.final(10_000)).status, 200);
  const atB = (await inviteAt(carrierB, () => true, mark)).msg as SipRequest;
  assert.match(getHeader(atB, 'Diversion') ?? '', /^<sip:\+15551230003@[^>]+>;reason=unconditional$/);
  assert.equal((await forwarded.bye()).status, 200);
});

// ---- item 9: response mapping --------------------------------------------------------------------------------------

test('M5.13: Teams 486/603 reach the carrier with Q.850 17/21, one INVITE each (no retry); X7.6 cause 63 kept', async () => {
  const cases: Array<[number, string, RegExp, { name: string; value: string }[]]> = [
    [486, 'Busy Here', /^Q\.850;cause=17$/, []],
    [603, 'Decline', /^Q\.850;cause=21$/, []],
    [403, 'Forbidden', /^Q\.850;cause=63;text="10500;/, [{ name: 'Reason', value: 'Q.850;cause=63;text="10500;LBR"' }]],
  ];
  for (const [status, reason, expected, headers] of cases) {
    f.sim.setScript([{ status, reason, headers }], { number: '+15551230002' });
    const before = f.sim.inboundCalls.length;
    const call = carrierB.invite(sbc(), { to: '+15551230002', from: `+155598750${status}` });
    const final = await call.final(10_000);
    assert.equal(final.status, status);
    assert.match(getHeader(final, 'Reason') ?? '', expected);
    assert.equal(f.sim.inboundCalls.length, before + 1, `no retry after ${status}`);
  }
  f.sim.clearScripts();
});

test('a carrier failure with a Q.850 cause reaches Teams as the matching status (cause 17 → 486)', async () => {
  carrierB.script = [{ status: 500, reason: 'Server Error', headers: [{ name: 'Reason', value: 'Q.850;cause=17' }] }];
  try {
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230002', to: '+16665554009' });
    assert.equal((await call.final(10_000)).status, 486);
  } finally {
    carrierB.script = [{ status: 180 }, { status: 200, sdp: true }];
  }
});

export type { IncomingCall, UacCall };
