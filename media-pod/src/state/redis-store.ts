// Redis-backed session store. Keys:
//   switchboard:media:session:<callId>      JSON SessionRecord (TTL refreshed on every save)
//   switchboard:media:pod:<podId>:sessions  set of call ids anchored on the pod
//   switchboard:media:pod:<podId>           JSON PodRecord, expires when the pod stops its heartbeat
//   switchboard:media:pods                  set of pod ids ever seen (pruned when their heartbeat key is gone)
import { Redis } from 'ioredis';
import type { PodRecord, SessionRecord, SessionStore } from './store.ts';

const PREFIX = 'switchboard:media:';
const SESSION_TTL_S = 24 * 3600;

export class RedisSessionStore implements SessionStore {
  readonly redis: Redis;

  /** A redis:// URL, or a client made by the caller (Sentinel: `switchboard media` builds it with the sbc-pod's helper). */
  constructor(conn: string | Redis) {
    this.redis =
      typeof conn === 'string'
        ? new Redis(conn, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true })
        : conn;
    this.redis.on('error', () => {}); // reconnects on its own; operations report failures to their callers
  }

  async save(r: SessionRecord): Promise<void> {
    const prev = await this.redis.get(`${PREFIX}session:${r.callId}`);
    const m = this.redis.multi();
    if (prev) {
      const old = JSON.parse(prev) as SessionRecord;
      if (old.podId !== r.podId) m.srem(`${PREFIX}pod:${old.podId}:sessions`, r.callId);
    }
    m.set(`${PREFIX}session:${r.callId}`, JSON.stringify(r), 'EX', SESSION_TTL_S);
    m.sadd(`${PREFIX}pod:${r.podId}:sessions`, r.callId);
    await m.exec();
  }

  async load(callId: string): Promise<SessionRecord | null> {
    const v = await this.redis.get(`${PREFIX}session:${callId}`);
    return v ? (JSON.parse(v) as SessionRecord) : null;
  }

  async remove(callId: string, podId: string): Promise<void> {
    const v = await this.load(callId);
    const m = this.redis.multi();
    if (!v || v.podId === podId) m.del(`${PREFIX}session:${callId}`);
    m.srem(`${PREFIX}pod:${podId}:sessions`, callId);
    await m.exec();
  }

  async sessionsOfPod(podId: string): Promise<string[]> {
    return this.redis.smembers(`${PREFIX}pod:${podId}:sessions`);
  }

  async heartbeat(p: PodRecord, ttlMs: number): Promise<void> {
    await this.redis
      .multi()
      .set(`${PREFIX}pod:${p.podId}`, JSON.stringify(p), 'PX', ttlMs)
      .sadd(`${PREFIX}pods`, p.podId)
      .exec();
  }

  async alivePods(): Promise<PodRecord[]> {
    const ids = await this.redis.smembers(`${PREFIX}pods`);
    if (!ids.length) return [];
    const values = await this.redis.mget(ids.map((id) => `${PREFIX}pod:${id}`));
    const out: PodRecord[] = [];
    for (const v of values) if (v) out.push(JSON.parse(v) as PodRecord);
    return out;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
