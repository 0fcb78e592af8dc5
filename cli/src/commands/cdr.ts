// `switchboard cdr export` — CDRs from the per-tenant Redis Streams to stdout, a JSONL or CSV file, or a webhook,
// acknowledging only what the sink accepted. `switchboard cdr tail --tenant NS/NAME` — follow one tenant's CDRs.
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { sinkFromSpec } from '../../../sbc-pod/src/cdr/export/batch-sinks.ts';
import { CdrExporter } from '../../../sbc-pod/src/cdr/export/exporter.ts';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { cdrStreamKey } from '../../../sbc-pod/src/cdr/sinks.ts';

const USAGE = `Usage:
  switchboard cdr export [--redis-url URL] [--sink stdout|file:PATH|csv:PATH|webhook:URL] [--tenant NS/NAME]...
                         [--group NAME] [--consumer NAME] [--once] [--trim]
  switchboard cdr tail --tenant NS/NAME [--redis-url URL]

--redis-url defaults to SWITCHBOARD_REDIS_URL. export runs until Ctrl-C (or one pass with --once).
`;

function redisFrom(url: string | undefined): Redis {
  const u = url ?? process.env.SWITCHBOARD_REDIS_URL;
  if (!u) throw new Error('no Redis: give --redis-url or set SWITCHBOARD_REDIS_URL');
  const r = new Redis(u, { maxRetriesPerRequest: null });
  r.on('error', (err) => process.stderr.write(`redis: ${String(err)}\n`));
  return r;
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
  const redis = redisFrom(values['redis-url']);
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
  const redis = redisFrom(values['redis-url']);
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
