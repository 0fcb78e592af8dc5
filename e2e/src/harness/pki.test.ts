import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { before, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  type CertificateAuthority,
  createCa,
  createSelfSignedLeaf,
  createTeamsPki,
  EKU_OIDS,
  ekuOids,
  expiredWindow,
  generateRsaKeyPair,
  type IssuedCertificate,
  issueLeaf,
  type TeamsPki,
} from './pki.ts';

const TIMEOUT_MS = 10_000;

interface HandshakeResult {
  ok: boolean;
  /** Client-side error code (OpenSSL verify code or Node code). */
  code?: string;
  /** Server-side view of the client certificate, when the handshake reached the server. */
  serverSawClientAuthorized?: boolean;
  serverSawClientError?: string;
  serverSawSni?: string | false;
  peerSubjectAltName?: string;
}

/** Start a one-shot TLS server, connect a client to it, and report how the handshake went on both sides. */
async function handshake(
  server: tls.TlsOptions,
  client: tls.ConnectionOptions & { host?: string },
): Promise<HandshakeResult> {
  const serverSide: Partial<HandshakeResult> = {};
  const srv = tls.createServer({ minVersion: 'TLSv1.2', ...server }, (socket) => {
    serverSide.serverSawClientAuthorized = socket.authorized;
    if (socket.authorizationError) serverSide.serverSawClientError = String(socket.authorizationError);
    serverSide.serverSawSni = (socket as tls.TLSSocket & { servername?: string | false }).servername ?? false;
    socket.end('hello');
  });
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, code: 'TEST_TIMEOUT' }), TIMEOUT_MS);
      const sock = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.2', ...client });
      sock.once('secureConnect', () => {
        const peerSubjectAltName = sock.getPeerX509Certificate()?.subjectAltName;
        // Wait for the server's greeting so that the server-side callback has run.
        sock.once('data', () => {
          clearTimeout(timer);
          sock.destroy();
          resolve({ ok: true, ...serverSide, ...(peerSubjectAltName ? { peerSubjectAltName } : {}) });
        });
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        sock.destroy();
        resolve({ ok: false, ...(err.code ? { code: err.code } : {}), ...serverSide });
      });
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

