import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionGuard } from './connection-guard.ts';
import { PeerFilter } from './peer-filter.ts';
import { extractUserAgent, SourceGuard } from './source-guard.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('per-source token bucket: burst, then drops, refilled by time; sources are independent', () => {
  const c = clock();
  const g = new SourceGuard({ now: c.now, rate: { perSecond: 10, burst: 5 } });
  const verdicts = Array.from({ length: 7 }, () => g.check('198.51.100.1'));
  assert.deepEqual(verdicts, ['allow', 'allow', 'allow', 'allow', 'allow', 'drop', 'drop']);
  assert.equal(g.check('198.51.100.2'), 'allow');
  c.advance(100); // one token
  assert.deepEqual([g.check('198.51.100.1'), g.check('198.51.100.1')], ['allow', 'drop']);
  c.advance(10_000);
  assert.equal(Array.from({ length: 6 }, () => g.check('198.51.100.1')).filter((v) => v === 'allow').length, 5);
  assert.deepEqual({ allowed: g.stats().allowed, dropped: g.stats().dropped }, { allowed: 12, dropped: 4 });
});

test('scanner User-Agents block at once, case-insensitively; the block expires', () => {
  const c = clock();
  const g = new SourceGuard({ now: c.now, scannerBlockMs: 60_000 });
  for (const ua of [
    'friendly-scanner',
    'SIPVicious 0.3.4',
    'sipcli/v1.8',
    'VaxSIPUserAgent/3.1',
    'pplsip',
    'sundayddr',
  ]) {
    assert.ok(g.isScanner(ua), ua);
  }
  assert.equal(g.isScanner('Microsoft.PSTNHub.SIPProxy v.2024.1.1.1 i.EUWE.1'), false);
  assert.equal(g.check('203.0.113.9', { userAgent: 'friendly-scanner' }), 'block');
  assert.equal(g.check('203.0.113.9'), 'block');
  assert.equal(g.check('203.0.113.9', { userAgent: 'Legit/1.0' }), 'block');
  const [entry] = g.list();
  assert.deepEqual(
    { ...entry, since: 0 },
    { source: '203.0.113.9', reason: 'scanner', since: 0, until: c.now() + 60_000, hits: 3 },
  );
  c.advance(60_000);
  assert.equal(g.check('203.0.113.9'), 'allow');
  assert.deepEqual(g.list(), []);
});

test('N bad events within the window block; spread-out events do not', () => {
  const c = clock();
  const g = new SourceGuard({ now: c.now, badThreshold: 3, badWindowMs: 10_000, blockMs: 30_000 });
  assert.equal(g.recordBad('192.0.2.1', 'auth-failed'), false);
  c.advance(6_000);
  assert.equal(g.recordBad('192.0.2.1', 'auth-failed'), false);
  c.advance(6_000);
  assert.equal(g.recordBad('192.0.2.1', 'auth-failed'), false, 'first event is 12 s old: outside the window');
  c.advance(1_000);
  assert.equal(g.recordBad('192.0.2.1', 'forbidden'), true, 'three within 7 s');
  assert.equal(g.check('192.0.2.1'), 'block');
  assert.equal(g.list()[0]?.reason, 'forbidden');
  c.advance(30_000);
  assert.equal(g.check('192.0.2.1'), 'allow');
  // The bad history was reset by the block: one more event does not re-block.
  assert.equal(g.recordBad('192.0.2.1', 'unauthorised'), false);
});

test('trusted sources have their own rate and are never auto-blocked', () => {
  const c = clock();
  const g = new SourceGuard({
    now: c.now,
    badThreshold: 2,
    rate: { perSecond: 1, burst: 1 },
    trustedRate: { perSecond: 1000, burst: 100 },
    trusted: (s) => s.startsWith('52.112.'),
  });
  for (let i = 0; i < 100; i++) assert.equal(g.check('52.112.0.10'), 'allow');
  for (let i = 0; i < 5; i++) g.recordBad('52.112.0.10', 'malformed');
  assert.equal(g.check('52.112.0.10', { userAgent: 'friendly-scanner' }), 'drop'); // over its (large) burst, not blocked
  assert.equal(g.isBlocked('52.112.0.10'), false);
  // An operator can still block it by hand.
  g.block('52.112.0.10', 'manual', 1_000);
  assert.equal(g.check('52.112.0.10'), 'block');
});

test('a source that keeps flooding gets blocked', () => {
  const c = clock();
  const g = new SourceGuard({ now: c.now, rate: { perSecond: 1, burst: 1 }, floodDrops: 10, badThreshold: 2 });
  const verdicts = Array.from({ length: 25 }, () => g.check('192.0.2.77'));
  assert.equal(verdicts[0], 'allow');
  assert.equal(verdicts.indexOf('block'), 20, 'second flood event (20th drop) blocks');
  assert.equal(g.list()[0]?.reason, 'flood');
});

