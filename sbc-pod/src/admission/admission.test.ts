import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, beforeEach, test } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../e2e/src/harness/redis.ts';
import { AdmissionController, type AdmissionResult, type Admitted, type LimitsConfig } from './admission.ts';
import { RedisConcurrency } from './concurrency.ts';
import { tenantKey } from './redis-script.ts';
import { manualClock } from './testkit.ts';
import { RedisTrunkChannels } from './trunk-capacity.ts';

function config(): LimitsConfig {
  const trunk = (
    id: string,
    channels: number | null,
    cps: number | null,
    sharing: LimitsConfig['trunks'][number]['sharing'],
  ) => ({
    id,
    capacity: { channels, callsPerSecond: cps },
    sharing,
  });
  return {
    tenants: [
      { id: 'ns/a', limits: { callsPerSecond: 5, maxConcurrentCalls: 4 } },
      { id: 'ns/b', limits: { callsPerSecond: 100, maxConcurrentCalls: 100 } },
      { id: 'ns/gold', limits: { callsPerSecond: 100, maxConcurrentCalls: 100 } },
    ],
    trunks: [
      trunk('ns/shared', 6, null, {
        mode: 'Shared',
        allowedTenants: 'All',
        reservations: [
          { tenant: 'ns/b', channels: 2, priority: 100 },
          { tenant: 'ns/gold', channels: 1, priority: 10 },
        ],
      }),
      trunk('ns/fast', null, 2, { mode: 'Shared', allowedTenants: 'All', reservations: [] }),
      trunk('ns/mine', 10, null, { mode: 'Dedicated', allowedTenants: ['ns/b'], reservations: [] }),
    ],
  };
}

let redis: RedisServer;
let hold = false;
const clients: Redis[] = [];
async function client(): Promise<Redis> {
  const c = new Redis(redis.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // While `hold` is set the client gives up reconnecting (status 'end'); the test reconnects it by hand.
    retryStrategy: () => (hold ? null : 20),
  });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

