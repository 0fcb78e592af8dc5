// Media pods found through Redis (SWITCHBOARD_MEDIA_DISCOVERY=redis), end to end: media pods started with a media
// pool (`default`, `regulated`) write heartbeats to one Redis; the signalling pod's MediaPodAnchor discovers them
// from there (no URL list). A tenant pinned to `mediaPool: regulated` is anchored on the regulated pod, another
// tenant on a default pod; a media pod started after the signalling pod joins its pool and takes calls; killing it
// re-anchors its call on the other default pod (re-INVITE of both legs) and media flows again. Without health
// probes, a pod whose heartbeat expires alone makes its calls lost, and a pod discovered later takes them over.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { type MediaPod, startMediaPod } from '../../../media-pod/src/index.ts';
import { parseCryptoAttribute } from '../../../media-pod/src/srtp/sdes.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
import { mediaPodsFromRedis } from '../../../sbc-pod/src/media/redis-discovery.ts';
import { redisFromSettings } from '../../../sbc-pod/src/redis/connect.ts';
import { CONTOSO, FABRIKAM, type Fixture, providerManifests, startFixture } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { freeUdpTcpPort } from '../harness/ports.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';

import {
  assertMediaBothWays,
  carrierSdp,
  flowUntil,
  newCrypto,
  rtpPacket,
  srtpDecoder,
  teamsSdp,
} from './media-peers.ts';

const TEAMS_MEDIA = '127.0.2.53';
const DEFAULT_A = { low: 47400, high: 47499 };
const REGULATED = { low: 47600, high: 47699 };
const DEFAULT_B = { low: 47800, high: 47899 };
const EXPIRY_1 = { low: 47500, high: 47549 };
const EXPIRY_2 = { low: 47550, high: 47599 };
const RESTART = { low: 47900, high: 47949 };

let redis: RedisServer;
let client: Redis;
let podA: MediaPod;
let podR: MediaPod;
let podB: MediaPod | undefined;
let anchor: MediaPodAnchor;
let f: Fixture;
let carrier: UdpPeer;
/** fabrikam's calls go to its dedicated carrier-c (fixture routing). */
let carrierC: UdpPeer;
let teamsSock: Socket;
let carrierRtp: Socket;
const extraPods: MediaPod[] = [];

const startPod = (podId: string, mediaPool: string, ports: { low: number; high: number }, apiPort = 0) =>
  startMediaPod({
    redisUrl: redis.url,
    podId,
    mediaPool,
    mediaIp: '127.0.0.1',
    apiHost: '127.0.0.1',
    apiPort,
    ports: `${ports.low}-${ports.high}`,
  });

before(async () => {
  redis = await startRedis();
  podA = await startPod('media-a', 'default', DEFAULT_A);
  podR = await startPod('media-r', 'regulated', REGULATED);
  client = redisFromSettings({ url: redis.url })!;
  // Discovery only: no media pod URL is configured anywhere. Probes are given time (a busy test machine must not make
  // a live pod look dead); a dead pod refuses connections at once, so it is still found within seconds.
  anchor = new MediaPodAnchor({ discover: mediaPodsFromRedis(client), healthTimeoutMs: 3000, failuresBeforeDown: 3 });
  await anchor.ready();
  const manifests = (p: Parameters<typeof providerManifests>[0]) =>
    providerManifests(p).replace('  displayName: Contoso\n', '  displayName: Contoso\n  mediaPool: regulated\n');
  f = await startFixture({ manifests, media: anchor });
  carrier = await UdpPeer.start({ port: f.ports.a });
  carrierC = await UdpPeer.start({ port: f.ports.c });
  teamsSock = createSocket('udp4');
  await new Promise<void>((r) => teamsSock.bind(0, TEAMS_MEDIA, r));
  carrierRtp = createSocket('udp4');
  await new Promise<void>((r) => carrierRtp.bind(0, '127.0.0.1', r));
});
after(async () => {
  anchor?.close();
  teamsSock?.close();
  carrierRtp?.close();
  await carrier?.close();
  await carrierC?.close();
  await f?.close();
  for (const p of [podA, podR, podB, ...extraPods]) await p?.close().catch(() => {});
  client?.disconnect();
  await redis?.stop();
});

