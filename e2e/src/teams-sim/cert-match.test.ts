import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { createCa, issueLeaf } from '../harness/pki.ts';
import { certCoversHost, certNames, dnsNameMatches, hasServerAndClientAuth, namesCoverHost } from './cert-match.ts';

describe('dnsNameMatches (RFC 2818 single-label wildcard)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['sbc.contoso.com', 'sbc.contoso.com', true],
    ['SBC.Contoso.com', 'sbc.contoso.COM', true],
    ['sbc.contoso.com.', 'sbc.contoso.com', true],
    ['sbc.contoso.com', 'sbc2.contoso.com', false],
    ['*.contoso.com', 'sbc.contoso.com', true],
    ['*.contoso.com', 'contoso.com', false], // the bare base is not covered
    ['*.contoso.com', 'a.sbc.contoso.com', false], // exactly one label
    ['*.contoso.com', '.contoso.com', false],
    ['*.com', 'contoso.com', false], // no wildcard over a public suffix-like single label
    ['sbc*.contoso.com', 'sbc1.contoso.com', false], // partial-label wildcards are not honoured
    ['a.*.contoso.com', 'a.b.contoso.com', false],
    ['*.*.contoso.com', 'a.b.contoso.com', false],
    ['*.customers.example.net', 'sbc1.customers.example.net', true],
    ['*.customers.example.net', '127.0.0.1', false],
    ['127.0.0.1', '127.0.0.1', false], // IPs never match DNS names
    ['', 'x', false],
  ];
  for (const [pattern, host, expected] of cases) {
    test(`${pattern} vs ${host} → ${expected}`, () => assert.equal(dnsNameMatches(pattern, host), expected));
  }
});

describe('namesCoverHost', () => {
  test('wildcard only in the CN does not count', () => {
    assert.equal(
      namesCoverHost({ dnsNames: [], ipAddresses: [], commonName: '*.contoso.com' }, 'sbc.contoso.com'),
      false,
    );
  });
  test('an exact CN counts', () => {
    assert.equal(
      namesCoverHost({ dnsNames: [], ipAddresses: [], commonName: 'sbc.contoso.com' }, 'sbc.contoso.com'),
      true,
    );
  });
  test('IP hosts are never covered, even by an IP SAN', () => {
    assert.equal(namesCoverHost({ dnsNames: [], ipAddresses: ['10.0.0.1'] }, '10.0.0.1'), false);
    assert.equal(namesCoverHost({ dnsNames: ['*.x.com'], ipAddresses: [] }, '[::1]'), false);
  });
});

describe('certificates', () => {
  test('real certificates: SAN parsing, base + wildcard, EKU', async () => {
    const ca = await createCa('Test CA');
    const good = await issueLeaf(ca, {
      commonName: 'customers.example.net',
      dnsNames: ['customers.example.net', '*.customers.example.net'],
      ipAddresses: ['127.0.0.1'],
    });
    const x = new X509Certificate(good.certPem);
    const names = certNames(x);
    assert.deepEqual(names.dnsNames, ['customers.example.net', '*.customers.example.net']);
    assert.deepEqual(names.ipAddresses, ['127.0.0.1']);
    assert.equal(names.commonName, 'customers.example.net');
    assert.equal(certCoversHost(x, 'customers.example.net'), true);
    assert.equal(certCoversHost(x, 'sbc1.customers.example.net'), true);
    assert.equal(certCoversHost(x, 'a.sbc1.customers.example.net'), false);
    assert.equal(certCoversHost(x, 'example.net'), false);
    assert.equal(hasServerAndClientAuth(x), true);

    const wildOnly = await issueLeaf(ca, { commonName: '*.customers.example.net', dnsNames: [], eku: ['serverAuth'] });
    const w = new X509Certificate(wildOnly.certPem);
    assert.equal(certCoversHost(w, 'sbc1.customers.example.net'), false, 'wildcard in CN only must fail');
    assert.equal(hasServerAndClientAuth(w), false);
  });
});
