import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock, redisForTwoPods, seededRandom } from './testkit.ts';
import {
  decideTrunk,
  RedisTrunkChannels,
  type TrunkChannelLimiter,
  TrunkChannelModel,
  type TrunkPolicy,
  termsFor,
  unreservedPool,
} from './trunk-capacity.ts';

const LEASE = 60_000;

function shared(trunk: string, channels: number | null, reservations: TrunkPolicy['reservations']): TrunkPolicy {
  return { trunk, mode: 'Shared', allowedTenants: 'All', channels, reservations };
}

const clients = redisForTwoPods();

async function fill(
  limiter: TrunkChannelLimiter,
  policy: TrunkPolicy,
  tenant: string,
  n: number,
  prefix = tenant,
): Promise<{ admitted: number; refusals: string[] }> {
  let admitted = 0;
  const refusals: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = await limiter.acquire(policy, tenant, `${prefix}-${i}`, LEASE);
    if (d.ok) admitted++;
    else refusals.push(d.refusal);
  }
  return { admitted, refusals };
}

test('terms: reservations, unreserved pool, priority ranks and headroom', () => {
  const p = shared('ns/t', 20, [
    { tenant: 'ns/gold', channels: 2, priority: 10 },
    { tenant: 'ns/bronze', channels: 2, priority: 200 },
  ]);
  assert.equal(unreservedPool(p), 16);
  // Classes [10, 100 (default), 200]; step = max(1, ⌊16 / 6⌋) = 2.
  assert.deepEqual(termsFor(p, 'ns/gold'), {
    allowed: true,
    reserved: 2,
    priority: 10,
    rank: 0,
    headroom: 0,
    unreservedPool: 16,
  });
  assert.equal(termsFor(p, 'ns/plain').headroom, 2);
  assert.equal(termsFor(p, 'ns/bronze').headroom, 4);
  assert.equal(termsFor({ ...p, priorityStep: 5 }, 'ns/bronze').headroom, 10);
  // One class only: no headroom.
  assert.equal(termsFor(shared('ns/t', 10, [{ tenant: 'ns/a', channels: 2, priority: 100 }]), 'ns/b').headroom, 0);
  // Over-committed reservations leave no pool.
  assert.equal(unreservedPool(shared('ns/t', 5, [{ tenant: 'ns/a', channels: 8, priority: 100 }])), 0);
});

test('decideTrunk table', () => {
  const p = shared('ns/t', 10, [{ tenant: 'ns/a', channels: 4, priority: 100 }]);
  const u = (entries: [string, number][]) => new Map(entries);
  assert.deepEqual(decideTrunk(p, 'ns/a', u([['ns/b', 6]])), { ok: true, kind: 'reserved' });
  assert.deepEqual(decideTrunk(p, 'ns/b', u([['ns/b', 6]])), { ok: false, refusal: 'full' });
  assert.deepEqual(
    decideTrunk(
      p,
      'ns/a',
      u([
        ['ns/a', 4],
        ['ns/b', 5],
      ]),
    ),
    { ok: true, kind: 'pool' },
  );
  assert.deepEqual(decideTrunk(p, 'ns/a', u([['ns/a', 10]])), { ok: false, refusal: 'full' });
  assert.deepEqual(decideTrunk(shared('ns/t', null, []), 'ns/x', u([])), { ok: true, kind: 'unlimited' });
  const dedicated: TrunkPolicy = { ...p, mode: 'Dedicated', allowedTenants: ['ns/a'], reservations: [] };
  assert.deepEqual(decideTrunk(dedicated, 'ns/b', u([])), { ok: false, refusal: 'trunk-not-allowed' });
});

