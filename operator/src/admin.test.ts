// The operator's admin HTTP server (/healthz, /readyz, /metrics) against an unreachable API server, a hanging one,
// and a real kube-apiserver + etcd, running as the operator's ServiceAccount (operator/rbac/operator.yaml only):
// - standby: ready (leadership is not readiness), leader gauge 0;
// - leader before its watch caches can sync (the CRDs are not installed yet): not ready, leader gauge 1;
// - CRDs installed: ready; a reconcile pass shows up in the counters and the last-sync age.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startKubeControlPlane } from '../../e2e/src/harness/kube-apiserver.ts';
import { parseListen } from './admin.ts';
import { KubeClient, type KubeObject, resourcePath } from './kube/client.ts';
import { microTime } from './kube/leader.ts';
import { optionsFromEnv, type RunningOperator, runOperator } from './main.ts';
import { apply, ensureNamespace, eventually, installCrds, type TestCluster } from './testing/cluster.ts';
import { operatorKubeConfig, routePolicy, SYS, tenant } from './testing/fixtures.ts';

const WAIT = 60_000;

async function get(url: string): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // /metrics is not JSON
  }
  return { status: res.status, text, json };
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'x_total{result="ok"}'); undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'nobody' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

const quiet = (): void => {};

describe('admin listen address', () => {
  test('SWITCHBOARD_OPERATOR_ADMIN_LISTEN: HOST:PORT, IPv6 in brackets, loopback 8081 by default', () => {
    assert.deepEqual(parseListen('X', '0.0.0.0:8081'), { host: '0.0.0.0', port: 8081 });
    assert.deepEqual(parseListen('X', '[::]:9000'), { host: '::', port: 9000 });
    assert.throws(() => parseListen('SWITCHBOARD_OPERATOR_ADMIN_LISTEN', '8081'), /SWITCHBOARD_OPERATOR_ADMIN_LISTEN/);
    assert.throws(() => parseListen('X', 'host:99999'), /expected HOST:PORT/);
    assert.equal(optionsFromEnv({}).adminListen, '127.0.0.1:8081');
    assert.equal(optionsFromEnv({ SWITCHBOARD_OPERATOR_ADMIN_LISTEN: '0.0.0.0:8081' }).adminListen, '0.0.0.0:8081');
  });
});

describe('operator admin server without a usable API server', { timeout: 120_000 }, () => {
  test('connection refused: /readyz 503 naming the API server, /healthz 200, not leader', async () => {
    // A port that was free a moment ago and is closed now: connections are refused.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const op = runOperator({
      kubeConfig: kubeConfigFor(`http://127.0.0.1:${port}`),
      systemNamespace: SYS,
      identity: 'op-refused',
      adminListen: '127.0.0.1:0',
      retryPeriodMs: 200,
      log: quiet,
    });
    try {
      const url = await op.admin;
      assert.ok(url?.startsWith('http://127.0.0.1:'), url);
      const ready = await get(`${url}/readyz`);
      assert.equal(ready.status, 503, ready.text);
      assert.match(String(ready.json.reason), /API server unreachable/);
      assert.equal((ready.json.checks as Record<string, string>).role, 'standby');
      const health = await get(`${url}/healthz`);
      assert.equal(health.status, 200, health.text);
      const metrics = await get(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.equal(sample(metrics.text, 'switchboard_operator_leader'), 0);
      assert.equal(sample(metrics.text, 'switchboard_operator_last_sync_age_seconds'), undefined, 'leader only');
    } finally {
      await op.stop();
    }
  });

  test('an API server that accepts and never answers: /readyz 503 on its timeout; a stuck loop fails /healthz', async () => {
    const sockets = new Set<Socket>();
    const blackHole: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', quiet);
    });
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    const port = (blackHole.address() as { port: number }).port;
    const op = runOperator({
      kubeConfig: kubeConfigFor(`http://127.0.0.1:${port}`),
      systemNamespace: SYS,
      identity: 'op-hung',
      adminListen: '127.0.0.1:0',
      retryPeriodMs: 200,
      readinessTimeoutMs: 500,
      // The campaign loop waits on a Lease read that never returns (30 s request timeout): past this it is stuck.
      campaignWedgedAfterMs: 1_500,
      log: quiet,
    });
    try {
      const url = await op.admin;
      const ready = await get(`${url}/readyz`);
      assert.equal(ready.status, 503, ready.text);
      assert.match(String(ready.json.reason), /no response within 500 ms/);
      const health = await eventually(
        '/healthz 503',
        async () => {
          const h = await get(`${url}/healthz`);
          return h.status === 503 ? h : undefined;
        },
        WAIT,
      );
      assert.match(String(health.json.reason), /leader-election loop has not gone round/);
    } finally {
      for (const s of sockets) s.destroy();
      blackHole.close();
      await op.stop();
    }
  });
});

