// Media anchored on a media pod, end to end: a Teams call (SRTP, ICE-lite, RTCP-mux offered by the SBC toward
// Teams) to a carrier (plain RTP), then real packets both ways — SRTP from "Teams" arrives at the carrier as RTP
// with the same payload and sequence, and RTP from the carrier reaches "Teams" as SRTP it can decrypt.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { type MediaPod, startMediaPod } from '../../../media-pod/src/index.ts';
import { SrtpContext } from '../../../media-pod/src/srtp/context.ts';
import { parseCryptoAttribute, policyFromCrypto } from '../../../media-pod/src/srtp/sdes.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
import { CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';

import { newCrypto, rtpPacket, teamsSdp } from './media-peers.ts';

const TEAMS_MEDIA = '127.0.2.50';
let media: MediaPod;
let f: Fixture;
let carrier: UdpPeer;
let teamsSock: Socket;
let carrierRtp: Socket;

before(async () => {
  media = await startMediaPod({ mediaIp: '127.0.0.1', ports: '41000-41199', apiHost: '127.0.0.1', apiPort: 0 });
  f = await startFixture({ media: new MediaPodAnchor({ url: media.url }) });
  carrier = await UdpPeer.start({ port: f.ports.a });
  teamsSock = createSocket('udp4');
  await new Promise<void>((r) => teamsSock.bind(0, TEAMS_MEDIA, r));
  carrierRtp = createSocket('udp4');
  await new Promise<void>((r) => carrierRtp.bind(40000, '127.0.0.1', r)); // the port in UdpPeer's SDP
});
after(async () => {
  teamsSock?.close();
  carrierRtp?.close();
  await carrier?.close();
  await f?.close();
  await media?.close();
});

function sdpLines(body: Buffer | string): string[] {
  return body.toString().split(/\r?\n/);
}
const audioPort = (lines: string[]) => Number(lines.find((l) => l.startsWith('m=audio '))!.split(' ')[1]);
const connection = (lines: string[]) => lines.find((l) => l.startsWith('c='))!.split(' ')[2]!;

test('Teams → carrier: SRTP toward Teams, RTP toward the carrier, packets relayed and translated both ways', async () => {
  const { attr: teamsCrypto, crypto: teamsKeys } = newCrypto();
  const teamsPort = teamsSock.address().port;
  const offer = teamsSdp(TEAMS_MEDIA, teamsPort, teamsCrypto, 1);
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+15559870042', sdp: offer });
  const invite = await carrier.waitForRequest('INVITE', (r) => r.uri.user === '+15559870042');
  const toCarrier = sdpLines(invite.msg.body);
  assert.ok(
    toCarrier.some((l) => / RTP\/AVP /.test(l)),
    'plain RTP toward the carrier',
  );
  assert.ok(!toCarrier.some((l) => l.startsWith('a=crypto')), 'no keys toward the carrier');
  assert.equal(connection(toCarrier), '127.0.0.1');
  const carrierLegPort = audioPort(toCarrier);
  assert.ok(carrierLegPort >= 41000 && carrierLegPort <= 41199, `media port ${carrierLegPort} from the pool`);

  const ok = await call.final();
  assert.equal(ok.status, 200);
  const toTeams = sdpLines(ok.body);
  assert.ok(
    toTeams.some((l) => / RTP\/SAVP /.test(l)),
    'SRTP toward Teams',
  );
  const ourCrypto = parseCryptoAttribute(toTeams.find((l) => l.startsWith('a=crypto:'))!.slice('a=crypto:'.length));
  assert.ok(ourCrypto?.supported);
  const teamsLegPort = audioPort(toTeams);

  // Teams → carrier: SRTP in, RTP out with the same payload and sequence numbers.
  const teamsTx = new SrtpContext(policyFromCrypto(teamsKeys));
  const payloads = Array.from({ length: 10 }, () => randomBytes(160));
  const gotAtCarrier: Buffer[] = [];
  const carrierGotAll = new Promise<void>((resolve) => {
    carrierRtp.on('message', (m) => {
      gotAtCarrier.push(m);
      if (gotAtCarrier.length === payloads.length) resolve();
    });
  });
  for (const [i, p] of payloads.entries()) {
    const srtp = teamsTx.protect(rtpPacket(1000 + i, 0x1234, p));
    assert.ok(Buffer.isBuffer(srtp));
    teamsSock.send(srtp, teamsLegPort, '127.0.0.1');
  }
  await Promise.race([carrierGotAll, once(AbortSignal.timeout(5000), 'abort')]);
  assert.equal(gotAtCarrier.length, payloads.length, 'every packet relayed to the carrier');
  for (const [i, m] of gotAtCarrier.entries()) {
    assert.equal(m.readUInt16BE(2), 1000 + i);
    assert.deepEqual(m.subarray(12), payloads[i]);
  }

  // Carrier → Teams: RTP in, SRTP out that decrypts with the key the SBC gave Teams.
  const teamsRx = new SrtpContext(policyFromCrypto(ourCrypto!));
  const gotAtTeams: Buffer[] = [];
  const teamsGotAll = new Promise<void>((resolve) => {
    teamsSock.on('message', (m) => {
      const plain = teamsRx.unprotect(m);
      if (Buffer.isBuffer(plain)) gotAtTeams.push(plain);
      if (gotAtTeams.length === payloads.length) resolve();
    });
  });
  for (const [i, p] of payloads.entries()) carrierRtp.send(rtpPacket(2000 + i, 0x9999, p), carrierLegPort, '127.0.0.1');
  await Promise.race([teamsGotAll, once(AbortSignal.timeout(5000), 'abort')]);
  assert.equal(gotAtTeams.length, payloads.length, 'every packet reached Teams and authenticated');
  for (const [i, m] of gotAtTeams.entries()) assert.deepEqual(m.subarray(12), payloads[i]);

  // A third party cannot inject into the carrier leg (no RTP bleed).
  const intruder = createSocket('udp4');
  await new Promise<void>((r) => intruder.bind(0, '127.0.0.3', r));
  intruder.send(rtpPacket(3000, 0x6666, randomBytes(160)), carrierLegPort, '127.0.0.1');
  intruder.close();

  await call.bye();
  const cdr = await f.waitForCdr((c) => c.callee === '+15559870042');
  assert.equal(cdr.disposition, 'answered');
  const m = cdr.media as { inbound: { packets: number }; outbound: { packets: number } };
  assert.equal(m.inbound.packets, payloads.length, 'the CDR carries the media figures of the Teams leg');
  assert.equal(m.outbound.packets, payloads.length, 'the carrier leg counted only the carrier’s packets');
  f.sim.assertNoViolations({ ignore: ['H3.3'] });
});
