// redisFromSettings against a real redis-server, and a real Sentinel (`redis-server --sentinel`) monitoring it; the
// failover case adds a replica and asks the Sentinel to promote it.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { freeTcpPort } from '../../../e2e/src/harness/ports.ts';
import {
  launchRedisProcess,
  type RedisServer,
  type SentinelServer,
  serverArgs,
  startRedis,
  startSentinel,
  terminate,
} from '../../../e2e/src/harness/redis.ts';
import { describeRedis, parseHostPort, type RedisLog, RedisSettingsError, redisFromSettings } from './connect.ts';

const WAIT = 30_000;

function recorder(): RedisLog & { lines: { level: string; obj: Record<string, unknown>; msg: string }[] } {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
  };
}

async function eventually<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = WAIT): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function portOf(client: Redis): Promise<number> {
  const info = await client.info('server');
  return Number(/tcp_port:(\d+)/.exec(info)?.[1]);
}

describe('redisFromSettings', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  const clients: Redis[] = [];
  const track = (c: Redis | undefined): Redis => {
    assert.ok(c);
    clients.push(c);
    return c;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  test('nothing configured: no client (the embedded store is used)', () => {
    assert.equal(redisFromSettings({}), undefined);
    assert.equal(redisFromSettings({ url: undefined, sentinels: [] }), undefined);
  });

  test('SWITCHBOARD_REDIS_URL: commands work and the connection is named', async () => {
    const c = track(redisFromSettings({ url: `${redis.url}/2` }, { connectionName: 'switchboard-test-url' }));
    await c.set('k', 'v');
    assert.equal(await c.get('k'), 'v');
    const list = await c.client('LIST');
    assert.match(String(list), /name=switchboard-test-url .*db=2/);
  });

  test('bad settings throw a RedisSettingsError; the password never appears in the description', () => {
    assert.throws(() => redisFromSettings({ sentinels: ['127.0.0.1:26379'] }), RedisSettingsError);
    assert.throws(() => redisFromSettings({ sentinels: ['nohost'], sentinelMaster: 'm' }), /HOST:PORT/);
    assert.throws(() => redisFromSettings({ url: 'http://x' }), /redis:\/\//);
    assert.deepEqual(parseHostPort('[::1]:26379'), { host: '::1', port: 26379 });
    assert.equal(describeRedis({ url: 'redis://u:secret@h:6379/0' }), 'redis://u:***@h:6379/0');
    assert.equal(
      describeRedis({ sentinels: ['a:1', { host: 'b', port: 2 }], sentinelMaster: 'm' }),
      'sentinel m via a:1,b:2',
    );
  });

  test('an unreachable server: errors are logged (rate-limited), commands reject, nothing throws', async () => {
    const dead = await freeTcpPort();
    const log = recorder();
    const c = track(
      redisFromSettings(
        { url: `redis://127.0.0.1:${dead}` },
        { enableOfflineQueue: false, logger: log, logEveryMs: 60_000, maxRetryDelayMs: 50 },
      ),
    );
    await eventually('an error logged', () => log.lines.length > 0);
    await assert.rejects(c.get('k'));
    // Several reconnect attempts later, still one line (the rest are suppressed and counted).
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1);
    assert.equal(log.lines[0]!.msg, 'redis error');
    assert.match(String(log.lines[0]!.obj.err), /ECONNREFUSED/);
  });

  test('a restarted server: the client reconnects and says so', async () => {
    const log = recorder();
    const c = track(redisFromSettings({ url: redis.url }, { logger: log, maxRetryDelayMs: 100, logEveryMs: 0 }));
    await c.set('a', '1');
    await redis.restart();
    await eventually('a command after the restart', async () => (await c.set('a', '2')) === 'OK');
    await eventually('the restore line', () => log.lines.some((l) => l.msg === 'redis connection restored'));
  });

  describe('Sentinel', () => {
    let dir: string;
    let sentinel: SentinelServer | undefined;
    let replica: ChildProcess | undefined;
    let sentinelPort = 0;
    let replicaPort = 0;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sb-replica-'));
      replicaPort = await freeTcpPort();
      replica = await launchRedisProcess([
        ...serverArgs(replicaPort, dir),
        '--replicaof',
        '127.0.0.1',
        String(redis.port),
      ]);
      sentinel = await startSentinel(redis, 'sbtest');
      sentinelPort = sentinel.port;
    });
    after(async () => {
      await sentinel?.stop();
      await terminate(replica);
      rmSync(dir, { recursive: true, force: true });
    });

    test('the client finds the master through the Sentinel (the URL host is ignored)', async () => {
      const c = track(
        redisFromSettings(
          {
            url: 'redis://not-the-master.invalid:1/0',
            sentinels: [`127.0.0.1:${sentinelPort}`],
            sentinelMaster: 'sbtest',
          },
          { connectionName: 'switchboard-test-sentinel' },
        ),
      );
      await c.set('via-sentinel', 'yes');
      assert.equal(await c.get('via-sentinel'), 'yes');
      assert.equal(await portOf(c), redis.port);
      assert.match(String(await c.client('LIST')), /name=switchboard-test-sentinel/);
    });

    test('an unknown master name: errors are logged, not thrown', async () => {
      const log = recorder();
      const c = track(
        redisFromSettings(
          { sentinels: [`127.0.0.1:${sentinelPort}`], sentinelMaster: 'nope' },
          { enableOfflineQueue: false, logger: log, maxRetryDelayMs: 100 },
        ),
      );
      await eventually('an error logged', () => log.lines.length > 0);
      await assert.rejects(c.get('k'));
    });

    test('after a failover the client follows the new master', async () => {
      const log = recorder();
      const c = track(
        redisFromSettings(
          { sentinels: [{ host: '127.0.0.1', port: sentinelPort }], sentinelMaster: 'sbtest' },
          { logger: log, maxRetryDelayMs: 200, maxRetriesPerRequest: 20 },
        ),
      );
      await c.set('before', '1');
      assert.equal(await portOf(c), redis.port);
      // The Sentinel must have discovered the replica before it can promote it.
      const asker = track(redisFromSettings({ url: `redis://127.0.0.1:${sentinelPort}` }));
      await eventually('the replica known to the Sentinel', async () => {
        const replicas = (await asker.call('SENTINEL', 'REPLICAS', 'sbtest')) as string[][];
        return replicas.some((r) => r.join(' ').includes(String(replicaPort)) && r.join(' ').includes('slave'));
      });
      await eventually('the replica in sync', async () => {
        const probe = track(redisFromSettings({ url: `redis://127.0.0.1:${replicaPort}` }));
        return /master_link_status:up/.test(await probe.info('replication'));
      });
      await asker.call('SENTINEL', 'FAILOVER', 'sbtest');
      await eventually('the client on the promoted replica', async () => {
        await c.set('after', '2');
        return (await portOf(c)) === replicaPort;
      });
      assert.equal(await c.get('before'), '1', 'replicated data is there');
    });
  });
});
