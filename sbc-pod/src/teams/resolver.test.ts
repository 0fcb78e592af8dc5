// T1.11: Teams FQDNs are looked up again when the TTL runs out (at most 15 min), so a changed mapping is used.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CachingResolver, MAX_TTL_MS } from './resolver.ts';

test('a cached name is served until its TTL, then looked up again and the new address is used', async () => {
  let now = 0;
  const hosts = new Map([['sip.pstnhub.microsoft.com', '10.0.0.1']]);
  const r = new CachingResolver({ hosts, ttlMs: 60_000, now: () => now });
  assert.equal(await r.resolve('SIP.pstnhub.microsoft.com'), '10.0.0.1');
  hosts.set('sip.pstnhub.microsoft.com', '10.0.0.2');
  now = 59_999;
  assert.equal(await r.resolve('sip.pstnhub.microsoft.com'), '10.0.0.1', 'still cached');
  now = 60_000;
  assert.equal(await r.resolve('sip.pstnhub.microsoft.com'), '10.0.0.2', 'looked up again after the TTL');
  assert.equal(r.counters.lookups, 2);
});

test('the TTL is capped at 15 minutes whatever is configured', async () => {
  let now = 0;
  const answers = ['10.0.0.1', '10.0.0.9'];
  const r = new CachingResolver({ ttlMs: 3_600_000, now: () => now, lookup: async () => answers.shift()! });
  assert.equal(r.ttlMs, MAX_TTL_MS);
  assert.equal(await r.resolve('sip2.pstnhub.microsoft.com'), '10.0.0.1');
  now = 15 * 60_000;
  assert.equal(await r.resolve('sip2.pstnhub.microsoft.com'), '10.0.0.9');
});

test('a failed lookup keeps serving the last good address; IP literals are never looked up', async () => {
  let now = 0;
  let fail = false;
  const r = new CachingResolver({
    ttlMs: 1000,
    now: () => now,
    lookup: async () => {
      if (fail) throw new Error('SERVFAIL');
      return '10.0.0.3';
    },
  });
  assert.equal(await r.resolve('sip3.pstnhub.microsoft.com'), '10.0.0.3');
  fail = true;
  now = 5000;
  assert.equal(await r.resolve('sip3.pstnhub.microsoft.com'), '10.0.0.3');
  assert.equal(r.counters.staleServed, 1);
  await assert.rejects(r.resolve('unknown.example'), /SERVFAIL/);
  assert.equal(await r.resolve('[::1]'), '::1');
});
