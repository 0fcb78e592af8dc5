import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { afterEach, before, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  createCa,
  createTeamsPki,
  EKU_OIDS,
  type IssuedCertificate,
  issueLeaf,
  type TeamsPki,
} from '../../../../e2e/src/harness/pki.ts';
import { collector, rawTcpClient, sipRequest, sipResponse, WAIT_MS, waitForEvent } from './testkit.ts';
import { TEAMS_CIPHERS } from './tls-certificates.ts';
import { TransportLayer, type TransportLayerOptions } from './transport-layer.ts';
import type { CloseReason, ConnectionInfo, InboundMessage, RejectedConnection } from './types.ts';
import { TransportError } from './types.ts';

const layers: TransportLayer[] = [];
function layer(options: TransportLayerOptions = {}): TransportLayer {
  const l = new TransportLayer(options);
  layers.push(l);
  return l;
}
const sockets: tls.TLSSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(layers.splice(0).map((l) => l.close()));
});

interface ClientResult {
  socket: tls.TLSSocket;
  peer: X509Certificate;
}

/** A raw TLS client (the "Teams simulator" side) that resolves once the handshake is done. */
function tlsClient(options: tls.ConnectionOptions): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', minVersion: 'TLSv1.2', ...options });
    sockets.push(socket);
    const timer = setTimeout(() => reject(new Error('TLS client timed out')), WAIT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      socket.on('error', () => {});
      resolve({ socket, peer: socket.getPeerX509Certificate()! });
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
  });
}

