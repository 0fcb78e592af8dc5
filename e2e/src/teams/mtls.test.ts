// Mutual TLS toward and from Teams (issue [4/10] item 3): with SWITCHBOARD_TEAMS_VERIFY=require a Teams-range peer
// must present a certificate chaining to one of the configured roots (both Microsoft roots at once, T1.6) with the
// sip.pstnhub.microsoft.com SAN; a certificate from an unknown root or without the SAN is refused. A renewed SBC
// certificate is hot-swapped and the connections that used the old one are closed and re-established (T1.15).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { createCa, issueLeaf, TEAMS_SIGNALLING_FQDNS } from '../harness/pki.ts';

let f: Fixture;
let carrier: UdpPeer;

before(async () => {
  f = await startFixture({ env: { SWITCHBOARD_TEAMS_VERIFY: 'require', SWITCHBOARD_TEAMS_OPTIONS_INTERVAL: '0.5' } });
  carrier = await UdpPeer.start({ port: f.ports.b });
  carrier.script = [{ status: 200, sdp: true }];
});
after(async () => {
  await carrier?.close();
  await f?.close();
});

test('T1.6: Teams client certificates from either Microsoft root are accepted', async () => {
  for (const cert of [f.pki.teamsCertDigicert, f.pki.teamsCertBaltimore]) {
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+16665552001', cert });
    assert.equal((await call.final(10_000)).status, 200);
    assert.equal((await call.bye()).status, 200);
  }
});

test('T1.6: a Teams-style client with a certificate from an unknown root, or without the SAN, is refused', async () => {
  const unknownRoot = await createCa('Unknown Test Root');
  const impostor = await issueLeaf(unknownRoot, {
    commonName: TEAMS_SIGNALLING_FQDNS[0],
    dnsNames: [...TEAMS_SIGNALLING_FQDNS],
  });
  const wrongSan = await issueLeaf(f.pki.digicertIssuing, { commonName: 'evil.example', dnsNames: ['evil.example'] });
  for (const [what, cert] of [
    ['unknown root', impostor],
    ['no sip.pstnhub.microsoft.com SAN', wrongSan],
  ] as const) {
    const invites = carrier.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE').length;
    const conns = f.sim.connections.length;
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+16665552002', cert });
    assert.equal((await call.final(10_000)).status, 403, what);
    await f.sim.connections.waitFor(
      (e) => e.type === 'close' && e.listener === 'client',
      `the SBC to close the connection (${what})`,
      5_000,
      conns,
    );
    assert.equal(
      carrier.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE').length,
      invites,
      'nothing reached the carrier',
    );
  }
});

test('T1.15: a renewed certificate is hot-swapped; connections that used the old one are closed and re-opened', async () => {
  // A connection Teams opened to us, and one we opened to Teams (keep-alive), both with the old certificate.
  const res = await f.sim.sendOptions(CONTOSO, { newConnection: true, localAddress: '127.0.2.41' });
  assert.equal(res.status, 200);
  const before = await f.sim.received.waitFor(
    (r) => r.listener === 'sip' && r.msg.kind === 'request' && r.msg.method === 'OPTIONS',
    'a keep-alive OPTIONS on sip',
  );
  const oldSerial = before.conn.peerCert?.serialNumber;
  const conns = f.sim.connections.length;
  const received = f.sim.received.length;
  const { serial } = await f.rotateCertificate();
  assert.notEqual(serial, oldSerial);
  const closed = await f.sim.connections.waitFor(
    (e) => e.type === 'close' && e.listener === 'sip',
    'the old connection to sip to close',
    5_000,
    conns,
  );
  await f.sim.connections.waitFor(
    (e) => e.type === 'close' && e.listener === 'client',
    'Teams’ connection to close',
    5_000,
    conns,
  );
  const reopened = await f.sim.connections.waitFor(
    (e) => e.type === 'open' && e.listener === 'sip',
    'the SBC to connect to sip again',
    5_000,
    f.sim.connections.items.indexOf(closed),
  );
  const after = await f.sim.received.waitFor(
    (r) => r.conn.id === reopened.id && r.msg.kind === 'request' && (r.msg as SipRequest).method === 'OPTIONS',
    'a keep-alive OPTIONS on the new connection',
    5_000,
    received,
  );
  assert.equal(after.conn.peerCert?.serialNumber, serial, 'the new handshake shows the new certificate');
  // And Teams connecting again sees the new server certificate.
  const again = await f.sim.connectToSbc({
    host: '127.0.0.1',
    port: f.tlsPort,
    servername: CONTOSO,
    newConnection: true,
  });
  assert.equal(again.peerCert?.serialNumber, serial);
  assert.equal(new X509Certificate(f.pki.publicRootsPem[0]!).ca, true);
});
