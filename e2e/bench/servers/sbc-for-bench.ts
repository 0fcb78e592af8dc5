// Bench server: a signalling pod (B2BUA) configured from environment variables and manifests, as `switchboard sbc`
// runs it, printing its ports as one JSON line. Run pinned to one core by calls.bench.ts.

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
  logger: createLogger('error'),
  source: new ManifestDirectorySource(settings.manifests, {
    ...(settings.baseDomain ? { baseDomain: settings.baseDomain } : {}),
    certificates: () => certificates,
  }),
  bootstrapCertificates: certificates,
});
const ports = Object.fromEntries(pod.element.stack.listeners().map((l) => [l.transport, l.port]));
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on('SIGINT', () => pod.close().then(() => process.exit(0)));
