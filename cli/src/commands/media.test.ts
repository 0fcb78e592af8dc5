// `switchboard media` as a process: on SIGTERM with Redis it leaves its sessions in the store (the sbc-pods re-anchor
// those calls on another pod of the pool); without Redis there is nothing to leave.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { freeTcpPort } from '../../../e2e/src/harness/ports.ts';
import { type RedisServer, startRedis, startSentinel } from '../../../e2e/src/harness/redis.ts';
import { carrierSdp } from '../../../media-pod/src/relay/testing.ts';

const main = new URL('../main.ts', import.meta.url).pathname;
let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

async function eventually<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('SIGTERM: the media pod stops, its sessions and their pod index stay in Redis for re-anchoring', async () => {
  const apiPort = await freeTcpPort();
  const low = 30_000 + 2 * randomInt(0, 5_000);
  const child = spawn(process.execPath, [main, 'media'], {
    env: {
      ...process.env,
      SWITCHBOARD_REDIS_URL: redis.url,
      SWITCHBOARD_MEDIA_API_LISTEN: `127.0.0.1:${apiPort}`,
      SWITCHBOARD_MEDIA_PORTS: `${low}-${low + 99}`,
      SWITCHBOARD_MEDIA_POD_ID: 'media-sigterm',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(child, 'exit');
  const client = new Redis(redis.url);
  try {
    const url = `http://127.0.0.1:${apiPort}`;
    await eventually('the control API', async () => ((await fetch(`${url}/v1/health`)).ok ? true : undefined));
    const offer = await fetch(`${url}/v1/sessions/call-sigterm/legs/a/offer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'contoso/contoso', sdp: carrierSdp(low + 500), profiles: { b: { srtp: true } } }),
    });
    assert.equal(offer.status, 200, await offer.text());
    assert.ok(await client.get('switchboard:media:session:call-sigterm'), 'the session is in Redis');
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, 'a clean exit');
    assert.ok(await client.get('switchboard:media:session:call-sigterm'), 'the session outlives the pod');
    assert.deepEqual(await client.smembers('switchboard:media:pod:media-sigterm:sessions'), ['call-sigterm']);
  } finally {
    client.disconnect();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('behind Sentinel (no URL): the media pod heartbeats into the master the Sentinel names', async () => {
  const sentinel = await startSentinel(redis, 'sbmedia');
  const apiPort = await freeTcpPort();
  const low = 30_000 + 2 * randomInt(0, 5_000);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SWITCHBOARD_REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
    SWITCHBOARD_REDIS_SENTINEL_MASTER: 'sbmedia',
    SWITCHBOARD_MEDIA_API_LISTEN: `127.0.0.1:${apiPort}`,
    SWITCHBOARD_MEDIA_PORTS: `${low}-${low + 99}`,
    SWITCHBOARD_MEDIA_POD_ID: 'media-sentinel',
    SWITCHBOARD_MEDIA_POOL: 'regulated',
  };
  delete env.SWITCHBOARD_REDIS_URL;
  const child = spawn(process.execPath, [main, 'media'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = once(child, 'exit');
  const client = new Redis(redis.url);
  try {
    const beat = await eventually('the heartbeat in Redis', async () => {
      const v = await client.get('switchboard:media:pod:media-sentinel');
      return v ? (JSON.parse(v) as { pool: string; url: string }) : undefined;
    });
    assert.equal(beat.pool, 'regulated');
    assert.equal(beat.url, `http://127.0.0.1:${apiPort}`);
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  } finally {
    client.disconnect();
    if (child.exitCode === null) child.kill('SIGKILL');
    await sentinel.stop();
  }
});
