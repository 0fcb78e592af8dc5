// The carrier side of trunks: digest challenges on our INVITEs answered with the trunk's credentials (from a v1
// Secret manifest), inbound digest authentication of a carrier without a known source address, OPTIONS health checks
// that take dead targets out of routing (and put them back), and registration with refresh.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import {
  authorizationFor,
  parseChallenge,
  parseCredentials,
  verifyCredentials,
} from '../../../sbc-pod/src/auth/digest.ts';
import { buildResponse, getHeader, type SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import type { HealthChange } from '../../../sbc-pod/src/trunks/health.ts';
import { freeUdpTcpPort } from '../harness/ports.ts';
import { runSipp, scenarioWith, startSipp } from '../harness/sipp.ts';
import { withTimeout } from '../teams-sim/wait.ts';
import { type CarrierPorts, CONTOSO, type Fixture, providerManifests, startFixture } from './fixture.ts';
import { nextInboundCall, scenario, sippFinished } from './helpers.ts';
import { trunk } from './manifests.ts';
import { UdpPeer } from './udp-peer.ts';

let f: Fixture;
const ports = { auth: 0, healthDead: 0, healthLive: 0, registrar: 0 };

before(async () => {
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freeUdpTcpPort();
  const manifests = (p: CarrierPorts) =>
    providerManifests(p).replace(
      '    - name: failover\n',
      `    - name: auth
      match: { destinationPrefix: "+1333" }
      action: { trunks: [{ name: carrier-auth, namespace: carriers }] }
    - name: health
      match: { destinationPrefix: "+1222" }
      action: { trunks: [{ name: carrier-health, namespace: carriers }] }
    - name: failover
`,
    ) +
    `---
apiVersion: v1
kind: Secret
metadata: { name: carrier-auth-credentials, namespace: carriers }
type: Opaque
stringData: { username: sbuser, password: s3cret }
---
apiVersion: v1
kind: Secret
metadata: { name: carrier-in-credentials, namespace: carriers }
type: Opaque
data: { username: aW51c2Vy, password: aW5wYXNz }
` +
    trunk({
      name: 'carrier-auth',
      port: ports.auth,
      outbound: ['auth: { secretRef: { name: carrier-auth-credentials } }'],
      dedicatedTo: 'contoso',
    }) +
    trunk({
      name: 'carrier-in',
      port: 5999,
      inbound: '{ digest: { secretRef: { name: carrier-in-credentials }, realm: carrier-in.test } }',
    }) +
    trunk({
      name: 'carrier-health',
      targets: [
        `{ host: 127.0.0.1, port: ${ports.healthDead}, transport: UDP, priority: 1 }`,
        `{ host: 127.0.0.1, port: ${ports.healthLive}, transport: UDP, priority: 2 }`,
      ],
      healthCheck: '{ enabled: true, optionsIntervalSeconds: 5, failureThreshold: 1 }',
      dedicatedTo: 'contoso',
    }) +
    trunk({
      name: 'carrier-reg',
      port: ports.registrar,
      outbound: [
        'auth: { secretRef: { name: carrier-auth-credentials } }',
        'registration: { registrar: 127.0.0.1, expiresSeconds: 60 }',
      ],
      dedicatedTo: 'contoso',
    });
  // The registrar and the health targets must exist before the pod starts talking to them.
  registrar = await UdpPeer.start({ port: ports.registrar });
  registrar.onRequest = (req, from) => {
    if (req.method !== 'REGISTER') return false;
    const auth = getHeader(req, 'Authorization');
    const creds = auth ? parseCredentials(auth) : undefined;
    const valid = !!creds && creds.username === 'sbuser' && verifyCredentials(creds, 's3cret', 'REGISTER');
    regLog.push({ auth: !!auth, valid, callId: req.callId, cseq: req.cseq.seq, expires: getHeader(req, 'Expires') });
    const res = !auth
      ? buildResponse(req, 401, 'Unauthorized', {
          toTag: 'reg',
          headers: [{ name: 'WWW-Authenticate', value: 'Digest realm="reg.test", nonce="r1", qop="auth"' }],
        })
      : valid
        ? buildResponse(req, 200, 'OK', {
            toTag: 'reg',
            headers: [{ name: 'Contact', value: `<${req.contacts[0]!.uriText}>;expires=2` }],
          })
        : buildResponse(req, 403, 'Forbidden', { toTag: 'reg' });
    registrar.send(res, from);
    return true;
  };
  healthDead = await UdpPeer.start({ port: ports.healthDead });
  healthDead.answerOptions = false;
  healthLive = await UdpPeer.start({ port: ports.healthLive });
  f = await startFixture({ manifests });
});
let registrar: UdpPeer;
const regLog: { auth: boolean; valid: boolean; callId: string; cseq: number; expires: string | undefined }[] = [];
let healthDead: UdpPeer;
let healthLive: UdpPeer;
after(async () => {
  await f?.close();
  await registrar?.close();
  await healthDead?.close();
  await healthLive?.close();
});

test('outbound: a 401 from the carrier is answered with the trunk credentials (sipp verifies them)', async () => {
  const carrier = startSipp({
    scenario: scenarioWith(scenario('uas-auth.xml'), { user: 'sbuser', password: 's3cret' }),
    localPort: ports.auth,
    calls: 1,
  });
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+13335550001' });
  assert.equal((await call.final(10_000)).status, 200, 'sipp accepted our credentials');
  await call.bye();
  const sipp = await sippFinished(carrier);
  assert.equal(sipp.stats.successful, 1, sipp.stdout + sipp.stderr);
  const cdr = await f.waitForCdr((c) => c.callee === '+13335550001');
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.attempts, 1, 'the authenticated retry is the same attempt');
});

