// The media pod: the media engine plus its control API (fastify). `startMediaPod` is what local mode and tests call.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerRoutes } from './api/routes.ts';
import { DEFAULT_NO_MEDIA_TIMEOUT_MS, MediaEngine } from './relay/engine.ts';
import { PoolSet, type PortPoolConfig, parsePortRange } from './relay/pool.ts';
import type { SessionInfo } from './relay/session.ts';
import { RedisSessionStore } from './state/redis-store.ts';
import { MemorySessionStore, type SessionStore } from './state/store.ts';

export interface MediaPodOptions {
  /** Control API listen address (default 127.0.0.1, port 0 = any free port). */
  apiHost?: string;
  apiPort?: number;
  /** Address media sockets bind to (SWITCHBOARD_MEDIA_IP; default 127.0.0.1). */
  mediaIp?: string;
  /** Address written into SDP (default mediaIp). */
  advertisedIp?: string;
  /** `LOW-HIGH` (SWITCHBOARD_MEDIA_PORTS): one shared pool. Ignored when `pools` is given. */
  ports?: string;
  /** Per-tenant pools; a pool without `tenants` is shared by tenants that have no pool of their own. */
  pools?: PortPoolConfig[];
  /**
   * A call whose leg sent no RTP for this long is reported silent (`GET /v1/health` → `noMedia`; the sbc-pod ends it).
   * SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT in seconds; default 60 s; 0 = off.
   */
  noMediaTimeoutMs?: number;
  onNoMedia?: (info: SessionInfo, leg: string) => void;
  /** This pod's media pool (SWITCHBOARD_MEDIA_POOL, a DNS label; default `default`): in its heartbeat and health. */
  mediaPool?: string;
  /**
   * The control API URL other pods use (SWITCHBOARD_MEDIA_API_ADVERTISED_URL; default the URL it listens on), e.g.
   * http://NODE_IP:PORT when it listens on 0.0.0.0: written into the heartbeat the sbc-pods discover pods from.
   */
  advertisedUrl?: string;
  /** fastify/pino logger setting (default false). */
  logger?: boolean | object;
  /** Session state for re-anchoring: SWITCHBOARD_REDIS_URL, or a store object; default in memory (this process). */
  redisUrl?: string;
  store?: SessionStore;
  /** This pod's id in the store (default: hostname-pid). */
  podId?: string;
  /** Heartbeat period and TTL in the store, ms (default 1000 / 3000). */
  heartbeatMs?: number;
  heartbeatTtlMs?: number;
}

export interface MediaPod {
  /** The URL the control API listens on. */
  url: string;
  /** The URL in the heartbeat (advertisedUrl, default `url`). */
  advertisedUrl: string;
  mediaPool: string;
  podId: string;
  engine: MediaEngine;
  app: FastifyInstance;
  store: SessionStore;
  /** Stop. `keepState: true` leaves the sessions in the store (as a crash would), for re-anchoring tests. */
  close(o?: { keepState?: boolean }): Promise<void>;
}

export const DEFAULT_MEDIA_PORTS = '40000-40999';
export const DEFAULT_MEDIA_POOL = 'default';