before(async () => {
  redis = await startRedis();
});
beforeEach(async () => {
  // Each test starts from an empty store (they share tenant and trunk names).
  const c = clients.find((x) => x.status === 'ready');
  await c?.flushall();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

function admitted(r: AdmissionResult): Admitted {
  assert.ok(r.ok, `expected admission, got ${JSON.stringify(r)}`);
  return r;
}

test('tenant CPS: 503 + Retry-After toward Teams, 486 toward carriers, counted per tenant and reason', async () => {
  const clock = manualClock();
  const ac = new AdmissionController({ redis: await client(), now: clock.now });
  ac.setConfig(config());
  const results: AdmissionResult[] = [];
  for (let i = 0; i < 7; i++)
    results.push(await ac.admit({ tenant: 'ns/a', callId: `cps-${i}`, side: i < 6 ? 'teams' : 'carrier' }));
  // Burst = 5 (1 s of rate); the 4 admitted-and-still-live calls also fill maxConcurrentCalls = 4: release them.
  const oks = results.filter((r) => r.ok) as Admitted[];
  assert.equal(oks.length, 4);
  const refusedConcurrency = results[4];
  assert.deepEqual(refusedConcurrency, {
    ok: false,
    reason: 'tenant-concurrency',
    sipStatus: 503,
    sipReason: 'Service Unavailable',
    retryAfter: 5,
    disposition: 'admission-rejected',
    backend: 'redis',
  });
  assert.equal(results[5]!.ok, false);
  assert.equal(!results[5]!.ok && results[5]!.reason, 'tenant-cps');
  assert.equal(!results[5]!.ok && results[5]!.retryAfter, 1);
  assert.deepEqual(results[6], {
    ok: false,
    reason: 'tenant-cps',
    sipStatus: 486,
    sipReason: 'Busy Here',
    disposition: 'admission-rejected',
    backend: 'redis',
  });
  for (const r of oks) await r.release();
  clock.advance(1_000);
  assert.ok((await ac.admit({ tenant: 'ns/a', callId: 'cps-later', side: 'teams' })).ok);
  const stats = ac.stats();
  assert.deepEqual(stats.tenants['ns/a'], { admitted: 5, rejected: { 'tenant-concurrency': 1, 'tenant-cps': 2 } });
  assert.equal(stats.backend, 'redis');
  assert.equal(stats.liveCalls, 1);
});

test('configurable answers: 480 toward carriers', async () => {
  const clock = manualClock();
  const ac = new AdmissionController({
    redis: await client(),
    now: clock.now,
    answers: { carrier: { status: 480, retryAfter: true } },
    busyRetryAfterSeconds: 30,
  });
  ac.setConfig(config());
  for (let i = 0; i < 4; i++) admitted(await ac.admit({ tenant: 'ns/a', callId: `ans-${i}`, side: 'carrier' }));
  const r = await ac.admit({ tenant: 'ns/a', callId: 'ans-x', side: 'carrier' });
  assert.ok(!r.ok);
  assert.equal(r.sipStatus, 480);
  assert.equal(r.sipReason, 'Temporarily Unavailable');
  assert.equal(r.retryAfter, 30);
  // Unknown tenant / wrong trunk: 403 without Retry-After whatever the side.
  const unknown = await ac.admit({ tenant: 'ns/nobody', callId: 'u', side: 'teams' });
  assert.ok(!unknown.ok && unknown.reason === 'unknown-tenant' && unknown.sipStatus === 403 && !unknown.retryAfter);
  const foreign = await ac.admit({ tenant: 'ns/a', trunk: 'ns/mine', callId: 'f', side: 'teams' });
  assert.ok(!foreign.ok && foreign.reason === 'trunk-not-allowed' && foreign.sipStatus === 403);
  assert.deepEqual(ac.stats().trunks['ns/mine'], { admitted: 0, rejected: { 'trunk-not-allowed': 1 } });
});

test('two pods hold one tenant limit and one trunk; a trunk refusal gives the tenant slot back', async () => {
  const clock = manualClock();
  const pod1 = new AdmissionController({ redis: await client(), now: clock.now });
  const pod2 = new AdmissionController({ redis: await client(), now: clock.now });
  pod1.setConfig(config());
  pod2.setConfig(config());
  const pods = [pod1, pod2];
  // Trunk ns/shared: 6 channels, b reserves 2, gold reserves 1 (priority 10) → pool 3; classes [10, 100]:
  // step = max(1, ⌊3/4⌋) = 1, so priority-100 tenants (b beyond its reservation, and a) leave 1 pool channel.
  const results: AdmissionResult[] = [];
  for (let i = 0; i < 4; i++)
    results.push(await pods[i % 2]!.admit({ tenant: 'ns/a', trunk: 'ns/shared', callId: `a-${i}`, side: 'teams' }));
  assert.deepEqual(
    results.map((r) => (r.ok ? 'ok' : r.reason)),
    ['ok', 'ok', 'trunk-priority', 'trunk-priority'],
  );
  // The refused calls did not keep a tenant slot: 2 of a's 4 concurrent calls are in use.
  assert.equal(await new RedisConcurrency(clients[0]!, { now: clock.now }).count(tenantKey('ns/a', 'calls')), 2);
  const b = [];
  for (let i = 0; i < 3; i++)
    b.push(await pods[i % 2]!.admit({ tenant: 'ns/b', trunk: 'ns/shared', callId: `b-${i}`, side: 'carrier' }));
  assert.deepEqual(
    b.map((r) => (r.ok ? 'ok' : r.reason)),
    ['ok', 'ok', 'trunk-priority'],
  );
  const gold = [];
  for (let i = 0; i < 3; i++)
    gold.push(await pod2.admit({ tenant: 'ns/gold', trunk: 'ns/shared', callId: `g-${i}`, side: 'teams' }));
  assert.deepEqual(
    gold.map((r) => (r.ok ? 'ok' : r.reason)),
    ['ok', 'ok', 'trunk-channels'],
  );
  const usage = await new RedisTrunkChannels(clients[0]!, { now: clock.now }).usage('ns/shared');
  assert.deepEqual(Object.fromEntries(usage), { 'ns/a': 2, 'ns/b': 2, 'ns/gold': 2 });
  // A call ending on pod 1 frees its channel for pod 2.
  await admitted(results[0]!).release();
  assert.ok((await pod2.admit({ tenant: 'ns/gold', trunk: 'ns/shared', callId: 'g-after', side: 'teams' })).ok);
});

test('trunk CPS through GCRA', async () => {
  const clock = manualClock();
  const ac = new AdmissionController({ redis: await client(), now: clock.now });
  ac.setConfig(config());
  const r: AdmissionResult[] = [];
  for (let i = 0; i < 3; i++)
    r.push(await ac.admit({ tenant: 'ns/b', trunk: 'ns/fast', callId: `f-${i}`, side: 'teams' }));
  assert.deepEqual(
    r.map((x) => (x.ok ? 'ok' : `${x.reason}/${x.retryAfter}`)),
    ['ok', 'ok', 'trunk-cps/1'],
  );
  clock.advance(500);
  assert.ok((await ac.admit({ tenant: 'ns/b', trunk: 'ns/fast', callId: 'f-3', side: 'teams' })).ok);
  assert.equal(ac.stats().trunks['ns/fast']?.rejected['trunk-cps'], 1);
});

test('Redis goes away: the local share engages without throwing, and Redis use resumes after recovery', async () => {
  const clock = manualClock();
  const c = await client();
  const changes: string[] = [];
  const ac = new AdmissionController({
    redis: c,
    now: clock.now,
    expectedPods: 2,
    onBackendChange: (b) => changes.push(b),
  });
  ac.setConfig(config());
  // ns/a: 4 concurrent cluster-wide → 2 per pod in the fallback (and CPS 5 → 2.5/s, burst 2).
  const first = admitted(await ac.admit({ tenant: 'ns/a', callId: 'out-0', side: 'teams' }));
  assert.equal(first.backend, 'redis');

  hold = true;
  const restarting = redis.restart(); // empty data when it comes back
  if (c.status !== 'end') await once(c, 'end');
  const during = [];
  for (let i = 1; i <= 3; i++) {
    clock.advance(1_000); // stay clear of the (shared) CPS limit: this is about concurrency
    during.push(await ac.admit({ tenant: 'ns/a', callId: `out-${i}`, side: 'teams' }));
  }
  assert.deepEqual(
    during.map((r) => (r.ok ? r.backend : `${r.reason}/${r.backend}`)),
    ['local', 'tenant-concurrency/local', 'tenant-concurrency/local'], // the call admitted by Redis counts locally
  );
  assert.equal(ac.backend, 'fallback');
  assert.deepEqual(changes, ['local']);
  await ac.renewAll(); // no throw while Redis is away
  await restarting;
  hold = false;
  await c.connect();

  clock.advance(1_000);
  // Renewal reinstates both live calls in the restarted Redis, the fallback-admitted one moves to Redis.
  await ac.renewAll();
  assert.equal(admitted(during[0]!).backend, 'redis');
  const counter = new RedisConcurrency(c, { now: clock.now });
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 2);
  const back = [];
  for (let i = 4; i <= 6; i++) back.push(await ac.admit({ tenant: 'ns/a', callId: `out-${i}`, side: 'teams' }));
  assert.deepEqual(
    back.map((r) => (r.ok ? r.backend : r.reason)),
    ['redis', 'redis', 'tenant-concurrency'],
  );
  assert.deepEqual(changes, ['local', 'redis']);
  const stats = ac.stats();
  assert.equal(stats.backend, 'redis');
  assert.equal(stats.fallbackAdmissions, 3);
  // Releases work across the switch.
  await first.release();
  await admitted(during[0]!).release();
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 2);
});

