import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gcraBurst, gcraIntervalUs, gcraStep, LocalGcra, RedisGcra, toMicros } from './gcra.ts';
import { tenantKey } from './redis-script.ts';
import { manualClock, redisForTwoPods, seededRandom } from './testkit.ts';

test('gcraStep: table of (rate, burst) schedules', () => {
  // [rate, burst, request times in ms, expected allowed flags, expected retryAfterMs for refusals]
  const table: [number, number, number[], boolean[], number[]][] = [
    [10, 1, [0, 0, 100, 150, 200], [true, false, true, false, true], [100, 50]],
    [10, 3, [0, 0, 0, 0, 100, 100], [true, true, true, false, true, false], [100, 100]],
    [2, 2, [0, 0, 0, 499, 500, 1000, 1000], [true, true, false, false, true, true, false], [500, 1, 500]],
    [3, 1, [0, 333, 334, 668, 1002], [true, false, true, true, true], [1]],
    [1000, 5, [0, 0, 0, 0, 0, 0, 1], [true, true, true, true, true, false, true], [1]],
  ];
  for (const [rate, burst, times, expected, waits] of table) {
    let tat: number | undefined;
    const got: boolean[] = [];
    const gotWaits: number[] = [];
    for (const ms of times) {
      const step = gcraStep(tat, toMicros(ms), gcraIntervalUs(rate), gcraBurst(burst));
      got.push(step.decision.allowed);
      if (step.decision.allowed) tat = step.tat;
      else gotWaits.push(step.decision.retryAfterMs);
    }
    assert.deepEqual(got, expected, `rate ${rate} burst ${burst}`);
    assert.deepEqual(gotWaits, waits, `waits at rate ${rate} burst ${burst}`);
  }
});

test('gcraStep: remaining counts down the burst; an idle key refills to the burst', () => {
  const t = gcraIntervalUs(5);
  let tat: number | undefined;
  const remaining: number[] = [];
  for (let i = 0; i < 4; i++) {
    const s = gcraStep(tat, 0, t, 4);
    remaining.push(s.decision.remaining);
    tat = s.tat;
  }
  assert.deepEqual(remaining, [3, 2, 1, 0]);
  assert.equal(gcraStep(tat, 10_000_000, t, 4).decision.remaining, 3);
});

test('gcra: never more than burst + rate × window over a dense schedule (pure)', () => {
  const clock = manualClock();
  const gcra = new LocalGcra({ now: clock.now });
  let allowed = 0;
  for (let ms = 0; ms < 10_000; ms += 7) {
    if (gcra.takeSync('k', { rate: 20, burst: 5 }).allowed) allowed++;
    clock.advance(7);
  }
  assert.ok(allowed <= 5 + 200 && allowed >= 200, `allowed ${allowed}`);
});

test('LocalGcra stays within maxKeys under many distinct keys', () => {
  const clock = manualClock();
  const gcra = new LocalGcra({ now: clock.now, maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) gcra.takeSync(`k${i}`, { rate: 1, burst: 1 });
  assert.ok(gcra.size <= 100);
});

const clients = redisForTwoPods();

test('redis gcra: two pods together get exactly the limit (± one burst)', async () => {
  const clock = manualClock();
  const a = new RedisGcra(clients.a, { now: clock.now });
  const b = new RedisGcra(clients.b, { now: clock.now });
  const key = tenantKey('ns/contoso', 'cps');
  const params = { rate: 50, burst: 10 };
  let allowed = 0;
  const seconds = 10;
  for (let ms = 0; ms < seconds * 1000; ms += 5) {
    // Each pod offers 2 calls per 5 ms tick (800 CPS offered in total), in parallel on two connections.
    const results = await Promise.all([
      a.take(key, params),
      b.take(key, params),
      a.take(key, params),
      b.take(key, params),
    ]);
    allowed += results.filter((r) => r.allowed).length;
    clock.advance(5);
  }
  const target = params.rate * seconds;
  assert.ok(Math.abs(allowed - target) <= params.burst, `allowed ${allowed}, target ${target}`);
  // And strictly within the GCRA bound.
  assert.ok(allowed <= target + params.burst);
});

test('redis gcra and the pure version agree on a random schedule', async () => {
  const clock = manualClock();
  const pods = [new RedisGcra(clients.a, { now: clock.now }), new RedisGcra(clients.b, { now: clock.now })];
  const oracle = new LocalGcra({ now: clock.now });
  const rnd = seededRandom(42);
  const keys = ['a', 'b', 'c'].map((k) => tenantKey(`ns/${k}`, 'agree'));
  const rates = [
    { rate: 3, burst: 2 },
    { rate: 17, burst: 5 },
    { rate: 0.5, burst: 1 },
  ];
  let allowedCount = 0;
  for (let i = 0; i < 1500; i++) {
    clock.advance(Math.floor(rnd() * 120) + (rnd() < 0.1 ? 0.5 : 0));
    const k = Math.floor(rnd() * keys.length);
    const pod = pods[Math.floor(rnd() * 2)]!;
    const got = await pod.take(keys[k]!, rates[k]!);
    const want = oracle.takeSync(keys[k]!, rates[k]!);
    assert.deepEqual(got, want, `step ${i}`);
    if (got.allowed) allowedCount++;
  }
  assert.ok(allowedCount > 100 && allowedCount < 1400, 'the schedule exercises both outcomes');
});

test('redis gcra with Redis TIME as the clock', async () => {
  const g = new RedisGcra(clients.a, { now: 'redis' });
  const key = tenantKey('ns/timed', 'cps');
  const results = await Promise.all(Array.from({ length: 5 }, () => g.take(key, { rate: 0.01, burst: 3 })));
  assert.equal(results.filter((r) => r.allowed).length, 3);
  const refused = results.find((r) => !r.allowed)!;
  assert.ok(refused.retryAfterMs > 90_000 && refused.retryAfterMs <= 100_000);
  assert.ok((await clients.a.pttl(key)) > 0, 'the key expires');
});

test('redis gcra survives a script-cache flush (NOSCRIPT → EVAL)', async () => {
  const clock = manualClock();
  const g = new RedisGcra(clients.a, { now: clock.now });
  await g.take('sb:{x}:cps', { rate: 1, burst: 1 });
  await clients.a.script('FLUSH');
  const second = await g.take('sb:{x}:cps', { rate: 1, burst: 1 });
  assert.equal(second.allowed, false);
});
