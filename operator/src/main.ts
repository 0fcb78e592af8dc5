// `switchboard operator`: leader-elected operator process. Configuration from the environment:
//   KUBECONFIG (else in-cluster), SWITCHBOARD_NAMESPACE (default switchboard-system), SWITCHBOARD_BASE_DOMAIN,
//   SWITCHBOARD_WILDCARD_SECRET (default switchboard-wildcard-tls), POD_NAME / HOSTNAME (leader identity),
//   SWITCHBOARD_LEADER_ELECTION (default true), SWITCHBOARD_OPERATOR_ADMIN_LISTEN (HOST:PORT of the admin HTTP
//   server with /healthz, /readyz, /metrics; default 127.0.0.1:8081, the chart sets 0.0.0.0:8081).
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import {
  type AdminServer,
  OperatorMetrics,
  type Probe,
  parseListen,
  renderMetrics,
  startAdminServer,
} from './admin.ts';
import { errorText, Operator, type OperatorOptions, type PassEvent } from './controller.ts';
import { KubeClient } from './kube/client.ts';
import { LeaderElector } from './kube/leader.ts';

export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:8081';

export interface RunningOperator {
  operator: Operator | undefined;
  elector: LeaderElector | undefined;
  /** Graceful shutdown: stop reconciling, release the Lease, close the admin server. */
  stop(): Promise<void>;
  /** Resolves when this instance leads (tests). */
  leading(): Promise<void>;
  /** The admin server's base URL once it listens (undefined without adminListen); rejects when it cannot listen. */
  admin: Promise<string | undefined>;
  /** Liveness (/healthz). */
  health(): Probe;
  /** Readiness (/readyz). */
  readiness(): Promise<Probe>;
  /** Prometheus text (/metrics). */
  metrics(): string;
}

export interface RunOptions extends Omit<OperatorOptions, 'kubeConfig'> {
  kubeConfig?: KubeConfig;
  identity?: string;
  leaderElection?: boolean;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** HOST:PORT for the admin HTTP server (/healthz, /readyz, /metrics); unset = no server. Port 0 = any free port. */
  adminListen?: string;
  /** Liveness fails when one reconcile pass has been running this long (default 10 min: a wedged reconcile). */
  reconcileWedgedAfterMs?: number;
  /**
   * Liveness fails when the leader-election loop has not gone round for this long (default 3 min). One round is at
   * most two API calls (30 s timeout each) plus the retry period, so only a stuck loop gets near it.
   */
  campaignWedgedAfterMs?: number;
  /** Timeout of the API server check behind /readyz (default 2 s; keep it below the probe's timeoutSeconds). */
  readinessTimeoutMs?: number;
}

export function kubeConfigFromEnv(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster || cluster.server === 'http://localhost:8080') {
    throw new Error('no Kubernetes API configured: set KUBECONFIG or run in a cluster');
  }
  return kc;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): RunOptions {
  return {
    systemNamespace: env.SWITCHBOARD_NAMESPACE || 'switchboard-system',
    ...(env.SWITCHBOARD_BASE_DOMAIN ? { baseDomain: env.SWITCHBOARD_BASE_DOMAIN } : {}),
    ...(env.SWITCHBOARD_WILDCARD_SECRET ? { wildcardSecretName: env.SWITCHBOARD_WILDCARD_SECRET } : {}),
    identity: env.POD_NAME || env.HOSTNAME || hostname(),
    leaderElection: env.SWITCHBOARD_LEADER_ELECTION !== 'false',
    adminListen: env.SWITCHBOARD_OPERATOR_ADMIN_LISTEN || DEFAULT_ADMIN_LISTEN,
  };
}

