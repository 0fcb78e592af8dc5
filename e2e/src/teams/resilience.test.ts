// Teams reachability (issue [4/10] items 1–2): OPTIONS keep-alive to sip/sip2/sip3 with the carrier FQDN in Contact
// (O4.2, O4.3, H3.3), per-target health on /status used by routing, answering Teams' own OPTIONS (O4.5), failover
// sip → sip2 on 503 + Retry-After with the connection closed (T1.12), on silence (failover timer) and on a refused
// connection (T1.10), and DNS re-resolution with a TTL (T1.11). The SBC's client certificate chain (T1.5, T1.7) is
// checked on the connections its keep-alives open.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { BASE, CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { adminStatus, targetKey, waitForCount, waitForTeamsHealth } from './helpers.ts';

let f: Fixture;
let carrier: UdpPeer;

before(async () => {
  f = await startFixture({
    env: { SWITCHBOARD_TEAMS_OPTIONS_INTERVAL: '0.2', SWITCHBOARD_TEAMS_DNS_TTL: '0.2' },
    timers: { teamsFailoverMs: 1500 },
  });
  carrier = await UdpPeer.start({ port: f.ports.b });
});
after(async () => {
  await carrier?.close();
  await f?.close();
});

const isOptions = (listener: string) => (r: { msg: { kind: string }; listener: string }) =>
  r.listener === listener && r.msg.kind === 'request' && (r.msg as SipRequest).method === 'OPTIONS';
const isInvite = (r: { msg: { kind: string } }) =>
  r.msg.kind === 'request' && (r.msg as SipRequest).method === 'INVITE' && !(r.msg as SipRequest).to.params.has('tag');

/** A carrier → Teams call; resolves with the INVITEs Teams got for it, by listener, once it is answered. */
async function carrierCall(to: string, from: string) {
  const mark = f.sim.received.length;
  const call = carrier.invite({ address: '127.0.0.1', port: f.udpPort }, { to, from });
  const final = await call.final(15_000);
  const invites = f.sim.received.items
    .slice(mark)
    .filter((r) => isInvite(r) && (r.msg as SipRequest).from.uri.user === from);
  return { call, final, invites };
}

test('O4.3/H3.3: one OPTIONS stream per Teams target, carrier FQDN with port and transport=tls in Contact', async () => {
  for (const name of ['sip', 'sip2', 'sip3']) {
    const seen = await waitForCount(f.sim.received, isOptions(name), 2, `OPTIONS on ${name}`);
    for (const r of seen) {
      const req = r.msg as SipRequest;
      assert.equal(req.uri.host, f.sim.proxy(name).fqdn, 'OPTIONS sip:<Microsoft FQDN>:<port>');
      assert.equal(req.contacts.length, 1);
      assert.equal(req.contacts[0]?.uri.host, BASE, 'the carrier trunk FQDN, not a tenant one');
      assert.equal(req.contacts[0]?.uri.port, f.tlsPort);
      assert.equal(req.contacts[0]?.uri.params.get('transport'), 'tls');
      assert.equal(req.from.uri.host, BASE);
    }
  }
  // No tenant FQDN ever shows up in an out-of-dialog OPTIONS (H3.3: not per tenant).
  const options = f.sim.received.items.filter(
    (r) => r.msg.kind === 'request' && r.msg.method === 'OPTIONS' && !r.msg.to.params.has('tag'),
  );
  assert.ok(options.every((r) => (r.msg as SipRequest).contacts[0]?.uri.host === BASE));
  for (const name of ['sip', 'sip2', 'sip3']) await waitForTeamsHealth(f, name, 'up');
  const status = await adminStatus(f);
  const teams = status.teamsHealth as Record<string, { state: string }>;
  assert.equal(teams[targetKey(f, 'sip')]?.state, 'up');
  assert.equal(teams[targetKey(f, 'sip3')]?.state, 'up');
  f.sim.assertNoViolations({ ignore: ['D6.1'] });
});

test('T1.5/T1.7: the SBC presents its full chain (leaf + intermediate) as a TLS client toward Teams', async () => {
  const r = await f.sim.received.waitFor(isOptions('sip'), 'an OPTIONS on sip');
  const subjects = r.conn.peerChainSubjects;
  assert.ok(subjects.length >= 2, `chain sent: ${subjects.join(' <- ')}`);
  assert.equal(subjects[0], BASE);
  const intermediate = new X509Certificate(f.pki.publicIntermediate.certPem).subject.match(/CN=([^\n]+)/)?.[1];
  assert.equal(subjects[1], intermediate);
});

