// A whole call path on loopback: the Teams simulator (TLS, test PKI) ⇄ a signalling pod (in this process, real
// sockets) ⇄ sipp carriers (UDP). Manifests are written to a temp directory the pod watches, so tests can edit them.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MediaAnchor } from '../../../sbc-pod/src/b2bua/media.ts';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { assertValidCdr } from '../../../sbc-pod/src/cdr/schema/validate.ts';
import { loadSettings, type Settings } from '../../../sbc-pod/src/config/settings.ts';
import { ManifestDirectorySource } from '../../../sbc-pod/src/config/source/index.ts';
import { createLogger, type Logger } from '../../../sbc-pod/src/log.ts';
import { type SignallingPod, startSignallingPod } from '../../../sbc-pod/src/sbc/signalling-pod.ts';
import { createTeamsPki, type TeamsPki } from '../harness/pki.ts';
import { freeUdpTcpPort } from '../harness/ports.ts';
import { TeamsSim } from '../teams-sim/index.ts';
import { tenant, trunk } from './manifests.ts';

export const BASE = 'sbc.example.test';
export const CONTOSO = `contoso.${BASE}`;
export const FABRIKAM = `fabrikam.${BASE}`;
/** Teams connects from here (inside SWITCHBOARD_TEAMS_SOURCES); carriers from 127.0.0.1. */
export const TEAMS_SOURCE = '127.0.2.5';

export interface CarrierPorts {
  a: number;
  b: number;
  /** carrier-c: dedicated to fabrikam. */
  c: number;
  /** A port nobody listens on: attempts there fail (for failover). */
  dead: number;
  /** More manifests appended to the provider's (tests' own trunks, secrets…). */
  extra?: string;
}

/**
 * The provider of the tests: contoso and fabrikam share carrier-a; carrier-b is dedicated to contoso (and recognised
 * inbound from 127.0.0.2); carrier-c is dedicated to fabrikam. Health checks are off on the trunks sipp answers (an
 * OPTIONS in the middle of a sipp scenario is an unexpected message for it); health tests bring their own trunks.
 */
export function providerManifests(p: CarrierPorts): string {
  const contosoRoutes = [
    '- name: failover',
    '  match: { destinationPrefix: "+1444" }',
    '  action: { trunks: [{ name: carrier-dead, namespace: carriers }, { name: carrier-a, namespace: carriers }] }',
    '- name: dedicated',
    '  match: { destinationPrefix: "+1666" }',
    '  action: { trunks: [{ name: carrier-b, namespace: carriers }] }',
    '- name: us',
    '  match: { destinationPrefix: "+1" }',
    '  action: { trunks: [{ name: carrier-a, namespace: carriers }] }',
  ];
  const fabrikamRoutes = [
    '- name: us',
    '  match: { destinationPrefix: "+1555" }',
    '  action: { trunks: [{ name: carrier-c, namespace: carriers }] }',
  ];
  const limits = { callsPerSecond: 100, maxConcurrentCalls: 100 };
  return [
    '\napiVersion: v1\nkind: Namespace\nmetadata: { name: carriers }\n',
    trunk({ name: 'carrier-a', port: p.a, inbound: '{ sourceCidrs: ["127.0.0.1/32"] }' }),
    trunk({ name: 'carrier-b', port: p.b, inbound: '{ sourceCidrs: ["127.0.0.2/32"] }', dedicatedTo: 'contoso' }),
    trunk({ name: 'carrier-c', port: p.c, dedicatedTo: 'fabrikam' }),
    trunk({ name: 'carrier-dead', port: p.dead, transport: 'TCP', dedicatedTo: 'contoso' }),
    tenant({ name: 'contoso', fqdn: CONTOSO, numbers: '+15551230000-+15551230999', limits, routes: contosoRoutes }),
    tenant({ name: 'fabrikam', fqdn: FABRIKAM, numbers: '+15551240000-+15551240999', limits, routes: fabrikamRoutes }),
    p.extra ?? '',
  ].join('');
}

