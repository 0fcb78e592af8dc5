// Media re-anchoring, end to end: two media pods share one Redis state store; the sbc-pod anchors a Teams → carrier
// call on the first. That pod dies; the sbc-pod's health probe notices, the second pod takes the call over
// (`/reanchor`), and the B2BUA re-INVITEs both legs with the fresh offers (new port, and a new key toward Teams).
// After the answers, RTP from the carrier reaches Teams as SRTP under the new key through the second pod, and the
// other way round; BYE ends the call and exactly one CDR is written.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { type MediaPod, startMediaPod } from '../../../media-pod/src/index.ts';
import { SrtpContext } from '../../../media-pod/src/srtp/context.ts';
import { type CryptoAttribute, parseCryptoAttribute, policyFromCrypto } from '../../../media-pod/src/srtp/sdes.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
import { CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';

import { assertMediaBothWays, carrierSdp, flowUntil, newCrypto, rtpPacket, teamsSdp } from './media-peers.ts';

const TEAMS_MEDIA = '127.0.2.51';
const POOL1 = { low: 43000, high: 43099 };
const POOL2 = { low: 43200, high: 43299 };
const CALLEE = '+15559870077';

let redis: RedisServer;
let pod1: MediaPod;
let pod2: MediaPod;
let anchor: MediaPodAnchor;
let f: Fixture;
let carrier: UdpPeer;
let teamsSock: Socket;
let carrierRtp: Socket;

before(async () => {
  redis = await startRedis();
  const common = { redisUrl: redis.url, mediaIp: '127.0.0.1', apiHost: '127.0.0.1', apiPort: 0 };
  pod1 = await startMediaPod({ ...common, podId: 'media-1', pools: [{ name: 'p', ...POOL1 }] });
  pod2 = await startMediaPod({ ...common, podId: 'media-2', pools: [{ name: 'p', ...POOL2 }] });
  // New calls round-robin from the first pod; a pod is lost after two failed probes 100 ms apart.
  anchor = new MediaPodAnchor({
    urls: [pod1.url, pod2.url],
    healthIntervalMs: 100,
    healthTimeoutMs: 200,
    failuresBeforeDown: 2,
  });
  f = await startFixture({ media: anchor });
  carrier = await UdpPeer.start({ port: f.ports.a });
  teamsSock = createSocket('udp4');
  await new Promise<void>((r) => teamsSock.bind(0, TEAMS_MEDIA, r));
  carrierRtp = createSocket('udp4');
  await new Promise<void>((r) => carrierRtp.bind(0, '127.0.0.1', r));
});
after(async () => {
  teamsSock?.close();
  carrierRtp?.close();
  anchor?.close();
  await carrier?.close();
  await f?.close();
  await pod1?.close().catch(() => {});
  await pod2?.close();
  await redis?.stop();
});

const sdpLines = (body: Buffer | string): string[] => body.toString().split(/\r?\n/);
const audioPort = (lines: string[]) => Number(lines.find((l) => l.startsWith('m=audio '))!.split(' ')[1]);
const cryptoOf = (lines: string[]): CryptoAttribute => {
  const c = parseCryptoAttribute(lines.find((l) => l.startsWith('a=crypto:'))!.slice('a=crypto:'.length));
  assert.ok(c?.supported, 'a usable a=crypto line');
  return c;
};
const inPool = (port: number, pool: { low: number; high: number }) => port >= pool.low && port <= pool.high;

test('the media pod holding a call dies: both legs are re-INVITEd onto the second pod and media flows again', async () => {
  const carrierPort = carrierRtp.address().port;
  const teamsPort = teamsSock.address().port;
  carrier.script = [{ status: 180 }, { status: 200, body: carrierSdp(carrierPort, 1) }];
  let carrierVersion = 1;
  carrier.onRequest = (req, from) => {
    if (req.method !== 'INVITE' || !req.to.params.has('tag')) return false;
    carrier.respond(req, from, { status: 200, body: carrierSdp(carrierPort, ++carrierVersion) });
    return true;
  };

  const teams1 = newCrypto();
  const call = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230001',
    to: CALLEE,
    sdp: teamsSdp(TEAMS_MEDIA, teamsPort, teams1.attr, 1),
  });
  const invite = await carrier.waitForRequest('INVITE', (r) => r.uri.user === CALLEE);
  const carrierLeg1 = audioPort(sdpLines(invite.msg.body));
  assert.ok(inPool(carrierLeg1, POOL1), `the call starts on the first media pod (port ${carrierLeg1})`);
  const ok = await call.final();
  assert.equal(ok.status, 200);
  const toTeams1 = sdpLines(ok.body);
  const teamsLeg1 = audioPort(toTeams1);
  const ourCrypto1 = cryptoOf(toTeams1);
  assert.ok(inPool(teamsLeg1, POOL1));
  assert.equal(anchor.podOf(f.pod.b2bua.activeCalls()[0]!.id), pod1.url);

  // Media flows through the first pod.
  const rx1 = new SrtpContext(policyFromCrypto(ourCrypto1));
  const before1 = await flowUntil(
    teamsSock,
    (m) => {
      const p = rx1.unprotect(m);
      return Buffer.isBuffer(p) ? p : undefined;
    },
    (i) => carrierRtp.send(rtpPacket(100 + i, 0x9999, randomBytes(160)), carrierLeg1, '127.0.0.1'),
    3,
  );
  assert.equal(before1.length, 3, 'carrier → Teams through the first pod');

  // Teams answers the coming re-INVITE with a new key of its own (the simulator's SDP is replaced for this test).
  const teams2 = newCrypto();
  f.sim.sdp = (version: number) => teamsSdp(TEAMS_MEDIA, teamsPort, teams2.attr, version + 1);
  const carrierInvites = carrier.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE').length;
  const teamsRequests = call.requests.length;

  // The pod holding the call dies (its state stays in Redis).
  await pod1.close({ keepState: true });

  const reinvite = await carrier.waitForRequest('INVITE', (r) => r.to.params.has('tag'), 10_000);
  assert.equal(
    carrier.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE').length,
    carrierInvites + 1,
    'one re-INVITE toward the carrier',
  );
  assert.equal(reinvite.msg.callId, invite.msg.callId, 'in the carrier dialog');
  assert.ok(reinvite.msg.cseq.seq > invite.msg.cseq.seq, 'with the next CSeq');
  assert.ok(reinvite.msg.contacts.length === 1, 'with our Contact');
  const toCarrier2 = sdpLines(reinvite.msg.body);
  const carrierLeg2 = audioPort(toCarrier2);
  assert.ok(inPool(carrierLeg2, POOL2), `a port of the second pod toward the carrier (${carrierLeg2})`);
  assert.ok(toCarrier2.some((l) => / RTP\/AVP /.test(l)) && !toCarrier2.some((l) => l.startsWith('a=crypto')));

  const teamsReinvite = await call.waitForRequest('INVITE', 10_000, teamsRequests);
  const toTeams2 = sdpLines(teamsReinvite.body);
  const teamsLeg2 = audioPort(toTeams2);
  assert.ok(inPool(teamsLeg2, POOL2), `a port of the second pod toward Teams (${teamsLeg2})`);
  assert.ok(
    toTeams2.some((l) => / RTP\/SAVP /.test(l)),
    'SRTP toward Teams',
  );
  const ourCrypto2 = cryptoOf(toTeams2);
  assert.notDeepEqual(ourCrypto2.keys[0]!.key, ourCrypto1.keys[0]!.key, 'a fresh key toward Teams');
  assert.ok(teamsReinvite.cseq.seq > 0 && teamsReinvite.contacts.length === 1);
  assert.equal(anchor.podOf(f.pod.b2bua.activeCalls()[0]!.id), pod2.url);

  // Both ways through the second pod, under the new keys.
  await assertMediaBothWays({
    teamsSock,
    carrierRtp,
    carrierLeg: carrierLeg2,
    teamsLeg: teamsLeg2,
    ourCrypto: ourCrypto2,
    teamsCrypto: teams2.crypto,
  });

  const bye = await call.bye();
  assert.equal(bye.status, 200);
  const cdr = await f.waitForCdr((c) => c.callee === CALLEE);
  assert.equal(cdr.disposition, 'answered');
  assert.equal((cdr.media as { reanchored?: number }).reanchored, 1);
  assert.equal(f.cdrs().filter((c) => c.callee === CALLEE).length, 1, 'one CDR');
  assert.equal(f.pod.b2bua.activeCalls().length, 0);
  f.sim.assertNoViolations({ ignore: ['H3.3'] });
});
