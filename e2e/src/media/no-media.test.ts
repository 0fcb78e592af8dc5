// The media pod's no-media timeout ends the call, end to end: a Teams → carrier call anchored on a real media pod
// with a 3 s no-media timeout. While SRTP/RTP flows both ways for well over the timeout the call stays up; when both
// sides stop sending, the media pod reports the call silent in its health answer, the sbc-pod's probe (default
// interval, one media pod) hands it to the B2BUA, and both legs get a BYE; the CDR says "Media Timeout". A call put
// on hold (a=inactive) stays up however long it is silent, and is ended once resumed and still silent.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { type MediaPod, startMediaPod } from '../../../media-pod/src/index.ts';
import { SrtpContext } from '../../../media-pod/src/srtp/context.ts';
import { parseCryptoAttribute, policyFromCrypto } from '../../../media-pod/src/srtp/sdes.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
import type { SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { CONTOSO, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';

import { carrierSdp, type Direction, newCrypto, rtpPacket, teamsSdp } from './media-peers.ts';

const TEAMS_MEDIA = '127.0.2.52';
// Short for the test, long enough that a busy machine's event-loop stall (the media pod runs in this process) does
// not look like silence.
const TIMEOUT_MS = 3000;
const PORTS = { low: 47100, high: 47199 };

let media: MediaPod;
let anchor: MediaPodAnchor;
let f: Fixture;
let carrier: UdpPeer;
let teamsSock: Socket;
let carrierRtp: Socket;
/** The sbc-pod's log lines (the B2BUA says why it ended a call there). */
const logLines: Array<Record<string, unknown>> = [];

before(async () => {
  media = await startMediaPod({
    mediaIp: '127.0.0.1',
    ports: `${PORTS.low}-${PORTS.high}`,
    apiHost: '127.0.0.1',
    apiPort: 0,
    noMediaTimeoutMs: TIMEOUT_MS,
  });
  // One media pod, the default probe interval: the probe runs for the no-media report alone.
  anchor = new MediaPodAnchor({ url: media.url });
  f = await startFixture({
    media: anchor,
    logger: pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) }),
  });
  carrier = await UdpPeer.start({ port: f.ports.a });
  teamsSock = createSocket('udp4');
  await new Promise<void>((r) => teamsSock.bind(0, TEAMS_MEDIA, r));
  carrierRtp = createSocket('udp4');
  await new Promise<void>((r) => carrierRtp.bind(0, '127.0.0.1', r));
  // The carrier answers each offer from its RTP socket, mirroring the offered direction (a hold is answered as one).
  carrier.script = [{ status: 180 }, { status: 200, body: carrierSdp(carrierRtp.address().port, 1, 'sendrecv') }];
  let version = 1;
  carrier.onRequest = (req, from) => {
    if (req.method !== 'INVITE' || !req.to.params.has('tag')) return false;
    carrier.respond(req, from, {
      status: 200,
      body: carrierSdp(carrierRtp.address().port, ++version, answerDirection(req.body.toString())),
    });
    return true;
  };
});
after(async () => {
  anchor?.close();
  teamsSock?.close();
  carrierRtp?.close();
  await carrier?.close();
  await f?.close();
  await media?.close();
});

function answerDirection(offer: string): Direction {
  if (/^a=inactive/m.test(offer)) return 'inactive';
  if (/^a=sendonly/m.test(offer)) return 'recvonly';
  if (/^a=recvonly/m.test(offer)) return 'sendonly';
  return 'sendrecv';
}

const audioPort = (body: Buffer | string) => Number(/^m=audio (\d+) /m.exec(body.toString())?.[1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Teams → carrier call, answered; the media ports of both legs and what Teams needs to talk SRTP. */
async function placeCall(callee: string) {
  const crypto = newCrypto().attr;
  const teamsPort = teamsSock.address().port;
  const call = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230001',
    to: callee,
    sdp: teamsSdp(TEAMS_MEDIA, teamsPort, crypto, 1, 'sendrecv'),
  });
  const invite = await carrier.waitForRequest('INVITE', (r) => r.uri.user === callee);
  const ok = await call.final();
  assert.equal(ok.status, 200);
  const ours = parseCryptoAttribute(/^a=crypto:(.*)$/m.exec(ok.body.toString())![1]!.trim())!;
  const id = f.pod.b2bua.activeCalls().find((c) => c.id && !seenCalls.has(c.id))!.id;
  seenCalls.add(id);
  return {
    call,
    invite: invite.msg as SipRequest,
    id,
    crypto,
    teamsLeg: audioPort(ok.body),
    carrierLeg: audioPort(invite.msg.body),
    teamsTx: new SrtpContext(policyFromCrypto(parseCryptoAttribute(crypto)!)),
    teamsRx: new SrtpContext(policyFromCrypto(ours)),
  };
}
const seenCalls = new Set<string>();

/** Both sides send a packet every 20 ms for `ms`; returns how many packets each side received. */
async function talk(
  c: Awaited<ReturnType<typeof placeCall>>,
  ms: number,
): Promise<{ atTeams: number; atCarrier: number }> {
  let atTeams = 0;
  let atCarrier = 0;
  const onTeams = (m: Buffer) => {
    if (Buffer.isBuffer(c.teamsRx.unprotect(m))) atTeams++;
  };
  const onCarrier = () => {
    atCarrier++;
  };
  teamsSock.on('message', onTeams);
  carrierRtp.on('message', onCarrier);
  const start = Date.now();
  try {
    for (let i = 0; Date.now() - start < ms; i++) {
      teamsSock.send(c.teamsTx.protect(rtpPacket(1000 + i, 0x1234)) as Buffer, c.teamsLeg, '127.0.0.1');
      carrierRtp.send(rtpPacket(5000 + i, 0x9999), c.carrierLeg, '127.0.0.1');
      await sleep(20);
    }
  } finally {
    teamsSock.off('message', onTeams);
    carrierRtp.off('message', onCarrier);
  }
  return { atTeams, atCarrier };
}

