// A call taken over by another pod (DESIGN.md §8) keeps its admission slots: AdmissionController.adopt reinstates them
// on the new pod without a limit check, that pod renews and releases them; handOff drops a call here while another pod
// carries it on, without freeing its slot. Real Redis.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../e2e/src/harness/redis.ts';
import { AdmissionController, type AdmissionResult, type Admitted, type LimitsConfig } from './admission.ts';
import { RedisConcurrency } from './concurrency.ts';
import { tenantKey } from './redis-script.ts';
import { manualClock } from './testkit.ts';
import { RedisTrunkChannels } from './trunk-capacity.ts';

const config: LimitsConfig = {
  tenants: [
    { id: 'ns/a', limits: { callsPerSecond: 100, maxConcurrentCalls: 4 } },
    { id: 'ns/b', limits: { callsPerSecond: 100, maxConcurrentCalls: 100 } },
  ],
  trunks: [
    {
      id: 'ns/mine',
      capacity: { channels: 10, callsPerSecond: null },
      sharing: { mode: 'Dedicated', allowedTenants: ['ns/b'], reservations: [] },
    },
  ],
};

let redis: RedisServer;
const clients: Redis[] = [];
async function client(): Promise<Redis> {
  const c = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

function admitted(r: AdmissionResult): Admitted {
  assert.ok(r.ok, `expected admission, got ${JSON.stringify(r)}`);
  return r;
}

test('adopt (takeover): a live call of a dead pod is reinstated without a limit check, renewed, released; handOff keeps it', async () => {
  const clock = manualClock();
  const r = await client();
  const counter = new RedisConcurrency(r, { now: clock.now });
  const channels = new RedisTrunkChannels(r, { now: clock.now });
  const dead = new AdmissionController({ redis: await client(), now: clock.now, leaseMs: 3_000 });
  dead.setConfig(config);
  const survivor = new AdmissionController({ redis: await client(), now: clock.now, leaseMs: 3_000 });
  survivor.setConfig(config);
  // ns/a is full (4 calls) on the pod that dies, and ns/b holds a channel on its dedicated trunk; the leases lapse.
  for (let i = 0; i < 4; i++) admitted(await dead.admit({ tenant: 'ns/a', callId: `t-${i}`, side: 'teams' }));
  admitted(await dead.admit({ tenant: 'ns/b', trunk: 'ns/mine', callId: 'b-0', side: 'teams' }));
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 4);
  clock.advance(3_001);
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 0, 'nobody renews the dead pod leases');
  assert.equal((await channels.usage('ns/mine')).get('ns/b') ?? 0, 0);
  // A new call takes a slot meanwhile; then the survivor takes over all four: over the limit, but live calls count.
  const fresh = admitted(await survivor.admit({ tenant: 'ns/a', callId: 'new', side: 'teams' }));
  const adopted = [];
  for (let i = 0; i < 4; i++) adopted.push(await survivor.adopt({ tenant: 'ns/a', callId: `t-${i}`, side: 'teams' }));
  const b0 = await survivor.adopt({ tenant: 'ns/b', trunk: 'ns/mine', callId: 'b-0', side: 'teams' });
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 5, 'reinstated without a limit check');
  assert.equal(await counter.count(tenantKey('ns/b', 'calls')), 1);
  assert.equal((await channels.usage('ns/mine')).get('ns/b'), 1, 'and its trunk channel');
  assert.equal(survivor.liveCalls, 6);
  assert.equal((await survivor.admit({ tenant: 'ns/a', callId: 'one-more', side: 'teams' })).ok, false);
  // Renewed by the survivor past the first lease.
  clock.advance(2_000);
  await survivor.renewAll();
  clock.advance(2_000);
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 5);
  // A hand-off (the call goes on at another pod) leaves the Redis lease; a release gives it back.
  await adopted[0]!.handOff();
  assert.equal(survivor.liveCalls, 5);
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 5, 'handOff does not free the slot');
  for (const h of adopted.slice(1)) await h.release();
  await fresh.release();
  await b0.release();
  assert.equal(await counter.count(tenantKey('ns/a', 'calls')), 1, 'only the handed-off call is still counted');
  assert.equal((await channels.usage('ns/mine')).get('ns/b') ?? 0, 0);
});
