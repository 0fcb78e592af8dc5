import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { RenderedConfig, TenantConfig } from '../../../crds/src/render/config-types.ts';
import { coveredBy, EKU_CLIENT_AUTH, EKU_SERVER_AUTH, inferBaseDomain, LocalCa } from './local-ca.ts';
import { loadX509 } from './x509.ts';

const temps: string[] = [];
after(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-ca-'));
  temps.push(dir);
  return dir;
}

async function ekuOids(certPem: string): Promise<string[]> {
  const x509 = await loadX509();
  const ext = new x509.X509Certificate(certPem).getExtension(x509.ExtendedKeyUsageExtension);
  return ext ? Array.from(ext.usages, String) : [];
}

function configWith(baseDomain: string | null, fqdns: string[]): RenderedConfig {
  return {
    apiVersion: 'switchboard.dev/config-v1',
    kind: 'SwitchboardConfig',
    version: '0123456789abcdef',
    generatedAt: '2025-01-01T00:00:00.000Z',
    baseDomain,
    wildcardCertificate: { namespace: 'switchboard-system', name: 'wildcard' },
    tenants: fqdns.map((fqdn, i) => ({ id: `t${i}/t${i}`, fqdn }) as TenantConfig),
    trunks: [],
  };
}

test('first load creates the CA (key 0600); a second load returns the same CA', async () => {
  const dir = await stateDir();
  const a = await LocalCa.load(dir);
  assert.deepEqual((await readdir(join(dir, 'ca'))).sort(), ['ca.crt', 'ca.key']);
  assert.equal((await stat(join(dir, 'ca', 'ca.key'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'ca'))).mode & 0o077, 0);
  assert.ok(a.certificate.ca);
  assert.equal(a.certificate.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.ok(a.certificate.verify(a.certificate.publicKey), 'self-signed');
  const b = await LocalCa.load(dir);
  assert.equal(b.fingerprint, a.fingerprint);
  assert.equal(b.certPem, a.certPem);
  // And b can still issue under the same CA (the key was loaded, not regenerated).
  const leaf = await b.issueServerCertificate({ dnsNames: ['x.example.test'] });
  assert.ok(new X509Certificate(leaf.certPem).verify(a.certificate.publicKey));
});

test('a CA certificate without its key is refused, not silently replaced', async () => {
  const dir = await stateDir();
  await LocalCa.load(dir);
  await unlink(join(dir, 'ca', 'ca.key'));
  await assert.rejects(LocalCa.load(dir), /incomplete/);
});

test('issued leaf: chains to the CA, SANs and checkHost, EKU serverAuth + clientAuth, RSA 2048, validity', async () => {
  const dir = await stateDir();
  const now = new Date('2030-06-01T00:00:00Z');
  const ca = await LocalCa.load(dir, { now: () => now });
  const issued = await ca.issueServerCertificate({
    dnsNames: ['*.SBC.example.test', 'sbc.example.test'],
    validityDays: 30,
  });
  const leaf = new X509Certificate(issued.certPem);
  assert.ok(leaf.checkIssued(ca.certificate));
  assert.ok(leaf.verify(ca.certificate.publicKey));
  assert.ok(!leaf.ca);
  assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.keyPem)));
  assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.equal(leaf.subjectAltName, 'DNS:*.sbc.example.test, DNS:sbc.example.test');
  assert.equal(leaf.checkHost('contoso.sbc.example.test'), '*.sbc.example.test');
  assert.equal(leaf.checkHost('sbc.example.test'), 'sbc.example.test');
  assert.equal(leaf.checkHost('a.b.sbc.example.test'), undefined, 'a wildcard covers one label');
  assert.equal(leaf.checkHost('other.example.test'), undefined);
  assert.deepEqual((await ekuOids(issued.certPem)).sort(), [EKU_SERVER_AUTH, EKU_CLIENT_AUTH].sort());
  assert.equal(Date.parse(leaf.validTo), Date.parse('2030-07-01T00:00:00Z'));
  assert.ok(Date.parse(leaf.validFrom) < now.getTime());
  assert.deepEqual(issued.dnsNames, ['*.sbc.example.test', 'sbc.example.test']);
});

