// The media pod: the media engine plus its control API (fastify). `startMediaPod` is what local mode and tests call.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerRoutes } from './api/routes.ts';
import { MediaEngine } from './relay/engine.ts';
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
  noMediaTimeoutMs?: number;
  onNoMedia?: (info: SessionInfo, leg: string) => void;
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
  url: string;
  podId: string;
  engine: MediaEngine;
  app: FastifyInstance;
  store: SessionStore;
  /** Stop. `keepState: true` leaves the sessions in the store (as a crash would), for re-anchoring tests. */
  close(o?: { keepState?: boolean }): Promise<void>;
}

export const DEFAULT_MEDIA_PORTS = '40000-40999';

/** Options from the environment (SWITCHBOARD_MEDIA_IP, SWITCHBOARD_MEDIA_PORTS, SWITCHBOARD_MEDIA_API_LISTEN). */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): MediaPodOptions {
  const o: MediaPodOptions = {};
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
    ...(o.noMediaTimeoutMs !== undefined ? { noMediaTimeoutMs: o.noMediaTimeoutMs } : {}),
    ...(o.onNoMedia ? { onNoMedia: o.onNoMedia } : {}),
  });
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: 256 * 1024,
    ajv: { customOptions: { removeAdditional: false } },
  });
  registerRoutes(app, engine, pools);
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
  engine.podUrl = url;
  const ttl = o.heartbeatTtlMs ?? 3000;
  const beat = () => store.heartbeat({ podId, url, at: Date.now() }, ttl).catch(() => engine.storeErrors++);
  await beat();
  const heartbeat = setInterval(beat, o.heartbeatMs ?? 1000);
  heartbeat.unref();
  return {
    url,
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