test('a Redis that stops answering costs one timeout, then the fallback answers until the retry interval', async () => {
  const clock = manualClock();
  const c = await client();
  const ac = new AdmissionController({ redis: c, now: clock.now, redisTimeoutMs: 100, retryRedisAfterMs: 2_000 });
  ac.setConfig(config());
  const pauser = await client();
  await pauser.call('CLIENT', 'PAUSE', '1500', 'ALL');
  const r = await ac.admit({ tenant: 'ns/b', callId: 'hung-0', side: 'teams' });
  assert.ok(r.ok && r.backend === 'local');
  assert.equal(ac.stats().redisFailures, 1);
  const r2 = await ac.admit({ tenant: 'ns/b', callId: 'hung-1', side: 'teams' });
  assert.ok(r2.ok && r2.backend === 'local');
  assert.equal(ac.stats().redisFailures, 1, 'Redis is not tried again (no second timeout) while marked down');
  await pauser.ping(); // returns once the pause is over
  clock.advance(2_000);
  const r3 = await ac.admit({ tenant: 'ns/b', callId: 'hung-2', side: 'teams' });
  assert.ok(r3.ok && r3.backend === 'redis');
});

test('without Redis: fail-closed answers 503 "unavailable", fail-open admits', async () => {
  const closed = new AdmissionController({ fallback: 'fail-closed' });
  closed.setConfig(config());
  assert.deepEqual(await closed.admit({ tenant: 'ns/a', callId: 'x', side: 'carrier' }), {
    ok: false,
    reason: 'unavailable',
    sipStatus: 503,
    sipReason: 'Service Unavailable',
    retryAfter: 5,
    disposition: 'admission-rejected',
    backend: 'local',
  });
  const open = new AdmissionController({ fallback: 'fail-open' });
  open.setConfig(config());
  for (let i = 0; i < 50; i++) assert.ok((await open.admit({ tenant: 'ns/a', callId: `o${i}`, side: 'teams' })).ok);
  assert.equal(open.liveCalls, 0);
});

test('local share over a lease: a crashed call is forgotten when its lease lapses', async () => {
  const clock = manualClock();
  const ac = new AdmissionController({ now: clock.now, leaseMs: 10_000 });
  ac.setConfig(config());
  for (let i = 0; i < 4; i++) admitted(await ac.admit({ tenant: 'ns/a', callId: `l${i}`, side: 'teams' }));
  clock.advance(1_000);
  assert.equal((await ac.admit({ tenant: 'ns/a', callId: 'l4', side: 'teams' })).ok, false);
  clock.advance(10_000);
  assert.equal((await ac.admit({ tenant: 'ns/a', callId: 'l5', side: 'teams' })).ok, true);
});

test('Redis stopped for good mid-run: admissions keep being answered', async () => {
  const clock = manualClock();
  const c = await client();
  const ac = new AdmissionController({ redis: c, now: clock.now });
  ac.setConfig(config());
  admitted(await ac.admit({ tenant: 'ns/b', callId: 'end-0', side: 'teams' }));
  hold = true;
  await redis.stop();
  if (c.status !== 'end') await once(c, 'end');
  const r = await ac.admit({ tenant: 'ns/b', callId: 'end-1', side: 'teams' });
  assert.ok(r.ok && r.backend === 'local');
  await ac.renewAll();
});
