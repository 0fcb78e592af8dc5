// A private Kubernetes control plane for tests: etcd + kube-apiserver, no kubelet, no controllers
// (the envtest approach; flags follow controller-runtime's pkg/internal/testing/controlplane).
//
// The binaries are built from the Go module proxy by scripts/ensure-kube-binaries.sh into .cache/bin/.
// Everything else (ports, PKI, data dirs, kubeconfig) is private to one startKubeControlPlane() call,
// so several control planes can run side by side.
//
// Note: there is no kube-controller-manager, so namespaces get no "default" ServiceAccount, nothing
// garbage-collects, Deployments never get Pods, and namespace deletion never finishes. The ServiceAccount
// admission plugin is therefore disabled (as envtest does) so Pods can be created without one.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createCa, issueLeaf } from './pki.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');

export interface KubeControlPlaneOptions {
  /** Directory holding `etcd` and `kube-apiserver`. Default: $SWITCHBOARD_KUBE_BIN_DIR or <repo>/.cache/bin. */
  binDir?: string;
  /** Upper bound for etcd + kube-apiserver to become ready. Default 120 s (generous for a loaded 2-core box). */
  startTimeoutMs?: number;
  /** Default 10.0.0.0/24. */
  serviceClusterIpRange?: string;
  /** Extra kube-apiserver flags (`--name=value`); a flag given here replaces the default of the same name. */
  apiServerArgs?: string[];
  /** Extra etcd flags (`--name=value`); a flag given here replaces the default of the same name. */
  etcdArgs?: string[];
  /**
   * Keep etcd/kube-apiserver logs here (created if missing, not removed by stop()). By default logs live in the
   * temp dir and are removed by stop(); a startup failure always includes the log tails in its error message.
   */
  logDir?: string;
}

export interface TokenOptions {
  /** Default 3600 (the API minimum is 600). */
  expirationSeconds?: number;
  /** Default: the API server's audiences (the service-account issuer). */
  audiences?: string[];
}

export interface KubeControlPlane {
  /** Admin kubeconfig (client certificate in group system:masters), self-contained (certs embedded). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** PEM of the CA that signed the serving certificate and the client certificates. */
  caPem: string;
  /** @kubernetes/client-node KubeConfig loaded from kubeconfigPath (admin). */
  kubeConfig: KubeConfig;
  /**
   * Returns a ServiceAccount token (TokenRequest API) for namespace/serviceAccount, creating the ServiceAccount
   * if it does not exist. The namespace must exist. The identity has no permissions until RBAC grants some.
   */
  tokenFor(namespace: string, serviceAccount: string, opts?: TokenOptions): Promise<string>;
  /** A KubeConfig for this server that authenticates with the given bearer token. */
  kubeconfigFor(token: string, namespace?: string): KubeConfig;
  /** Same as kubeconfigFor, written to a file (for helm/kubectl or a child process); removed by stop(). */
  writeKubeconfigFor(token: string, namespace?: string): Promise<string>;
  /** Kills kube-apiserver and etcd and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;
const MAX_PORT_ATTEMPTS = 3;
const CONTEXT = 'switchboard-test';
const GUARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Where the control-plane binaries are expected; throws a helpful error when missing. */
export function kubeBinaries(binDir?: string): { etcd: string; kubeApiserver: string } {
  const dir = binDir ?? process.env.SWITCHBOARD_KUBE_BIN_DIR ?? join(repoRoot, '.cache', 'bin');
  const etcd = join(dir, 'etcd');
  const kubeApiserver = join(dir, 'kube-apiserver');
  const missing = [etcd, kubeApiserver].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(
      `test control plane binaries missing: ${missing.join(', ')}. ` +
        'Run `make deps` (or `scripts/ensure-kube-binaries.sh`) to build them from the Go module proxy.',
    );
  }
  return { etcd, kubeApiserver };
}