/** A media pool name is a DNS label (it is a Tenant's `mediaPool` and a Helm value). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function checkMediaPool(name: string, what: string): string {
  if (!DNS_LABEL.test(name)) {
    throw new Error(`${what}: a media pool name is a DNS label (a-z, 0-9, '-', at most 63), got "${name}"`);
  }
  return name;
}

function checkUrl(value: string, what: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`${what}: expected an http(s) URL, got "${value}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`${what}: expected an http(s) URL, got "${value}"`);
  }
  return value.replace(/\/+$/, '');
}

/**
 * Options from the environment (SWITCHBOARD_MEDIA_IP, SWITCHBOARD_MEDIA_PORTS, SWITCHBOARD_MEDIA_API_LISTEN,
 * SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT, SWITCHBOARD_MEDIA_POOL, SWITCHBOARD_MEDIA_API_ADVERTISED_URL, …; see the
 * README). Throws on a malformed value.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): MediaPodOptions {
  const o: MediaPodOptions = {};
  const timeout = env.SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT;
  if (timeout !== undefined && timeout !== '') {
    const seconds = Number(timeout);
    if (!/^\d+(\.\d+)?$/.test(timeout.trim()) || !Number.isFinite(seconds)) {
      throw new Error(`SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT: expected seconds (0 = off), got "${timeout}"`);
    }
    o.noMediaTimeoutMs = Math.round(seconds * 1000);
  }
  if (env.SWITCHBOARD_MEDIA_POOL) o.mediaPool = checkMediaPool(env.SWITCHBOARD_MEDIA_POOL, 'SWITCHBOARD_MEDIA_POOL');
  if (env.SWITCHBOARD_MEDIA_API_ADVERTISED_URL) {
    o.advertisedUrl = checkUrl(env.SWITCHBOARD_MEDIA_API_ADVERTISED_URL, 'SWITCHBOARD_MEDIA_API_ADVERTISED_URL');
  }
  if (env.SWITCHBOARD_MEDIA_IP) o.mediaIp = env.SWITCHBOARD_MEDIA_IP;
  if (env.SWITCHBOARD_MEDIA_ADVERTISED_IP) o.advertisedIp = env.SWITCHBOARD_MEDIA_ADVERTISED_IP;
  if (env.SWITCHBOARD_MEDIA_PORTS) o.ports = env.SWITCHBOARD_MEDIA_PORTS;
  if (env.SWITCHBOARD_REDIS_URL) o.redisUrl = env.SWITCHBOARD_REDIS_URL;
  if (env.SWITCHBOARD_MEDIA_POD_ID) o.podId = env.SWITCHBOARD_MEDIA_POD_ID;
  const listen = env.SWITCHBOARD_MEDIA_API_LISTEN;
  if (listen) {
    const i = listen.lastIndexOf(':');
    o.apiHost = listen.slice(0, i).replace(/^\[|\]$/g, '');
    o.apiPort = Number(listen.slice(i + 1));
  }
  return o;
}

export async function startMediaPod(o: MediaPodOptions = {}): Promise<MediaPod> {
  const mediaIp = o.mediaIp ?? '127.0.0.1';
  const mediaPool = checkMediaPool(o.mediaPool ?? DEFAULT_MEDIA_POOL, 'mediaPool');
  const configuredUrl = o.advertisedUrl === undefined ? undefined : checkUrl(o.advertisedUrl, 'advertisedUrl');
  const pools = new PoolSet(o.pools ?? [{ name: 'default', ...parsePortRange(o.ports ?? DEFAULT_MEDIA_PORTS) }]);
  const store: SessionStore = o.store ?? (o.redisUrl ? new RedisSessionStore(o.redisUrl) : new MemorySessionStore());
  const ownsStore = !o.store;
  const podId = o.podId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const engine = new MediaEngine({
    store,
    podId,
    bindAddress: mediaIp,
    advertisedAddress: o.advertisedIp ?? mediaIp,
    pools,
    noMediaTimeoutMs: o.noMediaTimeoutMs ?? DEFAULT_NO_MEDIA_TIMEOUT_MS,
    ...(o.onNoMedia ? { onNoMedia: o.onNoMedia } : {}),
  });
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: 256 * 1024,
    ajv: { customOptions: { removeAdditional: false } },
  });
  // A new value every start: an sbc-pod sees a restart (sessions gone) even when the pod id stays (a pod name).
  const instance = randomBytes(8).toString('hex');
  registerRoutes(app, engine, pools, { mediaPool, instance, url: () => engine.podUrl });
  // Prometheus text on /metrics (issue [9/10]: every pod): sessions, port pool use, store errors. Labels: pool only.
  app.get('/metrics', async (_req, reply) => {
    const lines = [
      '# HELP switchboard_media_sessions Media sessions (calls) anchored on this pod',
      '# TYPE switchboard_media_sessions gauge',
      `switchboard_media_sessions ${engine.sessions.size}`,
      '# HELP switchboard_media_store_errors_total Session store (Redis) operations that failed',
      '# TYPE switchboard_media_store_errors_total counter',
      `switchboard_media_store_errors_total ${engine.storeErrors}`,
      '# HELP switchboard_media_ports_used RTP ports in use, by pool',
      '# TYPE switchboard_media_ports_used gauge',
      ...pools.pools.map((p) => `switchboard_media_ports_used{pool="${p.name}"} ${p.used}`),
      '# HELP switchboard_media_ports_available RTP ports free, by pool',
      '# TYPE switchboard_media_ports_available gauge',
      ...pools.pools.map((p) => `switchboard_media_ports_available{pool="${p.name}"} ${p.available}`),
    ];
    return reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(`${lines.join('\n')}\n`);
  });
  let url: string;
  try {
    url = await app.listen({ host: o.apiHost ?? '127.0.0.1', port: o.apiPort ?? 0 });
  } catch (err) {
    await engine.close(false);
    if (ownsStore) await store.close();
    throw err;
  }
  const advertisedUrl = configuredUrl ?? url;
  engine.podUrl = advertisedUrl;
  const ttl = o.heartbeatTtlMs ?? 3000;
  const beat = () =>
    store
      .heartbeat({ podId, url: advertisedUrl, pool: mediaPool, at: Date.now() }, ttl)
      .catch(() => engine.storeErrors++);
  await beat();
  const heartbeat = setInterval(beat, o.heartbeatMs ?? 1000);
  heartbeat.unref();
  return {
    url,
    advertisedUrl,
    mediaPool,
    podId,
    engine,
    app,
    store,
    async close(c = {}) {
      clearInterval(heartbeat);
      await app.close();
      await engine.close(!c.keepState);
      if (ownsStore) await store.close();
    },
  };
}
