import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../e2e/src/harness/redis.ts';
import { CDR_SCHEMA_VERSION, type Cdr, cdrId, q850ForSipStatus } from './record.ts';
import { cdrStreamKey, JsonlCdrSink, RedisStreamCdrSink } from './sinks.ts';

function cdr(tenant: string, callId: string, attempt = 0): Cdr {
  return {
    schema: CDR_SCHEMA_VERSION,
    id: cdrId(tenant, callId, 'fromtag', attempt),
    tenant,
    direction: 'teams-to-carrier',
    inboundCallId: callId,
    caller: '+15551230001',
    callee: '+15559870001',
    setupTime: '2026-11-29T10:00:00.000Z',
    endTime: '2026-11-29T10:00:05.000Z',
    durationMs: 5000,
    talkMs: 0,
    disposition: 'busy',
    sipCode: 486,
    q850Cause: q850ForSipStatus(486),
  };
}

let redis: RedisServer;
let client: Redis;
before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
after(async () => {
  client?.disconnect();
  await redis?.stop();
});

test('cdr ids are deterministic per attempt and distinct across tenants and attempts', () => {
  assert.equal(cdrId('a/t', 'c1', 'f'), cdrId('a/t', 'c1', 'f'));
  assert.notEqual(cdrId('a/t', 'c1', 'f'), cdrId('b/t', 'c1', 'f'));
  assert.notEqual(cdrId('a/t', 'c1', 'f', 0), cdrId('a/t', 'c1', 'f', 1));
  assert.equal(q850ForSipStatus(486), 17);
  assert.equal(q850ForSipStatus(404), 1);
});

test('JSONL sink appends one line per CDR and drops a replay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdr-'));
  try {
    const path = join(dir, 'cdr.jsonl');
    const sink = new JsonlCdrSink(path);
    await sink.write(cdr('ns/contoso', 'call-1'));
    await sink.write(cdr('ns/contoso', 'call-1'));
    await sink.write(cdr('ns/contoso', 'call-2'));
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    assert.equal(JSON.parse(lines[1]!).inboundCallId, 'call-2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Redis sink writes each CDR once into its own tenant stream', async () => {
  const sink = new RedisStreamCdrSink(client);
  await sink.write(cdr('ns/contoso', 'call-1'));
  await sink.write(cdr('ns/contoso', 'call-1')); // replay after a failover: must not double-bill
  await sink.write(cdr('ns/fabrikam', 'call-9'));
  const contoso = await client.xrange(cdrStreamKey('ns/contoso'), '-', '+');
  const fabrikam = await client.xrange(cdrStreamKey('ns/fabrikam'), '-', '+');
  assert.equal(contoso.length, 1);
  assert.equal(fabrikam.length, 1);
  const fields = fabrikam[0]![1];
  const record = JSON.parse(fields[fields.indexOf('cdr') + 1]!) as Cdr;
  assert.equal(record.tenant, 'ns/fabrikam');
  assert.equal(record.inboundCallId, 'call-9');
});
