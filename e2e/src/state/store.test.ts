// The dialog store contract, for the Redis store (real redis-server) and the in-memory store of local mode: versions
// (compare-and-set), the index from a leg's (Call-ID, tag), the per-call lock, exactly-once end, claimable deadlines,
// pod liveness and the index of the calls each pod owns (what survivors adopt when a pod stops heartbeating).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryDialogStore } from '../../../sbc-pod/src/state/memory-store.ts';
import { RedisDialogStore } from '../../../sbc-pod/src/state/redis-store.ts';
import type { DialogStore, StoredCall } from '../../../sbc-pod/src/state/store.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';

function record(id: string, v: number, owner = 'pod-a'): StoredCall {
  const dialog = (callId: string, localTag: string) => ({
    callId,
    localTag,
    remoteTag: 'r',
    localUri: 'sip:a@x',
    remoteUri: 'sip:b@y',
    localNameAddr: '<sip:a@x>',
    remoteNameAddr: '<sip:b@y>',
    localSeq: 1,
    remoteSeq: 1,
    remoteTarget: 'sip:b@y',
    routeSet: [],
    secure: false,
  });
  return {
    v,
    id,
    owner,
    pods: [owner],
    tenant: 't/t',
    direction: 'carrier-to-teams',
    state: 'confirmed',
    caller: '+1',
    callee: '+2',
    routeDestination: '+2',
    attempt: 1,
    times: { setup: 1 },
    inbound: {
      invite: 'INVITE sip:x SIP/2.0\r\n\r\n',
      toTag: 'in-tag',
      peer: { transport: 'UDP', address: '127.0.0.1', port: 5060 },
      leg: { side: 'carrier', dialog: dialog(`in-${id}`, 'in-tag'), contact: '<sip:sbc>', transport: 'UDP' },
    },
    outbound: {
      invite: 'INVITE sip:y SIP/2.0\r\n\r\n',
      attemptNo: 1,
      target: { side: 'teams', host: 'sip.example', port: 5061, transport: 'TLS' },
      peer: { transport: 'TLS', address: '127.0.0.1', port: 5061 },
      leg: { side: 'teams', dialog: dialog(`out-${id}`, 'out-tag'), contact: '<sip:sbc>', transport: 'TLS' },
      provisional: true,
    },
    deadlines: {},
    mediaRef: id,
  };
}

