// Where exported CDRs go. A batch sink either accepts a whole batch (resolves) or not (rejects); the exporter
// acknowledges the Redis entries only after it resolved, so a crash or an outage loses nothing. Sinks see each
// CDR's id (and webhooks an Idempotency-Key per batch) so a replay after a crash doubles nothing downstream.
import { createHash } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import type { Cdr } from '../record.ts';

export interface BatchSink {
  readonly name: string;
  writeBatch(cdrs: Cdr[]): Promise<void>;
}

/** JSON lines on a stream (stdout). Replays are possible after a crash; consumers dedup by `id`. */
export class StdoutSink implements BatchSink {
  readonly name = 'stdout';
  #out: NodeJS.WritableStream;
  constructor(out: NodeJS.WritableStream = process.stdout) {
    this.#out = out;
  }
  async writeBatch(cdrs: Cdr[]): Promise<void> {
    if (cdrs.length === 0) return;
    const text = cdrs.map((c) => `${JSON.stringify(c)}\n`).join('');
    await new Promise<void>((resolve, reject) => this.#out.write(text, (err) => (err ? reject(err) : resolve())));
  }
}

/** Ids already in a file, so a file sink never writes a CDR twice, even across exporter restarts. */
async function idsInFile(path: string, idOf: (line: string) => string | undefined): Promise<Set<string>> {
  const seen = new Set<string>();
  try {
    for (const line of (await readFile(path, 'utf8')).split('\n')) {
      const id = line ? idOf(line) : undefined;
      if (id) seen.add(id);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return seen;
}

/** Appends JSON lines to a file; skips ids the file already holds. */
export class JsonlFileSink implements BatchSink {
  readonly name: string;
  #path: string;
  #seen: Promise<Set<string>>;
  constructor(path: string) {
    this.name = `file:${path}`;
    this.#path = path;
    this.#seen = idsInFile(path, (l) => (JSON.parse(l) as { id?: string }).id);
  }
  async writeBatch(cdrs: Cdr[]): Promise<void> {
    const seen = await this.#seen;
    const fresh = cdrs.filter((c) => !seen.has(c.id));
    if (fresh.length === 0) return;
    await appendFile(this.#path, fresh.map((c) => `${JSON.stringify(c)}\n`).join(''));
    for (const c of fresh) seen.add(c.id);
  }
}

export const CSV_COLUMNS = [
  'id',
  'tenant',
  'account',
  'direction',
  'caller',
  'callee',
  'trunk',
  'setupTime',
  'answerTime',
  'endTime',
  'durationMs',
  'talkMs',
  'disposition',
  'sipCode',
  'q850Cause',
  'failover',
  'inboundCallId',
  'outboundCallId',
] as const;

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** CSV for spreadsheets and billing imports: a header row, then one row per CDR; skips ids already in the file. */
export class CsvFileSink implements BatchSink {
  readonly name: string;
  #path: string;
  #seen: Promise<Set<string>>;
  constructor(path: string) {
    this.name = `csv:${path}`;
    this.#path = path;
    this.#seen = idsInFile(path, (l) => {
      const first = l.split(',', 1)[0];
      return first === 'id' ? undefined : first;
    });
  }
  async writeBatch(cdrs: Cdr[]): Promise<void> {
    const seen = await this.#seen;
    const fresh = cdrs.filter((c) => !seen.has(c.id));
    if (fresh.length === 0) return;
    const header = seen.size === 0 ? `${CSV_COLUMNS.join(',')}\n` : '';
    const rows = fresh.map((c) => `${CSV_COLUMNS.map((k) => csvField(c[k])).join(',')}\n`).join('');
    await appendFile(this.#path, header + rows);
    for (const c of fresh) seen.add(c.id);
  }
}

export interface WebhookOptions {
  url: string;
  /** Extra headers, e.g. Authorization. */
  headers?: Record<string, string>;
  /** Attempts per batch before the batch is reported failed (the exporter then retries it later). */
  attempts?: number;
  /** First backoff; doubles each attempt with ±20 % jitter. */
  backoffMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * POSTs each batch as `{"cdrs":[…]}` with `Idempotency-Key` = a hash of the batch's CDR ids: a retried or replayed
 * batch carries the same key, so the receiver can drop it. Any 2xx accepts the batch; anything else is retried.
 */
export class WebhookSink implements BatchSink {
  readonly name: string;
  #o: Required<Omit<WebhookOptions, 'headers'>> & { headers: Record<string, string> };
  constructor(opts: WebhookOptions) {
    this.name = `webhook:${opts.url}`;
    this.#o = {
      url: opts.url,
      headers: opts.headers ?? {},
      attempts: opts.attempts ?? 5,
      backoffMs: opts.backoffMs ?? 500,
      timeoutMs: opts.timeoutMs ?? 10_000,
      fetch: opts.fetch ?? fetch,
    };
  }

  static idempotencyKey(cdrs: Cdr[]): string {
    const h = createHash('sha256');
    for (const c of cdrs) h.update(`${c.id}\n`);
    return h.digest('hex').slice(0, 32);
  }

  async writeBatch(cdrs: Cdr[]): Promise<void> {
    if (cdrs.length === 0) return;
    const body = JSON.stringify({ cdrs });
    const key = WebhookSink.idempotencyKey(cdrs);
    let delay = this.#o.backoffMs;
    let lastError = '';
    for (let attempt = 1; attempt <= this.#o.attempts; attempt++) {
      try {
        const res = await this.#o.fetch(this.#o.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key, ...this.#o.headers },
          body,
          signal: AbortSignal.timeout(this.#o.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        lastError = `HTTP ${res.status}`;
      } catch (err) {
        lastError = String(err);
      }
      if (attempt < this.#o.attempts) {
        await new Promise((r) => setTimeout(r, delay * (0.8 + Math.random() * 0.4)));
        delay *= 2;
      }
    }
    throw new Error(`webhook ${this.#o.url} refused the batch after ${this.#o.attempts} attempts: ${lastError}`);
  }
}

/** Parse `--sink` values: stdout | file:PATH | csv:PATH | webhook:URL. */
export function sinkFromSpec(spec: string): BatchSink {
  if (spec === 'stdout' || spec === '-') return new StdoutSink();
  if (spec.startsWith('file:')) return new JsonlFileSink(spec.slice(5));
  if (spec.startsWith('csv:')) return new CsvFileSink(spec.slice(4));
  if (spec.startsWith('webhook:')) return new WebhookSink({ url: spec.slice(8) });
  throw new Error(`unknown sink "${spec}": use stdout, file:PATH, csv:PATH or webhook:URL`);
}
