// Redis loss (DESIGN.md §8, policy SWITCHBOARD_STATE_ON_REDIS_LOSS=refuse, the default): while Redis is down nothing
// crashes, live calls go on, new calls get 503 + Retry-After, a CDR written meanwhile is queued; when Redis is back
// (empty, as after a restart) the pod re-replicates its live calls, writes the queued CDR and takes calls again —
// without a restart. Plus drain in local mode (in-memory store): 503 for new calls, the live one finishes.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { CDR_STREAMS_KEY } from '../../../sbc-pod/src/cdr/sinks.ts';
import { recordKey } from '../../../sbc-pod/src/state/redis-store.ts';
import { type Fixture, startFixture } from '../b2bua/fixture.ts';
import { nextInboundCall } from '../b2bua/helpers.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { type RedisServer, redisServerPath, startRedis } from '../harness/redis.ts';
import { withTimeout } from '../teams-sim/wait.ts';

let redis: RedisServer;
let f: Fixture;
let peer: UdpPeer;
let client: Redis;
let relaunched: ChildProcess | undefined;

before(async () => {
  redis = await startRedis();
  f = await startFixture({ redisUrl: redis.url });
  peer = await UdpPeer.start();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  client.on('error', () => {});
});
after(async () => {
  client?.disconnect();
  await peer?.close();
  await f?.close();
  if (relaunched && relaunched.exitCode === null) {
    const exited = once(relaunched, 'exit');
    relaunched.kill('SIGKILL');
    await exited;
  }
  await redis?.stop();
});

/** Start redis-server again on the same port (empty), resolving once it accepts connections. */
function relaunch(port: number): Promise<ChildProcess> {
  const child = spawn(
    redisServerPath(),
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  return withTimeout(
    new Promise<ChildProcess>((resolve) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve(child);
      });
    }),
    'redis-server to restart',
    15_000,
  );
}

/** Redis goes away: the first server (stopped), or the one relaunched on its port (killed). */
async function killRedis(): Promise<void> {
  if (!relaunched) return redis.stop();
  const exited = once(relaunched, 'exit');
  relaunched.kill('SIGKILL');
  await exited;
}

function storeHealth(up: boolean): Promise<void> {
  if (f.pod.store.healthy() === up) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => f.pod.store.onHealth((now) => now === up && resolve())),
    `the dialog store to be ${up ? 'up' : 'down'}`,
    15_000,
  );
}

async function streamCdrs(): Promise<Cdr[]> {
  const out: Cdr[] = [];
  for (const stream of await client.smembers(CDR_STREAMS_KEY)) {
    for (const [, fields] of await client.xrange(stream, '-', '+')) {
      out.push(JSON.parse(fields[fields.indexOf('cdr') + 1]!) as Cdr);
    }
  }
  return out;
}

/** Bounded wait on Redis state (there is no event to wait on). */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('Redis down: no crash, live call goes on, new calls 503; Redis back empty: calls re-replicated, CDRs written', async () => {
  const sbc = { address: '127.0.0.1', port: f.udpPort };
  const inbound = nextInboundCall(f, '+15551230001');
  const first = peer.invite(sbc, { to: '+15551230001', from: '+15559876001' });
  const teams = await inbound;
  assert.equal((await first.final(10_000)).status, 200);
  await teams.waitForState('confirmed');
  const id = f.pod.b2bua.activeCalls()[0]!.id;
  assert.equal(await client.exists(recordKey(id)), 1, 'the call is in Redis');

  await killRedis();
  await storeHealth(false);
  const refused = peer.invite(sbc, { to: '+15551230001', from: '+15559876002' });
  const res = await refused.final(10_000);
  assert.equal(res.status, 503, 'a new call is refused while the store is down (policy refuse)');
  assert.ok(res.headers.some((h) => h.name.toLowerCase() === 'retry-after'));
  // The live call goes on: a re-INVITE is relayed.
  assert.equal((await first.request('INVITE', { sdp: true, timeoutMs: 10_000 })).status, 200);

  relaunched = await relaunch(redis.port);
  await storeHealth(true);
  // Redis came back empty: the pod writes its live call again.
  await eventually('the live call to be re-replicated', async () =>
    (await client.exists(recordKey(id))) === 1 ? true : undefined,
  );
  // New calls are taken again, without a restart.
  const inbound2 = nextInboundCall(f, '+15551230002');
  const second = peer.invite(sbc, { to: '+15551230002', from: '+15559876003' });
  const teams2 = await inbound2;
  assert.equal((await second.final(10_000)).status, 200);
  await teams2.waitForState('confirmed');
  assert.equal((await first.request('BYE')).status, 200);
  assert.equal((await second.request('BYE')).status, 200);
  const cdrs = await eventually('both CDRs in the stream', async () => {
    const all = (await streamCdrs()).filter((c) => c.caller === '+15559876001' || c.caller === '+15559876003');
    return all.length >= 2 ? all : undefined;
  });
  assert.equal(cdrs.length, 2, 'each CDR once');
});

test('a CDR written while Redis is down is queued and reaches the stream when Redis is back', async () => {
  const sbc = { address: '127.0.0.1', port: f.udpPort };
  const inbound = nextInboundCall(f, '+15551230003');
  const call = peer.invite(sbc, { to: '+15551230003', from: '+15559876004' });
  const teams = await inbound;
  assert.equal((await call.final(10_000)).status, 200);
  await teams.waitForState('confirmed');
  await killRedis();
  await storeHealth(false);
  assert.equal((await call.request('BYE')).status, 200, 'the call ends normally with Redis down');
  await f.waitForCdr((c) => c.caller === '+15559876004'); // the JSONL sink has it at once
  relaunched = await relaunch(redis.port);
  await storeHealth(true);
  const found = await eventually('the queued CDR in the stream', async () => {
    const all = (await streamCdrs()).filter((c) => c.caller === '+15559876004');
    return all.length > 0 ? all : undefined;
  });
  assert.equal(found.length, 1);
});