test('outbound: the retried INVITE has the same Call-ID and tags, CSeq + 1, a new branch; a second challenge fails', async () => {
  const carrier = await UdpPeer.start({ port: ports.auth });
  try {
    carrier.script = [
      {
        status: 407,
        headers: [{ name: 'Proxy-Authenticate', value: 'Digest realm="carrier.test", nonce="n1", qop="auth"' }],
      },
    ];
    const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+13335550002' });
    const first = (await carrier.waitForRequest('INVITE')).msg as SipRequest;
    const second = (await carrier.waitForRequest('INVITE', (r) => r.cseq.seq === 2)).msg as SipRequest;
    assert.equal(second.callId, first.callId);
    assert.equal(second.from.params.get('tag'), first.from.params.get('tag'));
    assert.notEqual(second.vias[0]?.branch, first.vias[0]?.branch);
    const creds = parseCredentials(getHeader(second, 'Proxy-Authorization') ?? '');
    assert.ok(creds, 'Proxy-Authorization present');
    assert.equal(creds.username, 'sbuser');
    assert.equal(creds.realm, 'carrier.test');
    assert.equal(verifyCredentials(creds, 's3cret', 'INVITE'), true);
    // The peer challenges the retry too (its script repeats): not answered twice; the caller gets 403.
    assert.equal((await call.final(10_000)).status, 403);
  } finally {
    await carrier.close();
  }
});

test('inbound digest: a carrier from an unknown address is challenged (407), then accepted with the right password', async () => {
  const inbound = nextInboundCall(f, '+15551230002');
  const result = await runSipp({
    scenario: scenario('uac-auth.xml'),
    target: `127.0.0.1:${f.udpPort}`,
    localHost: '127.0.0.3',
    calls: 1,
    extraArgs: ['-s', '+15551230002', '-key', 'caller', '+15559877001', '-au', 'inuser', '-ap', 'inpass', '-d', '100'],
    timeoutMs: 30_000,
  });
  assert.equal(result.stats.successful, 1, result.stdout + result.stderr);
  assert.equal((await inbound).tenant?.name, 'contoso');
  const cdr = await f.waitForCdr((c) => c.caller === '+15559877001');
  assert.equal(cdr.trunk, 'carriers/carrier-in');
  assert.equal(cdr.disposition, 'answered');
});

test('inbound digest: wrong password → 403, no credentials → 407, nothing reaches Teams', async () => {
  const peer = await UdpPeer.start({ host: '127.0.0.3' });
  try {
    const sbc = { address: '127.0.0.1', port: f.udpPort };
    const calls = f.sim.inboundCalls.length;
    const bare = peer.invite(sbc, { to: '+15551230003', from: '+15559877002' });
    const challenge = await bare.final();
    assert.equal(challenge.status, 407);
    const c = parseChallenge(getHeader(challenge, 'Proxy-Authenticate') ?? '');
    assert.equal(c?.realm, 'carrier-in.test');
    const wrong = peer.invite(sbc, {
      to: '+15551230003',
      from: '+15559877002',
      headers: [
        {
          name: 'Proxy-Authorization',
          value: authorizationFor(
            c!,
            { username: 'inuser', password: 'nope' },
            { method: 'INVITE', uri: `sip:+15551230003@127.0.0.1:${f.udpPort};user=phone` },
          ),
        },
      ],
    });
    assert.equal((await wrong.final()).status, 403);
    assert.equal(f.sim.inboundCalls.length, calls);
  } finally {
    await peer.close();
  }
});

