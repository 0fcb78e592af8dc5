import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PrefixTrie } from './prefix-trie.ts';

test('longest prefix wins, then shorter ones in order, "" last', () => {
  const t = new PrefixTrie<string>();
  t.insert('', 'default');
  t.insert('+1', 'nanp');
  t.insert('+1555', 'trunk-1');
  t.insert('+44', 'international');
  assert.equal(t.longest('+15551234567'), 'trunk-1');
  assert.deepEqual(t.matches('+15551234567'), ['trunk-1', 'nanp', 'default']);
  assert.equal(t.longest('+4420794600'), 'international');
  assert.equal(t.longest('+33123'), 'default');
  assert.equal(t.size, 4);
});

test('agrees with a linear scan for random prefixes and keys', () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^\+?[0-9]{0,5}$/), { maxLength: 30 }),
      fc.stringMatching(/^\+?[0-9]{0,8}$/),
      (prefixes, key) => {
        const t = new PrefixTrie<number>();
        for (const [i, p] of prefixes.entries()) t.insert(p, i);
        const best = prefixes
          .map((p, i) => ({ p, i }))
          .filter(({ p }) => key.startsWith(p))
          .sort((a, b) => b.p.length - a.p.length || a.i - b.i)[0];
        assert.equal(t.longest(key), best?.i);
      },
    ),
  );
});
