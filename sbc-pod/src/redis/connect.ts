// One place that turns the Redis settings into an ioredis client (DESIGN.md §9), for every component that needs one
// (CDR streams, admission counters, dialog state, the CDR exporter).
//
// - SWITCHBOARD_REDIS_URL alone: that server (redis:// or rediss://; user, password and db from the URL).
// - With SWITCHBOARD_REDIS_SENTINELS=host:port,… and SWITCHBOARD_REDIS_SENTINEL_MASTER: the client asks the Sentinels
//   for the current master of that name and follows failovers (ioredis' failover detector subscribes to
//   +switch-master; a READONLY reply, i.e. a demoted master, forces a reconnect and a fresh lookup). The URL, if
//   given, still supplies user, password, db and TLS for the data connection; its host and port are ignored.
// - Errors never throw out of here and never crash the process: ioredis emits 'error' on every failed (re)connect,
//   and an EventEmitter without an 'error' listener throws, so one is always attached; it logs the first error and
//   then at most one line per `logEveryMs` (with how many were suppressed); a dropped connection is logged the same
//   way, and a line says when the client is ready again.
//   Commands still reject while Redis is unreachable — callers decide (fail open/closed) per use.
import { Redis, type RedisOptions } from 'ioredis';
import type { Settings } from '../config/settings.ts';

export interface RedisSettings {
  /** redis:// or rediss:// URL. Without Sentinels: the server. With Sentinels: credentials, db and TLS only. */
  url?: string | undefined;
  /** Sentinel addresses, `host:port` strings or parsed pairs; non-empty = Sentinel mode. */
  sentinels?: ReadonlyArray<string | { host: string; port: number }> | undefined;
  /** The master name the Sentinels monitor (required with `sentinels`). */
  sentinelMaster?: string | undefined;
}

/** The subset of a pino logger the helper writes to. */
export interface RedisLog {
  warn(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

export interface RedisConnectOptions {
  /** CLIENT SETNAME on every connection (shows in CLIENT LIST), e.g. `switchboard-cdr-<pod>`. */
  connectionName?: string | undefined;
  /**
   * Queue commands while disconnected (ioredis default true). Hot paths that must answer now (admission) set false:
   * a command then rejects at once instead of waiting for a reconnect.
   */
  enableOfflineQueue?: boolean | undefined;
  /** Reconnect attempts a queued command survives before it rejects (default 3; null = forever). */
  maxRetriesPerRequest?: number | null | undefined;
  /** Reject a command after this long without a reply (default: none). */
  commandTimeoutMs?: number | undefined;
  /** Give up one connection attempt after this long (default 5000). */
  connectTimeoutMs?: number | undefined;
  /** Longest wait between reconnect attempts (default 2000 ms; they back off from 50 ms). */
  maxRetryDelayMs?: number | undefined;
  /** Do not connect until the first command (default false). */
  lazyConnect?: boolean | undefined;
  /** Password for the Sentinels themselves (when they require AUTH). */
  sentinelPassword?: string | undefined;
  logger?: RedisLog | undefined;
  /** At most one error line per this long (default 30 s); the first error is always logged. */
  logEveryMs?: number | undefined;
  /** Anything else passed through to ioredis (wins over the above). */
  extra?: RedisOptions | undefined;
}

/** The Redis part of the process settings: `redisFromSettings(redisSettingsOf(settings), { … })`. */
export function redisSettingsOf(
  settings: Pick<Settings, 'redisUrl' | 'redisSentinels' | 'redisSentinelMaster'>,
): RedisSettings {
  return { url: settings.redisUrl, sentinels: settings.redisSentinels, sentinelMaster: settings.redisSentinelMaster };
}

/**
 * The Redis settings straight from the environment (SWITCHBOARD_REDIS_URL, SWITCHBOARD_REDIS_SENTINELS,
 * SWITCHBOARD_REDIS_SENTINEL_MASTER), for commands that do not load the sbc-pod's settings (`switchboard media`,
 * `switchboard cdr`); `url` (a --redis-url flag) wins over the variable. Sentinel addresses are checked by
 * `redisFromSettings`.
 */
export function redisSettingsFromEnv(env: NodeJS.ProcessEnv, url?: string): RedisSettings {
  const sentinels = (env.SWITCHBOARD_REDIS_SENTINELS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    url: url ?? (env.SWITCHBOARD_REDIS_URL || undefined),
    sentinels,
    sentinelMaster: env.SWITCHBOARD_REDIS_SENTINEL_MASTER || undefined,
  };
}

export class RedisSettingsError extends Error {
  override name = 'RedisSettingsError';
}

/** Parse `host:port` (IPv6 as `[addr]:port`). */
export function parseHostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RedisSettingsError(`expected HOST:PORT, got "${value}"`);
  }
  return { host, port };
}

