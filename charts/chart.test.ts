// charts/switchboard offline: the CRD copies, `helm lint --strict`, `helm template` over several values files with
// assertions on the rendered objects, the least-privilege RBAC (rule for rule the same as operator/rbac), and the
// schema rejecting the invalid values files with its message. No cluster (see chart-apiserver.test.ts for that).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  chartDir,
  find,
  helm,
  invalidValuesFiles,
  type K8sObject,
  ofKind,
  rbacFile,
  render,
  repoRoot,
  SYS,
  VALUES,
  valuesArgs,
} from './helpers.ts';

const FULL = 'switchboard'; // release "switchboard" → fullname "switchboard"

function containers(w: K8sObject): K8sObject[] {
  return w.spec.template.spec.containers;
}
function env(c: K8sObject): Map<string, K8sObject> {
  return new Map((c.env ?? []).map((e: K8sObject) => [e.name, e]));
}
function envValue(c: K8sObject, name: string): string | undefined {
  return env(c).get(name)?.value;
}
/** Kubernetes expands $(VAR) only from variables defined earlier in the list. */
function assertEnvOrder(c: K8sObject): void {
  const names: string[] = (c.env ?? []).map((e: K8sObject) => e.name);
  names.forEach((name, i) => {
    for (const m of String(env(c).get(name)?.value ?? '').matchAll(/\$\(([A-Z_]+)\)/g)) {
      const at = names.indexOf(m[1]!);
      assert.ok(at >= 0 && at < i, `${name} uses $(${m[1]}) before it is defined`);
    }
  });
}
/** SWITCHBOARD_REDIS_URL is set (a literal or from a Secret). */
function hasRedis(c: K8sObject): boolean {
  const e = env(c).get('SWITCHBOARD_REDIS_URL');
  return Boolean(e?.value || e?.valueFrom?.secretKeyRef?.name);
}
const workloadKinds = ['Deployment', 'DaemonSet', 'StatefulSet'];
function workloads(objs: K8sObject[]): K8sObject[] {
  return objs.filter((o) => workloadKinds.includes(o.kind));
}

