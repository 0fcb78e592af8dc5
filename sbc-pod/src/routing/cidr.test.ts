import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { test } from 'node:test';
import { CidrTrie, cidrContains, parseCidr, parseIp } from './cidr.ts';

test('parseIp: IPv4, IPv6, compressed, embedded IPv4, mapped, brackets, zone', () => {
  assert.deepEqual(parseIp('192.0.2.1'), { family: 4, bytes: Uint8Array.from([192, 0, 2, 1]) });
  assert.deepEqual(parseIp('::1')?.bytes, Uint8Array.from([...new Array(15).fill(0), 1]));
  assert.deepEqual(
    parseIp('2001:db8::8:800:200c:417a')?.bytes,
    Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 8, 8, 0, 0x20, 0x0c, 0x41, 0x7a]),
  );
  assert.deepEqual(parseIp('::ffff:198.51.100.10'), { family: 4, bytes: Uint8Array.from([198, 51, 100, 10]) });
  assert.deepEqual(parseIp('::ffff:c633:640a'), { family: 4, bytes: Uint8Array.from([198, 51, 100, 10]) });
  assert.equal(parseIp('[2001:db8::1]')?.family, 6);
  assert.equal(parseIp('fe80::1%eth0')?.family, 6);
  assert.equal(parseIp('64:ff9b::192.0.2.1')?.bytes[15], 1);
  for (const bad of ['', '1.2.3', '256.1.1.1', '1.2.3.4.5', 'a::b::c', 'example.com', '1::2::3', '12345::1']) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

test('parseCidr: lengths, bare addresses, bad input, mapped blocks', () => {
  assert.equal(parseCidr('192.0.2.0/28')?.prefixLength, 28);
  assert.equal(parseCidr('192.0.2.7')?.prefixLength, 32);
  assert.equal(parseCidr('2001:db8::/32')?.prefixLength, 32);
  assert.equal(parseCidr('2001:db8::1')?.prefixLength, 128);
  assert.deepEqual(parseCidr('::ffff:192.0.2.0/120'), {
    family: 4,
    bytes: Uint8Array.from([192, 0, 2, 0]),
    prefixLength: 24,
  });
  for (const bad of ['192.0.2.0/33', '2001:db8::/129', '192.0.2.0/', '192.0.2.0/-1', '192.0.2.0/1a', 'x/8']) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test('cidrContains: boundaries, /0, host bits set, family mismatch', () => {
  assert.ok(cidrContains('192.0.2.0/28', '192.0.2.15'));
  assert.ok(!cidrContains('192.0.2.0/28', '192.0.2.16'));
  assert.ok(cidrContains('192.0.2.9/28', '192.0.2.0'));
  assert.ok(cidrContains('0.0.0.0/0', '203.0.113.77'));
  assert.ok(!cidrContains('0.0.0.0/0', '2001:db8::1'));
  assert.ok(cidrContains('::/0', '2001:db8::1'));
  assert.ok(cidrContains('198.51.100.10/32', '::ffff:198.51.100.10'));
  assert.ok(cidrContains('2001:db8:abcd::/48', '2001:db8:abcd:ffff::1'));
  assert.ok(!cidrContains('2001:db8:abcd::/48', '2001:db8:abce::1'));
  assert.ok(cidrContains('2001:db8::/31', '2001:db9::1'));
  assert.ok(!cidrContains('2001:db8::/32', '2001:db9::1'));
  assert.ok(!cidrContains('bogus', '192.0.2.1'));
  assert.ok(!cidrContains('192.0.2.0/24', 'bogus'));
});

test('CidrTrie: all containing blocks, longest first', () => {
  const trie = new CidrTrie<string>();
  assert.ok(trie.insert('10.0.0.0/8', 'a'));
  assert.ok(trie.insert('10.1.0.0/16', 'b'));
  assert.ok(trie.insert('10.1.2.3/32', 'c'));
  assert.ok(trie.insert('0.0.0.0/0', 'any4'));
  assert.ok(trie.insert('2001:db8::/32', 'v6'));
  assert.ok(!trie.insert('nope/3', 'x'));
  assert.equal(trie.size, 5);
  assert.deepEqual(trie.matches('10.1.2.3'), ['c', 'b', 'a', 'any4']);
  assert.deepEqual(trie.matches('::ffff:10.1.9.9'), ['b', 'a', 'any4']);
  assert.deepEqual(trie.matches('11.0.0.1'), ['any4']);
  assert.deepEqual(trie.matches('2001:db8::5'), ['v6']);
  assert.deepEqual(trie.matches('2001:db9::5'), []);
  assert.deepEqual(trie.matches('garbage'), []);
});

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('differential: CidrTrie and cidrContains agree with node:net BlockList on random blocks and addresses', () => {
  const rand = rng(0x5eed);
  const byte = () => Math.floor(rand() * 256);
  // Few distinct leading bytes, so random addresses often fall inside random blocks.
  const v4 = () => `${10 + Math.floor(rand() * 2)}.${Math.floor(rand() * 3)}.${byte()}.${byte()}`;
  const v6 = () => {
    const w = () => Math.floor(rand() * 65536).toString(16);
    return `2001:db8:${Math.floor(rand() * 3).toString(16)}:${w()}:${w()}:${w()}:${w()}:${w()}`;
  };
  const blocks: { text: string; family: 'ipv4' | 'ipv6'; addr: string; len: number }[] = [];
  for (let i = 0; i < 300; i++) {
    if (rand() < 0.5) {
      const addr = v4();
      const len = Math.floor(rand() * 33);
      blocks.push({ text: `${addr}/${len}`, family: 'ipv4', addr, len });
    } else {
      const addr = v6();
      const len = Math.floor(rand() * 129);
      blocks.push({ text: `${addr}/${len}`, family: 'ipv6', addr, len });
    }
  }
  const trie = new CidrTrie<number>();
  const lists = blocks.map((b, i) => {
    trie.insert(b.text, i);
    const list = new BlockList();
    list.addSubnet(b.addr, b.len, b.family);
    return list;
  });
  for (let n = 0; n < 2000; n++) {
    const isV4 = rand() < 0.5;
    const ip = isV4 ? v4() : v6();
    const family = isV4 ? 'ipv4' : 'ipv6';
    const expected = new Set<number>();
    lists.forEach((list, i) => {
      if (blocks[i]!.family === family && list.check(ip, family)) expected.add(i);
    });
    const got = trie.matches(ip);
    assert.deepEqual(new Set(got), expected, ip);
    assert.equal(got.length, expected.size, ip);
    for (const i of expected) assert.ok(cidrContains(blocks[i]!.text, ip), `${blocks[i]!.text} ∋ ${ip}`);
    // Longest first.
    const lens = got.map((i) => blocks[i]!.len);
    assert.deepEqual(
      lens,
      [...lens].sort((a, b) => b - a),
    );
  }
});