test('certificatesFor: wildcard default + uncovered FQDNs; cached on disk across restarts; reissued near expiry', async () => {
  const dir = await stateDir();
  let now = new Date('2030-01-01T00:00:00Z');
  const ca = await LocalCa.load(dir, { now: () => now });
  const config = configWith('sbc.example.net', [
    'contoso.sbc.example.net',
    'fabrikam.sbc.example.net',
    'voice.northwind.example.org',
    'deep.sub.sbc.example.net',
  ]);
  const entries = await ca.certificatesFor(config);
  assert.deepEqual(
    entries.map((e) => [e.hostnames, e.default ?? false]),
    [
      [['*.sbc.example.net', 'sbc.example.net'], true],
      [['voice.northwind.example.org'], false],
      [['deep.sub.sbc.example.net'], false],
    ],
  );
  for (const e of entries) {
    const leaf = new X509Certificate(e.certPem);
    assert.ok(leaf.verify(ca.certificate.publicKey));
    for (const h of e.hostnames!) assert.ok(leaf.checkHost(h.replace('*', 'x')), h);
  }
  const keyFiles = (await readdir(join(dir, 'certs'))).map((d) => join(dir, 'certs', d, 'tls.key'));
  assert.equal(keyFiles.length, 3);
  for (const f of keyFiles) assert.equal((await stat(f)).mode & 0o777, 0o600);

  // A restart (new LocalCa over the same directory) reuses the files: identical certificates.
  const again = await (await LocalCa.load(dir, { now: () => now })).certificatesFor(config);
  assert.deepEqual(
    again.map((e) => e.certPem),
    entries.map((e) => e.certPem),
  );
  // Same SAN set, different order/case: same certificate.
  const reordered = await ca.certificatesFor(configWith('SBC.example.net', ['voice.northwind.example.org']));
  assert.equal(reordered[0]!.certPem, entries[0]!.certPem);

  // 70 days later (90-day validity, renew in the last 30): reissued.
  now = new Date('2030-03-12T00:00:00Z');
  const renewed = await (await LocalCa.load(dir, { now: () => now })).certificatesFor(config);
  assert.notEqual(renewed[0]!.certPem, entries[0]!.certPem);
  assert.ok(new X509Certificate(renewed[0]!.certPem).verify(ca.certificate.publicKey));

  // A tampered cache file is not trusted: reissued.
  const certFile = join(dir, 'certs', (await readdir(join(dir, 'certs')))[0]!, 'tls.crt');
  const other = await stateDir();
  const foreign = await (await LocalCa.load(other)).issueServerCertificate({
    dnsNames: ['*.sbc.example.net', 'sbc.example.net'],
  });
  await writeFile(certFile, foreign.certPem);
  const fresh = await (await LocalCa.load(dir, { now: () => now })).certificatesFor(config);
  for (const e of fresh) assert.ok(new X509Certificate(e.certPem).verify(ca.certificate.publicKey));
  assert.notEqual(await readFile(certFile, 'utf8'), foreign.certPem, 'the foreign file was replaced');
});

test('certificatesFor without a base domain infers it from the tenant FQDNs', async () => {
  const ca = await LocalCa.load(await stateDir());
  const entries = await ca.certificatesFor(configWith(null, ['a.sbc.example.net', 'b.sbc.example.net']));
  assert.deepEqual(
    entries.map((e) => e.hostnames),
    [['*.sbc.example.net', 'sbc.example.net']],
  );
});

test('coveredBy and inferBaseDomain', () => {
  assert.ok(coveredBy('sbc.example.net', 'a.sbc.example.net'));
  assert.ok(coveredBy('sbc.example.net', 'sbc.example.net'));
  assert.ok(!coveredBy('sbc.example.net', 'a.b.sbc.example.net'));
  assert.ok(!coveredBy('sbc.example.net', 'asbc.example.net'));
  assert.equal(inferBaseDomain(['a.x.net', 'b.x.net', 'c.y.net']), 'x.net');
  assert.equal(inferBaseDomain(['localhost']), undefined);
  assert.equal(inferBaseDomain([]), undefined);
});