/** Every pod and container is hardened (Redis included). */
function assertHardened(objs: K8sObject[]): void {
  for (const w of workloads(objs)) {
    const pod = w.spec.template.spec;
    const what = `${w.kind}/${w.metadata.name}`;
    assert.equal(pod.securityContext.runAsNonRoot, true, `${what} runAsNonRoot`);
    assert.ok(pod.securityContext.runAsUser > 0, `${what} runAsUser`);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', `${what} seccomp`);
    for (const c of pod.containers) {
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${what}/${c.name} readOnlyRootFilesystem`);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, `${what}/${c.name} allowPrivilegeEscalation`);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], `${what}/${c.name} drops ALL capabilities`);
      assert.equal(c.securityContext.capabilities.add, undefined, `${what}/${c.name} adds no capability`);
      assert.ok(c.resources?.requests?.memory && c.resources?.limits?.memory, `${what}/${c.name} resources`);
    }
  }
}

/** Selector labels of the pod template must match the workload selector. */
function assertSelectorsMatch(objs: K8sObject[]): void {
  for (const w of workloads(objs)) {
    const labels = w.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(w.spec.selector.matchLabels as Record<string, string>)) {
      assert.equal(labels[k], v, `${w.kind}/${w.metadata.name}: template label ${k}`);
    }
  }
}

function rulesOf(objs: K8sObject[], kind: string, name: string): unknown {
  return find(objs, kind, name).rules;
}

describe('chart files', () => {
  test('charts/switchboard/crds/ is an exact copy of crds/generated/*.yaml', () => {
    const gen = join(repoRoot, 'crds', 'generated');
    const copy = join(chartDir, 'crds');
    const want = readdirSync(gen)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    assert.deepEqual(readdirSync(copy).sort(), want, 'the same CRD files');
    for (const f of want) {
      assert.equal(
        readFileSync(join(copy, f), 'utf8'),
        readFileSync(join(gen, f), 'utf8'),
        `charts/switchboard/crds/${f} differs from crds/generated/${f}: cp crds/generated/*.yaml charts/switchboard/crds/`,
      );
    }
  });
});

describe('Grafana dashboard', () => {
  test('the chart ships the dashboard the metrics tests check, unchanged, in a sidecar-labelled ConfigMap', async () => {
    const source = readFileSync(
      join(repoRoot, 'sbc-pod', 'src', 'telemetry', 'dashboards', 'switchboard-grafana.json'),
      'utf8',
    );
    const shipped = readFileSync(join(chartDir, 'dashboards', 'switchboard.json'), 'utf8');
    assert.equal(
      shipped,
      source,
      'charts/switchboard/dashboards/switchboard.json differs: cp sbc-pod/src/telemetry/dashboards/switchboard-grafana.json charts/switchboard/dashboards/switchboard.json',
    );
    const objs = await render([]);
    const cm = objs.find((o) => o.kind === 'ConfigMap' && String(o.metadata.name).endsWith('-dashboard'));
    assert.ok(cm, 'a dashboard ConfigMap');
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    assert.deepEqual(JSON.parse(cm.data['switchboard.json']), JSON.parse(source));
    const off = await render([], ['metrics.grafanaDashboard.enabled=false']);
    assert.ok(!off.some((o) => o.kind === 'ConfigMap' && String(o.metadata.name).endsWith('-dashboard')));
  });
});

describe('helm lint --strict', () => {
  for (const [name, files] of Object.entries(VALUES)) {
    test(`${name} values`, async () => {
      const r = await helm(['lint', '--strict', '.', ...valuesArgs(files)]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }
});

describe('helm template: default values', () => {
  test('operator: 2 replicas, leader election, `switchboard operator`, its ServiceAccount, a PDB', async () => {
    const objs = await render([]);
    const op = find(objs, 'Deployment', `${FULL}-operator`);
    assert.equal(op.spec.replicas, 2);
    assert.equal(op.metadata.namespace, SYS);
    const c = containers(op)[0]!;
    assert.deepEqual(c.args, ['operator']);
    assert.equal(envValue(c, 'SWITCHBOARD_NAMESPACE'), SYS);
    assert.equal(envValue(c, 'SWITCHBOARD_LEADER_ELECTION'), 'true');
    assert.equal(envValue(c, 'SWITCHBOARD_BASE_DOMAIN'), 'sbc.example.net');
    assert.equal(envValue(c, 'SWITCHBOARD_WILDCARD_SECRET'), 'switchboard-wildcard-tls');
    assert.equal(env(c).get('POD_NAME')?.valueFrom.fieldRef.fieldPath, 'metadata.name');
    assert.equal(op.spec.template.spec.serviceAccountName, `${FULL}-operator`);
    const pdb = find(objs, 'PodDisruptionBudget', `${FULL}-operator`);
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, op.spec.selector.matchLabels);
  });

  test('operator admin server: listen address, port, probes on by default, a headless Service for scraping', async () => {
    const objs = await render([]);
    const op = find(objs, 'Deployment', `${FULL}-operator`);
    const c = containers(op)[0]!;
    assert.equal(envValue(c, 'SWITCHBOARD_OPERATOR_ADMIN_LISTEN'), '0.0.0.0:8081');
    assert.deepEqual(c.ports, [{ name: 'admin', containerPort: 8081, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
    // The readiness check gives the API server 2 s: the probe must wait longer than that.
    assert.ok(c.readinessProbe.timeoutSeconds > 2, `readiness timeoutSeconds ${c.readinessProbe.timeoutSeconds}`);
    const svc = find(objs, 'Service', `${FULL}-operator-admin`);
    assert.equal(svc.spec.clusterIP, 'None');
    assert.deepEqual(svc.spec.selector, op.spec.selector.matchLabels);
    assert.deepEqual(svc.spec.ports, [{ name: 'admin', port: 8081, targetPort: 'admin', protocol: 'TCP' }]);

    const moved = await render([], ['operator.probes.port=9091', 'operator.probes.enabled=false']);
    const mc = containers(find(moved, 'Deployment', `${FULL}-operator`))[0]!;
    assert.equal(envValue(mc, 'SWITCHBOARD_OPERATOR_ADMIN_LISTEN'), '0.0.0.0:9091', 'the server runs without probes');
    assert.equal(mc.ports[0].containerPort, 9091);
    assert.equal(mc.livenessProbe, undefined);
    assert.equal(mc.readinessProbe, undefined);
    assert.deepEqual(find(moved, 'NetworkPolicy', `${FULL}-operator`).spec.ingress[0].ports, [
      { port: 9091, protocol: 'TCP' },
    ]);
  });

  test('sbc-pods: Deployment, kubernetes config source, probes on the admin port, drain-sized grace period', async () => {
    const objs = await render([]);
    const sbc = find(objs, 'Deployment', `${FULL}-sbc-default`);
    assert.equal(sbc.spec.replicas, 2);
    assert.equal(sbc.spec.template.spec.hostNetwork, undefined);
    const c = containers(sbc)[0]!;
    assert.deepEqual(c.args, ['sbc']);
    assert.equal(envValue(c, 'SWITCHBOARD_CONFIG_SOURCE'), 'kubernetes');
    assert.equal(envValue(c, 'SWITCHBOARD_NAMESPACE'), SYS);
    assert.equal(envValue(c, 'SWITCHBOARD_SIP_LISTEN'), 'udp:0.0.0.0:5060,tcp:0.0.0.0:5060,tls:0.0.0.0:5061');
    assert.equal(envValue(c, 'SWITCHBOARD_ADMIN_LISTEN'), '0.0.0.0:8080');
    assert.equal(
      envValue(c, 'SWITCHBOARD_TEAMS_TARGETS'),
      'sip.pstnhub.microsoft.com:5061,sip2.pstnhub.microsoft.com:5061,sip3.pstnhub.microsoft.com:5061',
    );
    assert.equal(envValue(c, 'SWITCHBOARD_REDIS_URL'), `redis://${FULL}-redis.${SYS}.svc:6379`);
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_DISCOVERY'), 'redis', 'media pods are found through Redis');
    assert.equal(envValue(c, 'SWITCHBOARD_SIP_ADVERTISED_FQDN'), 'sbc.example.net', 'default: the base domain');
    assert.equal(env(c).get('SWITCHBOARD_SIP_REUSE_PORT'), undefined, 'one process per SIP address');
    assert.equal(env(c).get('SWITCHBOARD_MEDIA_URL'), undefined, 'no static media list');
    const admin = c.ports.find((p: K8sObject) => p.name === 'admin');
    assert.equal(admin.containerPort, 8080);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
    assert.deepEqual(c.startupProbe.httpGet, { path: '/healthz', port: 'admin' });
    // preStop sleep (5) + drainSeconds (60) + 5.
    assert.equal(sbc.spec.template.spec.terminationGracePeriodSeconds, 70);
    assert.equal(envValue(c, 'SWITCHBOARD_DRAIN_SECONDS'), '60');
    assert.deepEqual(c.lifecycle.preStop, { sleep: { seconds: 5 } });
    assert.equal(sbc.spec.template.spec.serviceAccountName, `${FULL}-sbc`);
    assert.equal(sbc.spec.template.metadata.labels['switchboard.dev/signalling-pool'], 'default');
    assert.equal(sbc.spec.selector.matchLabels['switchboard.dev/signalling-pool'], 'default');
    const pdb = find(objs, 'PodDisruptionBudget', `${FULL}-sbc-default`);
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, sbc.spec.selector.matchLabels);
  });

  test('SIP Service: one LoadBalancer with UDP and TCP, client source IP kept; admin never on it', async () => {
    const objs = await render([]);
    const svc = find(objs, 'Service', `${FULL}-sbc-default`);
    assert.equal(svc.spec.type, 'LoadBalancer');
    assert.equal(svc.spec.externalTrafficPolicy, 'Local');
    assert.deepEqual(
      svc.spec.ports.map((p: K8sObject) => `${p.name}:${p.port}/${p.protocol}`),
      ['sip-udp:5060/UDP', 'sip-tcp:5060/TCP', 'sip-tls:5061/TCP'],
    );
    const sbc = find(objs, 'Deployment', `${FULL}-sbc-default`);
    assert.deepEqual(svc.spec.selector, sbc.spec.selector.matchLabels);
    const admin = find(objs, 'Service', `${FULL}-sbc-admin`);
    assert.equal(admin.spec.clusterIP, 'None');
    assert.deepEqual(
      admin.spec.ports.map((p: K8sObject) => p.port),
      [8080],
    );
  });

  test('media-pods: hostNetwork DaemonSet on the pool-labelled nodes, port range, advertised node address', async () => {
    const objs = await render([]);
    const ds = find(objs, 'DaemonSet', `${FULL}-media-default`);
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(pod.nodeSelector, { 'switchboard.dev/media-pool': 'default' });
    const c = pod.containers[0]!;
    assert.deepEqual(c.args, ['media']);
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_PORTS'), '40000-49999');
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_ADVERTISED_IP'), '$(HOST_IP)');
    assert.equal(env(c).get('HOST_IP')?.valueFrom.fieldRef.fieldPath, 'status.hostIP');
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_API_LISTEN'), '$(HOST_IP):8090');
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/v1/health', port: 'api' });
  });

  test('media-pods: pool, control URL on the node address, no-media timeout and Redis for their heartbeats', async () => {
    const objs = await render([]);
    const c = containers(find(objs, 'DaemonSet', `${FULL}-media-default`))[0]!;
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_POOL'), 'default');
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_API_ADVERTISED_URL'), 'http://$(HOST_IP):8090');
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT'), '60');
    assert.equal(envValue(c, 'SWITCHBOARD_REDIS_URL'), `redis://${FULL}-redis.${SYS}.svc:6379`);
    assertEnvOrder(c);
    const api = c.ports.find((p: K8sObject) => p.name === 'api');
    assert.equal(api.containerPort, 8090);

    const tuned = await render([], ['media.noMediaTimeoutSeconds=0', 'media.apiPort=9190']);
    const tc = containers(find(tuned, 'DaemonSet', `${FULL}-media-default`))[0]!;
    assert.equal(envValue(tc, 'SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT'), '0', '0 = off');
    assert.equal(envValue(tc, 'SWITCHBOARD_MEDIA_API_LISTEN'), '$(HOST_IP):9190');
    assert.equal(envValue(tc, 'SWITCHBOARD_MEDIA_API_ADVERTISED_URL'), 'http://$(HOST_IP):9190');
  });

  test('media disabled: no media pods, and the sbc-pods get no media discovery', async () => {
    const objs = await render([], ['media.enabled=false']);
    assert.equal(
      workloads(objs).find((w) => w.metadata.name.includes('-media-')),
      undefined,
    );
    const c = containers(find(objs, 'Deployment', `${FULL}-sbc-default`))[0]!;
    assert.equal(env(c).get('SWITCHBOARD_MEDIA_DISCOVERY'), undefined);
  });

  test('bundled Redis for trials: a single StatefulSet and a Service, reachable only from Switchboard pods', async () => {
    const objs = await render([]);
    const sts = find(objs, 'StatefulSet', `${FULL}-redis`);
    assert.equal(sts.spec.replicas, 1);
    find(objs, 'Service', `${FULL}-redis`);
    const np = find(objs, 'NetworkPolicy', `${FULL}-redis`);
    assert.deepEqual(np.spec.ingress[0].ports, [{ port: 6379, protocol: 'TCP' }]);
    assert.equal(np.spec.ingress[0].from[0].podSelector.matchLabels['app.kubernetes.io/part-of'], 'switchboard');
  });

  test('wildcard Certificate: *.base + base, server auth + client auth, RSA, the issuer from values', async () => {
    const objs = await render([]);
    const cert = find(objs, 'Certificate', `${FULL}-wildcard`);
    assert.equal(cert.apiVersion, 'cert-manager.io/v1');
    assert.deepEqual(cert.spec.dnsNames, ['*.sbc.example.net', 'sbc.example.net']);
    assert.ok(cert.spec.usages.includes('server auth') && cert.spec.usages.includes('client auth'));
    assert.equal(cert.spec.privateKey.algorithm, 'RSA');
    assert.ok(cert.spec.privateKey.size >= 2048);
    assert.equal(cert.spec.secretName, 'switchboard-wildcard-tls');
    assert.deepEqual(cert.spec.issuerRef, {
      name: 'switchboard-wildcard-issuer',
      kind: 'ClusterIssuer',
      group: 'cert-manager.io',
    });
    const none = await render([], ['certificates.wildcard.create=false']);
    assert.equal(ofKind(none, 'Certificate').length, 0);
  });

  test('RBAC: the rules of operator/rbac/operator.yaml and sbc-pod.yaml, bound to the chart ServiceAccounts', async () => {
    const objs = await render([]);
    const opFile = rbacFile('operator.yaml');
    const sbcFile = rbacFile('sbc-pod.yaml');
    assert.deepEqual(
      rulesOf(objs, 'ClusterRole', `${FULL}-operator`),
      rulesOf(opFile, 'ClusterRole', 'switchboard-operator'),
    );
    assert.deepEqual(rulesOf(objs, 'Role', `${FULL}-operator`), rulesOf(opFile, 'Role', 'switchboard-operator'));
    assert.deepEqual(rulesOf(objs, 'Role', `${FULL}-sbc`), rulesOf(sbcFile, 'Role', 'switchboard-sbc'));
    // Exactly these roles; media, Redis and the CDR exporter get none.
    assert.deepEqual(
      ofKind(objs, 'ClusterRole').map((o) => o.metadata.name),
      [`${FULL}-operator`],
    );
    assert.deepEqual(
      ofKind(objs, 'Role')
        .map((o) => o.metadata.name)
        .sort(),
      [`${FULL}-operator`, `${FULL}-sbc`],
    );
    for (const [kind, name, sa] of [
      ['ClusterRoleBinding', `${FULL}-operator`, `${FULL}-operator`],
      ['RoleBinding', `${FULL}-operator`, `${FULL}-operator`],
      ['RoleBinding', `${FULL}-sbc`, `${FULL}-sbc`],
    ] as const) {
      const b = find(objs, kind, name);
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: SYS }]);
      assert.equal(b.roleRef.name, name);
    }
    // The Role is namespaced to the release (system) namespace.
    assert.equal(find(objs, 'Role', `${FULL}-operator`).metadata.namespace, SYS);
    for (const sa of ofKind(objs, 'ServiceAccount')) {
      const needsToken = [`${FULL}-operator`, `${FULL}-sbc`].includes(sa.metadata.name);
      assert.equal(sa.automountServiceAccountToken, needsToken, `${sa.metadata.name} token`);
    }
  });

  test('hardening, selectors and NetworkPolicies', async () => {
    const objs = await render([]);
    assertHardened(objs);
    assertSelectorsMatch(objs);
    const names = ofKind(objs, 'NetworkPolicy').map((o) => o.metadata.name);
    assert.deepEqual(names.sort(), [`${FULL}-operator`, `${FULL}-redis`, `${FULL}-sbc`]);
    const op = find(objs, 'NetworkPolicy', `${FULL}-operator`);
    assert.deepEqual(
      op.spec.ingress,
      [
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
          ports: [{ port: 8081, protocol: 'TCP' }],
        },
      ],
      'only the admin port, only from the monitoring namespaces (and node CIDRs when listed)',
    );
    assert.deepEqual(op.spec.policyTypes, ['Ingress'], 'egress is not restricted (the API server)');
    const sbc = find(objs, 'NetworkPolicy', `${FULL}-sbc`);
    assert.equal(sbc.spec.ingress[0].from, undefined, 'SIP from anywhere by default');
    assert.deepEqual(sbc.spec.ingress[1].ports, [{ port: 8080, protocol: 'TCP' }]);
    assert.equal(ofKind(objs, 'ServiceMonitor').length, 0, 'ServiceMonitor is opt-in');
  });
});

describe('helm template: other values', () => {
  test('hostNetwork: sbc-pods as a DaemonSet on the host network, no LoadBalancer, node-labelled', async () => {
    const objs = await render(VALUES.hostNetwork!);
    assert.equal(ofKind(objs, 'Deployment').filter((d) => d.metadata.name.includes('-sbc-')).length, 0);
    const ds = find(objs, 'DaemonSet', `${FULL}-sbc-default`);
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(pod.nodeSelector, { 'switchboard.dev/sbc-pool': 'default' });
    assert.equal(pod.terminationGracePeriodSeconds, 40, 'preStop 5 + drain 30 + 5');
    const c = pod.containers[0]!;
    assert.equal(envValue(c, 'SWITCHBOARD_ADMIN_LISTEN'), '$(POD_IP):8080', 'admin not on the public address');
    assert.equal(env(c).get('SWITCHBOARD_SIP_ADVERTISED_IP')?.valueFrom.fieldRef.fieldPath, 'status.hostIP');
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
    assert.equal(
      ofKind(objs, 'Service').find((s) => s.spec.type === 'LoadBalancer'),
      undefined,
      'no LoadBalancer in hostNetwork mode',
    );
    assert.equal(ofKind(objs, 'PodDisruptionBudget').filter((p) => p.metadata.name.includes('-sbc-')).length, 0);
    const names = ofKind(objs, 'NetworkPolicy').map((o) => o.metadata.name);
    assert.ok(!names.includes(`${FULL}-sbc`), 'NetworkPolicy does not apply to hostNetwork pods');
    const redisNp = find(objs, 'NetworkPolicy', `${FULL}-redis`);
    assert.deepEqual(redisNp.spec.ingress[0].from[1], { ipBlock: { cidr: '10.0.0.0/8' } });
    // Kubelet probes from node addresses reach the operator's admin port.
    const opNp = find(objs, 'NetworkPolicy', `${FULL}-operator`);
    assert.deepEqual(opNp.spec.ingress[0].from[1], { ipBlock: { cidr: '10.0.0.0/8' } });
    // Media discovery and the advertised FQDN in DaemonSet mode too; never SO_REUSEPORT (one pod per node).
    assert.equal(envValue(c, 'SWITCHBOARD_MEDIA_DISCOVERY'), 'redis');
    assert.equal(envValue(c, 'SWITCHBOARD_SIP_ADVERTISED_FQDN'), 'sbc.example.net');
    assert.equal(env(c).get('SWITCHBOARD_SIP_REUSE_PORT'), undefined);
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 1);
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxSurge, undefined, 'no surge: never two pods on one node');
    assertHardened(objs);
  });

  test('external Redis with Sentinel: no bundled Redis; URL from the Secret and Sentinel settings everywhere', async () => {
    const objs = await render(VALUES.externalSentinel!, ['cdrExport.enabled=true']);
    assert.equal(ofKind(objs, 'StatefulSet').length, 0);
    assert.equal(
      objs.find((o) => o.metadata.name === `${FULL}-redis`),
      undefined,
    );
    const users = workloads(objs).filter((w) => !w.metadata.name.endsWith('-operator'));
    assert.deepEqual(users.map((w) => w.metadata.name).sort(), [
      `${FULL}-cdr-export`,
      `${FULL}-media-default`,
      `${FULL}-sbc-default`,
    ]);
    for (const w of users) {
      const c = containers(w)[0]!;
      assert.deepEqual(env(c).get('SWITCHBOARD_REDIS_URL')?.valueFrom.secretKeyRef, { name: 'redis-url', key: 'url' });
      assert.equal(
        envValue(c, 'SWITCHBOARD_REDIS_SENTINELS'),
        'sentinel-0.redis:26379,sentinel-1.redis:26379,sentinel-2.redis:26379',
      );
      assert.equal(envValue(c, 'SWITCHBOARD_REDIS_SENTINEL_MASTER'), 'sbc-master');
    }
    const operator = containers(find(objs, 'Deployment', `${FULL}-operator`))[0]!;
    assert.equal(env(operator).get('SWITCHBOARD_REDIS_URL'), undefined, 'the operator does not use Redis');
    const exporter = containers(find(objs, 'Deployment', `${FULL}-cdr-export`))[0]!;
    assert.deepEqual(exporter.args.slice(0, 4), ['cdr', 'export', '--sink', 'stdout']);
  });

  test('two regions: per-region base domain, certificate, Teams targets, Redis, ServiceMonitor', async () => {
    const [eu, us] = await Promise.all([render(VALUES.eu!), render(VALUES.us!)]);
    for (const [objs, region, base] of [
      [eu, 'eu', 'eu.sbc.example.net'],
      [us, 'us', 'us.sbc.example.net'],
    ] as const) {
      const op = containers(find(objs, 'Deployment', `${FULL}-operator`))[0]!;
      assert.equal(envValue(op, 'SWITCHBOARD_BASE_DOMAIN'), base);
      const cert = find(objs, 'Certificate', `${FULL}-wildcard`);
      assert.deepEqual(cert.spec.dnsNames, [`*.${base}`, base]);
      assert.equal(cert.spec.issuerRef.name, `acme-dns01-${region}`);
      const sbc = find(objs, 'Deployment', `${FULL}-sbc-default`);
      assert.equal(sbc.metadata.labels?.['switchboard.dev/region'], region);
      assert.equal(sbc.spec.replicas, 3);
      const c = containers(sbc)[0]!;
      // sip is always tried first; sip2 and sip3 follow (T1.10).
      assert.deepEqual(envValue(c, 'SWITCHBOARD_TEAMS_TARGETS')?.split(','), [
        'sip.pstnhub.microsoft.com:5061',
        'sip2.pstnhub.microsoft.com:5061',
        'sip3.pstnhub.microsoft.com:5061',
      ]);
      assert.equal(envValue(c, 'SWITCHBOARD_SIP_ADVERTISED_FQDN'), base);
      assert.equal(ofKind(objs, 'StatefulSet').length, 0, 'external Redis');
      assert.equal(envValue(c, 'SWITCHBOARD_REDIS_SENTINEL_MASTER'), `switchboard-${region}`);
      const sm = find(objs, 'ServiceMonitor', `${FULL}-sbc`);
      assert.equal(sm.spec.endpoints[0].port, 'admin');
      assert.equal(sm.spec.endpoints[0].path, '/metrics');
      // Both operator replicas are scraped through their headless admin Service.
      const opSm = find(objs, 'ServiceMonitor', `${FULL}-operator`);
      const opSvc = find(objs, 'Service', `${FULL}-operator-admin`);
      for (const [k, v] of Object.entries(opSm.spec.selector.matchLabels as Record<string, string>)) {
        assert.equal(opSvc.metadata.labels?.[k], v, `operator admin Service label ${k}`);
      }
      assert.ok(
        !Object.entries(sm.spec.selector.matchLabels as Record<string, string>).every(
          ([k, v]) => opSvc.metadata.labels?.[k] === v,
        ),
        'the sbc ServiceMonitor does not select the operator',
      );
      assert.deepEqual(opSm.spec.endpoints, [{ port: 'admin', path: '/metrics', interval: '30s' }]);
      // Regulated tenants: their own signalling and media pools.
      find(objs, 'Deployment', `${FULL}-sbc-regulated`);
      find(objs, 'DaemonSet', `${FULL}-media-regulated`);
      assertHardened(objs);
    }
    const lb = (objs: K8sObject[]) => find(objs, 'Service', `${FULL}-sbc-default`).spec.loadBalancerIP;
    assert.notEqual(lb(eu), lb(us));
  });

  test('dedicated pool: one Deployment/Service/PDB and one media DaemonSet per pool, disjoint selectors', async () => {
    const objs = await render(VALUES.dedicatedPool!);
    const def = find(objs, 'Deployment', `${FULL}-sbc-default`);
    const reg = find(objs, 'Deployment', `${FULL}-sbc-regulated`);
    assert.equal(def.spec.replicas, 3);
    assert.equal(reg.spec.replicas, 2);
    assert.equal(reg.spec.selector.matchLabels['switchboard.dev/signalling-pool'], 'regulated');
    assert.notDeepEqual(def.spec.selector.matchLabels, reg.spec.selector.matchLabels);
    assert.deepEqual(reg.spec.template.spec.nodeSelector, { 'switchboard.dev/regulated': 'true' });
    assert.equal(def.spec.template.spec.nodeSelector, undefined);
    const regC = containers(reg)[0]!;
    assert.equal(envValue(regC, 'SWITCHBOARD_SIGNALLING_POOL'), 'regulated');
    assert.equal(envValue(regC, 'SWITCHBOARD_SIP_ADVERTISED_IP'), '192.0.2.50');
    assert.equal(envValue(containers(def)[0]!, 'SWITCHBOARD_SIP_ADVERTISED_IP'), undefined);
    const regSvc = find(objs, 'Service', `${FULL}-sbc-regulated`);
    assert.equal(regSvc.spec.loadBalancerIP, '192.0.2.50');
    assert.deepEqual(regSvc.metadata.annotations, { 'example.net/lb': 'regulated' });
    assert.deepEqual(regSvc.spec.selector, reg.spec.selector.matchLabels);
    assert.equal(find(objs, 'Service', `${FULL}-sbc-default`).spec.loadBalancerIP, undefined);
    find(objs, 'PodDisruptionBudget', `${FULL}-sbc-regulated`);
    find(objs, 'PodDisruptionBudget', `${FULL}-sbc-default`);
    const media = find(objs, 'DaemonSet', `${FULL}-media-regulated`);
    const mc = containers(media)[0]!;
    assert.equal(envValue(mc, 'SWITCHBOARD_MEDIA_PORTS'), '30000-30999');
    assert.equal(envValue(mc, 'SWITCHBOARD_MEDIA_ADVERTISED_IP'), '192.0.2.60');
    assert.deepEqual(media.spec.template.spec.nodeSelector, { 'switchboard.dev/media-pool': 'regulated' });
    assert.equal(
      envValue(containers(find(objs, 'DaemonSet', `${FULL}-media-default`))[0]!, 'SWITCHBOARD_MEDIA_PORTS'),
      '40000-49999',
    );
    // Each media pool announces its own name; a pool may change the no-media timeout.
    assert.equal(envValue(mc, 'SWITCHBOARD_MEDIA_POOL'), 'regulated');
    assert.equal(envValue(mc, 'SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT'), '120');
    const dc = containers(find(objs, 'DaemonSet', `${FULL}-media-default`))[0]!;
    assert.equal(envValue(dc, 'SWITCHBOARD_MEDIA_POOL'), 'default');
    assert.equal(envValue(dc, 'SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT'), '60');
    assertSelectorsMatch(objs);
  });

  test('every values set: with media on, every sbc-pod discovers media through Redis and every media pod has Redis', async () => {
    for (const [name, files] of Object.entries(VALUES)) {
      const objs = await render(files);
      const media = ofKind(objs, 'DaemonSet').filter((d) => d.metadata.name.startsWith(`${FULL}-media-`));
      assert.ok(media.length > 0, `${name}: media pods`);
      const sbcs = workloads(objs).filter((w) => w.metadata.name.startsWith(`${FULL}-sbc-`));
      assert.ok(sbcs.length > 0, `${name}: sbc-pods`);
      for (const w of [...media, ...sbcs]) {
        const c = containers(w)[0]!;
        assert.ok(hasRedis(c), `${name}: ${w.metadata.name} has SWITCHBOARD_REDIS_URL`);
        assertEnvOrder(c);
      }
      for (const w of sbcs) {
        assert.equal(
          envValue(containers(w)[0]!, 'SWITCHBOARD_MEDIA_DISCOVERY'),
          'redis',
          `${name}: ${w.metadata.name}`,
        );
      }
      for (const w of media) {
        const c = containers(w)[0]!;
        assert.equal(
          envValue(c, 'SWITCHBOARD_MEDIA_POOL'),
          w.spec.template.metadata.labels['switchboard.dev/media-pool'],
        );
        assert.match(envValue(c, 'SWITCHBOARD_MEDIA_API_ADVERTISED_URL') ?? '', /^http:\/\/\$\(HOST_IP\):\d+$/);
      }
    }
  });

  test('NOTES warn when hostNetwork media pods could not reach the bundled Redis through its NetworkPolicy', async () => {
    const notes = async (files: string[]): Promise<string> => {
      const r = await helm(['install', 'switchboard', '.', '-n', SYS, '--dry-run=client', ...valuesArgs(files)]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.slice(r.stdout.indexOf('NOTES:'));
    };
    assert.match(await notes([]), /networkPolicy\.nodeCidrs is empty[\s\S]*media pods could not heartbeat/);
    assert.doesNotMatch(await notes(VALUES.hostNetwork!), /nodeCidrs is empty/, 'node CIDRs listed');
  });
});

describe('rejected values', () => {
  for (const { file, expect } of invalidValuesFiles()) {
    test(`${file}: lint and template fail with the schema message`, async () => {
      const [lint, tpl] = await Promise.all([
        helm(['lint', '--strict', '.', '-f', file]),
        helm(['template', 'switchboard', '.', '-n', SYS, '-f', file]),
      ]);
      assert.notEqual(lint.code, 0, `helm lint accepted ${file}`);
      assert.ok(
        lint.stdout.includes(expect) || lint.stderr.includes(expect),
        `lint output lacks "${expect}":\n${lint.stdout}${lint.stderr}`,
      );
      assert.notEqual(tpl.code, 0, `helm template accepted ${file}`);
      assert.ok(tpl.stderr.includes("values don't meet the specifications of the schema"), tpl.stderr);
      assert.ok(tpl.stderr.includes(expect), `template stderr lacks "${expect}":\n${tpl.stderr}`);
    });
  }

  test('template-time checks: several operator replicas need leader election; pool names are unique', async () => {
    const a = await helm(['template', 'switchboard', '.', '--set', 'operator.leaderElection=false']);
    assert.notEqual(a.code, 0);
    assert.match(a.stderr, /operator\.leaderElection must be true when operator\.replicas > 1/);
    const ok = await helm([
      'template',
      'switchboard',
      '.',
      '--set',
      'operator.leaderElection=false,operator.replicas=1',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const b = await helm(['template', 'switchboard', '.', '--set', 'sbc.pools[0].name=a,sbc.pools[1].name=a']);
    assert.notEqual(b.code, 0);
    assert.match(b.stderr, /sbc\.pools: pool "a" is listed twice/);
  });
});