test('health: OPTIONS marks a silent target down (skipped by routing) and up again when it answers; /status shows it', async () => {
  const health = f.pod.health;
  const changes: HealthChange[] = [];
  health.on('change', (c: HealthChange) => changes.push(c));
  const dead = `udp:127.0.0.1:${ports.healthDead}`;
  const isDown = () => health.status()['carriers/carrier-health']?.[dead]?.state === 'down';
  if (!isDown()) {
    await withTimeout(
      new Promise<void>((resolve) => {
        const on = (c: HealthChange) => {
          if (c.target === dead && c.state === 'down') {
            health.off('change', on);
            resolve();
          }
        };
        health.on('change', on);
      }),
      'the silent target to be marked down',
      15_000,
    );
  }
  // The preferred target is down: the call goes straight to the second one, in one attempt.
  const live = healthLive.received.length;
  const deadSeen = healthDead.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE').length;
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+12225550001' });
  assert.equal((await call.final(10_000)).status, 200);
  await healthLive.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE',
    'INVITE',
    5_000,
    live,
  );
  assert.equal(
    healthDead.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE').length,
    deadSeen,
    'no INVITE to the down target',
  );
  await call.bye();
  const cdr = await f.waitForCdr((c) => c.callee === '+12225550001');
  assert.equal(cdr.attempts, 1);
  const status = (await (await fetch(`http://127.0.0.1:${f.pod.element.admin.address.port}/status`)).json()) as {
    trunkHealth: Record<string, Record<string, { state: string }>>;
  };
  assert.equal(status.trunkHealth['carriers/carrier-health']?.[dead]?.state, 'down');
  assert.equal(status.trunkHealth['carriers/carrier-health']?.[`udp:127.0.0.1:${ports.healthLive}`]?.state, 'up');

  // It answers again: up at the next probe, and preferred again.
  const up = withTimeout(
    new Promise<void>((resolve) => {
      const on = (c: HealthChange) => {
        if (c.target === dead && c.state === 'up') {
          health.off('change', on);
          resolve();
        }
      };
      health.on('change', on);
    }),
    'the target to be marked up',
    15_000,
  );
  healthDead.answerOptions = true;
  await up;
  healthDead.script = [{ status: 486 }];
  const back = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+12225550002' });
  assert.equal((await back.final(10_000)).status, 486, 'the preferred target answered');
});

test('registration: REGISTER with the trunk credentials after a 401, refreshed before the granted expiry', async () => {
  const registrations = f.pod.registrations;
  // The pod registered at start (the registrar answered from before()): a challenge, then credentials.
  if (registrations.status()['carriers/carrier-reg']?.state !== 'registered') {
    await withTimeout(once(registrations, 'registered'), 'the first registration', 10_000);
  }
  const first = regLog[0]!;
  assert.equal(first.auth, false, 'the first REGISTER had no credentials and was challenged');
  const authed = regLog.find((r) => r.auth);
  assert.ok(authed, 'a REGISTER with credentials');
  assert.equal(authed.valid, true, 'they verify against the Secret');
  assert.equal(authed.callId, first.callId);
  assert.ok(authed.cseq > first.cseq);
  assert.equal(authed.expires, '60');
  // Granted 2 s: refreshed before that, with the same Call-ID and a higher CSeq.
  // When the refresh is due is refreshDelayMs's job (unit-tested, half of a short expiry); here: it happens, on
  // its own, with no wall-clock bound that a loaded machine could break.
  const count = regLog.length;
  const [again] = (await withTimeout(once(registrations, 'registered'), 'a refresh', 5_000)) as [{ expires: number }];
  assert.equal(again.expires, 2);
  const refresh = regLog[regLog.length - 1]!;
  assert.ok(regLog.length > count);
  assert.equal(refresh.callId, first.callId);
  assert.ok(refresh.cseq > authed.cseq);
  assert.equal(registrations.status()['carriers/carrier-reg']?.state, 'registered');
});
