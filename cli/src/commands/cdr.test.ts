// `switchboard cdr export --once` as a user runs it: a real redis-server, a real child process, a JSONL file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis, startSentinel } from '../../../e2e/src/harness/redis.ts';
import { CDR_SCHEMA_VERSION, cdrId } from '../../../sbc-pod/src/cdr/record.ts';
import { RedisStreamCdrSink } from '../../../sbc-pod/src/cdr/sinks.ts';

const main = new URL('../main.ts', import.meta.url).pathname;
let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

test('cdr export --once writes every CDR to the file and a second run adds nothing', async () => {
  const client = new Redis(redis.url);
  const sink = new RedisStreamCdrSink(client);
  for (let i = 0; i < 12; i++) {
    await sink.write({
      schema: CDR_SCHEMA_VERSION,
      id: cdrId('ns/t', `c${i}`, 'x'),
      tenant: i % 2 ? 'ns/t' : 'ns/u',
      direction: 'carrier-to-teams',
      inboundCallId: `c${i}`,
      caller: '+15550000000',
      callee: '+15551111111',
      setupTime: '2026-11-29T10:00:00.000Z',
      endTime: '2026-11-29T10:00:10.000Z',
      durationMs: 10_000,
      talkMs: 0,
      disposition: 'no-answer',
      sipCode: 480,
    });
  }
  client.disconnect();
  const dir = mkdtempSync(join(tmpdir(), 'cdr-cli-'));
  try {
    const out = join(dir, 'cdrs.jsonl');
    const args = [main, 'cdr', 'export', '--once', '--redis-url', redis.url, '--sink', `file:${out}`];
    const first = spawnSync(process.execPath, args, { encoding: 'utf8' });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /exported 12 CDRs/);
    const second = spawnSync(process.execPath, args, { encoding: 'utf8' });
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stderr, /exported 0 CDRs/);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 12);
    const bad = spawnSync(
      process.execPath,
      [main, 'cdr', 'export', '--once', '--redis-url', redis.url, '--sink', 'ftp:x'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /unknown sink/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cdr export finds the master through Redis Sentinel (SWITCHBOARD_REDIS_SENTINELS, no URL)', async () => {
  const sentinel = await startSentinel(redis, 'sbcdr');
  const client = new Redis(redis.url);
  const dir = mkdtempSync(join(tmpdir(), 'cdr-cli-'));
  try {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const id = cdrId('ns/sentinel', `s${i}`, 'x');
      ids.push(id);
      await new RedisStreamCdrSink(client).write({
        schema: CDR_SCHEMA_VERSION,
        id,
        tenant: 'ns/sentinel',
        direction: 'teams-to-carrier',
        inboundCallId: `s${i}`,
        caller: '+15550000000',
        callee: '+15551111111',
        setupTime: '2026-11-29T10:00:00.000Z',
        endTime: '2026-11-29T10:00:10.000Z',
        durationMs: 10_000,
        talkMs: 0,
        disposition: 'no-answer',
        sipCode: 480,
      });
    }
    const out = join(dir, 'cdrs.jsonl');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SWITCHBOARD_REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      SWITCHBOARD_REDIS_SENTINEL_MASTER: 'sbcdr',
    };
    delete env.SWITCHBOARD_REDIS_URL;
    const run = spawnSync(
      process.execPath,
      [main, 'cdr', 'export', '--once', '--tenant', 'ns/sentinel', '--sink', `file:${out}`],
      { encoding: 'utf8', env },
    );
    assert.equal(run.status, 0, run.stderr);
    const got = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: string }).id);
    assert.deepEqual(got.sort(), ids.sort());
    // A Sentinel that does not know the master name: a clear failure, not a hang.
    const wrong = spawnSync(process.execPath, [main, 'cdr', 'export', '--once', '--sink', `file:${out}`], {
      encoding: 'utf8',
      env: { ...env, SWITCHBOARD_REDIS_SENTINEL_MASTER: 'nope' },
      timeout: 60_000,
    });
    assert.equal(wrong.status, 1, `exit ${wrong.status} ${wrong.signal ?? ''}: ${wrong.stderr}`);
  } finally {
    client.disconnect();
    await sentinel.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