test('O4.5: Teams’ own OPTIONS get 200 with the FQDN Teams pinged in Contact (port, transport=tls)', async () => {
  for (const fqdn of [BASE, CONTOSO]) {
    const res = await f.sim.sendOptions(fqdn, { newConnection: true, localAddress: '127.0.2.31' });
    assert.equal(res.status, 200);
    assert.equal(res.contacts[0]?.uri.host, fqdn);
    assert.equal(res.contacts[0]?.uri.params.get('transport'), 'tls');
    assert.ok(res.contacts[0]?.uri.port, 'Contact has the port');
  }
});

test('health: a target that stops answering OPTIONS is down, tried last by routing, up again when it answers', async () => {
  const sip = f.sim.proxy('sip');
  sip.optionsMode = 'silent';
  try {
    await waitForTeamsHealth(f, 'sip', 'down');
    const status = await adminStatus(f);
    assert.equal((status.teamsHealth as Record<string, { state: string }>)[targetKey(f, 'sip')]?.state, 'down');
    // sip would answer INVITEs, but it is down: the call goes to sip2 first, in one attempt.
    const { final, invites, call } = await carrierCall('+15551230001', '+15559871001');
    assert.equal(final.status, 200);
    assert.deepEqual(
      invites.map((r) => r.listener),
      ['sip2'],
    );
    await call.request('BYE');
  } finally {
    sip.optionsMode = 'answer';
  }
  await waitForTeamsHealth(f, 'sip', 'up');
  const { final, invites, call } = await carrierCall('+15551230001', '+15559871002');
  assert.equal(final.status, 200);
  assert.deepEqual(
    invites.map((r) => r.listener),
    ['sip'],
  );
  await call.request('BYE');
});

test('T1.12: 503 + Retry-After → that TLS connection is closed and the same call is retried on sip2', async () => {
  const sip = f.sim.proxy('sip');
  const connMark = f.sim.connections.length;
  sip.mode = 'reject503';
  try {
    const { final, invites, call } = await carrierCall('+15551230002', '+15559871003');
    assert.equal(final.status, 200);
    assert.deepEqual(
      invites.map((r) => r.listener),
      ['sip', 'sip2'],
    );
    await f.sim.connections.waitFor(
      (e) => e.type === 'close' && e.listener === 'sip',
      'the SBC to close its connection to the draining proxy',
      5_000,
      connMark,
    );
    await call.request('BYE');
    const cdr = await f.waitForCdr((c) => c.caller === '+15559871003');
    assert.equal(cdr.disposition, 'answered');
    assert.equal(cdr.attempts, 2);
    assert.equal(cdr.failover, true);
  } finally {
    sip.mode = 'normal';
  }
});

test('T1.10: no provisional within the failover timer → sip2; a refused connection → next target', async () => {
  const sip = f.sim.proxy('sip');
  sip.mode = 'silent';
  try {
    const { final, invites, call } = await carrierCall('+15551230003', '+15559871004');
    assert.equal(final.status, 200);
    assert.deepEqual(
      invites.map((r) => r.listener),
      ['sip', 'sip2'],
    );
    await call.request('BYE');
  } finally {
    sip.mode = 'normal';
  }
  await sip.stop();
  try {
    const { final, invites, call } = await carrierCall('+15551230003', '+15559871005');
    assert.equal(final.status, 200);
    assert.equal(invites.at(-1)?.listener, 'sip2');
    assert.ok(invites.every((r) => r.listener !== 'sip'));
    await call.request('BYE');
  } finally {
    await sip.start();
  }
  await waitForTeamsHealth(f, 'sip', 'up');
});

test('T1.11: Teams FQDNs are re-resolved after the TTL: a changed address is used by keep-alives and calls', async () => {
  const name = f.sim.proxy('sip').fqdn;
  const original = f.settings.hosts.get(name)!;
  const mark = f.sim.received.length;
  f.settings.hosts.set(name, f.sim.proxy('sip2').host); // the DNS stub now answers sip2's address for sip
  try {
    // The keep-alive toward "sip" reaches the sip2 listener once the cached answer has expired.
    await f.sim.received.waitFor(
      (r) => isOptions('sip2')(r) && (r.msg as SipRequest).uri.host === name,
      `an OPTIONS for ${name} at the new address`,
      10_000,
      mark,
    );
    await waitForTeamsHealth(f, 'sip', 'up');
    const { final, invites, call } = await carrierCall('+15551230001', '+15559871006');
    assert.equal(final.status, 200);
    assert.equal(invites.length, 1);
    assert.equal(invites[0]?.listener, 'sip2');
    assert.equal((invites[0]!.msg as SipRequest).uri.host, name, 'still addressed to sip by name');
    await call.request('BYE');
  } finally {
    f.settings.hosts.set(name, original);
  }
});