const audioPort = (body: Buffer | string) => Number(/^m=audio (\d+) /m.exec(body.toString())?.[1]);
const inRange = (port: number, r: { low: number; high: number }) => port >= r.low && port <= r.high;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('media pods discovered from their heartbeats: the regulated tenant on the regulated pod, the other on a default pod', async () => {
  const pods = anchor.pods();
  assert.deepEqual(
    pods
      .map((p) => ({ url: p.url, pool: p.pool, up: p.up, podId: p.podId }))
      .sort((x, y) => x.url.localeCompare(y.url)),
    [
      { url: podA.advertisedUrl, pool: 'default', up: true, podId: 'media-a' },
      { url: podR.advertisedUrl, pool: 'regulated', up: true, podId: 'media-r' },
    ].sort((x, y) => x.url.localeCompare(y.url)),
    'both media pods, with the pools their heartbeats carry',
  );

  const contosoCall = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+15559875001' });
  const toCarrier = await carrier.waitForRequest('INVITE', (r) => r.uri.user === '+15559875001');
  const port = audioPort(toCarrier.msg.body);
  assert.ok(inRange(port, REGULATED), `contoso media on the regulated pod (port ${port})`);
  assert.equal((await contosoCall.final()).status, 200);

  const fabrikamCall = await f.sim.placeCall({ tenantFqdn: FABRIKAM, from: '+15551240001', to: '+15559875002' });
  const toCarrierC = await carrierC.waitForRequest('INVITE', (r) => r.uri.user === '+15559875002');
  const port2 = audioPort(toCarrierC.msg.body);
  assert.ok(inRange(port2, DEFAULT_A), `fabrikam media on the default pod (port ${port2})`);
  assert.equal((await fabrikamCall.final()).status, 200);

  await contosoCall.bye();
  await fabrikamCall.bye();
  await f.waitForCdr((c) => c.callee === '+15559875001');
  await f.waitForCdr((c) => c.callee === '+15559875002');
  assert.equal(podR.engine.sessions.size, 0);
  assert.equal(podA.engine.sessions.size, 0);
});

