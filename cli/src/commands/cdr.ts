// `switchboard cdr export` — CDRs from the per-tenant Redis Streams to stdout, a JSONL or CSV file, or a webhook,
// acknowledging only what the sink accepted. `switchboard cdr tail --tenant NS/NAME` — follow one tenant's CDRs.
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { sinkFromSpec } from '../../../sbc-pod/src/cdr/export/batch-sinks.ts';
import { CdrExporter } from '../../../sbc-pod/src/cdr/export/exporter.ts';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { cdrStreamKey } from '../../../sbc-pod/src/cdr/sinks.ts';
import { redisFromSettings, redisSettingsFromEnv } from '../../../sbc-pod/src/redis/connect.ts';

const USAGE = `Usage:
  switchboard cdr export [--redis-url URL] [--sink stdout|file:PATH|csv:PATH|webhook:URL] [--tenant NS/NAME]...
                         [--group NAME] [--consumer NAME] [--once] [--trim]
  switchboard cdr tail --tenant NS/NAME [--redis-url URL]

--redis-url defaults to SWITCHBOARD_REDIS_URL; with SWITCHBOARD_REDIS_SENTINELS and SWITCHBOARD_REDIS_SENTINEL_MASTER
the master is found through the Sentinels. export runs until Ctrl-C (or one pass with --once).
`;

/**
 * The Redis the sbc-pods write CDR streams to: --redis-url / SWITCHBOARD_REDIS_URL, or the master behind
 * SWITCHBOARD_REDIS_SENTINELS + SWITCHBOARD_REDIS_SENTINEL_MASTER (the URL then only gives credentials and db).
 * A long-running export waits through a reconnect or a Sentinel failover instead of failing; a one-shot run (`--once`)
 * gives up after a few reconnects with a clear error.
 */
function redisFrom(url: string | undefined, opts: { waitForever: boolean }): Redis {
  const r = redisFromSettings(redisSettingsFromEnv(process.env, url), {
    connectionName: `switchboard-cdr-export-${process.pid}`,
    maxRetriesPerRequest: opts.waitForever ? null : 3,
    logger: {
      warn: (obj, msg) => process.stderr.write(`redis: ${msg} ${JSON.stringify(obj)}\n`),
      info: (obj, msg) => process.stderr.write(`redis: ${msg} ${JSON.stringify(obj)}\n`),
    },
  });
  if (!r) {
    throw new Error(
      'no Redis: give --redis-url, set SWITCHBOARD_REDIS_URL, or SWITCHBOARD_REDIS_SENTINELS with SWITCHBOARD_REDIS_SENTINEL_MASTER',
    );
  }
  return r;
}

/** A one-shot run fails with a clear message when Redis (or the Sentinels' master) cannot be reached in time. */
function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis not reachable within ${ms / 1000} s (see the redis: lines above)`));
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

async function exportCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'redis-url': { type: 'string' },
      sink: { type: 'string', default: 'stdout' },
      tenant: { type: 'string', multiple: true },
      group: { type: 'string', default: 'switchboard-export' },
      consumer: { type: 'string', default: `exporter-${process.pid}` },
      once: { type: 'boolean', default: false },
      trim: { type: 'boolean', default: false },
    },
  });
  const sink = sinkFromSpec(values.sink); // before connecting: a bad --sink is a usage error, not a Redis session
  const redis = redisFrom(values['redis-url'], { waitForever: !values.once });
  const exporter = new CdrExporter({
    redis,
    sink,
    group: values.group,
    consumer: values.consumer,
    trim: values.trim,
    ...(values.tenant ? { tenants: values.tenant } : {}),
    onBatch: ({ stream, count }) => process.stderr.write(`exported ${count} from ${stream}\n`),
    onError: (err) => process.stderr.write(`export paused: ${String(err)}\n`),
  });
  try {
    if (values.once) {
      await whenReady(redis, 15_000);
      const n = await exporter.runOnce();
      process.stderr.write(`exported ${n} CDRs to ${sink.name}\n`);
      return 0;
    }
    const stop = () => exporter.stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await exporter.run();
    process.stderr.write(`exported ${exporter.exported} CDRs to ${sink.name}\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

function human(c: Cdr): string {
  const talk = (c.talkMs / 1000).toFixed(1).padStart(7);
  return `${c.endTime}  ${c.direction.padEnd(16)} ${c.caller.padEnd(16)} → ${c.callee.padEnd(16)} ${c.disposition.padEnd(18)} ${String(c.sipCode).padEnd(4)} ${talk}s  ${c.trunk ?? ''}`;
}

async function tailCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'redis-url': { type: 'string' }, tenant: { type: 'string' } } });
  if (!values.tenant) {
    process.stderr.write(USAGE);
    return 2;
  }
  const redis = redisFrom(values['redis-url'], { waitForever: true });
  const stream = cdrStreamKey(values.tenant);
  let last = '$';
  let count = 0;
  let stopped = false;
  const stop = () => {
    stopped = true;
    redis.disconnect();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const isTty = process.stderr.isTTY;
  process.stdout.write(`following ${stream} (Ctrl-C stops)\n`);
  while (!stopped) {
    let reply: [string, [string, string[]][]][] | null;
    try {
      reply = (await redis.xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', stream, last)) as typeof reply;
    } catch (err) {
      if (stopped) break;
      throw err;
    }
    for (const [id, fields] of reply?.[0]?.[1] ?? []) {
      last = id;
      const at = fields.indexOf('cdr');
      if (at < 0) continue;
      count++;
      if (isTty) process.stderr.write('\r\x1b[2K');
      process.stdout.write(`${human(JSON.parse(fields[at + 1]!) as Cdr)}\n`);
    }
    if (isTty)
      process.stderr.write(`\r\x1b[2K${values.tenant}: ${count} CDRs since start, last ${new Date().toISOString()}`);
  }
  if (isTty) process.stderr.write('\n');
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === 'export') return await exportCommand(rest);
    if (sub === 'tail') return await tailCommand(rest);
  } catch (err) {
    process.stderr.write(`switchboard cdr: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(USAGE);
  return 2;
}
