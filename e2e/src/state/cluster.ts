// Several sbc-pod processes sharing one Redis, the Teams simulator and carrier peers: the failover test bed.
// Each pod is its own process (so `kill -9` is real); all read the same manifests and certificate; CDRs go to the
// per-tenant Redis streams (and a JSONL file per pod), and the test counts them there.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { CDR_STREAMS_KEY } from '../../../sbc-pod/src/cdr/sinks.ts';
import { BASE, type CarrierPorts, CONTOSO, FABRIKAM, providerManifests, TEAMS_SOURCE } from '../b2bua/fixture.ts';
import { createTeamsPki } from '../harness/pki.ts';
import { freeUdpTcpPort } from '../harness/ports.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';
import { TeamsSim } from '../teams-sim/index.ts';
import { withTimeout } from '../teams-sim/wait.ts';

const NODE = new URL('../../../node_modules/.bin/node', import.meta.url).pathname;
const POD = new URL('./pod-process.ts', import.meta.url).pathname;

export interface PodProcess {
  name: string;
  udp: { address: string; port: number };
  tlsPort: number;
  adminPort: number;
  child: ChildProcess;
  /** SIGKILL: the pod dies with its calls in memory. */
  kill9(): Promise<void>;
  /** SIGTERM: drain, then exit; resolves with the exit code. */
  terminate(timeoutMs?: number): Promise<number | null>;
}

export interface Cluster {
  redis: RedisServer;
  sim: TeamsSim;
  ports: CarrierPorts;
  dir: string;
  client: Redis;
  pods: PodProcess[];
  startPod(name: string, env?: Record<string, string>): Promise<PodProcess>;
  /**
   * The one UDP and TLS address every pod started with `sharedEnv()` listens on (SO_REUSEPORT,
   * SWITCHBOARD_SIP_REUSE_PORT=true): the kernel spreads flows and connections over those pods.
   */
  shared: { udp: { address: string; port: number }; tlsPort: number };
  sharedEnv(): Record<string, string>;
  /** A pod's admin /status document. */
  status(pod: PodProcess): Promise<{ activeCalls: Record<string, number> } & Record<string, unknown>>;
  /** Every CDR in the per-tenant Redis streams. */
  streamCdrs(): Promise<Cdr[]>;
  close(): Promise<void>;
}

export async function startCluster(opts: { env?: Record<string, string>; sim?: { echoSessionTimer?: boolean } } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-state-'));
  const manifestsDir = join(dir, 'manifests');
  mkdirSync(manifestsDir);
  const ports: CarrierPorts = {
    a: await freeUdpTcpPort(),
    b: await freeUdpTcpPort(),
    c: await freeUdpTcpPort(),
    dead: await freeUdpTcpPort(),
  };
  writeFileSync(join(manifestsDir, 'provider.yaml'), providerManifests(ports));
  const pki = await createTeamsPki();
  const cert = await pki.issueSbcCert({ commonName: BASE, dnsNames: [BASE, `*.${BASE}`] });
  writeFileSync(join(dir, 'sbc.pem'), cert.chainPem);
  writeFileSync(join(dir, 'sbc.key'), cert.keyPem);
  writeFileSync(join(dir, 'teams-ca.pem'), pki.microsoftRootsPem.join(''));
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
  for (const fqdn of [BASE, CONTOSO, FABRIKAM]) sim.sbcHosts[fqdn] = '127.0.0.1';
  const redis = await startRedis();
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  const pods: PodProcess[] = [];
  const shared = { udp: { address: '127.0.0.1', port: await freeUdpTcpPort() }, tlsPort: await freeUdpTcpPort() };
  const sharedEnv = (): Record<string, string> => ({
    SWITCHBOARD_SIP_LISTEN: `udp:127.0.0.1:${shared.udp.port},tls:127.0.0.1:${shared.tlsPort}`,
    SWITCHBOARD_SIP_REUSE_PORT: 'true',
  });
  const status = async (pod: PodProcess) => {
    const res = await fetch(`http://127.0.0.1:${pod.adminPort}/status`);
    return (await res.json()) as { activeCalls: Record<string, number> } & Record<string, unknown>;
  };

  const startPod = async (name: string, env: Record<string, string> = {}): Promise<PodProcess> => {
    const child = spawn(NODE, [POD], {
      env: {
        ...process.env,
        SWITCHBOARD_SIP_LISTEN: 'udp:127.0.0.1:0,tls:127.0.0.1:0',
        SWITCHBOARD_ADMIN_LISTEN: '127.0.0.1:0',
        SWITCHBOARD_REDIS_URL: redis.url,
        SWITCHBOARD_TEAMS_TARGETS: sim.targets.map((t) => `${t.fqdn}:${t.port}`).join(','),
        SWITCHBOARD_HOSTS: sim.hostsEnv,
        SWITCHBOARD_TEAMS_SOURCES: '127.0.2.0/24',
        SWITCHBOARD_TEAMS_CA: join(dir, 'teams-ca.pem'),
        SWITCHBOARD_TLS_CERT: join(dir, 'sbc.pem'),
        SWITCHBOARD_TLS_KEY: join(dir, 'sbc.key'),
        SWITCHBOARD_MANIFESTS: manifestsDir,
        SWITCHBOARD_CDR_FILE: join(dir, `cdr-${name}.jsonl`),
        SWITCHBOARD_BASE_DOMAIN: BASE,
        SWITCHBOARD_POD_NAME: name,
        SWITCHBOARD_STATE_TIMER_GRACE: '1',
        SWITCHBOARD_LOG_LEVEL: process.env.SWITCHBOARD_TEST_LOG ?? 'silent',
        ...(opts.env ?? {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    // SWITCHBOARD_TEST_LOG=<level>: the pods' logs on stderr, each line prefixed with the pod's name.
    if (process.env.SWITCHBOARD_TEST_LOG) lines.on('line', (line) => process.stderr.write(`[${name}] ${line}\n`));
    const first = new Promise<{ UDP: number; TLS: number; admin: number }>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.startsWith('{"UDP"') || line.startsWith('{"TLS"')) resolve(JSON.parse(line));
      });
      child.once('exit', (code) => reject(new Error(`pod ${name} exited (${code}) before it listened`)));
    });
    const p = await withTimeout(first, `pod ${name} to start`, 30_000);
    const pod: PodProcess = {
      name,
      udp: { address: '127.0.0.1', port: p.UDP },
      tlsPort: p.TLS,
      adminPort: p.admin,
      child,
      async kill9() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      },
      async terminate(timeoutMs = 60_000) {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const [code] = (await withTimeout(exited, `pod ${name} to drain and exit`, timeoutMs)) as [number | null];
        return code;
      },
    };
    pods.push(pod);
    return pod;
  };

  const streamCdrs = async (): Promise<Cdr[]> => {
    const out: Cdr[] = [];
    for (const stream of await client.smembers(CDR_STREAMS_KEY)) {
      for (const [, fields] of await client.xrange(stream, '-', '+')) {
        const i = fields.indexOf('cdr');
        if (i >= 0) out.push(JSON.parse(fields[i + 1]!) as Cdr);
      }
    }
    return out;
  };

  return {
    redis,
    sim,
    ports,
    dir,
    client,
    pods,
    startPod,
    shared,
    sharedEnv,
    status,
    streamCdrs,
    async close() {
      await Promise.all(pods.map((p) => p.kill9()));
      client.disconnect();
      await sim.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  } satisfies Cluster;
}
