import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { endpointKey, familyOf, formatHostPort, isIpLiteral, normalizeAddress } from './address.ts';
import { looksLikeResponse, mustUseCongestionControlledTransport } from './congestion.ts';
import { formatListenSpec, ListenSpecError, parseListenSpec } from './listen-spec.ts';
import { matchHostname, parseSubjectAltName, splitPemChain } from './tls-certificates.ts';

describe('parseListenSpec', () => {
  test('IPv4, bracketed IPv6, default ports, case-insensitive transport', () => {
    assert.deepEqual(parseListenSpec('udp:127.0.0.1:5060'), {
      transport: 'UDP',
      address: '127.0.0.1',
      port: 5060,
      family: 'IPv4',
    });
    assert.deepEqual(parseListenSpec('tcp:[::1]:5060'), {
      transport: 'TCP',
      address: '::1',
      port: 5060,
      family: 'IPv6',
    });
    assert.deepEqual(parseListenSpec('TLS:0.0.0.0:5061'), {
      transport: 'TLS',
      address: '0.0.0.0',
      port: 5061,
      family: 'IPv4',
    });
    assert.deepEqual(parseListenSpec('tls:[::]'), { transport: 'TLS', address: '::', port: 5061, family: 'IPv6' });
    assert.equal(parseListenSpec('tcp:10.0.0.1').port, 5060);
    assert.equal(parseListenSpec('udp:127.0.0.1:0').port, 0);
    assert.equal(parseListenSpec('tcp:[2001:db8::5]:15060').address, '2001:db8::5');
  });

  test('clear errors', () => {
    const cases: Array<[string, RegExp]> = [
      ['127.0.0.1:5060', /unknown transport|missing transport/],
      ['sctp:127.0.0.1:5060', /unknown transport "sctp"/],
      ['udp:', /missing address/],
      ['tcp:::1:5060', /IPv6 addresses must be in brackets/],
      ['tcp:[::1:5060', /unterminated/],
      ['tcp:[::1]5060', /after "]"/],
      ['tcp:[1.2.3.4]:5060', /not an IPv6 address/],
      ['tls:sbc.example.net:5061', /not an IP address/],
      ['udp:127.0.0.1:99999', /out of range/],
      ['udp:127.0.0.1:abc', /not a number/],
    ];
    for (const [spec, re] of cases) {
      assert.throws(
        () => parseListenSpec(spec),
        (err: unknown) => err instanceof ListenSpecError && re.test(err.message),
        spec,
      );
    }
  });

  test('format round-trips', () => {
    for (const s of ['udp:127.0.0.1:5060', 'tcp:[::1]:5060', 'tls:0.0.0.0:5061']) {
      assert.equal(formatListenSpec(parseListenSpec(s)), s);
    }
  });
});

describe('addresses', () => {
  test('normalizeAddress gives one canonical form', () => {
    assert.equal(normalizeAddress('[2001:DB8:0:0::1]'), '2001:db8::1');
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::FFFF:7f00:1'), '127.0.0.1');
    assert.equal(normalizeAddress('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeAddress('10.1.2.3'), '10.1.2.3');
    assert.equal(endpointKey('TCP', '[::1]', 5060), endpointKey('TCP', '0::1', 5060));
    assert.equal(familyOf('[::1]'), 'IPv6');
    assert.equal(familyOf('127.0.0.1'), 'IPv4');
    assert.equal(formatHostPort('::1', 5060), '[::1]:5060');
    assert.equal(isIpLiteral('[::1]'), true);
    assert.equal(isIpLiteral('sip.pstnhub.microsoft.com'), false);
  });
});

describe('RFC 3261 §18.1.1 size rule', () => {
  test('mustUseCongestionControlledTransport', () => {
    assert.equal(mustUseCongestionControlledTransport(1300), false);
    assert.equal(mustUseCongestionControlledTransport(1301), true);
    assert.equal(mustUseCongestionControlledTransport(1300, 1500), false);
    assert.equal(mustUseCongestionControlledTransport(8000, 9000), false);
    assert.equal(mustUseCongestionControlledTransport(8801, 9000), true);
  });
  test('responses are recognised by their first bytes', () => {
    assert.equal(looksLikeResponse(Buffer.from('SIP/2.0 200 OK\r\n')), true);
    assert.equal(looksLikeResponse(Buffer.from('INVITE sip:a SIP/2.0\r\n')), false);
  });
});

describe('certificate helpers', () => {
  test('matchHostname: exact and single-label wildcard', () => {
    assert.equal(matchHostname('sbc.example.net', 'SBC.example.net'), true);
    assert.equal(matchHostname('*.sbc.example.net', 'tenant1.sbc.example.net'), true);
    assert.equal(matchHostname('*.sbc.example.net', 'a.b.sbc.example.net'), false);
    assert.equal(matchHostname('*.sbc.example.net', 'sbc.example.net'), false);
  });
  test('parseSubjectAltName', () => {
    assert.deepEqual(parseSubjectAltName('DNS:a.example, DNS:*.b.example, IP Address:127.0.0.1, IP Address:::1'), {
      dns: ['a.example', '*.b.example'],
      ip: ['127.0.0.1', '::1'],
    });
    assert.deepEqual(parseSubjectAltName(undefined), { dns: [], ip: [] });
    assert.deepEqual(parseSubjectAltName('DNS:"x,y.example", DNS:z'), { dns: ['x,y.example', 'z'], ip: [] });
  });
  test('splitPemChain', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
    assert.equal(splitPemChain(pem + pem).length, 2);
  });
});