test('a media pod started later joins its pool and takes calls; killed, its call is re-anchored on the other default pod', async () => {
  podB = await startPod('media-b', 'default', DEFAULT_B);
  const b = podB;
  await until('the new media pod to be discovered', () =>
    anchor.pods().find((p) => p.podId === 'media-b' && p.up && p.pool === 'default'),
  );

  const carrierPort = carrierRtp.address().port;
  const teamsPort = teamsSock.address().port;
  let carrierVersion = 1;
  carrierC.script = [{ status: 180 }, { status: 200, body: carrierSdp(carrierPort, 1) }];
  carrierC.onRequest = (req, from) => {
    if (req.method !== 'INVITE' || !req.to.params.has('tag')) return false;
    carrierC.respond(req, from, { status: 200, body: carrierSdp(carrierPort, ++carrierVersion) });
    return true;
  };

  // New calls go round-robin over the default pool's pods: within two calls one lands on the new pod.
  const teams1 = newCrypto();
  let onB: { call: Awaited<ReturnType<typeof f.sim.placeCall>>; callee: string; invite: unknown } | undefined;
  let carrierLeg1 = 0;
  let ok1: Buffer = Buffer.alloc(0);
  for (let i = 0; i < 2 && !onB; i++) {
    const callee = `+1555987510${i}`;
    const call = await f.sim.placeCall({
      tenantFqdn: FABRIKAM,
      from: '+15551240001',
      to: callee,
      sdp: teamsSdp(TEAMS_MEDIA, teamsPort, teams1.attr, 1),
    });
    const invite = await carrierC.waitForRequest('INVITE', (r) => r.uri.user === callee);
    const ok = await call.final();
    assert.equal(ok.status, 200);
    const port = audioPort(invite.msg.body);
    assert.ok(inRange(port, DEFAULT_A) || inRange(port, DEFAULT_B), `a default pod (port ${port})`);
    if (inRange(port, DEFAULT_B)) {
      onB = { call, callee, invite };
      carrierLeg1 = port;
      ok1 = ok.body;
    } else {
      await call.bye();
    }
  }
  assert.ok(onB, 'a call was anchored on the media pod started after the signalling pod');
  assert.equal(b.engine.sessions.size, 1);
  const ourCrypto1 = parseCryptoAttribute(/^a=crypto:(.*)$/m.exec(ok1.toString())![1]!.trim())!;
  const before1 = await flowUntil(
    teamsSock,
    srtpDecoder(ourCrypto1),
    (i) => carrierRtp.send(rtpPacket(100 + i, 0x9999, randomBytes(160)), carrierLeg1, '127.0.0.1'),
    3,
  );
  assert.equal(before1.length, 3, 'carrier → Teams through the new pod');

  // The new pod dies (its sessions stay in Redis); Teams answers the coming re-INVITE with a new key.
  const teams2 = newCrypto();
  f.sim.sdp = (version: number) => teamsSdp(TEAMS_MEDIA, teamsPort, teams2.attr, version + 1);
  const teamsRequests = onB.call.requests.length;
  const carrierInvites = carrierC.received.filter(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.to.params.has('tag'),
  ).length;
  await b.close({ keepState: true });

  const reinvite = await carrierC.waitForRequest(
    'INVITE',
    (r) =>
      r.to.params.has('tag') &&
      carrierC.received.filter(
        (x) => x.msg.kind === 'request' && x.msg.method === 'INVITE' && x.msg.to.params.has('tag'),
      ).length > carrierInvites,
    20_000,
  );
  const carrierLeg2 = audioPort(reinvite.msg.body);
  assert.ok(inRange(carrierLeg2, DEFAULT_A), `re-anchored on the other default pod (port ${carrierLeg2})`);
  const teamsReinvite = await onB.call.waitForRequest('INVITE', 20_000, teamsRequests);
  const teamsLeg2 = audioPort(teamsReinvite.body);
  assert.ok(inRange(teamsLeg2, DEFAULT_A), `Teams leg on the other default pod too (port ${teamsLeg2})`);
  const ourCrypto2 = parseCryptoAttribute(/^a=crypto:(.*)$/m.exec(teamsReinvite.body.toString())![1]!.trim())!;

  // Media flows again through the surviving default pod, both ways.
  await assertMediaBothWays({
    teamsSock,
    carrierRtp,
    carrierLeg: carrierLeg2,
    teamsLeg: teamsLeg2,
    ourCrypto: ourCrypto2,
    teamsCrypto: teams2.crypto,
  });
  assert.equal(podR.engine.sessions.size, 0, 'never moved onto the regulated pool');

  assert.equal((await onB.call.bye()).status, 200);
  const cdr = await f.waitForCdr((c) => c.callee === onB.callee);
  assert.equal((cdr.media as { reanchored?: number }).reanchored, 1);
  // the dead pod is forgotten once it holds no call (its heartbeat expired)
  await until('the dead pod to leave the list', () =>
    anchor.pods().some((p) => p.podId === 'media-b') ? undefined : true,
  );
  f.sim.assertNoViolations({ ignore: ['H3.3'] });
});

