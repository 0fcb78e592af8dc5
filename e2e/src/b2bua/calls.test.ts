// Teams ⇄ carrier calls end to end through the B2BUA: the Teams simulator over mutual TLS, sipp carriers over UDP,
// CDRs checked for every disposition.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runSipp, scenarioWith, startSipp } from '../harness/sipp.ts';
import { CONTOSO, FABRIKAM, type Fixture, startFixture } from './fixture.ts';
import { sippFinished } from './helpers.ts';

const scenario = (name: string) => new URL(`../../scenarios/${name}`, import.meta.url).pathname;
let f: Fixture;

before(async () => {
  f = await startFixture();
});
after(async () => {
  await f?.close();
});

/** A sipp carrier for one call; `sippFinished` waits for it to complete (the SBC answers BYEs hop by hop, so the
 * caller's 200 can come before the carrier has seen the BYE). */
function uas(port: number, file = scenario('uas-answer.xml')) {
  return startSipp({ scenario: file, localPort: port, calls: 1 });
}

function rejectingUas(port: number, status: string, reason: string) {
  return uas(port, scenarioWith(scenario('uas-reject.xml'), { status, reason }));
}

test('carrier → Teams: answered call, tenant FQDN in Contact, BYE from the carrier, CDR', async () => {
  const call = f.sim.waitForInboundCall((c) => c.number === '+15551230001', 15_000);
  const result = await runSipp({
    scenario: scenario('uac-call.xml'),
    target: `127.0.0.1:${f.udpPort}`,
    calls: 1,
    extraArgs: ['-s', '+15551230001', '-key', 'caller', '+15559870001', '-d', '200'],
    timeoutMs: 30_000,
  });
  assert.equal(result.stats.successful, 1, result.stdout + result.stderr);
  const inbound = await call;
  assert.equal(inbound.tenant?.name, 'contoso');
  const contact = inbound.invite.contacts[0];
  assert.equal(inbound.invite.contacts.length, 1);
  assert.equal(contact?.uri.host, CONTOSO);
  assert.equal(contact?.uri.params.get('transport'), 'tls');
  assert.equal(inbound.invite.uri.user, '+15551230001');
  assert.equal(inbound.invite.from.uri.user, '+15559870001');
  await inbound.waitForRequest('BYE');
  const cdr = await f.waitForCdr((c) => c.callee === '+15551230001' && c.direction === 'carrier-to-teams');
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.tenant, 'contoso/contoso');
  assert.equal(cdr.account, 'ACC-CONTOSO');
  assert.equal(cdr.endedBy, 'caller');
  assert.equal(cdr.trunk, 'carriers/carrier-a');
  f.sim.assertNoViolations({ ignore: ['D6.1'] });
});

test('Teams → carrier: answered call routed by the tenant policy, BYE from Teams, CDR', async () => {
  const carrier = uas(f.ports.a);
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230002', to: '+15559871111' });
  const final = await call.final();
  assert.equal(final.status, 200);
  assert.equal(final.contacts[0]?.uri.host, CONTOSO, 'our 200 carries the FQDN Teams dialled (H3.8)');
  await call.bye({ newConnection: true, localAddress: '127.0.2.9' });
  const stats = await sippFinished(carrier);
  assert.equal(stats.stats.successful, 1, stats.stdout + stats.stderr);
  const cdr = await f.waitForCdr((c) => c.caller === '+15551230002');
  assert.equal(cdr.direction, 'teams-to-carrier');
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.endedBy, 'caller');
  assert.ok(cdr.talkMs >= 0 && cdr.answerTime && cdr.ringTime);
  f.sim.assertNoViolations({ ignore: ['D6.1'] });
});

test('Teams → carrier: busy and declined are relayed, not retried, and their CDRs say so', async () => {
  for (const [status, disposition] of [
    ['486', 'busy'],
    ['603', 'rejected'],
  ] as const) {
    const carrier = rejectingUas(f.ports.a, status, status === '486' ? 'Busy Here' : 'Decline');
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230003', to: `+1555987${status}0` });
    assert.equal((await call.final()).status, Number(status));
    await sippFinished(carrier);
    const cdr = await f.waitForCdr((c) => c.callee === `+1555987${status}0`);
    assert.equal(cdr.disposition, disposition);
    assert.equal(cdr.sipCode, Number(status));
    assert.equal(cdr.attempts, 1);
  }
});

test('failover: a dead first trunk is skipped and the call completes on the second', async () => {
  const carrier = uas(f.ports.a);
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+14441234567' });
  assert.equal((await call.final()).status, 200);
  await call.bye();
  await sippFinished(carrier);
  const cdr = await f.waitForCdr((c) => c.callee === '+14441234567');
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.failover, true);
  assert.equal(cdr.attempts, 2);
  assert.equal(cdr.trunk, 'carriers/carrier-a');
});

test('isolation: blocked routes, unknown FQDN, another tenant’s dedicated trunk', async () => {
  // fabrikam has no +1666 route (only contoso, on its dedicated trunk): blocked by fabrikam's default.
  const blocked = await f.sim.placeCall({ tenantFqdn: FABRIKAM, from: '+15551240001', to: '+16661234567' });
  assert.equal((await blocked.final()).status, 403);
  const cdr = await f.waitForCdr((c) => c.callee === '+16661234567');
  assert.equal(cdr.tenant, 'fabrikam/fabrikam');
  assert.equal(cdr.disposition, 'blocked');
  assert.equal(cdr.sipCode, 403);
  assert.ok(f.cdrs().every((c) => c.tenant !== 'contoso/contoso' || c.callee !== '+16661234567'));
});
