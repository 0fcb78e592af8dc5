// How calls end before they are answered, in both directions: CANCEL by the caller, the no-answer timer, rejection,
// and a 200 that crosses our CANCEL. Each checks what both legs saw and the CDR.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { runSipp, scenarioWith, startSipp } from '../harness/sipp.ts';
import { CONTOSO, type Fixture, startFixture } from './fixture.ts';
import { nextInboundCall, scenario, sippFinished } from './helpers.ts';
import { UdpPeer } from './udp-peer.ts';

const NO_ANSWER_MS = 2500;
let f: Fixture;

before(async () => {
  f = await startFixture({ timers: { noAnswerMs: NO_ANSWER_MS } });
});
after(async () => {
  await f?.close();
});
afterEach(() => f.sim.clearScripts());

test('Teams cancels a call ringing at the carrier: 487 to Teams, CANCEL on the carrier leg, CDR cancelled', async () => {
  const carrier = startSipp({ scenario: scenario('uas-ring.xml'), localPort: f.ports.a, calls: 1 });
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+15559872001' });
  await call.waitFor(180, 10_000);
  assert.equal((await call.cancel()).status, 200);
  assert.equal((await call.final()).status, 487);
  const sipp = await sippFinished(carrier);
  assert.equal(sipp.stats.successful, 1, `the carrier saw CANCEL, sent 487 and got its ACK\n${sipp.stdout}`);
  const cdr = await f.waitForCdr((c) => c.callee === '+15559872001');
  assert.equal(cdr.disposition, 'cancelled');
  assert.equal(cdr.sipCode, 487);
  assert.equal(cdr.endedBy, 'caller');
  assert.equal(cdr.direction, 'teams-to-carrier');
  assert.ok(cdr.ringTime, 'it rang');
});

test('the carrier cancels a call ringing at Teams: CANCEL reaches Teams, 487 to the carrier, CDR cancelled', async () => {
  f.sim.setScript([{ status: 180 }], { number: '+15551230002' });
  const inbound = nextInboundCall(f, '+15551230002');
  const result = await runSipp({
    scenario: scenario('uac-cancel.xml'),
    target: `127.0.0.1:${f.udpPort}`,
    calls: 1,
    extraArgs: ['-s', '+15551230002', '-key', 'caller', '+15559872002'],
    timeoutMs: 20_000,
  });
  assert.equal(result.stats.successful, 1, result.stdout + result.stderr);
  const teams = await inbound;
  await teams.waitForState('cancelled');
  assert.ok(
    teams.requests.find((r) => r.method === 'CANCEL'),
    'Teams got the CANCEL',
  );
  const cdr = await f.waitForCdr((c) => c.caller === '+15559872002');
  assert.equal(cdr.disposition, 'cancelled');
  assert.equal(cdr.endedBy, 'caller');
  assert.equal(cdr.direction, 'carrier-to-teams');
  f.sim.assertNoViolations({ ignore: ['D6.1'] });
});

test('no answer from the carrier: the no-answer timer CANCELs it and Teams gets 480, CDR no-answer', async () => {
  const carrier = startSipp({ scenario: scenario('uas-ring.xml'), localPort: f.ports.a, calls: 1 });
  const started = Date.now();
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+15559872003' });
  const final = await call.final(NO_ANSWER_MS + 10_000);
  assert.equal(final.status, 480);
  assert.ok(Date.now() - started >= NO_ANSWER_MS - 50, 'not before the timer');
  const sipp = await sippFinished(carrier);
  assert.equal(sipp.stats.successful, 1, `the carrier leg was CANCELled\n${sipp.stdout}`);
  const cdr = await f.waitForCdr((c) => c.callee === '+15559872003');
  assert.equal(cdr.disposition, 'no-answer');
  assert.equal(cdr.sipCode, 480);
  assert.equal(cdr.endedBy, 'sbc');
});

test('no answer from Teams: Teams gets a CANCEL, the carrier 480, CDR no-answer', async () => {
  f.sim.setScript([{ status: 180 }], { number: '+15551230003' });
  const inbound = nextInboundCall(f, '+15551230003');
  const peer = await UdpPeer.start();
  try {
    const call = peer.invite({ address: '127.0.0.1', port: f.udpPort }, { to: '+15551230003', from: '+15559872004' });
    const teams = await inbound;
    assert.equal((await call.final(NO_ANSWER_MS + 10_000)).status, 480);
    await teams.waitForState('cancelled');
    const cdr = await f.waitForCdr((c) => c.caller === '+15559872004');
    assert.equal(cdr.disposition, 'no-answer');
    assert.equal(cdr.endedBy, 'sbc');
  } finally {
    await peer.close();
  }
});

test('Teams rejects a carrier call: the status is relayed and the CDR says rejected', async () => {
  f.sim.setScript([{ status: 603, reason: 'Decline' }], { number: '+15551230001' });
  const peer = await UdpPeer.start();
  try {
    const call = peer.invite({ address: '127.0.0.1', port: f.udpPort }, { to: '+15551230001', from: '+15559872005' });
    assert.equal((await call.final(10_000)).status, 603);
    const cdr = await f.waitForCdr((c) => c.caller === '+15559872005');
    assert.equal(cdr.disposition, 'rejected');
    assert.equal(cdr.sipCode, 603);
    assert.equal(cdr.attempts, 1, '603 is an answer: no failover to sip2/sip3');
  } finally {
    await peer.close();
  }
});

test('a 200 that crosses our CANCEL is ACKed and BYEd; the caller still gets 487', async () => {
  const carrier = await UdpPeer.start({ port: f.ports.b });
  try {
    carrier.script = [{ status: 180 }];
    carrier.terminateOnCancel = false;
    // This carrier answers the CANCEL with 200 but then answers the INVITE 200 anyway (the race RFC 3261 §9.1 allows).
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+16665550001' });
    const invite = await carrier.waitForRequest('INVITE');
    await call.waitFor(180, 10_000);
    const cancelled = call.cancel();
    await carrier.waitForRequest('CANCEL');
    carrier.respond(invite.msg as SipRequest, invite.from, { status: 200, sdp: true });
    assert.equal((await cancelled).status, 200);
    assert.equal((await call.final()).status, 487);
    const callId = invite.msg.callId;
    await carrier.waitForRequest('ACK', (r) => r.callId === callId && r.cseq.seq === 1);
    const bye = await carrier.waitForRequest('BYE', (r) => r.callId === callId);
    assert.equal(bye.msg.kind === 'request' && bye.msg.to.params.has('tag'), true);
    const cdr = await f.waitForCdr((c) => c.callee === '+16665550001');
    assert.equal(cdr.disposition, 'cancelled');
    assert.equal(cdr.talkMs, 0);
  } finally {
    await carrier.close();
  }
});

test('the carrier rejects with 404: relayed as not-found, no failover', async () => {
  const carrier = startSipp({
    scenario: scenarioWith(scenario('uas-reject.xml'), { status: '404', reason: 'Not Found' }),
    localPort: f.ports.a,
    calls: 1,
  });
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+15559872006' });
  assert.equal((await call.final(10_000)).status, 404);
  await sippFinished(carrier);
  const cdr = await f.waitForCdr((c) => c.callee === '+15559872006');
  assert.equal(cdr.disposition, 'not-found');
  assert.equal(cdr.attempts, 1);
});