export async function startKubeControlPlane(opts: KubeControlPlaneOptions = {}): Promise<KubeControlPlane> {
  const bins = kubeBinaries(opts.binDir);
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-kube-'));
  const logDir = opts.logDir ?? join(dir, 'logs');
  const procs: ManagedProcess[] = [];
  // If the test process ends without stop() (crash, Ctrl-C, test-runner timeout), take the children down with it
  // instead of leaving an orphaned apiserver/etcd behind.
  const exitGuard = (): void => {
    for (const p of procs) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const signalGuard = (signal: NodeJS.Signals): void => {
    exitGuard();
    removeGuards();
    // Restore the default action (terminate) unless someone else handles the signal.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const removeGuards = (): void => {
    process.removeListener('exit', exitGuard);
    for (const sig of GUARDED_SIGNALS) process.removeListener(sig, signalGuard);
  };
  process.once('exit', exitGuard);
  for (const sig of GUARDED_SIGNALS) process.once(sig, signalGuard);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // apiserver first, so it does not spend its shutdown retrying a dead etcd.
      for (const p of [...procs].reverse()) await p.stop();
      removeGuards();
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopped;
  };

  try {
    await mkdir(logDir, { recursive: true });
    const pki = await generatePki(join(dir, 'pki'));

    // Free ports are found by binding :0 and releasing; another process may grab one before etcd or the
    // apiserver binds it, so a start that fails with "address already in use" is retried with fresh ports.
    let etcdUrl = '';
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort] = await freePorts(2);
      etcdUrl = `http://127.0.0.1:${clientPort}`;
      const peerUrl = `http://127.0.0.1:${peerPort}`;
      const etcdArgs = mergeArgs(
        [
          '--name=default',
          `--data-dir=${join(dir, 'etcd-data', String(attempt))}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=default=${peerUrl}`,
          '--unsafe-no-fsync=true',
          '--log-level=warn',
        ],
        opts.etcdArgs,
      );
      const etcd = launch('etcd', bins.etcd, etcdArgs, join(logDir, `etcd.${attempt}.log`));
      procs.push(etcd);
      const ok = await waitReady(etcd, deadline, async () => {
        const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(5_000) });
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      });
      if (ok === 'ready') break;
      procs.pop();
      await etcd.stop();
      if (ok === 'port-in-use' && attempt < MAX_PORT_ATTEMPTS) continue;
      throw etcd.failure(ok, timeoutMs);
    }

    let server = '';
    for (let attempt = 1; ; attempt++) {
      const [port] = await freePorts(1);
      server = `https://127.0.0.1:${port}`;
      const certDir = join(dir, 'apiserver-certs');
      const apiArgs = mergeArgs(
        [
          '--advertise-address=127.0.0.1',
          // kube-apiserver >= 1.37 refuses a loopback advertise address with the endpoint reconciler, and with no
          // kubelet/pods the default/kubernetes endpoints are useless anyway.
          '--endpoint-reconciler-type=none',
          '--bind-address=127.0.0.1',
          `--secure-port=${port}`,
          `--cert-dir=${certDir}`,
          `--tls-cert-file=${pki.servingCertFile}`,
          `--tls-private-key-file=${pki.servingKeyFile}`,
          `--client-ca-file=${pki.caFile}`,
          `--etcd-servers=${etcdUrl}`,
          `--service-cluster-ip-range=${opts.serviceClusterIpRange ?? '10.0.0.0/24'}`,
          `--service-account-issuer=${server}`,
          `--service-account-key-file=${pki.saPublicKeyFile}`,
          `--service-account-signing-key-file=${pki.saPrivateKeyFile}`,
          '--authorization-mode=RBAC',
          '--disable-admission-plugins=ServiceAccount',
          '--allow-privileged=true',
          '--profiling=false',
        ],
        opts.apiServerArgs,
      );
      const api = launch('kube-apiserver', bins.kubeApiserver, apiArgs, join(logDir, `kube-apiserver.${attempt}.log`));
      procs.push(api);
      const ok = await waitReady(api, deadline, async () => {
        const res = await httpsGet(`${server}/readyz`, pki.adminTls);
        return res.status === 200;
      });
      if (ok === 'ready') break;
      procs.pop();
      await api.stop();
      if (ok === 'port-in-use' && attempt < MAX_PORT_ATTEMPTS) continue;
      throw api.failure(ok, timeoutMs);
    }

    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfigPath,
      kubeconfigJson(server, pki.caPem, {
        'client-certificate-data': b64(pki.adminTls.cert),
        'client-key-data': b64(pki.adminTls.key),
      }),
      { mode: 0o600 },
    );
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);

    const kubeconfigFor = (token: string, namespace?: string): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfigJson(server, pki.caPem, { token }, namespace));
      return kc;
    };
    let tokenFiles = 0;
    const cp: KubeControlPlane = {
      kubeconfigPath,
      server,
      caPem: pki.caPem,
      kubeConfig,
      kubeconfigFor,
      async writeKubeconfigFor(token, namespace) {
        const path = join(dir, `kubeconfig-token-${++tokenFiles}`);
        await writeFile(path, kubeconfigJson(server, pki.caPem, { token }, namespace), { mode: 0o600 });
        return path;
      },
      async tokenFor(namespace, serviceAccount, tokenOpts = {}) {
        const core = kubeConfig.makeApiClient(CoreV1Api);
        try {
          await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
        } catch (err) {
          if (!(err instanceof ApiException && err.code === 409)) throw err;
        }
        const tr = await core.createNamespacedServiceAccountToken({
          name: serviceAccount,
          namespace,
          body: {
            spec: { audiences: tokenOpts.audiences ?? [], expirationSeconds: tokenOpts.expirationSeconds ?? 3600 },
          },
        });
        const token = tr.status?.token;
        if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
        return token;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
    return cp;
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// processes

type ReadyOutcome = 'ready' | 'exited' | 'port-in-use' | 'timeout';

interface ManagedProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  hasExited(): boolean;
  logTail(bytes?: number): string;
  failure(outcome: ReadyOutcome, timeoutMs: number): Error;
  stop(): Promise<void>;
}

function launch(name: string, bin: string, args: string[], logFile: string): ManagedProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', fd, fd], env: childEnv() });
  } finally {
    closeSync(fd);
  }
  let exitInfo: string | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      res();
    });
    child.once('error', (err) => {
      spawnError = err;
      exitInfo ??= `spawn error: ${err.message}`;
      res();
    });
  });
  const logTail = (bytes = 4000): string => {
    try {
      const text = readFileSync(logFile, 'utf8');
      return text.length > bytes ? `…${text.slice(-bytes)}` : text;
    } catch {
      return '';
    }
  };
  return {
    name,
    child,
    exited,
    hasExited: () => exitInfo !== undefined,
    logTail,
    failure(outcome, timeoutMs) {
      const what =
        outcome === 'timeout'
          ? `did not become ready within ${timeoutMs} ms`
          : `exited before becoming ready (${exitInfo ?? 'unknown'})${spawnError ? `: ${spawnError.message}` : ''}`;
      return new Error(`${name} ${what}; command: ${bin} ${args.join(' ')}\n--- ${name} log tail ---\n${logTail()}`);
    },
    async stop() {
      if (exitInfo !== undefined) return;
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(killTimer);
    },
  };
}