for (const impl of ['redis', 'model'] as const) {
  const make = (clock = manualClock()): TrunkChannelLimiter =>
    impl === 'redis'
      ? new RedisTrunkChannels(clients.a, { now: clock.now })
      : new TrunkChannelModel({ now: clock.now });

  test(`${impl}: a tenant's flood cannot take another tenant's reserved channels`, async () => {
    const limiter = make();
    const policy = shared(`ns/flood-${impl}`, 20, [
      { tenant: 'ns/a', channels: 5, priority: 100 },
      { tenant: 'ns/b', channels: 5, priority: 100 },
    ]);
    const a = await fill(limiter, policy, 'ns/a', 100);
    assert.equal(a.admitted, 15); // its 5 + the whole unreserved pool of 10
    assert.ok(a.refusals.every((r) => r === 'full'));
    const c = await fill(limiter, policy, 'ns/c', 3); // no reservation: nothing left for it
    assert.equal(c.admitted, 0);
    const b = await fill(limiter, policy, 'ns/b', 6);
    assert.equal(b.admitted, 5);
    assert.deepEqual(b.refusals, ['full']);
    assert.deepEqual(Object.fromEntries(await limiter.usage(policy.trunk)), { 'ns/a': 15, 'ns/b': 5 });
  });

  test(`${impl}: priority classes decide who gets the last of the pool`, async () => {
    const limiter = make();
    const policy = shared(`ns/prio-${impl}`, 20, [
      { tenant: 'ns/gold', channels: 2, priority: 10 },
      { tenant: 'ns/bronze', channels: 2, priority: 200 },
    ]);
    // Pool 16, step 2: bronze (rank 2) must leave 4 free, plain (rank 1, default priority) 2, gold none.
    const bronze = await fill(limiter, policy, 'ns/bronze', 30);
    assert.equal(bronze.admitted, 2 + 12);
    assert.ok(bronze.refusals.every((r) => r === 'held-for-priority'));
    const plain = await fill(limiter, policy, 'ns/plain', 10);
    assert.equal(plain.admitted, 2);
    assert.ok(plain.refusals.every((r) => r === 'held-for-priority'));
    // Capacity is short now: bronze and plain are refused, gold still gets its reservation and the last of the pool.
    assert.equal((await limiter.acquire(policy, 'ns/bronze', 'bronze-late', LEASE)).ok, false);
    assert.equal((await limiter.acquire(policy, 'ns/plain', 'plain-late', LEASE)).ok, false);
    const gold = await fill(limiter, policy, 'ns/gold', 10);
    assert.equal(gold.admitted, 4);
    assert.deepEqual(gold.refusals.slice(0, 1), ['full']);
    // A bronze call ending frees a pool channel: still held for the better classes (free 1 ≤ headroom 4).
    await limiter.release(policy.trunk, 'ns/bronze', 'ns/bronze-0');
    assert.deepEqual(await limiter.acquire(policy, 'ns/bronze', 'bronze-again', LEASE), {
      ok: false,
      refusal: 'held-for-priority',
    });
    assert.deepEqual(await limiter.acquire(policy, 'ns/gold', 'gold-again', LEASE), { ok: true, kind: 'pool' });
  });

  test(`${impl}: a Dedicated trunk refuses every other tenant and gives its owner everything`, async () => {
    const limiter = make();
    const policy: TrunkPolicy = {
      trunk: `ns/dedicated-${impl}`,
      mode: 'Dedicated',
      allowedTenants: ['ns/owner'],
      channels: 8,
      reservations: [],
    };
    const other = await fill(limiter, policy, 'ns/other', 3);
    assert.deepEqual(other.refusals, ['trunk-not-allowed', 'trunk-not-allowed', 'trunk-not-allowed']);
    assert.equal((await fill(limiter, policy, 'ns/owner', 10)).admitted, 8);
    // Even with the trunk idle, another tenant is still refused.
    for (let i = 0; i < 8; i++) await limiter.release(policy.trunk, 'ns/owner', `ns/owner-${i}`);
    assert.deepEqual((await fill(limiter, policy, 'ns/other', 1)).refusals, ['trunk-not-allowed']);
  });

  test(`${impl}: a dead pod's channels come back when their leases lapse`, async () => {
    const clock = manualClock();
    const limiter = make(clock);
    const policy = shared(`ns/lease-${impl}`, 4, []);
    assert.equal((await fill(limiter, policy, 'ns/a', 4, 'dead')).admitted, 4);
    assert.equal((await limiter.acquire(policy, 'ns/b', 'b0', LEASE)).ok, false);
    clock.advance(LEASE);
    assert.deepEqual(await limiter.acquire(policy, 'ns/b', 'b0', LEASE), { ok: true, kind: 'pool' });
    // A renewal of a lapsed lease reports it lost and reinstates it.
    assert.equal(await limiter.renew(policy.trunk, 'ns/a', 'dead-0', LEASE), false);
    assert.equal(await limiter.renew(policy.trunk, 'ns/b', 'b0', LEASE), true);
    assert.deepEqual(Object.fromEntries(await limiter.usage(policy.trunk)), { 'ns/a': 1, 'ns/b': 1 });
  });
}

test('the Lua script and the pure model agree on a random multi-tenant schedule (two pods)', async () => {
  const clock = manualClock();
  const pods = [
    new RedisTrunkChannels(clients.a, { now: clock.now }),
    new RedisTrunkChannels(clients.b, { now: clock.now }),
  ];
  const model = new TrunkChannelModel({ now: clock.now });
  const policy = shared('ns/agree', 24, [
    { tenant: 'ns/a', channels: 4, priority: 10 },
    { tenant: 'ns/b', channels: 3, priority: 100 },
    { tenant: 'ns/c', channels: 2, priority: 500 },
  ]);
  const tenants = ['ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/e'];
  const rnd = seededRandom(2026);
  const holding: { tenant: string; id: string }[] = [];
  const seen = new Set<string>();
  let next = 0;
  for (let i = 0; i < 1200; i++) {
    clock.advance(Math.floor(rnd() * 300));
    const pod = pods[Math.floor(rnd() * 2)]!;
    const r = rnd();
    if (r < 0.6) {
      const tenant = tenants[Math.floor(rnd() * tenants.length)]!;
      const id = rnd() < 0.05 && holding.length ? holding[0]!.id : `call-${next++}`;
      const owner = rnd() < 0.05 && holding.length ? holding[0]!.tenant : tenant;
      const lease = 2_000 + Math.floor(rnd() * 20_000);
      const got = await pod.acquire(policy, owner, id, lease);
      const want = await model.acquire(policy, owner, id, lease);
      assert.deepEqual(got, want, `acquire step ${i}`);
      seen.add(got.ok ? got.kind : got.refusal);
      if (got.ok && got.kind !== 'repeat') holding.push({ tenant: owner, id });
    } else if (r < 0.85 && holding.length) {
      const [h] = holding.splice(Math.floor(rnd() * holding.length), 1);
      await pod.release(policy.trunk, h!.tenant, h!.id);
      await model.release(policy.trunk, h!.tenant, h!.id);
    } else if (holding.length) {
      const h = holding[Math.floor(rnd() * holding.length)]!;
      const lease = 2_000 + Math.floor(rnd() * 20_000);
      assert.equal(
        await pod.renew(policy.trunk, h.tenant, h.id, lease),
        await model.renew(policy.trunk, h.tenant, h.id, lease),
        `renew step ${i}`,
      );
    }
    assert.deepEqual(await pod.usage(policy.trunk), await model.usage(policy.trunk), `usage step ${i}`);
  }
  for (const outcome of ['reserved', 'pool', 'full', 'held-for-priority']) assert.ok(seen.has(outcome), outcome);
});