/**
 * The B2BUA ended the call for the media pod's no-media report (its "Media Timeout" end; an answered call's CDR keeps
 * sipCode 200 "OK", sbc-pod/src/b2bua/cdr.ts, so the reason is read from the pod's log line for that call).
 */
function assertEndedForNoMedia(id: string): void {
  const lines = logLines.filter((l) => JSON.stringify(l).includes(id));
  assert.ok(
    lines.some((l) => /no media on the call/.test(String(l.msg))),
    `the sbc-pod ended call ${id} for no media; its lines: ${lines.map((l) => l.msg).join(' | ')}`,
  );
  const ended = lines.find((l) => l.msg === 'call ended');
  assert.ok(ended, 'the call ended');
}

const byesAtCarrier = (callId: string) =>
  carrier.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === callId).length;
const session = async (id: string) =>
  (await (await fetch(`${media.url}/v1/sessions/${encodeURIComponent(id)}`)).json()) as { noMedia?: boolean };

test('media flowing keeps the call up; when both sides stop sending, both legs get a BYE and the CDR says Media Timeout', async () => {
  const callee = '+15559874001';
  const c = await placeCall(callee);
  const teamsRequests = c.call.requests.length;

  // (a) media both ways for twice the timeout (several watchdog passes and probes): the call stays up
  const flowed = await talk(c, 2 * TIMEOUT_MS);
  assert.ok(flowed.atTeams > 0 && flowed.atCarrier > 0, `media flowed both ways (${JSON.stringify(flowed)})`);
  assert.ok(
    f.pod.b2bua.activeCalls().some((x) => x.id === c.id),
    'the call is up after media flowed longer than the timeout',
  );
  assert.equal(byesAtCarrier(c.invite.callId), 0, 'no BYE toward the carrier');
  assert.equal(c.call.requests.filter((r) => r.method === 'BYE').length, 0, 'no BYE toward Teams');
  assert.equal((await session(c.id)).noMedia, false);

  // (b) both sides stop: the media pod reports the call, the sbc-pod ends both legs
  const bye = await carrier.waitForRequest('BYE', (r) => r.callId === c.invite.callId, 20_000);
  assert.equal(bye.msg.kind, 'request');
  const teamsBye = await c.call.waitForRequest('BYE', 20_000, teamsRequests);
  assert.equal(teamsBye.method, 'BYE');
  const cdr = await f.waitForCdr((x) => x.callee === callee, 20_000);
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.endedBy, 'sbc', 'the SBC ended the call');
  assert.equal(cdr.endReason, 'Media Timeout');
  assertEndedForNoMedia(c.id);
  assert.ok(!f.pod.b2bua.activeCalls().some((x) => x.id === c.id));
  // the media session was released with the call
  const gone = await fetch(`${media.url}/v1/sessions/${encodeURIComponent(c.id)}`);
  assert.equal(gone.status, 404);
  assert.equal(byesAtCarrier(c.invite.callId), 1, 'one BYE toward the carrier');
});

test('a call on hold (a=inactive) is not ended however long it is silent; resumed and still silent, it is', async () => {
  const callee = '+15559874002';
  const c = await placeCall(callee);
  await talk(c, 200);

  // Teams puts the call on hold: re-INVITE a=inactive, the carrier answers a=inactive
  const held = await c.call.reinvite(teamsSdp(TEAMS_MEDIA, teamsSock.address().port, c.crypto, 2, 'inactive'));
  assert.equal(held.status, 200);
  assert.match(held.body.toString(), /^a=inactive/m, 'the hold went through to the carrier and back');
  const reinviteAtCarrier = carrier.received.filter(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.callId === c.invite.callId,
  );
  assert.equal(reinviteAtCarrier.length, 2, 'the carrier got the hold re-INVITE');

  // silent on hold for well over the timeout (several watchdog passes and probes)
  await sleep(3 * TIMEOUT_MS);
  assert.ok(
    f.pod.b2bua.activeCalls().some((x) => x.id === c.id),
    'the held call is up',
  );
  assert.equal(byesAtCarrier(c.invite.callId), 0);
  assert.equal((await session(c.id)).noMedia, false, 'the media pod does not count a held call as silent');

  // resumed (sendrecv) and nobody sends: now it is a silent call and ends
  const teamsRequests = c.call.requests.length;
  const resumed = await c.call.reinvite(teamsSdp(TEAMS_MEDIA, teamsSock.address().port, c.crypto, 3, 'sendrecv'));
  assert.equal(resumed.status, 200);
  await carrier.waitForRequest('BYE', (r) => r.callId === c.invite.callId, 20_000);
  await c.call.waitForRequest('BYE', 20_000, teamsRequests);
  const cdr = await f.waitForCdr((x) => x.callee === callee, 20_000);
  assert.equal(cdr.endedBy, 'sbc');
  assert.equal(cdr.endReason, 'Media Timeout');
  assertEndedForNoMedia(c.id);
  f.sim.assertNoViolations({ ignore: ['H3.3'] });
});