describe('operator admin server on a real kube-apiserver', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let op: RunningOperator | undefined;
  let url: string;
  const logs: string[] = [];
  const leasePath = resourcePath('coordination.k8s.io/v1', 'leases', SYS, 'switchboard-operator');

  before(async () => {
    // No CRDs yet: the leader's Tenant/Trunk/RoutePolicy watches cannot sync until the test installs them.
    const cp = await startKubeControlPlane();
    c = { cp, kc: cp.kubeConfig, core: cp.kubeConfig.makeApiClient(CoreV1Api), stop: () => cp.stop() };
  });
  after(async () => {
    await op?.stop();
    await c?.stop();
    if (process.env.OPERATOR_TEST_LOGS) console.log(logs.join('\n'));
  });

  test('standby ready, leader gauge flips, not ready until the watches sync, then ready and counting', async () => {
    const opKc = await operatorKubeConfig(c);
    await ensureNamespace(c.kc, SYS);
    // Someone else holds the Lease (renewed "now", for an hour): this replica starts as a standby.
    const admin = new KubeClient(c.kc);
    const now = microTime(new Date());
    await admin.create(resourcePath('coordination.k8s.io/v1', 'leases', SYS), {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'switchboard-operator', namespace: SYS },
      spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 3600, acquireTime: now, renewTime: now },
    });
    op = runOperator({
      kubeConfig: opKc,
      systemNamespace: SYS,
      baseDomain: 'sbc.example.net',
      identity: 'op-admin',
      adminListen: '127.0.0.1:0',
      retryPeriodMs: 200,
      log: (level, msg, fields) => logs.push(`${level} ${msg} ${fields ? JSON.stringify(fields) : ''}`),
    });
    url = (await op.admin)!;

    // 1. Standby: ready (the API server answers), not leader, no leader-only series.
    const standby = await eventually(
      'standby /readyz 200',
      async () => {
        const r = await get(`${url}/readyz`);
        return r.status === 200 ? r : undefined;
      },
      WAIT,
    );
    assert.deepEqual(standby.json.checks, { apiServer: 'ok', role: 'standby' });
    assert.equal((await get(`${url}/healthz`)).status, 200);
    let m = (await get(`${url}/metrics`)).text;
    assert.equal(sample(m, 'switchboard_operator_leader'), 0);
    assert.equal(sample(m, 'switchboard_operator_leader_transitions_total'), 0);
    assert.equal(sample(m, 'switchboard_operator_last_sync_age_seconds'), undefined);
    const held = await admin.get<KubeObject & { spec: { holderIdentity?: string } }>(leasePath);
    assert.equal(held.spec.holderIdentity, 'someone-else', 'still a standby');

    // 2. The holder releases the Lease: this replica leads — but its watch caches cannot sync (no CRDs).
    await admin.replace(leasePath, { ...held, spec: { ...held.spec, holderIdentity: null } });
    m = await eventually(
      'leader gauge 1',
      async () => {
        const t = (await get(`${url}/metrics`)).text;
        return sample(t, 'switchboard_operator_leader') === 1 ? t : undefined;
      },
      WAIT,
    );
    assert.equal(sample(m, 'switchboard_operator_leader_transitions_total'), 1);
    assert.equal(sample(m, 'switchboard_operator_cache_synced{resource="tenants"}'), 0);
    const unsynced = await get(`${url}/readyz`);
    assert.equal(unsynced.status, 503, unsynced.text);
    assert.match(String(unsynced.json.reason), /watch caches not synced: .*tenants/);
    assert.equal((unsynced.json.checks as Record<string, string>).role, 'leader');
    assert.equal((await get(`${url}/healthz`)).status, 200, 'not syncing is not a liveness failure');

    // 3. The CRDs arrive: the caches sync (after the reflectors' backoff) and the leader is ready.
    await installCrds(c.kc);
    const synced = await eventually(
      'leader /readyz 200',
      async () => {
        const r = await get(`${url}/readyz`);
        return r.status === 200 ? r : undefined;
      },
      120_000,
    );
    assert.deepEqual(synced.json.checks, { apiServer: 'ok', role: 'leader', caches: 'synced' });

    // 4. A tenant: a reconcile pass is counted by kind and result, and the last-sync age is reported.
    await ensureNamespace(c.kc, 'acme');
    await apply(c.kc, routePolicy('acme', 'acme'));
    await apply(c.kc, tenant('acme', 'acme'));
    m = await eventually(
      'a successful pass that saw the Tenant',
      async () => {
        const t = (await get(`${url}/metrics`)).text;
        const tenants =
          (sample(t, 'switchboard_operator_object_reconciles_total{kind="Tenant",result="ready"}') ?? 0) +
          (sample(t, 'switchboard_operator_object_reconciles_total{kind="Tenant",result="not_ready"}') ?? 0);
        return tenants > 0 && (sample(t, 'switchboard_operator_reconciles_total{result="success"}') ?? 0) > 0
          ? t
          : undefined;
      },
      WAIT,
    );
    assert.equal(sample(m, 'switchboard_operator_cache_synced{resource="tenants"}'), 1);
    const age = sample(m, 'switchboard_operator_last_sync_age_seconds');
    assert.ok(age !== undefined && age >= 0, `last sync age ${age}`);
    assert.ok((sample(m, 'switchboard_operator_writes_total') ?? 0) > 0, 'the pass wrote the rendered config');
    assert.match(m, /# TYPE switchboard_operator_reconciles_total counter/);

    // 5. Stopped: the Lease is released and the admin port is closed.
    await op.stop();
    op = undefined;
    await assert.rejects(fetch(`${url}/healthz`));
  });
});