describe('TLS transport', () => {
  let pki: TeamsPki;
  let sbcDefault: IssuedCertificate; // *.sbc.example.test + sbc.example.test
  let tenantB: IssuedCertificate; // Dedicated: tenant-b.customer.test
  let tenantBRenewed: IssuedCertificate;
  let wrongSanTeams: IssuedCertificate; // Microsoft chain, wrong SAN
  let unknownRootTeams: IssuedCertificate; // right SAN, unknown root

  before(async () => {
    pki = await createTeamsPki({ teamsIpAddresses: ['127.0.0.1', '::1'] });
    [sbcDefault, tenantB, tenantBRenewed, wrongSanTeams] = await Promise.all([
      pki.issueSbcCert({ commonName: 'sbc.example.test', dnsNames: ['sbc.example.test', '*.sbc.example.test'] }),
      pki.issueSbcCert({ commonName: 'tenant-b.customer.test', dnsNames: ['tenant-b.customer.test'] }),
      pki.issueSbcCert({ commonName: 'tenant-b.customer.test', dnsNames: ['tenant-b.customer.test'] }),
      issueLeaf(pki.digicertIssuing, { commonName: 'evil.example.test', dnsNames: ['evil.example.test'] }),
    ]);
    const rogue = await createCa('Rogue Root (test)');
    unknownRootTeams = await issueLeaf(rogue, {
      commonName: 'sip.pstnhub.microsoft.com',
      dnsNames: ['sip.pstnhub.microsoft.com'],
    });
  });

  function sbcServer(extra: Partial<TransportLayerOptions['tls']> = {}, options: TransportLayerOptions = {}) {
    return layer({
      ...options,
      tls: {
        certificates: [
          { certPem: sbcDefault.chainPem, keyPem: sbcDefault.keyPem, default: true },
          { certPem: tenantB.chainPem, keyPem: tenantB.keyPem },
        ],
        ...extra,
      },
    });
  }

  test('SNI picks the certificate; no SNI or unknown SNI gets the default', async () => {
    const b = sbcServer();
    const [lb] = await b.start(['tls:127.0.0.1:0']);
    const ca = pki.publicRootsPem;
    const byTenant = await tlsClient({ port: lb!.port, servername: 'tenant-b.customer.test', ca });
    assert.ok(byTenant.peer.checkHost('tenant-b.customer.test'));
    assert.equal(byTenant.peer.fingerprint256, new X509Certificate(tenantB.certPem).fingerprint256);
    const byWildcard = await tlsClient({ port: lb!.port, servername: 'tenant-a.sbc.example.test', ca });
    assert.match(byWildcard.peer.subjectAltName ?? '', /\*\.sbc\.example\.test/);
    // No SNI (dialled by IP): verify the default certificate for the trunk name explicitly.
    const noSni = await tlsClient({
      port: lb!.port,
      ca,
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity('tenant-a.sbc.example.test', cert),
    });
    assert.equal(noSni.peer.fingerprint256, new X509Certificate(sbcDefault.certPem).fingerprint256);
    const unknown = await tlsClient({
      port: lb!.port,
      servername: 'unknown.example.test',
      ca,
      checkServerIdentity: () => undefined,
    });
    assert.equal(unknown.peer.fingerprint256, new X509Certificate(sbcDefault.certPem).fingerprint256);
    // The server saw the SNI on inbound messages.
    const atB = collector<InboundMessage>(b, 'message');
    byTenant.socket.write(sipRequest());
    noSni.socket.write(sipRequest());
    await atB.waitFor(2);
    const bySni = new Map(atB.items.map((m) => [m.tls?.servername ?? '(none)', m]));
    assert.ok(bySni.has('tenant-b.customer.test'));
    assert.ok(bySni.has('(none)'));
    assert.equal(bySni.get('tenant-b.customer.test')!.source.transport, 'TLS');
    assert.equal(bySni.get('tenant-b.customer.test')!.tls!.protocol, 'TLSv1.3');
  });

  test('hot swap: new handshakes see the new certificate, old connections keep working until closed', async () => {
    const b = sbcServer();
    const [lb] = await b.start(['tls:127.0.0.1:0']);
    const ca = pki.publicRootsPem;
    const oldFp = new X509Certificate(tenantB.certPem).fingerprint256;
    const newFp = new X509Certificate(tenantBRenewed.certPem).fingerprint256;
    const old = await tlsClient({ port: lb!.port, servername: 'tenant-b.customer.test', ca });
    assert.equal(old.peer.fingerprint256, oldFp);
    b.setCertificates([
      { certPem: sbcDefault.chainPem, keyPem: sbcDefault.keyPem, default: true },
      { certPem: tenantBRenewed.chainPem, keyPem: tenantBRenewed.keyPem },
    ]);
    const fresh = await tlsClient({ port: lb!.port, servername: 'tenant-b.customer.test', ca });
    assert.equal(fresh.peer.fingerprint256, newFp);
    // The old connection still carries traffic both ways.
    const atB = collector<InboundMessage>(b, 'message');
    old.socket.write(sipRequest());
    fresh.socket.write(sipRequest());
    await atB.waitFor(2);
    const oldMsg = atB.items.find((m) => m.tls?.localCertificateFingerprint === oldFp)!;
    assert.ok(oldMsg, 'a message on the connection that used the old certificate');
    const gotReply = new Promise<Buffer>((resolve) => old.socket.once('data', resolve));
    await b.send({ transport: 'TLS', address: '127.0.0.1', port: 1, connectionId: oldMsg.connectionId }, sipResponse());
    assert.match((await gotReply).toString(), /^SIP\/2\.0 200/);
    // Re-establishment: close connections that used the replaced certificate; the fresh one stays.
    const closed = waitForEvent<[ConnectionInfo, CloseReason]>(b, 'connectionClose');
    const oldClosed = new Promise<void>((resolve) => old.socket.once('close', () => resolve()));
    assert.equal(b.closeConnectionsUsingStaleCertificates(), 1);
    const [info, reason] = await closed;
    assert.equal(reason, 'certificate-rotated');
    assert.equal(info.id, oldMsg.connectionId);
    await oldClosed;
    assert.equal(b.connections().length, 1);
    assert.equal(b.connections()[0]!.tls?.localCertificateFingerprint, newFp);
  });

  test('as a client: SNI = hostname, client certificate chain presented (mTLS), server verified', async () => {
    // Teams simulator: requires a client certificate from the public CA, checks SNI and EKU.
    interface Seen {
      sni: string | false;
      authorized: boolean;
      peer: tls.DetailedPeerCertificate;
    }
    const seenEvents = new EventEmitter();
    const seen = collector<Seen>(seenEvents, 'seen');
    const teams = tls.createServer(
      {
        cert: pki.teamsCertDigicert.chainPem,
        key: pki.teamsCertDigicert.keyPem,
        requestCert: true,
        rejectUnauthorized: true,
        ca: pki.publicRootsPem,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        ciphers: TEAMS_CIPHERS,
      },
      (socket) => {
        socket.on('error', () => {});
        socket.once('data', () => {
          seenEvents.emit('seen', {
            sni: (socket as tls.TLSSocket & { servername: string | false }).servername,
            authorized: socket.authorized,
            peer: socket.getPeerCertificate(true),
          });
          socket.write(sipResponse());
        });
      },
    );
    teams.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => teams.listen(0, '127.0.0.1', resolve));
    const port = (teams.address() as { port: number }).port;
    const a = sbcServer({ serverCa: pki.microsoftRootsPem });
    try {
      const atA = collector<InboundMessage>(a, 'message');
      const target = { transport: 'TLS', address: '127.0.0.1', port, servername: 'sip.pstnhub.microsoft.com' } as const;
      const r1 = await a.send(target, sipRequest());
      assert.equal(r1.transport, 'TLS');
      assert.equal(r1.opened, true);
      const [reply] = await atA.waitFor(1);
      assert.equal(reply!.connectionId, r1.connectionId);
      assert.equal(reply!.tls?.servername, 'sip.pstnhub.microsoft.com');
      assert.ok(reply!.tls?.peerDnsNames.includes('sip2.pstnhub.microsoft.com'));
      assert.equal(reply!.tls?.protocol, 'TLSv1.2');
      assert.match(reply!.tls?.cipher ?? '', /^TLS_ECDHE_RSA_WITH_AES_(128|256)_GCM/);
      const [s] = await seen.waitFor(1);
      assert.equal(s!.sni, 'sip.pstnhub.microsoft.com');
      assert.equal(s!.authorized, true);
      const leaf = new X509Certificate(s!.peer.raw);
      assert.ok(leaf.checkHost('tenant-a.sbc.example.test'));
      assert.deepEqual([...(leaf.keyUsage ?? [])].sort(), [EKU_OIDS.serverAuth, EKU_OIDS.clientAuth].sort());
      // The intermediate came in the Certificate message (the Teams side trusts only the root).
      assert.match(String(s!.peer.issuerCertificate.subject.CN), /Switchboard Public Issuing CA/);
      // Reuse: a second send to the same name uses the same connection.
      const r2 = await a.send(target, sipRequest());
      assert.equal(r2.connectionId, r1.connectionId);
      assert.equal(r2.opened, false);
      // An IP "servername" is never sent as SNI (the server's IP SAN is verified instead).
      const a2 = sbcServer({ serverCa: pki.microsoftRootsPem });
      const r3 = await a2.send({ ...target, servername: '127.0.0.1' }, sipRequest());
      assert.equal(r3.opened, true);
      const [, second] = await seen.waitFor(2);
      assert.equal(second!.sni, false, 'no SNI for an IP literal');
      // Per-tenant client identity (Dedicated certificate) selected by localHostname.
      const r4 = await a.send({ ...target, localHostname: 'tenant-b.customer.test' }, sipRequest());
      assert.notEqual(r4.connectionId, r1.connectionId);
      assert.equal(a.getConnection(r4.connectionId!)?.localHostname, 'tenant-b.customer.test');
      const [, , third] = await seen.waitFor(3);
      assert.ok(new X509Certificate(third!.peer.raw).checkHost('tenant-b.customer.test'));
    } finally {
      await Promise.all(layers.map((l) => l.close()));
      await new Promise<void>((resolve) => teams.close(() => resolve()));
    }
  });

  test('as a client: wrong name, unknown root and connect-time failures are TLS_HANDSHAKE errors', async () => {
    const teams = tls.createServer({ cert: pki.teamsCertBaltimore.chainPem, key: pki.teamsCertBaltimore.keyPem });
    teams.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => teams.listen(0, '127.0.0.1', resolve));
    const port = (teams.address() as { port: number }).port;
    try {
      const a = sbcServer({ serverCa: pki.microsoftRootsPem });
      const wrongName = await a
        .send({ transport: 'TLS', address: '127.0.0.1', port, servername: 'sip.example.test' }, sipRequest())
        .catch((e: unknown) => e);
      assert.ok(wrongName instanceof TransportError);
      assert.equal(wrongName.code, 'TLS_HANDSHAKE');
      assert.equal(wrongName.detail, 'ERR_TLS_CERT_ALTNAME_INVALID');
      const b = sbcServer({ serverCa: pki.publicRootsPem });
      const untrusted = await b
        .send({ transport: 'TLS', address: '127.0.0.1', port, servername: 'sip.pstnhub.microsoft.com' }, sipRequest())
        .catch((e: unknown) => e);
      assert.ok(untrusted instanceof TransportError);
      assert.equal(untrusted.code, 'TLS_HANDSHAKE');
      assert.equal(untrusted.detail, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    } finally {
      await new Promise<void>((resolve) => teams.close(() => resolve()));
    }
  });

  test('server-side mTLS: accepts Teams certificates from both roots, rejects unknown root, wrong SAN, no cert', async () => {
    const b = sbcServer({
      verifyClient: { mode: 'require', ca: pki.microsoftRootsPem, allowedSans: ['sip.pstnhub.microsoft.com'] },
    });
    const [lb] = await b.start(['tls:127.0.0.1:0', 'tls:[::1]:0']);
    const atB = collector<InboundMessage>(b, 'message');
    const rejected = collector<RejectedConnection>(b, 'connectionRejected');
    for (const cert of [pki.teamsCertBaltimore, pki.teamsCertDigicert]) {
      const c = await tlsClient({
        port: lb!.port,
        servername: 'sbc.example.test',
        ca: pki.publicRootsPem,
        cert: cert.chainPem,
        key: cert.keyPem,
        maxVersion: 'TLSv1.2',
      });
      c.socket.write(sipRequest());
    }
    await atB.waitFor(2);
    for (const m of atB.items) {
      assert.equal(m.tls?.authorized, true);
      assert.deepEqual(m.tls?.verifiedSans, ['sip.pstnhub.microsoft.com']);
      assert.equal(m.tls?.servername, 'sbc.example.test');
      assert.ok((m.tls?.peerCertificateChain.length ?? 0) >= 2);
    }
    const roots = atB.items.map((m) => m.tls!.peerCertificateChain.at(-1)!.subject);
    assert.ok(roots.some((s) => /Baltimore/.test(s)) && roots.some((s) => /DigiCert/.test(s)), roots.join(' | '));
    // Negative cases: the handshake itself completes (TLS 1.2) but the SBC closes the connection and counts it.
    const bad: Array<[IssuedCertificate | undefined, string]> = [
      [unknownRootTeams, 'tls-untrusted'],
      [wrongSanTeams, 'tls-san'],
      [undefined, 'tls-no-certificate'],
    ];
    for (const [i, [cert, reason]] of bad.entries()) {
      const c = tls.connect({
        host: '127.0.0.1',
        port: lb!.port,
        servername: 'sbc.example.test',
        ca: pki.publicRootsPem,
        ...(cert ? { cert: cert.chainPem, key: cert.keyPem } : {}),
        maxVersion: 'TLSv1.2',
      });
      sockets.push(c);
      c.on('error', () => {});
      await new Promise<void>((resolve) => c.once('close', () => resolve()));
      await rejected.waitFor(i + 1);
      assert.equal(rejected.items[i]!.reason, reason);
    }
    assert.equal(b.stats.connectionsRejected['tls-untrusted'], 1);
    assert.equal(b.stats.connectionsRejected['tls-san'], 1);
    assert.equal(b.stats.connectionsRejected['tls-no-certificate'], 1);
    assert.equal(atB.items.length, 2);
    // IPv6 listener, with a Teams certificate.
    const v6 = await tlsClient({
      host: '::1',
      port: b.boundListeners()[1]!.port,
      servername: 'sbc.example.test',
      ca: pki.publicRootsPem,
      cert: pki.teamsCertDigicert.chainPem,
      key: pki.teamsCertDigicert.keyPem,
    });
    v6.socket.write(sipRequest());
    const all = await atB.waitFor(3);
    assert.equal(all[2]!.source.family, 'IPv6');
    assert.equal(all[2]!.tls?.authorized, true);
  });

  test('TLS 1.1-only clients are refused; plain TCP on a TLS port is refused', async () => {
    const b = sbcServer();
    const [lb] = await b.start(['tls:127.0.0.1:0']);
    const rejected = collector<RejectedConnection>(b, 'connectionRejected');
    const err = await tlsClient({
      port: lb!.port,
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
      rejectUnauthorized: false,
    }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    assert.ok(err, 'handshake must fail');
    assert.match(String(err.code), /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|VERSION/);
    const raw = await rawTcpClient(lb!.port);
    raw.socket.write(sipRequest());
    await raw.closed;
    await rejected.waitFor(2);
    assert.deepEqual(
      rejected.items.map((r) => r.reason),
      ['tls-handshake', 'tls-handshake'],
    );
  });

  test('TLS handshake timeout closes silent connections', async () => {
    const b = sbcServer({}, { limits: { tlsHandshakeTimeoutMs: 150 } });
    const [lb] = await b.start(['tls:127.0.0.1:0']);
    const raw = await rawTcpClient(lb!.port);
    const [r] = await waitForEvent<[RejectedConnection]>(b, 'connectionRejected');
    assert.equal(r.reason, 'tls-handshake-timeout');
    await raw.closed;
  });

  test('Teams cipher restriction: each of the four suites negotiates; a non-ECDHE suite does not', async () => {
    const b = sbcServer({ ciphers: TEAMS_CIPHERS, maxVersion: 'TLSv1.2' });
    const [lb] = await b.start(['tls:127.0.0.1:0']);
    for (const suite of TEAMS_CIPHERS.split(':')) {
      const c = await tlsClient({
        port: lb!.port,
        servername: 'sbc.example.test',
        ca: pki.publicRootsPem,
        ciphers: suite,
        maxVersion: 'TLSv1.2',
      });
      assert.equal(c.socket.getCipher().name, suite);
      c.socket.destroy();
    }
    const refused = await tlsClient({
      port: lb!.port,
      servername: 'sbc.example.test',
      ca: pki.publicRootsPem,
      ciphers: 'AES128-SHA256',
      maxVersion: 'TLSv1.2',
    }).then(
      () => false,
      () => true,
    );
    assert.equal(refused, true);
  });

  test('two transport layers over TLS: identity on both sides, reply on the same connection', async () => {
    const b = sbcServer({
      verifyClient: { mode: 'request', ca: pki.publicRootsPem },
    });
    const [lb] = await b.start(['tls:[::1]:0']);
    const a = layer({
      tls: {
        certificates: [{ certPem: tenantB.chainPem, keyPem: tenantB.keyPem }],
        serverCa: pki.publicRootsPem,
      },
    });
    const atB = collector<InboundMessage>(b, 'message');
    const atA = collector<InboundMessage>(a, 'message');
    const sent = await a.send(
      { transport: 'TLS', address: '[::1]', port: lb!.port, servername: 'tenant-a.sbc.example.test' },
      sipRequest(),
    );
    const [m] = await atB.waitFor(1);
    assert.equal(m!.tls?.servername, 'tenant-a.sbc.example.test');
    assert.equal(m!.tls?.authorized, true);
    assert.deepEqual(m!.tls?.peerDnsNames, ['tenant-b.customer.test']);
    await b.send({ transport: 'TLS', address: m!.source.address, port: m!.source.port }, sipResponse());
    const [r] = await atA.waitFor(1);
    assert.equal(r!.connectionId, sent.connectionId);
    assert.equal(b.stats.connectionsOpened, 0);
    // An inbound TLS connection is reused toward an alias only for a name its certificate proves.
    assert.equal(b.addAlias(m!.connectionId!, '::1', 5061), true);
    const viaAlias = await b.send(
      { transport: 'TLS', address: '::1', port: 5061, servername: 'tenant-b.customer.test' },
      sipRequest(),
    );
    assert.equal(viaAlias.connectionId, m!.connectionId);
    const wrongName = await b
      .send({ transport: 'TLS', address: '::1', port: 5061, servername: 'other.customer.test' }, sipRequest())
      .catch((e: unknown) => e);
    assert.ok(wrongName instanceof TransportError);
  });
});
