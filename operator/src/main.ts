// `switchboard operator`: leader-elected operator process. Configuration from the environment:
//   KUBECONFIG (else in-cluster), SWITCHBOARD_NAMESPACE (default switchboard-system), SWITCHBOARD_BASE_DOMAIN,
//   SWITCHBOARD_WILDCARD_SECRET (default switchboard-wildcard-tls), POD_NAME / HOSTNAME (leader identity),
//   SWITCHBOARD_LEADER_ELECTION (default true).
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { Operator, type OperatorOptions } from './controller.ts';
import { KubeClient } from './kube/client.ts';
import { LeaderElector } from './kube/leader.ts';

export interface RunningOperator {
  operator: Operator | undefined;
  elector: LeaderElector | undefined;
  /** Graceful shutdown: stop reconciling, release the Lease. */
  stop(): Promise<void>;
  /** Resolves when this instance leads (tests). */
  leading(): Promise<void>;
}

export interface RunOptions extends Omit<OperatorOptions, 'kubeConfig'> {
  kubeConfig?: KubeConfig;
  identity?: string;
  leaderElection?: boolean;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
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
  };
}

/** Run the operator: campaign for the Lease, reconcile while leading, stop reconciling when leadership is lost. */
export function runOperator(opts: RunOptions): RunningOperator {
  const kubeConfig = opts.kubeConfig ?? kubeConfigFromEnv();
  const systemNamespace = opts.systemNamespace ?? 'switchboard-system';
  const log = opts.log ?? ((level, msg, fields) => console.error(JSON.stringify({ level, msg, ...fields })));
  let operator: Operator | undefined;
  let leadingResolve: () => void = () => {};
  const leadingPromise = new Promise<void>((r) => {
    leadingResolve = r;
  });
  const startOperator = (): void => {
    operator = new Operator({ ...opts, kubeConfig, systemNamespace, log });
    void operator.start().catch((err: unknown) => log('error', 'operator start failed', { error: String(err) }));
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
  return {
    get operator() {
      return operator;
    },
    elector,
    leading: () => leadingPromise,
    async stop() {
      await stopOperator();
      await elector?.stop();
    },
  };
}
