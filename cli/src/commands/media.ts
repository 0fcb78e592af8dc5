// `switchboard media`: a media relay pod (RTP/SRTP anchoring) with its control API. Configuration from
// SWITCHBOARD_MEDIA_IP, SWITCHBOARD_MEDIA_ADVERTISED_IP, SWITCHBOARD_MEDIA_PORTS, SWITCHBOARD_MEDIA_API_LISTEN,
// SWITCHBOARD_MEDIA_API_ADVERTISED_URL, SWITCHBOARD_MEDIA_POOL, SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT,
// SWITCHBOARD_REDIS_URL (or SWITCHBOARD_REDIS_SENTINELS + _SENTINEL_MASTER) and SWITCHBOARD_MEDIA_POD_ID
// (media-pod/README.md).
import {
  type MediaPodOptions,
  optionsFromEnv,
  RedisSessionStore,
  startMediaPod,
} from '../../../media-pod/src/index.ts';
import { redisFromSettings, redisSettingsFromEnv } from '../../../sbc-pod/src/redis/connect.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write('Usage: switchboard media   (configured by environment variables, see media-pod/README.md)\n');
    return 0;
  }
  let pod: Awaited<ReturnType<typeof startMediaPod>>;
  let store: RedisSessionStore | undefined;
  let options: MediaPodOptions;
  try {
    options = optionsFromEnv();
    // Behind Sentinel the session store follows the master through the Sentinels (the URL, if any, gives only
    // credentials and db), like the sbc-pods' Redis clients.
    const redis = redisSettingsFromEnv(process.env, options.redisUrl);
    if (redis.sentinels?.length) {
      const client = redisFromSettings(redis, { connectionName: 'switchboard-media', maxRetriesPerRequest: 2 });
      if (client) store = new RedisSessionStore(client);
    }
    pod = await startMediaPod({ ...options, ...(store ? { store } : {}), logger: true });
  } catch (err) {
    await store?.close();
    process.stderr.write(`switchboard media: ${(err as Error).message}\n`);
    return 1;
  }
  pod.app.log.info(
    { url: pod.url, advertisedUrl: pod.advertisedUrl, pool: pod.mediaPool, podId: pod.podId },
    'media pod control API listening',
  );
  // With a shared store (Redis) a stopping pod leaves its sessions there: the sbc-pods see its heartbeat end and
  // re-anchor those calls on another pod of the pool (a DaemonSet rolling update loses no call). Alone, it cleans up.
  const shared = store !== undefined || options.redisUrl !== undefined;
  return runUntilSignal(
    async () => {
      await pod.close({ keepState: shared });
      await store?.close();
    },
    (m) => pod.app.log.info(m),
  );
}