function childEnv(): NodeJS.ProcessEnv {
  // etcd reads ETCD_* variables as flags; keep the parent's from leaking in.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_') && k !== 'KUBECONFIG') env[k] = v;
  return env;
}

/** Polls `probe` until it returns true, the process exits, or the deadline passes. */
async function waitReady(proc: ManagedProcess, deadline: number, probe: () => Promise<boolean>): Promise<ReadyOutcome> {
  for (;;) {
    if (proc.hasExited()) {
      return /address already in use/i.test(proc.logTail(20_000)) ? 'port-in-use' : 'exited';
    }
    try {
      if (await probe()) return 'ready';
    } catch {
      // not listening yet
    }
    if (Date.now() >= deadline) return 'timeout';
    // Poll interval (not synchronisation): wake early if the process dies.
    await Promise.race([delay(100), proc.exited]);
  }
}

function mergeArgs(defaults: string[], overrides: string[] = []): string[] {
  const flagName = (a: string): string => a.split('=', 1)[0]!;
  const overridden = new Set(overrides.map(flagName));
  return [...defaults.filter((a) => !overridden.has(flagName(a))), ...overrides];
}

async function freePorts(n: number): Promise<number[]> {
  // Hold all listeners at once so the n ports are distinct.
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const s = createServer();
          s.once('error', rej);
          s.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected listener address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
  return ports;
}

interface TlsClient {
  ca: string;
  cert: string;
  key: string;
}

function httpsGet(url: string, tls: TlsClient): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = httpsRequest(url, { method: 'GET', ...tls, timeout: 5_000 }, (resp) => {
      let body = '';
      resp.setEncoding('utf8');
      resp.on('data', (c: string) => {
        body += c;
      });
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
      resp.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', rej);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// kubeconfig

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

function kubeconfigJson(server: string, caPem: string, user: Record<string, string>, namespace?: string): string {
  // JSON is valid YAML, so this is a regular kubeconfig for client-node, helm and kubectl alike.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: CONTEXT, cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [{ name: CONTEXT, user }],
      contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user: CONTEXT, ...(namespace ? { namespace } : {}) } }],
      'current-context': CONTEXT,
      preferences: {},
    },
    null,
    2,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// PKI (via ./pki.ts): one CA signs the apiserver serving cert and the admin client cert; a separate key pair signs
// ServiceAccount tokens.

interface Pki {
  caPem: string;
  caFile: string;
  servingCertFile: string;
  servingKeyFile: string;
  saPublicKeyFile: string;
  saPrivateKeyFile: string;
  adminTls: TlsClient;
}

async function generatePki(pkiDir: string): Promise<Pki> {
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  const ca = await createCa('switchboard-kube-test-ca');
  const [serving, admin] = await Promise.all([
    issueLeaf(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1', '10.0.0.1'],
      eku: ['serverAuth'],
    }),
    // Group (O) system:masters: bound to cluster-admin by the bootstrap RBAC policy.
    issueLeaf(ca, { commonName: 'switchboard-admin', organization: 'system:masters', eku: ['clientAuth'] }),
  ]);
  // Service-account token signing key (ES256).
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  const files = {
    caFile: join(pkiDir, 'ca.crt'),
    servingCertFile: join(pkiDir, 'apiserver.crt'),
    servingKeyFile: join(pkiDir, 'apiserver.key'),
    saPublicKeyFile: join(pkiDir, 'sa.pub'),
    saPrivateKeyFile: join(pkiDir, 'sa.key'),
  };
  await Promise.all([
    writeFile(files.caFile, ca.certPem),
    writeFile(files.servingCertFile, serving.certPem),
    writeFile(files.servingKeyFile, serving.keyPem, { mode: 0o600 }),
    writeFile(files.saPublicKeyFile, sa.publicKey.export({ type: 'spki', format: 'pem' })),
    writeFile(files.saPrivateKeyFile, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 }),
  ]);
  return { caPem: ca.certPem, ...files, adminTls: { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem } };
}