/** Run the operator: campaign for the Lease, reconcile while leading, stop reconciling when leadership is lost. */
export function runOperator(opts: RunOptions): RunningOperator {
  const kubeConfig = opts.kubeConfig ?? kubeConfigFromEnv();
  const systemNamespace = opts.systemNamespace ?? 'switchboard-system';
  const log = opts.log ?? ((level, msg, fields) => console.error(JSON.stringify({ level, msg, ...fields })));
  const adminListen = opts.adminListen ? parseListen('SWITCHBOARD_OPERATOR_ADMIN_LISTEN', opts.adminListen) : undefined;
  const counters = new OperatorMetrics();
  const apiClient = new KubeClient(kubeConfig);
  let operator: Operator | undefined;
  let leadingSince = 0;
  let stopping = false;
  let leadingResolve: () => void = () => {};
  const leadingPromise = new Promise<void>((r) => {
    leadingResolve = r;
  });
  const startOperator = (): void => {
    const op = new Operator({ ...opts, kubeConfig, systemNamespace, log });
    op.on('pass', (p: PassEvent) => counters.record(p));
    operator = op;
    leadingSince = Date.now();
    counters.leaderTransitions++;
    void op.start().catch((err: unknown) => log('error', 'operator start failed', { error: String(err) }));
    leadingResolve();
  };
  const stopOperator = async (): Promise<void> => {
    const op = operator;
    operator = undefined;
    await op?.stop();
  };
  let elector: LeaderElector | undefined;
  if (opts.leaderElection === false) startOperator();
  else {
    elector = new LeaderElector(new KubeClient(kubeConfig), {
      namespace: systemNamespace,
      name: opts.leaseName ?? 'switchboard-operator',
      identity: opts.identity ?? hostname(),
      ...(opts.leaseDurationMs ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      ...(opts.renewDeadlineMs ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
      ...(opts.retryPeriodMs ? { retryPeriodMs: opts.retryPeriodMs } : {}),
      log: (level, msg) => log(level, msg),
    });
    elector.on('started', startOperator);
    elector.on('stopped', () => void stopOperator());
    elector.start();
  }
  const isLeader = (): boolean => (elector ? elector.isLeader : operator !== undefined);

  // Liveness: answering at all means the process and its event loop are alive. Beyond that it fails only on what a
  // restart can fix: a reconcile pass that never finishes, or a leader-election loop that stopped going round. An
  // unreachable API server is NOT a liveness failure (a restart would not bring it back): that is readiness.
  const health = (): Probe => {
    const running = operator?.reconcilingForMs();
    const reconcileLimit = opts.reconcileWedgedAfterMs ?? 600_000;
    if (running !== undefined && running > reconcileLimit) {
      return { ok: false, reason: `a reconcile pass has been running for ${Math.round(running / 1000)} s` };
    }
    const campaignLimit = opts.campaignWedgedAfterMs ?? 180_000;
    if (elector && !stopping && Date.now() - elector.lastTickAt > campaignLimit) {
      const s = Math.round((Date.now() - elector.lastTickAt) / 1000);
      return { ok: false, reason: `the leader-election loop has not gone round for ${s} s` };
    }
    return { ok: true };
  };

  // Readiness: the API server answers, and — on the leader — every required watch cache has been listed.
  // Leadership is not readiness: a standby replica is ready too. It must be able to take over at any moment, and a
  // rolling update (maxUnavailable: 0) or a PodDisruptionBudget has to count it; were only the leader ready, the
  // surge pod of a rollout (a standby) would never become ready and the rollout would stall.
  let inflight: Promise<Probe> | undefined;
  const checkReadiness = async (): Promise<Probe> => {
    if (stopping) return { ok: false, reason: 'shutting down' };
    const checks: Record<string, string> = {};
    const problems: string[] = [];
    const timeoutMs = opts.readinessTimeoutMs ?? 2_000;
    try {
      await apiClient.request('GET', '/version', { timeoutMs });
      checks.apiServer = 'ok';
    } catch (err) {
      checks.apiServer = errorText(err);
      problems.push(`API server unreachable: ${errorText(err)}`);
    }
    const leader = isLeader();
    checks.role = leader ? 'leader' : 'standby';
    const op = operator;
    if (leader && op) {
      const unsynced = Object.entries(op.cacheStatus())
        .filter(([, c]) => c.required && !c.synced)
        .map(([name]) => name);
      checks.caches = unsynced.length ? `not synced: ${unsynced.join(', ')}` : 'synced';
      if (unsynced.length) problems.push(`watch caches not synced: ${unsynced.join(', ')}`);
    }
    return problems.length ? { ok: false, reason: problems.join('; '), checks } : { ok: true, checks };
  };
  const readiness = (): Promise<Probe> => {
    inflight ??= checkReadiness().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  const metrics = (): string => {
    const op = operator;
    const leader = isLeader();
    const lastSync = op?.stats.lastSuccessAt || leadingSince;
    return renderMetrics(counters, {
      leader,
      lastSyncAgeSeconds: leader && op ? Math.max(0, (Date.now() - lastSync) / 1000) : undefined,
      caches: leader && op ? op.cacheStatus() : undefined,
      configMaps: leader && op?.stats.version ? op.stats.configMaps : undefined,
      configMapBytes: leader && op?.stats.version ? op.stats.configMapBytes : undefined,
    });
  };

  let server: AdminServer | undefined;
  const admin: Promise<string | undefined> = adminListen
    ? startAdminServer({ ...adminListen, health, readiness, metrics }).then((s) => {
        server = s;
        if (stopping) void s.close();
        log('info', `admin server listening on ${s.url} (/healthz, /readyz, /metrics)`, { url: s.url });
        return s.url;
      })
    : Promise.resolve(undefined);
  // A caller that never awaits `admin` must not get an unhandled rejection; the CLI awaits it and exits on failure.
  admin.catch(() => {});

  return {
    get operator() {
      return operator;
    },
    elector,
    leading: () => leadingPromise,
    admin,
    health,
    readiness,
    metrics,
    async stop() {
      stopping = true;
      await stopOperator();
      await elector?.stop();
      await server?.close();
    },
  };
}