test('memory stays bounded under a flood of distinct sources (LRU eviction)', () => {
  const c = clock();
  const g = new SourceGuard({ now: c.now, maxSources: 1_000, maxBlocks: 100, badThreshold: 1 });
  g.check('10.0.0.1');
  for (let i = 0; i < 200_000; i++) {
    const src = `2001:db8::${i.toString(16)}`;
    g.check(src);
    if (i % 1000 === 0) g.check('10.0.0.1'); // a regular keeps being recently used
    if (i % 10 === 0) g.recordBad(src, 'malformed'); // threshold 1: blocks
  }
  const s = g.stats();
  assert.ok(s.sources <= 1_000, `sources ${s.sources}`);
  assert.ok(s.blocks <= 100, `blocks ${s.blocks}`);
  assert.ok(s.evictions > 190_000);
  assert.ok(g.check('10.0.0.1') !== 'block');
  assert.equal(g.list().length, 100);
});

test('clear lifts one block or all', () => {
  const c = clock();
  const g = new SourceGuard({ now: c.now });
  g.block('192.0.2.1');
  g.block('192.0.2.2');
  g.block('2001:db8::1');
  assert.equal(g.clear('192.0.2.9'), 0);
  assert.equal(g.clear('192.0.2.1'), 1);
  assert.equal(g.check('192.0.2.1'), 'allow');
  assert.equal(g.clear(), 2);
  assert.deepEqual(g.list(), []);
});

test('extractUserAgent reads the header without parsing the message', () => {
  const msg =
    'OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5060\r\nuser-agent:  friendly-scanner \r\nContent-Length: 0\r\n\r\n';
  assert.equal(extractUserAgent(Buffer.from(msg)), 'friendly-scanner');
  assert.equal(extractUserAgent('INVITE sip:x SIP/2.0\r\nUser-Agent\t: sipcli/v1.8\r\n\r\n'), 'sipcli/v1.8');
  assert.equal(extractUserAgent('INVITE sip:x SIP/2.0\r\nServer: x\r\n\r\nUser-Agent: in-body'), undefined);
  assert.equal(extractUserAgent('INVITE sip:x SIP/2.0\r\nX-User-Agent: no\r\n\r\n'), undefined);
});

test('connection guard: per-source connection cap, handshake rate, blocked sources, trusted peers', () => {
  const c = clock();
  const sources = new SourceGuard({ now: c.now });
  const g = new ConnectionGuard({
    now: c.now,
    maxPerSource: 3,
    handshakeRate: { perSecond: 2, burst: 4 },
    trusted: (s) => s === '52.112.1.1',
    maxSources: 10,
    sourceGuard: sources,
  });
  assert.deepEqual(
    Array.from({ length: 4 }, () => g.open('192.0.2.5')),
    ['allow', 'allow', 'allow', 'too-many-connections'],
  );
  g.closed('192.0.2.5');
  assert.equal(g.open('192.0.2.5'), 'allow'); // 4th handshake token
  g.closed('192.0.2.5');
  assert.equal(g.open('192.0.2.5'), 'handshake-rate');
  c.advance(500);
  assert.equal(g.open('192.0.2.5'), 'allow');
  for (let i = 0; i < 100; i++) assert.equal(g.open('52.112.1.1'), 'allow');
  sources.block('198.51.100.66');
  assert.equal(g.open('198.51.100.66'), 'blocked');
  for (let i = 0; i < 1000; i++) g.open(`10.1.${i >> 8}.${i & 255}`);
  assert.ok(g.stats().trackedBuckets <= 10);
  assert.equal(g.openConnections('192.0.2.5'), 3);
});

test('peer filter: Teams ranges with mutual-TLS names, trunk sources, unknown', () => {
  const f = new PeerFilter({
    teamsCidrs: ['52.112.0.0/14', '52.122.0.0/15'],
    trunks: [
      { id: 'ns/carrier-a', inbound: { sourceCidrs: ['198.51.100.0/24', '2001:db8:1::/48'], digest: null } },
      { id: 'ns/carrier-b', inbound: { sourceCidrs: ['198.51.100.7/32'], digest: null } },
      { id: 'ns/outbound-only', inbound: null },
    ],
  });
  assert.deepEqual(f.classify('52.113.4.5'), { kind: 'teams' });
  assert.deepEqual(f.classify('52.113.4.5', { peerNames: ['sip2.pstnhub.microsoft.com'] }), { kind: 'teams' });
  assert.deepEqual(f.classify('52.113.4.5', { peerNames: ['evil.example.com', 'a.b.pstnhub.microsoft.com'] }), {
    kind: 'unknown',
    why: 'certificate',
  });
  assert.deepEqual(f.classify('198.51.100.7'), { kind: 'trunk', trunks: ['ns/carrier-b', 'ns/carrier-a'] });
  assert.deepEqual(f.classify('::ffff:198.51.100.9'), { kind: 'trunk', trunks: ['ns/carrier-a'] });
  assert.deepEqual(f.classify('2001:db8:1::5'), { kind: 'trunk', trunks: ['ns/carrier-a'] });
  assert.deepEqual(f.classify('203.0.113.1'), { kind: 'unknown', why: 'address' });
  assert.equal(f.isKnownAddress('52.122.0.1'), true);
  assert.equal(f.isKnownAddress('not-an-ip'), false);
});
