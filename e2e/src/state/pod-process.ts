// A signalling pod as its own process (as `switchboard sbc` runs it), configured from SWITCHBOARD_* variables; prints
// its listening ports as one JSON line. SIGTERM drains (as the CLI does), SIGKILL is the pod dying.
// Test-only knobs: SB_TEST_ADMISSION_LEASE_MS shortens the admission slot lease (so a test sees a lapsed one);
// SB_TEST_ORPHAN_GRACE_MS / SB_TEST_ORPHAN_SWEEP_MS / SB_TEST_ORPHAN_BATCH set how soon (and how many at a time) a
// pod adopts the calls of a pod that stopped heartbeating.
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
  logger: createLogger(settings.logLevel),
  source: new ManifestDirectorySource(settings.manifests, {
    ...(settings.baseDomain ? { baseDomain: settings.baseDomain } : {}),
    certificates: () => certificates,
  }),
  bootstrapCertificates: certificates,
  ...(process.env.SB_TEST_ADMISSION_LEASE_MS
    ? { admissionLeaseMs: Number(process.env.SB_TEST_ADMISSION_LEASE_MS) }
    : {}),
  ...(process.env.SB_TEST_ORPHAN_GRACE_MS || process.env.SB_TEST_ORPHAN_SWEEP_MS || process.env.SB_TEST_ORPHAN_BATCH
    ? {
        orphans: {
          ...(process.env.SB_TEST_ORPHAN_GRACE_MS ? { graceMs: Number(process.env.SB_TEST_ORPHAN_GRACE_MS) } : {}),
          ...(process.env.SB_TEST_ORPHAN_SWEEP_MS ? { sweepMs: Number(process.env.SB_TEST_ORPHAN_SWEEP_MS) } : {}),
          ...(process.env.SB_TEST_ORPHAN_BATCH ? { batch: Number(process.env.SB_TEST_ORPHAN_BATCH) } : {}),
        },
      }
    : {}),
});
const ports = Object.fromEntries(pod.element.stack.listeners().map((l) => [l.transport, l.port]));
process.stdout.write(`${JSON.stringify({ ...ports, admin: pod.element.admin.address.port })}\n`);
process.on('SIGTERM', () => {
  void pod
    .drain()
    .then(() => pod.close())
    .then(() => process.exit(0));
});
