// A signalling pod as its own process (as `switchboard sbc` runs it), configured from SWITCHBOARD_* variables and
// manifests; prints its SIP and admin ports as one JSON line. The admission tests start two of these on one Redis.
import { readFileSync } from 'node:fs';
import { loadSettings } from '../../../sbc-pod/src/config/settings.ts';
import { ManifestDirectorySource } from '../../../sbc-pod/src/config/source/index.ts';
import { createLogger } from '../../../sbc-pod/src/log.ts';
import { startSignallingPod } from '../../../sbc-pod/src/sbc/signalling-pod.ts';

const settings = loadSettings(process.env);
const certificates = [
  { certPem: readFileSync(settings.tlsCert!, 'utf8'), keyPem: readFileSync(settings.tlsKey!, 'utf8'), default: true },
];
const pod = await startSignallingPod({
  settings,
  logger: createLogger(process.env.SWITCHBOARD_TEST_LOG ?? 'error'),
  source: new ManifestDirectorySource(settings.manifests, {
    ...(settings.baseDomain ? { baseDomain: settings.baseDomain } : {}),
    certificates: () => certificates,
  }),
  bootstrapCertificates: certificates,
  timers: { teamsEarlyRingingMs: 0 },
});
const ports: Record<string, number> = Object.fromEntries(
  pod.element.stack.listeners().map((l) => [l.transport, l.port]),
);
ports.admin = pod.element.admin.address.port;
process.stdout.write(`${JSON.stringify(ports)}\n`);
const stop = () => void pod.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