function contract(name: string, make: () => DialogStore) {
  describe(name, () => {
    let store: DialogStore;
    before(() => {
      store = make();
    });

    test('save with compare-and-set, load by id and by either leg', async () => {
      assert.equal(await store.save(record('c1', 1), { ttlMs: 60_000, expect: 0 }), 'ok');
      assert.equal(await store.save(record('c1', 1), { ttlMs: 60_000, expect: 0 }), 'conflict', 'v1 exists');
      assert.equal(await store.save(record('c1', 2, 'pod-b'), { ttlMs: 60_000, expect: 1 }), 'ok');
      assert.equal(await store.save(record('c1', 2), { ttlMs: 60_000, expect: 1 }), 'conflict', 'a stale writer loses');
      assert.equal((await store.load('c1'))?.owner, 'pod-b');
      assert.equal(await store.lookup('in-c1', 'in-tag'), 'c1');
      assert.equal(await store.lookup('out-c1', 'out-tag'), 'c1');
      assert.equal(await store.lookup('out-c1', 'nope'), undefined);
    });

    test('exactly one finish per call; a finished call cannot be written again', async () => {
      await store.save(record('c2', 1), { ttlMs: 60_000, expect: 0 });
      const dialogs = [
        { callId: 'in-c2', tag: 'in-tag' },
        { callId: 'out-c2', tag: 'out-tag' },
      ];
      const results = await Promise.all([store.finish({ id: 'c2', dialogs }), store.finish({ id: 'c2', dialogs })]);
      assert.deepEqual(results.sort(), [false, true]);
      assert.equal(await store.load('c2'), undefined);
      assert.equal(await store.lookup('in-c2', 'in-tag'), undefined);
      assert.equal(await store.save(record('c2', 2), { ttlMs: 60_000, expect: 1 }), 'ended');
    });

    test('the lock is held by one token at a time and released only by it', async () => {
      const t1 = await store.lock('c3', 5_000);
      assert.ok(t1);
      assert.equal(await store.lock('c3', 5_000), undefined);
      await store.unlock('c3', 'not-the-token');
      assert.equal(await store.lock('c3', 5_000), undefined);
      await store.unlock('c3', t1);
      assert.ok(await store.lock('c3', 5_000));
    });

    test('due deadlines are claimed once; later ones stay', async () => {
      await store.schedule('c4', 'session', 1_000);
      await store.schedule('c5', 'no-answer', 2_000);
      await store.schedule('c6', 'session', 10_000);
      const [a, b] = await Promise.all([store.claimDue(5_000, 10), store.claimDue(5_000, 10)]);
      const all = [...a, ...b].map((d) => `${d.id}|${d.kind}`).sort();
      assert.deepEqual(all, ['c4|session', 'c5|no-answer']);
      assert.deepEqual(await store.claimDue(20_000, 10), [{ id: 'c6', kind: 'session' }]);
    });

    test('the owner index follows the owner: a new call, a takeover, a stale write, the end', async () => {
      const owned = async (pod: string) => (await store.ownedBy(pod, 100)).sort();
      assert.equal(await store.save(record('o1', 1, 'own-a'), { ttlMs: 60_000, expect: 0 }), 'ok');
      assert.equal(await store.save(record('o2', 1, 'own-a'), { ttlMs: 60_000, expect: 0 }), 'ok');
      assert.equal(await store.save(record('o1', 2, 'own-a'), { ttlMs: 60_000, expect: 1 }), 'ok', 'same owner');
      assert.deepEqual(await owned('own-a'), ['o1', 'o2']);
      assert.equal(await store.save(record('o1', 3, 'own-b'), { ttlMs: 60_000, expect: 2 }), 'ok', 'taken over');
      assert.deepEqual(await owned('own-a'), ['o2']);
      assert.deepEqual(await owned('own-b'), ['o1']);
      assert.equal(await store.save(record('o1', 3, 'own-a'), { ttlMs: 60_000, expect: 2 }), 'conflict');
      assert.deepEqual(await owned('own-a'), ['o2'], 'a stale write moves nothing');
      assert.ok(await store.finish({ id: 'o1', dialogs: [] }));
      assert.deepEqual(await owned('own-b'), [], 'the end removes it from its owner');
      for (let i = 0; i < 5; i++) await store.save(record(`o-many-${i}`, 1, 'own-c'), { ttlMs: 60_000, expect: 0 });
      const some = await store.ownedBy('own-c', 2);
      assert.equal(some.length, 2, 'a bounded batch');
      assert.equal(new Set(some).size, 2);
    });

    test('pod liveness: heartbeats, a pod that left, reindexing, forgetting a gone pod once it owns nothing', async () => {
      const stale = async (grace: number) => (await store.stalePods(grace)).filter((p) => p.pod.startsWith('live-'));
      await store.heartbeat('live-a');
      await store.heartbeat('live-b');
      assert.deepEqual(await stale(60_000), [], 'both just heartbeat');
      await new Promise((r) => setTimeout(r, 50));
      const seen = await stale(10);
      assert.deepEqual(seen.map((p) => p.pod).sort(), ['live-a', 'live-b'], 'older than a short grace');
      for (const p of seen) assert.ok(Number.isInteger(p.seen) && Math.abs(Date.now() - p.seen) < 60_000, `${p.seen}`);
      await store.leave('live-b');
      assert.deepEqual(await stale(60_000), [{ pod: 'live-b', seen: 0 }], 'a pod that left is gone at once');
      await store.save(record('l1', 1, 'live-b'), { ttlMs: 60_000, expect: 0 });
      assert.equal(await store.forgetPod('live-b', 0), false, 'it still owns a call');
      // A wrong entry: the call is live-c's now (live-c never heartbeat): moved, and live-c is looked at as well.
      await store.reindex('l1', 'live-b', 'live-c');
      assert.deepEqual(await store.ownedBy('live-b', 10), []);
      assert.deepEqual(await store.ownedBy('live-c', 10), ['l1']);
      assert.deepEqual((await stale(60_000)).map((p) => p.pod).sort(), ['live-b', 'live-c']);
      assert.equal(await store.forgetPod('live-b', 1), false, 'not the heartbeat seen');
      assert.equal(await store.forgetPod('live-b', 0), true);
      assert.deepEqual(
        (await stale(60_000)).map((p) => p.pod),
        ['live-c'],
      );
      await store.reindex('l1', 'live-c', undefined);
      assert.deepEqual(await store.ownedBy('live-c', 10), [], 'no owner: just removed');
      await store.heartbeat('live-b');
      assert.deepEqual(
        (await stale(60_000)).map((p) => p.pod),
        ['live-c'],
        'a pod that comes back is live again',
      );
    });
  });
}

let redis: RedisServer;
const clients: Redis[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

contract('memory store', () => new MemoryDialogStore());
contract('Redis store', () => {
  const c = new Redis(redis.url);
  clients.push(c);
  return new RedisDialogStore(c, { ownsClient: false });
});
