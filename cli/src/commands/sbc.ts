// `switchboard sbc`: a signalling pod. Config from SWITCHBOARD_CONFIG_DIR (a rendered config, e.g. a mounted
// ConfigMap) or, without it, rendered in-process from SWITCHBOARD_MANIFESTS; TLS from SWITCHBOARD_TLS_CERT/KEY.
import { createLogger } from '../../../sbc-pod/src/log.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
import { mediaPodsFromRedis } from '../../../sbc-pod/src/media/redis-discovery.ts';
import { RedisSettingsError, redisFromSettings, redisSettingsOf } from '../../../sbc-pod/src/redis/connect.ts';
import { StartupError } from '../../../sbc-pod/src/sbc/app.ts';
import { startSignallingPod } from '../../../sbc-pod/src/sbc/signalling-pod.ts';
import { configSourceFor, fileCertificates, settingsOrExit } from '../pod-config.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export async function run(args: string[]): Promise<number> {
  const settings = settingsOrExit('sbc', args);
  if (typeof settings === 'number') return settings;
  const logger = createLogger(settings.logLevel, 'sbc');
  try {
    const certificates = fileCertificates(settings);
    // Media pods: SWITCHBOARD_MEDIA_DISCOVERY=redis finds them through their heartbeats in Redis (a new pod joins its
    // pool, one whose heartbeat expired counts as lost); static = SWITCHBOARD_MEDIA_URL, which may list several pods
    // (POOL=URL for a media pool). New calls go round-robin to the healthy pods of the tenant's pool; the calls of a
    // pod that stops answering are re-anchored on another (re-INVITE of both legs). The health probe (with one pod
    // too) also carries each pod's silent calls, which the B2BUA ends ("Media Timeout").
    const mediaRedis =
      settings.mediaDiscovery === 'redis'
        ? redisFromSettings(redisSettingsOf(settings), {
            connectionName: `switchboard-media-discovery-${settings.podName}`,
            commandTimeoutMs: 2000,
            logger,
          })
        : undefined;
    const media =
      settings.mediaDiscovery === 'redis' && mediaRedis
        ? new MediaPodAnchor({
            discover: mediaPodsFromRedis(mediaRedis),
            healthIntervalMs: settings.mediaHealthIntervalMs,
            logger,
          })
        : settings.mediaUrl
          ? new MediaPodAnchor({ url: settings.mediaUrl, healthIntervalMs: settings.mediaHealthIntervalMs, logger })
          : undefined;
    if (media && mediaRedis) {
      if (settings.mediaUrl)
        logger.warn('SWITCHBOARD_MEDIA_URL is ignored: SWITCHBOARD_MEDIA_DISCOVERY=redis finds the pods');
      // The first look (bounded: with Redis away the pods appear once it answers; calls meanwhile get 503).
      await Promise.race([media.ready(), new Promise((r) => setTimeout(r, 5000).unref())]);
      logger.info({ pods: media.pods() }, 'media pods discovered through Redis (SWITCHBOARD_MEDIA_DISCOVERY=redis)');
    } else if (media) {
      logger.info({ pods: media.pods() }, 'media pods from SWITCHBOARD_MEDIA_URL');
    }
    const pod = await startSignallingPod({
      settings,
      logger,
      source: configSourceFor(settings, certificates),
      ...(certificates ? { bootstrapCertificates: certificates() } : {}),
      ...(media ? { media } : {}),
    });
    if (!media) {
      logger.warn(
        'SWITCHBOARD_MEDIA_URL unset and SWITCHBOARD_MEDIA_DISCOVERY is not redis: SDP is relayed unchanged, media is not anchored',
      );
    }
    // SIGTERM = drain (DESIGN.md §8): not ready, new INVITEs 503, live calls finish or are handed over to the other
    // pods through Redis, then exit (at the latest after SWITCHBOARD_DRAIN_SECONDS).
    return await runUntilSignal(
      async () => {
        await pod.drain();
        await pod.close();
        media?.close();
        mediaRedis?.disconnect();
      },
      (m) => logger.info(m),
    );
  } catch (err) {
    if (err instanceof StartupError || err instanceof RedisSettingsError) {
      process.stderr.write(`switchboard sbc: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
