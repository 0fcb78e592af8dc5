// RFC 4028 session timers on both legs, each on its own (issue [4/10] item 6, M5.15, M5.20): 422 below our Min-SE,
// Teams' refresher=uac honoured and an unrefreshed session ended on both legs (CDR endedBy sbc), our own refreshes
// toward Teams by re-INVITE (never UPDATE), and a 422 from Teams retried once at its larger Min-SE.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getHeader, type SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { nextInboundCall } from '../b2bua/helpers.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';

let f: Fixture;
let carrier: UdpPeer;

before(async () => {
  f = await startFixture({ env: { SWITCHBOARD_SESSION_EXPIRES: '2', SWITCHBOARD_SESSION_MIN_SE: '2' } });
  carrier = await UdpPeer.start({ port: f.ports.b });
});
after(async () => {
  await carrier?.close();
  await f?.close();
});

test('422: a Session-Expires below our Min-SE is refused with our Min-SE and starts no call', async () => {
  const mark = carrier.received.length;
  const call = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230001',
    to: '+16665556001',
    sessionExpires: '1;refresher=uac',
  });
  const res = await call.final();
  assert.equal(res.status, 422);
  assert.equal(getHeader(res, 'Min-SE'), '2');
  assert.equal(carrier.received.length, mark, 'nothing sent to the carrier');
});

test('Teams is the refresher (refresher=uac) and never refreshes: both legs get a BYE, CDR endedBy sbc', async () => {
  const mark = carrier.received.length;
  const call = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230001',
    to: '+16665556002',
    sessionExpires: '2;refresher=uac',
  });
  const ok = await call.final(10_000);
  assert.equal(ok.status, 200);
  assert.equal(getHeader(ok, 'Session-Expires'), '2;refresher=uac');
  assert.equal(getHeader(ok, 'Require'), 'timer');
  const invite = await carrier.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE',
    'the INVITE at the carrier',
    5_000,
    mark,
  );
  assert.match(getHeader(invite.msg, 'Session-Expires') ?? '', /^2;refresher=uac$/, 'the carrier leg asks on its own');
  // A refresh from Teams is answered with the interval (and restarts the timer) …
  const refreshed = await call.reinvite();
  assert.equal(refreshed.status, 200);
  assert.equal(getHeader(refreshed, 'Session-Expires'), '2;refresher=uac');
  // … then Teams stops refreshing: the session expires (2 s − 2/3 s) and the SBC ends both legs.
  await call.waitForRequest('BYE', 10_000);
  await carrier.waitForRequest('BYE', (r) => r.callId === invite.msg.callId, 10_000);
  const cdr = await f.waitForCdr((c) => c.callee === '+16665556002');
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.endedBy, 'sbc');
});

test('toward Teams we are the refresher: the session is refreshed by re-INVITE (not UPDATE); the carrier leg has no timer', async () => {
  const inbound = nextInboundCall(f, '+15551230001');
  const call = carrier.invite({ address: '127.0.0.1', port: f.udpPort }, { to: '+15551230001', from: '+15559876001' });
  const teams = await inbound;
  assert.match(getHeader(teams.invite, 'Session-Expires') ?? '', /^2;refresher=uac$/);
  assert.equal((await call.final(10_000)).status, 200);
  await teams.waitForState('confirmed');
  const refresh = await teams.waitForRequest('INVITE', 10_000);
  assert.ok(refresh.to.params.has('tag'), 'an in-dialog re-INVITE');
  assert.ok(refresh.body.length > 0, 'with SDP (Teams takes no delayed offer)');
  assert.match(getHeader(refresh, 'Session-Expires') ?? '', /^2;refresher=uac$/);
  await teams.waitForRequest('ACK', 5_000, teams.requests.items.indexOf(refresh));
  assert.ok(teams.requests.items.every((r: SipRequest) => r.method !== 'UPDATE'));
  // The carrier asked for no timer: nothing is sent to it, and the call is still up after our refresh.
  assert.ok(
    carrier.received.items.every(
      (r) =>
        r.msg.kind !== 'request' ||
        r.msg.callId !== call.invite.callId ||
        r.msg.method !== 'INVITE' ||
        !r.msg.to.params.has('tag'),
    ),
  );
  assert.equal((await call.request('BYE')).status, 200);
  await teams.waitForRequest('BYE');
  f.sim.assertNoViolations({ ignore: ['D6.1'] });
});

test('422 from Teams: the same call is retried once with Session-Expires raised to its Min-SE', async () => {
  f.sim.minSe = 5;
  try {
    const first = nextInboundCall(f, '+15551230002');
    const call = carrier.invite(
      { address: '127.0.0.1', port: f.udpPort },
      { to: '+15551230002', from: '+15559876002' },
    );
    const rejected = await first;
    const retried = await f.sim.inboundCalls.waitFor(
      (c) => c.number === '+15551230002' && c !== rejected,
      'the retried INVITE',
      5_000,
      f.sim.inboundCalls.items.indexOf(rejected) + 1,
    );
    assert.equal(rejected.finalStatus, 422);
    assert.equal(retried.invite.callId, rejected.invite.callId, 'same call (RFC 4028 §7.4)');
    assert.ok(retried.invite.cseq.seq > rejected.invite.cseq.seq);
    assert.match(getHeader(retried.invite, 'Session-Expires') ?? '', /^5;refresher=uac$/);
    assert.equal((await call.final(10_000)).status, 200);
    assert.equal((await retried.bye()).status, 200);
  } finally {
    f.sim.minSe = undefined;
  }
});