describe('test PKI', () => {
  let root: CertificateAuthority;
  let intermediate: CertificateAuthority;
  let otherRoot: CertificateAuthority;
  let good: IssuedCertificate;
  let teams: TeamsPki;

  before(async () => {
    [root, otherRoot] = await Promise.all([createCa('Test Root A'), createCa('Test Root B')]);
    intermediate = await createCa('Test Issuing CA', { parent: root });
    good = await issueLeaf(intermediate, {
      commonName: 'sbc.example.test',
      dnsNames: ['sbc.example.test', '*.sbc.example.test'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    teams = await createTeamsPki();
  });

  test('CA and leaf structure: chain is leaf + intermediate, issuer links verify', () => {
    const certs = good.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/).filter((s) => s.trim());
    assert.equal(certs.length, 2);
    const leaf = new X509Certificate(certs[0]!);
    const inter = new X509Certificate(certs[1]!);
    const anchor = new X509Certificate(root.certPem);
    assert.ok(leaf.checkIssued(inter));
    assert.ok(inter.checkIssued(anchor));
    assert.ok(leaf.verify(inter.publicKey));
    assert.ok(inter.verify(anchor.publicKey));
    assert.equal(inter.ca, true);
    assert.equal(leaf.ca, false);
    assert.equal(good.rootPem, root.certPem);
    assert.equal(leaf.publicKey.asymmetricKeyType, 'rsa');
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.match(leaf.subjectAltName ?? '', /DNS:sbc\.example\.test/);
    assert.match(leaf.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.ok(leaf.checkHost('x.sbc.example.test'));
    assert.ok(leaf.checkIP('127.0.0.1'));
  });

  test('EKU: serverAuth+clientAuth by default, serverAuth-only variant, verifiable with X509Certificate', async () => {
    const both = new X509Certificate(good.certPem);
    assert.deepEqual([...(both.keyUsage ?? [])].sort(), [EKU_OIDS.serverAuth, EKU_OIDS.clientAuth].sort());
    const serverOnly = await issueLeaf(intermediate, { commonName: 'so.example.test', eku: ['serverAuth'] });
    assert.deepEqual(new X509Certificate(serverOnly.certPem).keyUsage, [EKU_OIDS.serverAuth]);
    assert.deepEqual(ekuOids(serverOnly.certPem), [EKU_OIDS.serverAuth]);
  });

  test('TLS succeeds with the full chain (hostname and IP SAN)', async () => {
    const byName = await handshake(
      { cert: good.chainPem, key: good.keyPem },
      { ca: [root.certPem], servername: 'sbc.example.test' },
    );
    assert.equal(byName.ok, true, byName.code);
    const byWildcard = await handshake(
      { cert: good.chainPem, key: good.keyPem },
      { ca: [root.certPem], servername: 'tenant1.sbc.example.test' },
    );
    assert.equal(byWildcard.ok, true, byWildcard.code);
    const byIp = await handshake({ cert: good.chainPem, key: good.keyPem }, { ca: [root.certPem] });
    assert.equal(byIp.ok, true, byIp.code);
  });

  test('TLS fails: expired certificate', async () => {
    const expired = await issueLeaf(intermediate, {
      commonName: 'sbc.example.test',
      dnsNames: ['sbc.example.test'],
      ...expiredWindow(),
    });
    assert.ok(new Date(expired.cert.notAfter).getTime() < Date.now());
    const r = await handshake(
      { cert: expired.chainPem, key: expired.keyPem },
      { ca: [root.certPem], servername: 'sbc.example.test' },
    );
    assert.deepEqual([r.ok, r.code], [false, 'CERT_HAS_EXPIRED']);
  });

  test('TLS fails: wrong SAN', async () => {
    const wrong = await issueLeaf(intermediate, { commonName: 'other.example.test', dnsNames: ['other.example.test'] });
    const r = await handshake(
      { cert: wrong.chainPem, key: wrong.keyPem },
      { ca: [root.certPem], servername: 'sbc.example.test' },
    );
    assert.deepEqual([r.ok, r.code], [false, 'ERR_TLS_CERT_ALTNAME_INVALID']);
  });

  test('TLS fails: unknown root', async () => {
    const r = await handshake(
      { cert: good.chainPem, key: good.keyPem },
      { ca: [otherRoot.certPem], servername: 'sbc.example.test' },
    );
    assert.equal(r.ok, false);
    assert.equal(r.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  });

  test('TLS fails: missing intermediate (leaf only sent)', async () => {
    const r = await handshake(
      { cert: good.certPem, key: good.keyPem },
      { ca: [root.certPem], servername: 'sbc.example.test' },
    );
    assert.deepEqual([r.ok, r.code], [false, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
  });

  test('TLS fails: self-signed leaf', async () => {
    const self = await createSelfSignedLeaf({ commonName: 'sbc.example.test', dnsNames: ['sbc.example.test'] });
    const r = await handshake(
      { cert: self.chainPem, key: self.keyPem },
      { ca: [root.certPem], servername: 'sbc.example.test' },
    );
    assert.deepEqual([r.ok, r.code], [false, 'DEPTH_ZERO_SELF_SIGNED_CERT']);
  });

  test('key reuse: a supplied key pair is used for the leaf', async () => {
    const keys = await generateRsaKeyPair();
    const a = await issueLeaf(intermediate, { commonName: 'a.test', keys });
    const b = await issueLeaf(intermediate, { commonName: 'b.test', keys });
    assert.equal(a.keyPem, b.keyPem);
    assert.notEqual(a.certPem, b.certPem);
  });

  test('Teams PKI: Teams certs from both Microsoft roots carry sip/sip2/sip3 and both EKUs', () => {
    for (const c of [teams.teamsCertBaltimore, teams.teamsCertDigicert]) {
      const x = new X509Certificate(c.certPem);
      for (const n of ['sip.pstnhub.microsoft.com', 'sip2.pstnhub.microsoft.com', 'sip3.pstnhub.microsoft.com']) {
        assert.ok(x.checkHost(n), n);
      }
      assert.deepEqual([...(x.keyUsage ?? [])].sort(), [EKU_OIDS.serverAuth, EKU_OIDS.clientAuth].sort());
    }
    assert.match(new X509Certificate(teams.baltimoreRoot.certPem).subject, /Baltimore CyberTrust Root \(test\)/);
    assert.match(new X509Certificate(teams.digicertRoot.certPem).subject, /DigiCert Global Root G2 \(test\)/);
    assert.equal(teams.microsoftRootsPem.length, 2);
  });

  test('Teams PKI: mutual TLS, SBC (client) to Teams (server) and Teams client accepted by SBC from each root', async () => {
    const sbc = await teams.issueSbcCert({ commonName: 'sbc.example.test', dnsNames: ['sbc.example.test'] });
    // SBC dials Teams: Teams (server) requires the SBC's client certificate, verified against the public root.
    const toTeams = await handshake(
      {
        cert: teams.teamsCertDigicert.chainPem,
        key: teams.teamsCertDigicert.keyPem,
        requestCert: true,
        rejectUnauthorized: true,
        ca: teams.publicRootsPem,
      },
      { cert: sbc.chainPem, key: sbc.keyPem, ca: teams.microsoftRootsPem, servername: 'sip2.pstnhub.microsoft.com' },
    );
    assert.equal(toTeams.ok, true, toTeams.code);
    assert.equal(toTeams.serverSawClientAuthorized, true);
    assert.equal(toTeams.serverSawSni, 'sip2.pstnhub.microsoft.com');
    // Teams dials the SBC with a certificate from either Microsoft root.
    for (const teamsCert of [teams.teamsCertBaltimore, teams.teamsCertDigicert]) {
      const r = await handshake(
        {
          cert: sbc.chainPem,
          key: sbc.keyPem,
          requestCert: true,
          rejectUnauthorized: false,
          ca: teams.microsoftRootsPem,
        },
        { cert: teamsCert.chainPem, key: teamsCert.keyPem, ca: teams.publicRootsPem, servername: 'sbc.example.test' },
      );
      assert.equal(r.ok, true, r.code);
      assert.equal(r.serverSawClientAuthorized, true, r.serverSawClientError);
    }
  });

  test('Teams PKI: serverAuth-only SBC certificate is refused as a TLS client certificate', async () => {
    const serverOnly = await teams.issueSbcCert({
      commonName: 'sbc.example.test',
      dnsNames: ['sbc.example.test'],
      eku: ['serverAuth'],
    });
    const r = await handshake(
      {
        cert: teams.teamsCertDigicert.chainPem,
        key: teams.teamsCertDigicert.keyPem,
        requestCert: true,
        rejectUnauthorized: false,
        ca: teams.publicRootsPem,
      },
      {
        cert: serverOnly.chainPem,
        key: serverOnly.keyPem,
        ca: teams.microsoftRootsPem,
        servername: 'sip.pstnhub.microsoft.com',
      },
    );
    assert.equal(r.serverSawClientAuthorized, false);
    assert.equal(r.serverSawClientError, 'INVALID_PURPOSE');
  });
});