export interface Fixture {
  pki: TeamsPki;
  sim: TeamsSim;
  pod: SignallingPod;
  ports: CarrierPorts;
  /** The pod's UDP and TLS listening ports. */
  udpPort: number;
  tlsPort: number;
  manifestsFile: string;
  cdrFile: string;
  /** The pod's settings (its `hosts` map is the DNS stub the pod resolves through: tests may re-point names). */
  settings: Settings;
  cdrs(): Cdr[];
  /** Issue a new SBC certificate and hot-swap it (T1.15); resolves once the pod runs with it. */
  rotateCertificate(): Promise<{ certPem: string; serial: string }>;
  /** Wait (bounded) until a CDR matching `pred` has been written. */
  waitForCdr(pred: (c: Cdr) => boolean, timeoutMs?: number): Promise<Cdr>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  manifests?: (p: CarrierPorts) => string;
  /** Extra manifests appended to the provider's, given the ports (and the pod's UDP port is not known yet). */
  extraManifests?: (p: CarrierPorts) => string;
  /** B2BUA timers, e.g. a short no-answer timer. */
  timers?: { noAnswerMs?: number; teamsFailoverMs?: number; teamsEarlyRingingMs?: number };
  /** More SWITCHBOARD_* settings (e.g. a short OPTIONS interval). */
  env?: Record<string, string>;
  /** Teams simulator options on top of the fixture's (e.g. `minSe`). */
  sim?: { minSe?: number; echoSessionTimer?: boolean };
  /** SWITCHBOARD_REDIS_URL (CDRs to per-tenant Redis streams as well as the JSONL file). */
  redisUrl?: string;
  /** Fixed pod UDP port (default: any free one). */
  udpPort?: number;
  /** Anchor media through this MediaAnchor (e.g. a MediaPodAnchor on a media pod the test started). */
  media?: MediaAnchor;
  /** The pod's logger (default: silent, or SWITCHBOARD_TEST_LOG's level). */
  logger?: Logger;
}

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-e2e-'));
  const manifestsDir = join(dir, 'manifests');
  const ports: CarrierPorts = {
    a: await freeUdpTcpPort(),
    b: await freeUdpTcpPort(),
    c: await freeUdpTcpPort(),
    dead: await freeUdpTcpPort(),
  };
  if (opts.extraManifests) ports.extra = opts.extraManifests(ports);
  const manifestsFile = join(manifestsDir, 'provider.yaml');
  mkdirSync(manifestsDir);
  writeFileSync(manifestsFile, (opts.manifests ?? providerManifests)(ports));
  const pki = await createTeamsPki();
  const sbcCert = await pki.issueSbcCert({ commonName: BASE, dnsNames: [BASE, `*.${BASE}`] });
  const sim = await TeamsSim.start({
    pki,
    carrierFqdn: BASE,
    tenants: {
      [BASE]: { name: 'carrier' },
      [CONTOSO]: { name: 'contoso', numbers: ['+15551230001', '+15551230002', '+15551230003'] },
      [FABRIKAM]: { name: 'fabrikam', numbers: ['+15551240001'] },
    },
    sourceAddress: TEAMS_SOURCE,
    ...(opts.sim ?? {}),
  });
  const teamsCaFile = join(dir, 'teams-ca.pem');
  writeFileSync(teamsCaFile, pki.microsoftRootsPem.join(''));
  const cdrFile = join(dir, 'cdr.jsonl');
  const settings = loadSettings({
    SWITCHBOARD_SIP_LISTEN: `udp:127.0.0.1:${opts.udpPort ?? 0},tls:127.0.0.1:0`,
    ...(opts.redisUrl ? { SWITCHBOARD_REDIS_URL: opts.redisUrl } : {}),
    SWITCHBOARD_ADMIN_LISTEN: '127.0.0.1:0',
    SWITCHBOARD_TEAMS_TARGETS: sim.targets.map((t) => `${t.fqdn}:${t.port}`).join(','),
    SWITCHBOARD_HOSTS: sim.hostsEnv,
    SWITCHBOARD_TEAMS_SOURCES: '127.0.2.0/24',
    SWITCHBOARD_TEAMS_CA: teamsCaFile,
    SWITCHBOARD_MANIFESTS: manifestsDir,
    SWITCHBOARD_CDR_FILE: cdrFile,
    SWITCHBOARD_BASE_DOMAIN: BASE,
    SWITCHBOARD_POD_NAME: 'sbc-e2e-0',
    ...(opts.env ?? {}),
  });
  let certificates = [{ certPem: sbcCert.chainPem, keyPem: sbcCert.keyPem, default: true }];
  const source = new ManifestDirectorySource(manifestsDir, { baseDomain: BASE, certificates: () => certificates });
  const pod = await startSignallingPod({
    settings,
    logger: opts.logger ?? createLogger(process.env.SWITCHBOARD_TEST_LOG ?? 'silent'),
    source,
    bootstrapCertificates: certificates,
    ...(opts.timers ? { timers: opts.timers } : {}),
    ...(opts.media ? { media: opts.media } : {}),
  });
  const listeners = pod.element.stack.listeners();
  const udpPort = listeners.find((l) => l.transport === 'UDP')!.port;
  const tlsPort = listeners.find((l) => l.transport === 'TLS')!.port;
  sim.sbc = { host: '127.0.0.1', port: tlsPort };
  for (const fqdn of [BASE, CONTOSO, FABRIKAM]) sim.sbcHosts[fqdn] = '127.0.0.1';
  // Every CDR a test reads is checked against the CDR v1 JSON Schema (docs/cdr.md): an invalid one fails the test.
  const cdrs = (): Cdr[] => {
    let text: string;
    try {
      text = readFileSync(cdrFile, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const cdr = JSON.parse(l) as Cdr;
        assertValidCdr(cdr);
        return cdr;
      });
  };
  return {
    pki,
    sim,
    pod,
    ports,
    udpPort,
    tlsPort,
    manifestsFile,
    cdrFile,
    settings,
    cdrs,
    async rotateCertificate() {
      const next = await pki.issueSbcCert({ commonName: BASE, dnsNames: [BASE, `*.${BASE}`] });
      certificates = [{ certPem: next.chainPem, keyPem: next.keyPem, default: true }];
      const live = new Promise<void>((resolve) => {
        const onSnap = (snap: { certificates: Array<{ certPem: string }> }) => {
          if (snap.certificates[0]?.certPem !== next.chainPem) return;
          pod.source.off('snapshot', onSnap);
          resolve();
        };
        pod.source.on('snapshot', onSnap);
      });
      await pod.source.reload();
      await live;
      return { certPem: next.certPem, serial: new X509Certificate(next.certPem).serialNumber };
    },
    async waitForCdr(pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = cdrs().find(pred);
        if (found) return found;
        if (Date.now() > deadline)
          throw new Error(`no matching CDR within ${timeoutMs} ms; have:\n${JSON.stringify(cdrs(), null, 1)}`);
        await new Promise((r) => setTimeout(r, 25)); // polling a file: there is no event to wait on
      }
    },
    async close() {
      await pod.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