test('without health probes: a heartbeat that expires makes the pod’s calls lost; a pod discovered later takes them', async () => {
  const first = await startPod('media-x1', 'expiry', EXPIRY_1);
  extraPods.push(first);
  const probeless = new MediaPodAnchor({ discover: mediaPodsFromRedis(client), healthIntervalMs: 0 });
  try {
    await until('the pod in pool "expiry"', () => probeless.pods().find((p) => p.podId === 'media-x1'));
    const lost: string[][] = [];
    probeless.onCallsLost((ids) => lost.push(ids));
    const ref = {
      callId: 'expiry-call-1',
      tenant: 'carriers/t',
      from: 'inbound' as const,
      sides: { inbound: 'carrier' as const, outbound: 'carrier' as const },
      pool: 'expiry',
    };
    const offer = await probeless.offer(ref, Buffer.from(carrierSdp(30_000, 1)));
    assert.ok(inRange(audioPort(offer), EXPIRY_1), 'on the pod of pool "expiry"');
    await probeless.answer({ ...ref, from: 'outbound' }, Buffer.from(carrierSdp(30_002, 1)));

    await first.close({ keepState: true });
    await until('the calls-lost report', () => (lost.length > 0 ? true : undefined), 20_000);
    assert.deepEqual(lost, [['expiry-call-1']]);
    assert.equal(probeless.pods().find((p) => p.podId === 'media-x1')?.up, false);
    await assert.rejects(probeless.reanchor('expiry-call-1'), /no healthy media pod/, 'no other pod in the pool yet');

    const second = await startPod('media-x2', 'expiry', EXPIRY_2);
    extraPods.push(second);
    await until('the second pod of pool "expiry"', () => probeless.pods().find((p) => p.podId === 'media-x2' && p.up));
    const offers = await probeless.reanchor('expiry-call-1');
    assert.ok(inRange(audioPort(offers.inbound), EXPIRY_2) && inRange(audioPort(offers.outbound), EXPIRY_2));
    assert.equal(probeless.podOf('expiry-call-1'), second.advertisedUrl);
    await probeless.release('expiry-call-1');
  } finally {
    probeless.close();
  }
});

test('a media pod restarted under the same pod id (a DaemonSet pod name) at the same URL: its calls are lost', async () => {
  const apiPort = await freeUdpTcpPort();
  const first = await startPod('media-s', 'restart', RESTART, apiPort);
  extraPods.push(first);
  // Probes every 200 ms, but a pod never counts as down for failed probes here: only the restart can be noticed.
  const watcher = new MediaPodAnchor({
    discover: mediaPodsFromRedis(client),
    healthIntervalMs: 200,
    healthTimeoutMs: 3000,
    failuresBeforeDown: 1_000_000,
  });
  try {
    await until('the pod in pool "restart"', () => watcher.pods().find((p) => p.podId === 'media-s' && p.up));
    const lost: string[][] = [];
    watcher.onCallsLost((ids) => lost.push(ids));
    const ref = {
      callId: 'restart-call-1',
      tenant: 'carriers/t',
      from: 'inbound' as const,
      sides: { inbound: 'carrier' as const, outbound: 'carrier' as const },
      pool: 'restart',
    };
    await watcher.offer(ref, Buffer.from(carrierSdp(30_000, 1)));
    await watcher.answer({ ...ref, from: 'outbound' }, Buffer.from(carrierSdp(30_002, 1)));
    // let a probe see the first process before it goes
    const seen = (await (await fetch(`${first.url}/v1/health`)).json()) as { instance: string };
    await sleep(500);
    assert.deepEqual(lost, []);

    await first.close({ keepState: true });
    const second = await startPod('media-s', 'restart', RESTART, apiPort);
    extraPods.push(second);
    const now = (await (await fetch(`${second.url}/v1/health`)).json()) as { instance: string; podId: string };
    assert.equal(now.podId, 'media-s');
    assert.notEqual(now.instance, seen.instance, 'a new instance id for the new process');
    await until('the calls-lost report', () => (lost.length > 0 ? true : undefined), 20_000);
    assert.deepEqual(lost, [['restart-call-1']]);
    assert.equal(watcher.pods().find((p) => p.podId === 'media-s')?.up, true, 'the restarted pod takes new calls');
  } finally {
    watcher.close();
  }
});
