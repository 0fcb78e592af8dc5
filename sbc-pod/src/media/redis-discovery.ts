// Media pods found through Redis (SWITCHBOARD_MEDIA_DISCOVERY=redis): every media pod writes a heartbeat
// `switchboard:media:pod:<podId>` = { podId, url, pool, at } with a TTL (3 s) and adds its id to the set
// `switchboard:media:pods` (media-pod/src/state/redis-store.ts writes both). A pod whose heartbeat key is gone is
// dead (or cut off from Redis): it is left out, and its id is pruned from the set.
//
// In Kubernetes the media pods are a hostNetwork DaemonSet: the heartbeat carries the node address
// (SWITCHBOARD_MEDIA_API_ADVERTISED_URL=http://$(HOST_IP):PORT) and the pod's media pool (SWITCHBOARD_MEDIA_POOL).
import type { Redis } from 'ioredis';
import { DEFAULT_MEDIA_POOL, type DiscoveredMediaPod } from './media-pod-anchor.ts';

const PREFIX = 'switchboard:media:';
export const MEDIA_PODS_KEY = `${PREFIX}pods`;
export const mediaPodKey = (podId: string) => `${PREFIX}pod:${podId}`;

/** Parse one heartbeat record; null when it is not one (malformed JSON, no id, no http(s) URL). */
export function parseMediaPodRecord(text: string): DiscoveredMediaPod | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as { podId?: unknown; url?: unknown; pool?: unknown };
  if (typeof r.podId !== 'string' || r.podId === '' || typeof r.url !== 'string') return null;
  if (!/^https?:\/\/[^/]+/.test(r.url)) return null;
  const pool = typeof r.pool === 'string' && r.pool !== '' ? r.pool : DEFAULT_MEDIA_POOL;
  return { podId: r.podId, url: r.url.replace(/\/+$/, ''), pool };
}

/**
 * A `discover` function for MediaPodAnchor: the live media pods from their heartbeats (two round trips: SMEMBERS,
 * MGET). Rejects when Redis does not answer (the anchor then keeps the pods it knows).
 */
export function mediaPodsFromRedis(redis: Redis): () => Promise<DiscoveredMediaPod[]> {
  return async () => {
    const ids = await redis.smembers(MEDIA_PODS_KEY);
    if (ids.length === 0) return [];
    const values = await redis.mget(ids.map(mediaPodKey));
    const out: DiscoveredMediaPod[] = [];
    const gone: string[] = [];
    values.forEach((v, i) => {
      if (v === null) {
        gone.push(ids[i]!);
        return;
      }
      const pod = parseMediaPodRecord(v);
      if (pod) out.push(pod);
    });
    // A pod that beats again re-adds itself (SADD with every heartbeat).
    if (gone.length > 0) await redis.srem(MEDIA_PODS_KEY, ...gone).catch(() => {});
    return out;
  };
}
