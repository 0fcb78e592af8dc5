// Issue [6/10]: an sbc-pod PROCESS in `kubernetes` config mode (SWITCHBOARD_CONFIG_SOURCE=kubernetes) routes a call for
// a tenant created after it started, within seconds. A real kube-apiserver + etcd, the real operator (in this process,
// with only its own RBAC), the wildcard TLS Secret as cert-manager would write it, and `switchboard sbc` as a child
// process with only the sbc ServiceAccount's RBAC (operator/rbac/sbc-pod.yaml). After the pod is ready, a carrier
// Trunk and a Tenant (RoutePolicy, numbers, Wildcard certificate) are created through the API server; once the pod's
// admin API reports the tenant, a UDP carrier calls one of its numbers and the Teams simulator must receive the INVITE
// with the tenant's FQDN in Contact (over the wildcard certificate) and answer it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { type RunningOperator, runOperator } from '../../../operator/src/main.ts';
import { MANIFEST_NAME } from '../../../operator/src/render/shards.ts';
import {
  apply,
  ensureNamespace,
  eventually,
  repoRoot,
  startTestCluster,
  type TestCluster,
} from '../../../operator/src/testing/cluster.ts';
import {
  getObject,
  operatorKubeConfig,
  routePolicy,
  SYS,
  tenant,
  trunk,
} from '../../../operator/src/testing/fixtures.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { createTeamsPki } from '../harness/pki.ts';
import { freeTcpPort, freeUdpTcpPort } from '../harness/ports.ts';
import { TeamsSim } from '../teams-sim/index.ts';

const BASE = 'sbc.example.test';
const LATE = `late.${BASE}`;
const LATE_NUMBER = '+15551250042';
const CALLER = '+15559870001';
/** Teams connects from here (inside SWITCHBOARD_TEAMS_SOURCES); the carrier from 127.0.0.1. */
const TEAMS_SOURCE = '127.0.2.5';
const ADMIN_TOKEN = 'kube-call-admin-token';
const WILDCARD_SECRET = 'switchboard-wildcard-tls';
/** Bounded waits, generous for a 2-core CI machine. */
const START_WAIT = 90_000;
const ONBOARD_WAIT = 30_000;
const CALL_WAIT = 15_000;

interface SbcProcess {
  child: ChildProcess;
  exited: Promise<void>;
  exitInfo(): string | undefined;
  log(): string;
}

function spawnSbc(env: Record<string, string>, logFile: string): SbcProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [join(repoRoot, 'cli', 'src', 'main.ts'), 'sbc'], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  let info: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      info = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      info ??= `spawn error: ${err.message}`;
      resolve();
    });
  });
  return {
    child,
    exited,
    exitInfo: () => info,
    log: () => {
      try {
        const text = readFileSync(logFile, 'utf8');
        return text.length > 6000 ? `…${text.slice(-6000)}` : text;
      } catch {
        return '';
      }
    },
  };
}

async function stopSbc(p: SbcProcess): Promise<void> {
  if (p.exitInfo() !== undefined) return;
  p.child.kill('SIGTERM');
  const kill = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(kill);
}

