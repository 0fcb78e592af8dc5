import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  authorizationFor,
  challengeHeader,
  digestResponse,
  NonceIssuer,
  parseChallenge,
  parseCredentials,
  verifyCredentials,
} from './digest.ts';

test('RFC 2617 §3.5 test vector (MD5, qop=auth)', () => {
  assert.equal(
    digestResponse({
      algorithm: 'MD5',
      username: 'Mufasa',
      password: 'Circle Of Life',
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      method: 'GET',
      uri: '/dir/index.html',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    }),
    '6629fae49393a05397450978507c4ef1',
  );
});

test('RFC 7616 §3.9.1 test vectors (MD5 and SHA-256)', () => {
  const base = {
    username: 'Mufasa',
    password: 'Circle of Life',
    realm: 'http-auth@example.org',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    method: 'GET',
    uri: '/dir/index.html',
    qop: 'auth',
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };
  assert.equal(digestResponse({ ...base, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
  assert.equal(
    digestResponse({ ...base, algorithm: 'SHA-256' }),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
});

test('challenge parsing, answering and verifying round trip', () => {
  const c = parseChallenge('Digest realm="carrier.example", nonce="abc,def", qop="auth,auth-int", opaque="xyz"');
  assert.deepEqual(c, {
    realm: 'carrier.example',
    nonce: 'abc,def',
    algorithm: 'MD5',
    qop: ['auth', 'auth-int'],
    stale: false,
    opaque: 'xyz',
  });
  assert.equal(parseChallenge('Basic realm="x"'), undefined);
  assert.equal(parseChallenge('Digest realm="x", nonce="n", algorithm=MD5-sess'), undefined);
  const auth = authorizationFor(
    c!,
    { username: 'sb', password: 'pw' },
    { method: 'INVITE', uri: 'sip:+1555@h' },
    { cnonce: 'cn' },
  );
  const creds = parseCredentials(auth)!;
  assert.equal(creds.username, 'sb');
  assert.equal(creds.opaque, 'xyz');
  assert.equal(creds.qop, 'auth');
  assert.equal(verifyCredentials(creds, 'pw', 'INVITE'), true);
  assert.equal(verifyCredentials(creds, 'wrong', 'INVITE'), false);
  assert.equal(verifyCredentials(creds, 'pw', 'BYE'), false);
  // RFC 2069 style (no qop)
  const old = parseChallenge('Digest realm="r", nonce="n"')!;
  assert.equal(
    verifyCredentials(
      parseCredentials(authorizationFor(old, { username: 'u', password: 'p' }, { method: 'REGISTER', uri: 'sip:r' }))!,
      'p',
      'REGISTER',
    ),
    true,
  );
});

test('stateless nonces: ours and fresh, stale after their lifetime, foreign ones invalid', () => {
  let now = 1_000_000;
  const issuer = new NonceIssuer({ lifetimeMs: 1000, now: () => now });
  const n = issuer.issue();
  assert.equal(issuer.check(n), 'ok');
  now += 1001;
  assert.equal(issuer.check(n), 'stale');
  assert.equal(issuer.check(`${n}x`), 'invalid');
  assert.equal(new NonceIssuer().check(n), 'invalid');
  assert.match(challengeHeader({ realm: 'r', nonce: n, stale: true }), /stale=true/);
});
