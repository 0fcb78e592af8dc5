import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ConcurrencyLimiter, LocalConcurrency, RedisConcurrency } from './concurrency.ts';
import { tenantKey } from './redis-script.ts';
import { manualClock, redisForTwoPods, seededRandom } from './testkit.ts';

const clients = redisForTwoPods();

const LEASE = 30_000;

test('two pods share one concurrency limit; a retry with the same call id takes no second slot', async () => {
  const clock = manualClock();
  const a = new RedisConcurrency(clients.a, { now: clock.now });
  const b = new RedisConcurrency(clients.b, { now: clock.now });
  const key = tenantKey('ns/limit', 'calls');
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).acquire(key, `call-${i}`, 7, LEASE)),
  );
  assert.equal(results.filter((r) => r.ok).length, 7);
  assert.equal(await a.count(key), 7);
  const winner = results.findIndex((r) => r.ok);
  const again = await a.acquire(key, `call-${winner}`, 7, LEASE);
  assert.deepEqual(again, { ok: true, inUse: 7 });
  assert.equal((await b.acquire(key, 'late', 7, LEASE)).ok, false);
});

test('release frees a slot for another pod', async () => {
  const clock = manualClock();
  const a = new RedisConcurrency(clients.a, { now: clock.now });
  const b = new RedisConcurrency(clients.b, { now: clock.now });
  const key = tenantKey('ns/release', 'calls');
  assert.ok((await a.acquire(key, 'c1', 2, LEASE)).ok);
  assert.ok((await a.acquire(key, 'c2', 2, LEASE)).ok);
  assert.equal((await b.acquire(key, 'c3', 2, LEASE)).ok, false);
  await a.release(key, 'c1');
  assert.ok((await b.acquire(key, 'c3', 2, LEASE)).ok);
  assert.equal(await b.count(key), 2);
});

test("lease expiry reclaims a dead pod's slots; a live pod's renewed calls keep theirs", async () => {
  const clock = manualClock();
  const a = new RedisConcurrency(clients.a, { now: clock.now });
  const b = new RedisConcurrency(clients.b, { now: clock.now });
  const key = tenantKey('ns/crash', 'calls');
  for (let i = 0; i < 3; i++) assert.ok((await a.acquire(key, `a${i}`, 5, LEASE)).ok); // pod A will "crash"
  for (let i = 0; i < 2; i++) assert.ok((await b.acquire(key, `b${i}`, 5, LEASE)).ok);
  assert.equal((await b.acquire(key, 'b-extra', 5, LEASE)).ok, false);
  // Pod A stops renewing; pod B renews its calls every 10 s.
  for (let s = 0; s < 3; s++) {
    clock.advance(10_000);
    for (let i = 0; i < 2; i++) assert.equal(await b.renew(key, `b${i}`, LEASE), true);
  }
  clock.advance(1); // 30 001 ms after A's last touch: its leases are gone
  assert.equal(await b.count(key), 2);
  for (let i = 0; i < 3; i++) assert.ok((await b.acquire(key, `b-new${i}`, 5, LEASE)).ok);
  assert.equal((await b.acquire(key, 'b-over', 5, LEASE)).ok, false);
  // A lost lease reports false on renew and is reinstated (the call is real).
  assert.equal(await a.renew(key, 'a0', LEASE), false);
  assert.equal(await a.count(key), 6);
});

test('the key expires once its last lease has', async () => {
  const a = new RedisConcurrency(clients.a); // real clock: checks the PEXPIRE housekeeping
  const key = tenantKey('ns/ttl', 'calls');
  await a.acquire(key, 'c1', 1, 5_000);
  const ttl = await clients.a.pttl(key);
  assert.ok(ttl > 0 && ttl <= 5_000, `ttl ${ttl}`);
});

test('redis and local concurrency agree on a random schedule', async () => {
  const clock = manualClock();
  const remote: ConcurrencyLimiter[] = [
    new RedisConcurrency(clients.a, { now: clock.now }),
    new RedisConcurrency(clients.b, { now: clock.now }),
  ];
  const local = new LocalConcurrency({ now: clock.now });
  const rnd = seededRandom(7);
  const key = tenantKey('ns/agree', 'calls');
  const holding: string[] = [];
  let next = 0;
  for (let i = 0; i < 600; i++) {
    clock.advance(Math.floor(rnd() * 400));
    const pod = remote[Math.floor(rnd() * 2)]!;
    const r = rnd();
    if (r < 0.55) {
      const id = `c${next++}`;
      const lease = 1_000 + Math.floor(rnd() * 10_000);
      const got = await pod.acquire(key, id, 8, lease);
      assert.deepEqual(got, await local.acquire(key, id, 8, lease), `acquire at step ${i}`);
      if (got.ok) holding.push(id);
    } else if (r < 0.8 && holding.length) {
      const id = holding.splice(Math.floor(rnd() * holding.length), 1)[0]!;
      await pod.release(key, id);
      await local.release(key, id);
    } else if (holding.length) {
      const id = holding[Math.floor(rnd() * holding.length)]!;
      assert.equal(await pod.renew(key, id, 5_000), await local.renew(key, id, 5_000), `renew at step ${i}`);
    }
    assert.equal(await pod.count(key), await local.count(key), `count at step ${i}`);
  }
});
