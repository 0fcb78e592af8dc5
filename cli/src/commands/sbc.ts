// `switchboard sbc`: a signalling pod. Config from SWITCHBOARD_CONFIG_DIR (a rendered config, e.g. a mounted
// ConfigMap) or, without it, rendered in-process from SWITCHBOARD_MANIFESTS; TLS from SWITCHBOARD_TLS_CERT/KEY.
import { createLogger } from '../../../sbc-pod/src/log.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
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
    // SWITCHBOARD_MEDIA_URL may list several media pods of one pool: new calls go round-robin to the healthy ones,
    // and the calls of a pod that stops answering are re-anchored on another (re-INVITE of both legs).
    const media = settings.mediaUrl
      ? new MediaPodAnchor({
          url: settings.mediaUrl,
          healthIntervalMs: settings.mediaUrl.includes(',') ? settings.mediaHealthIntervalMs : 0,
          logger,
        })
      : undefined;
    const pod = await startSignallingPod({
      settings,
      logger,
      source: configSourceFor(settings, certificates),
      ...(certificates ? { bootstrapCertificates: certificates() } : {}),
      ...(media ? { media } : {}),
    });
    if (!settings.mediaUrl) logger.warn('SWITCHBOARD_MEDIA_URL unset: SDP is relayed unchanged, media is not anchored');
    // SIGTERM = drain (DESIGN.md §8): not ready, new INVITEs 503, live calls finish or are handed over to the other
    // pods through Redis, then exit (at the latest after SWITCHBOARD_DRAIN_SECONDS).
    return await runUntilSignal(
      async () => {
        await pod.drain();
        await pod.close();
        media?.close();
      },
      (m) => logger.info(m),
    );
  } catch (err) {
    if (err instanceof StartupError) {
      process.stderr.write(`switchboard sbc: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