/** A description safe to log: no password. */
export function describeRedis(s: RedisSettings): string {
  if (s.sentinels && s.sentinels.length > 0) {
    const list = s.sentinels.map((x) => (typeof x === 'string' ? x : `${x.host}:${x.port}`)).join(',');
    return `sentinel ${s.sentinelMaster ?? '?'} via ${list}`;
  }
  if (!s.url) return 'none';
  try {
    const u = new URL(s.url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** ioredis options from the URL's credentials, db and scheme (Sentinel mode: the host and port are not used). */
function urlOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RedisSettingsError(`SWITCHBOARD_REDIS_URL: not a URL`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new RedisSettingsError(`SWITCHBOARD_REDIS_URL: expected redis:// or rediss://, got ${u.protocol}//`);
  }
  const out: RedisOptions = {};
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (db) {
    const n = Number(db);
    if (!Number.isInteger(n) || n < 0) throw new RedisSettingsError(`SWITCHBOARD_REDIS_URL: bad db "${db}"`);
    out.db = n;
  }
  if (u.protocol === 'rediss:') out.tls = { servername: u.hostname };
  return out;
}

/**
 * A client for the configured Redis, or undefined when neither a URL nor Sentinels are configured (the embedded
 * in-memory store is used then). Throws RedisSettingsError only for settings that cannot work (a Sentinel list
 * without a master name, a malformed address or URL) — never for connection problems, which are logged.
 */
export function redisFromSettings(settings: RedisSettings, opts: RedisConnectOptions = {}): Redis | undefined {
  const sentinels = (settings.sentinels ?? []).map((s) => (typeof s === 'string' ? parseHostPort(s) : s));
  if (sentinels.length === 0 && !settings.url) return undefined;
  const maxDelay = opts.maxRetryDelayMs ?? 2000;
  const base: RedisOptions = {
    maxRetriesPerRequest: opts.maxRetriesPerRequest === undefined ? 3 : opts.maxRetriesPerRequest,
    enableOfflineQueue: opts.enableOfflineQueue ?? true,
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    lazyConnect: opts.lazyConnect ?? false,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times - 1, 10), maxDelay),
    // A master demoted by a failover answers writes with READONLY: reconnect (re-asking the Sentinels) and resend.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    ...(opts.connectionName ? { connectionName: opts.connectionName } : {}),
    ...(opts.commandTimeoutMs ? { commandTimeout: opts.commandTimeoutMs } : {}),
  };
  let client: Redis;
  if (sentinels.length > 0) {
    if (!settings.sentinelMaster) {
      throw new RedisSettingsError('SWITCHBOARD_REDIS_SENTINEL_MASTER is required with SWITCHBOARD_REDIS_SENTINELS');
    }
    client = new Redis({
      ...base,
      ...(settings.url ? urlOptions(settings.url) : {}),
      sentinels: sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: settings.sentinelMaster,
      role: 'master',
      failoverDetector: true,
      sentinelRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times - 1, 10), maxDelay),
      ...(opts.sentinelPassword ? { sentinelPassword: opts.sentinelPassword } : {}),
      ...(opts.extra ?? {}),
    });
  } else {
    urlOptions(settings.url!); // validates the scheme and db before ioredis parses it
    client = new Redis(settings.url!, { ...base, ...(opts.extra ?? {}) });
  }
  attachLogging(client, describeRedis(settings), opts);
  return client;
}

function attachLogging(client: Redis, target: string, opts: RedisConnectOptions): void {
  const every = opts.logEveryMs ?? 30_000;
  const log = opts.logger;
  let lastLogged = -Infinity;
  let suppressed = 0;
  let failing = false;
  const name = opts.connectionName;
  let ready = false;
  const warn = (msg: string, extra: Record<string, unknown>) => {
    failing = true;
    const now = performance.now();
    if (now - lastLogged < every) {
      suppressed++;
      return;
    }
    lastLogged = now;
    log?.warn({ redis: target, ...(name ? { connection: name } : {}), ...extra, suppressed }, msg);
    suppressed = 0;
  };
  client.on('error', (err: Error) => warn('redis error', { err: String(err) }));
  // A connection that drops without an error (server restarted, idle kill, failover) is worth a line too.
  client.on('close', () => {
    if (!ready) return;
    ready = false;
    warn('redis connection lost', {});
  });
  client.on('ready', () => {
    ready = true;
    if (!failing) return;
    failing = false;
    log?.info({ redis: target, ...(name ? { connection: name } : {}), suppressed }, 'redis connection restored');
    suppressed = 0;
    lastLogged = -Infinity;
  });
}