describe('sbc-pod process in kubernetes config mode', { timeout: 300_000 }, () => {
  let c: TestCluster | undefined;
  let op: RunningOperator | undefined;
  let sim: TeamsSim | undefined;
  let sbc: SbcProcess | undefined;
  let carrier: UdpPeer | undefined;
  let dir = '';
  let adminBase = '';
  let udpPort = 0;

  /** Fails fast (with the pod's log) when the sbc process has died. */
  const alive = (): void => {
    const info = sbc?.exitInfo();
    if (info !== undefined) throw new Error(`the sbc process exited (${info})\n--- sbc log ---\n${sbc?.log()}`);
  };
  const adminConfig = async (): Promise<{ version: string | null; tenants: Array<{ id: string; fqdn: string }> }> => {
    const res = await fetch(`${adminBase}/admin/config`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (res.status !== 200) throw new Error(`/admin/config answered ${res.status}`);
    return (await res.json()) as { version: string | null; tenants: Array<{ id: string; fqdn: string }> };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-kube-call-'));
    c = await startTestCluster();
    const cluster = c;
    const opKc = await operatorKubeConfig(cluster);
    const sbcToken = await (async () => {
      await operatorKubeConfig(cluster, 'sbc-pod.yaml', 'switchboard-sbc');
      return cluster.cp.tokenFor(SYS, 'switchboard-sbc');
    })();
    const sbcKubeconfig = await cluster.cp.writeKubeconfigFor(sbcToken, SYS);

    // The provider's wildcard certificate, as cert-manager would write it into the system namespace.
    const pki = await createTeamsPki();
    const wildcard = await pki.issueSbcCert({ commonName: BASE, dnsNames: [BASE, `*.${BASE}`] });
    await apply(
      cluster.kc,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: WILDCARD_SECRET, namespace: SYS },
        type: 'kubernetes.io/tls',
        data: {
          'tls.crt': Buffer.from(wildcard.chainPem).toString('base64'),
          'tls.key': Buffer.from(wildcard.keyPem).toString('base64'),
        },
      } as KubernetesObject,
      'cert-manager',
    );

    op = runOperator({
      kubeConfig: opKc,
      systemNamespace: SYS,
      baseDomain: BASE,
      wildcardSecretName: WILDCARD_SECRET,
      identity: 'kube-call-op',
      log: () => {},
    });
    await op.leading();
    // The operator's first render (no tenants yet): the pod starts with a config and the wildcard certificate.
    await eventually(
      'the operator’s first rendered config',
      () => getObject(cluster.kc, 'v1', 'configmaps', SYS, MANIFEST_NAME),
      START_WAIT,
    );

    sim = await TeamsSim.start({
      pki,
      carrierFqdn: BASE,
      tenants: { [BASE]: { name: 'carrier' }, [LATE]: { name: 'late', numbers: [LATE_NUMBER] } },
      sourceAddress: TEAMS_SOURCE,
    });
    const teamsCaFile = join(dir, 'teams-ca.pem');
    writeFileSync(teamsCaFile, pki.microsoftRootsPem.join(''));
    udpPort = await freeUdpTcpPort();
    const tlsPort = await freeUdpTcpPort();
    const adminPort = await freeTcpPort();
    adminBase = `http://127.0.0.1:${adminPort}`;
    sbc = spawnSbc(
      {
        KUBECONFIG: sbcKubeconfig,
        SWITCHBOARD_CONFIG_SOURCE: 'kubernetes',
        SWITCHBOARD_NAMESPACE: SYS,
        SWITCHBOARD_SIP_LISTEN: `udp:127.0.0.1:${udpPort},tls:127.0.0.1:${tlsPort}`,
        SWITCHBOARD_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN,
        SWITCHBOARD_TEAMS_TARGETS: sim.targets.map((t) => `${t.fqdn}:${t.port}`).join(','),
        SWITCHBOARD_HOSTS: sim.hostsEnv,
        SWITCHBOARD_TEAMS_SOURCES: '127.0.2.0/24',
        SWITCHBOARD_TEAMS_CA: teamsCaFile,
        SWITCHBOARD_BASE_DOMAIN: BASE,
        SWITCHBOARD_POD_NAME: 'sbc-kube-0',
        SWITCHBOARD_MANIFESTS: join(dir, 'no-manifests'),
        SWITCHBOARD_CDR_FILE: join(dir, 'cdr.jsonl'),
        SWITCHBOARD_DRAIN_SECONDS: '1',
        SWITCHBOARD_LOG_LEVEL: process.env.SWITCHBOARD_TEST_LOG ?? 'info',
      },
      join(dir, 'sbc.log'),
    );
    sim.sbc = { host: '127.0.0.1', port: tlsPort };
    for (const fqdn of [BASE, LATE]) sim.sbcHosts[fqdn] = '127.0.0.1';
    await eventually(
      'the sbc process ready (/readyz 200)',
      async () => {
        alive();
        const res = await fetch(`${adminBase}/readyz`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      },
      START_WAIT,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- sbc log ---\n${sbc?.log()}`);
    });
    carrier = await UdpPeer.start();
  });

  after(async () => {
    await carrier?.close();
    if (sbc) await stopSbc(sbc);
    await sim?.close();
    await op?.stop();
    await c?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('routes a carrier → Teams call for a tenant created after the pod started', async () => {
    const cluster = c!;
    const teams = sim!;
    const peer = carrier!;
    const before = await adminConfig();
    assert.ok(!before.tenants.some((t) => t.id === 'late/late'), 'the tenant does not exist yet');

    // Onboarding through the API server only: the carrier's Trunk, the tenant's namespace, RoutePolicy and Tenant.
    const t0 = performance.now();
    await ensureNamespace(cluster.kc, 'carriers');
    await apply(
      cluster.kc,
      trunk('carriers', 'carrier', {
        targets: [{ host: '127.0.0.1', port: peer.port, transport: 'UDP' }],
        inbound: { sourceCidrs: ['127.0.0.1/32'] },
        healthCheck: { enabled: false },
        numberNormalisation: { countryCode: '1' },
      }),
    );
    await ensureNamespace(cluster.kc, 'late', { 'switchboard.dev/tenant': 'true' });
    await apply(
      cluster.kc,
      routePolicy('late', 'late', [
        {
          name: 'us',
          match: { destinationPrefix: '+1' },
          action: { trunks: [{ name: 'carrier', namespace: 'carriers' }] },
        },
      ]),
    );
    await apply(
      cluster.kc,
      tenant('late', 'late', {
        displayName: 'Late',
        fqdn: LATE,
        certificate: { mode: 'Wildcard' },
        numbers: ['+15551250000-+15551250999'],
        limits: { callsPerSecond: 10, maxConcurrentCalls: 10 },
      }),
    );

    const live = await eventually(
      'late/late in the pod’s config (admin API)',
      async () => {
        alive();
        const cfg = await adminConfig();
        return cfg.tenants.find((t) => t.id === 'late/late');
      },
      ONBOARD_WAIT,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- sbc log ---\n${sbc?.log()}`);
    });
    const tLive = performance.now();
    // The operator leaves a tenant whose route names an unknown trunk out of its render (operator/src/render/world.ts)
    // and a rendered route to an unknown trunk does not validate: with late/late live, carriers/carrier is live too.
    assert.equal(live.fqdn, LATE);
    const status = (await (await fetch(`${adminBase}/status`)).json()) as { tenants: number; configVersion: string };
    assert.ok(status.tenants >= 1, 'the pod status counts the new tenant');

    // The first call for the new tenant: carrier (UDP) → pod → Teams (TLS, wildcard certificate).
    const sbcAddr = { address: '127.0.0.1', port: udpPort };
    const inbound = teams.inboundCalls.waitFor(
      (ic) => ic.number === LATE_NUMBER,
      `an INVITE from the SBC for ${LATE_NUMBER}`,
      CALL_WAIT,
      teams.inboundCalls.length,
    );
    const call = peer.invite(sbcAddr, { to: LATE_NUMBER, from: CALLER });
    const atTeams = await inbound.catch((err: unknown) => {
      throw new Error(
        `${(err as Error).message}; carrier got: ${peer.received.items.map((r) => ('status' in r.msg ? r.msg.status : r.msg.method)).join(', ')}\n--- sbc log ---\n${sbc?.log()}`,
      );
    });
    const contactHost = atTeams.invite.contacts[0]?.uri.host;
    assert.equal(contactHost, LATE, 'the new tenant’s FQDN in the Contact toward Teams');
    assert.equal(atTeams.tenant?.name, 'late', 'Teams found the tenant by the Contact FQDN');
    const final = await call.final(CALL_WAIT);
    assert.equal(final.status, 200, 'the carrier gets 200');
    const tRoutable = performance.now();
    await atTeams.waitForState('confirmed');
    console.log(
      `# onboarding latency (first Kubernetes create → pod config: ${(tLive - t0).toFixed(0)} ms; ` +
        `→ first routable call answered: ${(tRoutable - t0).toFixed(0)} ms)`,
    );

    const bye = await call.request('BYE', { timeoutMs: CALL_WAIT });
    assert.equal(bye.status, 200, 'BYE answered');
    await atTeams.waitForRequest('BYE', CALL_WAIT);
  });
});
