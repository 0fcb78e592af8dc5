// The CDR exporter against a real redis-server: nothing lost when a sink fails or the exporter dies between the
// sink and the acknowledgement, nothing doubled downstream, and a tenant filter that really filters.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../../e2e/src/harness/redis.ts';
import { CDR_SCHEMA_VERSION, type Cdr, cdrId } from '../record.ts';
import { RedisStreamCdrSink } from '../sinks.ts';
import { type BatchSink, CsvFileSink, JsonlFileSink, WebhookSink } from './batch-sinks.ts';
import { CdrExporter } from './exporter.ts';

let redis: RedisServer;
let client: Redis;
let dir: string;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
after(async () => {
  client?.disconnect();
  await redis?.stop();
});
beforeEach(async () => {
  await client.flushall();
  dir = mkdtempSync(join(tmpdir(), 'cdr-export-'));
});

function cdr(tenant: string, n: number): Cdr {
  return {
    schema: CDR_SCHEMA_VERSION,
    id: cdrId(tenant, `call-${n}`, 'tag'),
    tenant,
    direction: 'teams-to-carrier',
    inboundCallId: `call-${n}`,
    caller: '+15551230001',
    callee: `+1555987${String(n).padStart(4, '0')}`,
    setupTime: '2026-11-29T10:00:00.000Z',
    endTime: '2026-11-29T10:01:00.000Z',
    durationMs: 60_000,
    talkMs: 55_000,
    disposition: 'answered',
    sipCode: 200,
  };
}

async function produce(tenant: string, count: number): Promise<void> {
  const sink = new RedisStreamCdrSink(client);
  for (let i = 0; i < count; i++) await sink.write(cdr(tenant, i));
  for (let i = 0; i < count; i += 7) await sink.write(cdr(tenant, i)); // replays from a failover: ignored
}

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as Cdr);

test('every CDR of every tenant reaches the file once', async () => {
  await produce('a/contoso', 30);
  await produce('b/fabrikam', 20);
  const path = join(dir, 'out.jsonl');
  const exporter = new CdrExporter({ redis: client, sink: new JsonlFileSink(path), batchSize: 8 });
  assert.equal(await exporter.runOnce(), 50);
  assert.equal(await exporter.runOnce(), 0, 'a second pass finds nothing new');
  const out = lines(path);
  assert.equal(out.length, 50);
  assert.equal(new Set(out.map((c) => c.id)).size, 50);
  assert.equal(out.filter((c) => c.tenant === 'a/contoso').length, 30);
  rmSync(dir, { recursive: true, force: true });
});

test('a crash after the sink accepted but before XACK replays the batch, and the sink drops the replay', async () => {
  await produce('a/contoso', 10);
  const path = join(dir, 'out.jsonl');
  const file = new JsonlFileSink(path);
  let calls = 0;
  const crashing: BatchSink = {
    name: 'crashing',
    async writeBatch(cdrs) {
      await file.writeBatch(cdrs);
      calls++;
      throw new Error('process died before acknowledging');
    },
  };
  await assert.rejects(new CdrExporter({ redis: client, sink: crashing, batchSize: 4 }).runOnce());
  assert.equal(calls, 1);
  assert.equal(lines(path).length, 4, 'the first batch reached the file');
  // A fresh exporter (same group and consumer) re-reads the pending batch first, then the rest.
  const restarted = new CdrExporter({ redis: client, sink: new JsonlFileSink(path), batchSize: 4 });
  assert.equal(await restarted.runOnce(), 10);
  const out = lines(path);
  assert.equal(out.length, 10, 'nothing doubled');
  assert.equal(new Set(out.map((c) => c.id)).size, 10, 'nothing lost');
  const pending = (await client.xpending('sb:{a/contoso}:cdr', 'switchboard-export')) as [number];
  assert.equal(pending[0], 0);
  rmSync(dir, { recursive: true, force: true });
});

test('a webhook that fails and recovers gets every CDR, retried batches under the same idempotency key', async () => {
  await produce('a/contoso', 25);
  let failuresLeft = 3;
  const received = new Map<string, number>();
  const keys: string[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    keys.push(String(req.headers['idempotency-key']));
    if (failuresLeft-- > 0) {
      res.writeHead(503).end();
      return;
    }
    for (const c of (JSON.parse(body) as { cdrs: Cdr[] }).cdrs) received.set(c.id, (received.get(c.id) ?? 0) + 1);
    res.writeHead(202).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/cdrs`;
    const sink = new WebhookSink({ url, attempts: 2, backoffMs: 5 });
    const exporter = new CdrExporter({ redis: client, sink, batchSize: 10 });
    // First pass: the batch fails twice (2 attempts) → nothing acknowledged.
    await assert.rejects(exporter.runOnce());
    assert.equal(received.size, 0);
    // Second pass: one more failure, then the webhook recovers.
    assert.equal(await exporter.runOnce(), 25);
    assert.equal(received.size, 25);
    assert.ok(
      [...received.values()].every((n) => n === 1),
      'each CDR accepted once',
    );
    assert.equal(keys[0], keys[1], 'a retried batch keeps its idempotency key');
    assert.equal(keys[1], keys[2]);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tenant filter exports only that tenant; CSV has a header and one row per CDR', async () => {
  await produce('a/contoso', 5);
  await produce('b/fabrikam', 5);
  const path = join(dir, 'out.csv');
  const exporter = new CdrExporter({ redis: client, sink: new CsvFileSink(path), tenants: ['b/fabrikam'] });
  assert.equal(await exporter.runOnce(), 5);
  const rows = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(rows.length, 6);
  assert.match(rows[0]!, /^id,tenant,account/);
  assert.ok(rows.slice(1).every((r) => r.split(',')[1] === 'b/fabrikam'));
  rmSync(dir, { recursive: true, force: true });
});
