// `switchboard local`: the whole system on one machine, no Kubernetes (DESIGN.md §9). Manifests are rendered
// in-process and hot-loaded; a local CA stands in for cert-manager; CDRs go to <state>/cdr.jsonl by default.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RenderedConfig } from '../../../crds/src/render/config-types.ts';
import { optionsFromEnv as mediaOptionsFromEnv, startMediaPod } from '../../../media-pod/src/index.ts';
import type { Snapshot } from '../../../sbc-pod/src/config/source/index.ts';
import { createLogger } from '../../../sbc-pod/src/log.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
import { StartupError } from '../../../sbc-pod/src/sbc/app.ts';
import { startSignallingPod } from '../../../sbc-pod/src/sbc/signalling-pod.ts';
import { LocalCa } from '../../../sbc-pod/src/tls/local-ca.ts';
import { configSourceFor, fileCertificates, settingsOrExit } from '../pod-config.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export async function run(args: string[]): Promise<number> {
  const parsed = settingsOrExit('local', args);
  if (typeof parsed === 'number') return parsed;
  const settings = { ...parsed, cdrFile: parsed.cdrFile ?? join(parsed.stateDir, 'cdr.jsonl') };
  const logger = createLogger(settings.logLevel, 'local');
  const stateDir = resolve(settings.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const ca = await LocalCa.load(stateDir);
  const certificates = fileCertificates(settings) ?? ((config: RenderedConfig) => ca.certificatesFor(config));
  const source = configSourceFor(settings, certificates);
  // The rendered snapshot is written to the state directory so an operator can see exactly what is live.
  source.on('snapshot', (snap: Snapshot) => {
    writeFileSync(join(stateDir, 'config.json'), `${JSON.stringify(snap.config, null, 2)}\n`);
  });
  try {
    const bootstrap = await ca.issueServerCertificate({ dnsNames: ['localhost'] });
    // The media pod runs in this process too; every call's media is anchored on it (SRTP toward Teams). Its no-media
    // timeout (SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT, default 60 s, 0 = off) ends calls whose RTP stopped.
    const { noMediaTimeoutMs } = mediaOptionsFromEnv();
    const media = await startMediaPod({
      ...(noMediaTimeoutMs !== undefined ? { noMediaTimeoutMs } : {}),
      mediaIp: settings.mediaIp,
      ports: `${settings.mediaPorts.low}-${settings.mediaPorts.high}`,
      apiHost: '127.0.0.1',
      apiPort: 0,
      ...(settings.redisUrl ? { redisUrl: settings.redisUrl } : {}),
    });
    logger.info({ api: media.url, ports: settings.mediaPorts }, 'media relay running');
    const signalling = await startSignallingPod({
      settings,
      logger,
      source,
      bootstrapCertificates: [{ certPem: bootstrap.certPem, keyPem: bootstrap.keyPem, default: true }],
      media: new MediaPodAnchor({ url: media.url, anyPool: true }),
    });
    const pod = {
      close: async () => {
        // SIGINT/SIGTERM drains first: new calls get 503, live ones finish (or, with a Redis URL shared with another
        // local sbc, are handed over to it) within SWITCHBOARD_DRAIN_SECONDS.
        await signalling.drain();
        await signalling.close();
        await media.close();
      },
    };
    const snap = source.current();
    if (snap) writeFileSync(join(stateDir, 'config.json'), `${JSON.stringify(snap.config, null, 2)}\n`);
    logger.info(
      {
        manifests: settings.manifests,
        stateDir,
        cdrFile: settings.cdrFile,
        tenants: snap?.config.tenants.map((t) => t.fqdn),
      },
      'Switchboard local mode running (Ctrl-C stops it)',
    );
    return await runUntilSignal(
      () => pod.close(),
      (m) => logger.info(m),
    );
  } catch (err) {
    if (err instanceof StartupError) {
      process.stderr.write(`switchboard local: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
