// Real UDP streams on loopback through the engine: carrier (RTP) ⇄ relay ⇄ Teams-like peer (SRTP, ICE-lite).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ULAW_TO_ALAW } from '../rtp/g711.ts';
import { describeRemote } from '../sdp/negotiate.ts';
import { parseSdp } from '../sdp/sdp.ts';
import { SrtpContext } from '../srtp/context.ts';
import { formatCryptoAttribute, generateMasterKey, policyFromCrypto } from '../srtp/sdes.ts';
import { buildBindingRequest } from '../stun/ice-lite.ts';
import {
  Attr,
  decodeStun,
  decodeXorAddress,
  getAttribute,
  StunClass,
  verifyFingerprint,
  verifyMessageIntegrity,
} from '../stun/message.ts';
import { MediaEngine } from './engine.ts';
import { PoolSet } from './pool.ts';
import { carrierSdp, Endpoint, g711Packet, teamsSdp } from './testing.ts';

const BASE = 20_000 + 2 * randomInt(0, 10_000);
const SHARED = { name: 'shared', low: BASE, high: BASE + 199 };
const DEDICATED = { name: 'contoso', low: BASE + 400, high: BASE + 599, tenants: ['contoso'] };

interface Call {
  carrier: Endpoint;
  teams: Endpoint;
  relayA: number;
  relayB: number;
  /** Teams decrypts what the relay sends it. */
  teamsRx: SrtpContext;
  /** Teams encrypts what it sends the relay. */
  teamsTx: SrtpContext;
  teamsTxKey: { key: Buffer; salt: Buffer };
  ice: { ufrag: string; pwd: string };
}

/** Carrier offers plain RTP on leg a; the relay offers SRTP + ICE-lite to Teams on leg b; Teams answers. */
async function setUpCall(
  engine: MediaEngine,
  callId: string,
  o: { tenant?: string; carrierCodecs?: string; teamsCodecs?: string; transcode?: boolean; suite?: string } = {},
): Promise<Call> {
  const carrier = await Endpoint.open();
  const teams = await Endpoint.open();
  // the carrier takes RTCP on its RTP port too (a=rtcp), without multiplexing
  const extra = [`a=rtcp:${carrier.port}`];
  const offer = await engine.offer(callId, 'a', {
    tenant: o.tenant ?? 'fabrikam',
    sdp: carrierSdp(carrier.port, o.carrierCodecs ? { codecs: o.carrierCodecs, extra } : { extra }),
    profiles: { b: { srtp: true, ice: true, rtcpMux: true } },
    transcode: o.transcode ?? false,
  });
  const toTeams = describeRemote(parseSdp(offer.sdp));
  assert.equal(toTeams.srtp, true);
  assert.ok(toTeams.ice);
  assert.equal(toTeams.crypto.length, 1);
  const teamsTxKey = generateMasterKey();
  const suite = o.suite ?? 'AES_CM_128_HMAC_SHA1_80';
  const crypto = formatCryptoAttribute({ tag: 1, suite: suite as 'AES_CM_128_HMAC_SHA1_80', ...teamsTxKey });
  const ans = await engine.answer(callId, 'b', {
    sdp: teamsSdp(teams.port, { crypto, ...(o.teamsCodecs ? { codecs: o.teamsCodecs } : {}) }),
  });
  const toCarrier = describeRemote(parseSdp(ans.sdp!));
  assert.equal(toCarrier.srtp, false);
  assert.equal(toCarrier.ice, null);
  const ourKey = toTeams.crypto[0]!;
  return {
    carrier,
    teams,
    relayA: toCarrier.port,
    relayB: toTeams.port,
    teamsRx: new SrtpContext({ ...policyFromCrypto(ourKey), suite: suite as 'AES_CM_128_HMAC_SHA1_80' }),
    teamsTx: new SrtpContext({ suite: suite as 'AES_CM_128_HMAC_SHA1_80', keys: [teamsTxKey] }),
    teamsTxKey,
    ice: toTeams.ice!,
  };
}

/** Send `count` packets with at most `window` in flight, waiting for delivery at `rx` (bounded). */
async function stream(
  tx: Endpoint,
  rx: Endpoint,
  port: number,
  count: number,
  make: (i: number) => Buffer,
  window = 16,
): Promise<void> {
  const start = rx.received.length;
  for (let i = 0; i < count; i++) {
    if (i - (rx.received.length - start) >= window) await rx.waitFor(start + i - window + 1);
    await tx.send(make(i), port);
  }
  await rx.waitFor(start + count);
}

describe('relay: real UDP through the media engine', () => {
  let engine: MediaEngine;
  const noMedia: string[] = [];
  before(() => {
    engine = new MediaEngine({
      bindAddress: '127.0.0.1',
      pools: new PoolSet([SHARED, DEDICATED]),
      noMediaTimeoutMs: 0,
      onNoMedia: (info, leg) => noMedia.push(`${info.callId}/${leg}`),
    });
  });
  after(() => engine.close());

  it('RTP → SRTP and SRTP → RTP, every packet checked (payload, sequence), ROC across a wrap', async () => {
    const c = await setUpCall(engine, 'call-1');
    const N = 300;
    const seq0 = 65_400; // crosses the 16-bit wrap: ROC must advance on both SRTP sides
    await stream(c.carrier, c.teams, c.relayA, N, (i) => g711Packet(seq0 + i, 0x1111));
    assert.equal(c.teams.received.length, N);
    c.teams.received.forEach((r, i) => {
      assert.equal(r.from.port, c.relayB, 'media from our advertised port (symmetric)');
      const plain = c.teamsRx.unprotect(Buffer.from(r.msg));
      assert.ok(Buffer.isBuffer(plain), `packet ${i}: ${String(plain)}`);
      assert.deepEqual(plain, g711Packet(seq0 + i, 0x1111));
    });
    assert.equal(c.teamsRx.rolloverCounter(0x1111), 1);

    await stream(c.teams, c.carrier, c.relayB, N, (i) => c.teamsTx.protect(g711Packet(seq0 + i, 0x2222)) as Buffer);
    assert.equal(c.carrier.received.length, N);
    c.carrier.received.forEach((r, i) => {
      assert.equal(r.from.port, c.relayA);
      assert.deepEqual(r.msg, g711Packet(seq0 + i, 0x2222));
    });

    const info = engine.query('call-1')!;
    assert.equal(info.legs.a!.stats.received.packets, N);
    assert.equal(info.legs.a!.stats.received.lost, 0);
    assert.equal(info.legs.b!.stats.received.packets, N);
    assert.equal(info.legs.b!.stats.sent.packets, N);
    assert.equal(info.legs.b!.srtp, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(info.legs.a!.srtp, null);
    await c.carrier.close();
    await c.teams.close();
  });

  it('RTCP (muxed toward Teams, SRTCP) is relayed both ways', async () => {
    const c = await setUpCall(engine, 'call-rtcp');
    const sr = Buffer.from('80c8000600003333' + '00'.repeat(20), 'hex');
    await c.carrier.send(sr, c.relayA + 1); // carrier RTCP to our RTCP port
    await c.teams.waitFor(1);
    const got = c.teamsRx.unprotectRtcp(Buffer.from(c.teams.received[0]!.msg));
    assert.deepEqual(got, sr);
    await c.teams.send(c.teamsTx.protectRtcp(sr) as Buffer, c.relayB); // muxed on the RTP port
    await c.carrier.waitFor(1);
    assert.deepEqual(c.carrier.received[0]!.msg, sr);
    assert.equal(c.carrier.received[0]!.from.port, c.relayA + 1, 'RTCP toward a non-mux carrier from our RTCP port');
    await c.carrier.close();
    await c.teams.close();
  });

  it('drops and counts packets from a third address (no RTP bleed), SRTP forgeries, and replays', async () => {
    const c = await setUpCall(engine, 'call-attack');
    const attacker = await Endpoint.open();
    for (let i = 0; i < 5; i++) await attacker.send(g711Packet(i, 0x6666), c.relayA);
    // forged SRTP toward the Teams leg (wrong key) from the attacker
    const forged = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', keys: [generateMasterKey()] });
    for (let i = 0; i < 5; i++) await attacker.send(forged.protect(g711Packet(i, 0x7777)) as Buffer, c.relayB);
    // a replayed, otherwise valid SRTP packet from Teams
    const valid = c.teamsTx.protect(g711Packet(1, 0x2222)) as Buffer;
    await c.teams.send(Buffer.from(valid), c.relayB);
    await c.teams.send(Buffer.from(valid), c.relayB);
    // markers from the legitimate peers: they arrive after the attack on the same sockets
    await c.carrier.send(g711Packet(500, 0x1111), c.relayA);
    await c.teams.waitFor(1);
    await c.carrier.waitFor(1);
    assert.equal(c.teams.received.length, 1);
    assert.deepEqual(c.teamsRx.unprotect(Buffer.from(c.teams.received[0]!.msg)), g711Packet(500, 0x1111));
    assert.equal(c.carrier.received.length, 1, 'only the first copy of the SRTP packet was relayed');
    assert.deepEqual(c.carrier.received[0]!.msg, g711Packet(1, 0x2222));
    assert.equal(attacker.received.length, 0);
    const info = engine.query('call-attack')!;
    assert.equal(info.legs.a!.stats.dropped.source, 5);
    assert.equal(info.legs.b!.stats.dropped.source, 5);
    assert.equal(info.legs.b!.stats.dropped.replay, 1);
    assert.equal(info.legs.a!.stats.received.packets, 1);
    await Promise.all([attacker.close(), c.carrier.close(), c.teams.close()]);
  });

  it('answers STUN checks (ICE-lite) and moves media to the nominated address; SRTP proves a new source', async () => {
    const c = await setUpCall(engine, 'call-ice');
    const req = buildBindingRequest({ localUfrag: 'teamsX', remoteUfrag: c.ice.ufrag, remotePwd: c.ice.pwd });
    await c.teams.send(req, c.relayB);
    await c.teams.waitFor(1);
    const resp = decodeStun(c.teams.received[0]!.msg)!;
    assert.equal(resp.class, StunClass.Success);
    assert.ok(verifyMessageIntegrity(resp, c.ice.pwd));
    assert.ok(verifyFingerprint(resp));
    assert.deepEqual(decodeXorAddress(getAttribute(resp, Attr.XorMappedAddress)!.value, resp.transactionId), {
      address: '127.0.0.1',
      port: c.teams.port,
    });
    // a wrong password gets 401 and does not move media
    const bad = buildBindingRequest({
      localUfrag: 'x',
      remoteUfrag: c.ice.ufrag,
      remotePwd: 'wrong-password-wrong-pwd',
    });
    const stranger = await Endpoint.open();
    await stranger.send(bad, c.relayB);
    await stranger.waitFor(1);
    assert.equal(decodeStun(stranger.received[0]!.msg)!.class, StunClass.Error);
    // a second (forked) endpoint checks with USE-CANDIDATE: it is nominated, media goes there
    const fork = await Endpoint.open();
    await fork.send(
      buildBindingRequest({ localUfrag: 'teamsY', remoteUfrag: c.ice.ufrag, remotePwd: c.ice.pwd, useCandidate: true }),
      c.relayB,
    );
    await fork.waitFor(1);
    assert.equal(engine.query('call-ice')!.legs.b!.stats.target?.port, fork.port);
    await c.carrier.send(g711Packet(9, 0x1111), c.relayA);
    await fork.waitFor(2);
    assert.deepEqual(c.teamsRx.unprotect(Buffer.from(fork.received[1]!.msg)), g711Packet(9, 0x1111));
    // media from the checked fork is accepted
    await fork.send(c.teamsTx.protect(g711Packet(3, 0x2222)) as Buffer, c.relayB);
    await c.carrier.waitFor(1);
    assert.equal(stranger.received.length, 1);
    const info = engine.query('call-ice')!.legs.b!;
    assert.equal(info.stats.stunAnswered, 2);
    assert.ok(info.stats.dropped.stun >= 1);
    await Promise.all([stranger.close(), fork.close(), c.carrier.close(), c.teams.close()]);
  });

  it('an authenticated SRTP packet from a new address is accepted and becomes the target (no ICE nomination)', async () => {
    const c = await setUpCall(engine, 'call-move');
    const moved = await Endpoint.open();
    await moved.send(c.teamsTx.protect(g711Packet(1, 0x2222)) as Buffer, c.relayB);
    await c.carrier.waitFor(1);
    assert.equal(engine.query('call-move')!.legs.b!.stats.target?.via, 'srtp');
    await c.carrier.send(g711Packet(2, 0x1111), c.relayA);
    await moved.waitFor(1);
    await Promise.all([moved.close(), c.carrier.close(), c.teams.close()]);
  });

  it('maps telephone-event payload types (carrier 96 ⇄ Teams 101)', async () => {
    const c = await setUpCall(engine, 'call-dtmf');
    const ev = g711Packet(10, 0x1111, 96, 4);
    await c.carrier.send(ev, c.relayA);
    await c.teams.waitFor(1);
    const plain = c.teamsRx.unprotect(Buffer.from(c.teams.received[0]!.msg)) as Buffer;
    assert.equal(plain[1]! & 0x7f, 101);
    assert.deepEqual(plain.subarray(12), ev.subarray(12));
    // Teams sends with the numbering of our offer to it (the carrier's 96), the carrier wants 96
    await c.teams.send(c.teamsTx.protect(g711Packet(11, 0x2222, 96, 4)) as Buffer, c.relayB);
    await c.carrier.waitFor(1);
    assert.equal(c.carrier.received[0]!.msg[1]! & 0x7f, 96);
    await Promise.all([c.carrier.close(), c.teams.close()]);
  });

  it('transcodes PCMU ⇄ PCMA when the sides share no codec', async () => {
    const c = await setUpCall(engine, 'call-tc', { carrierCodecs: '0', teamsCodecs: '8', transcode: true });
    const p = g711Packet(1, 0x1111, 0);
    await c.carrier.send(p, c.relayA);
    await c.teams.waitFor(1);
    const plain = c.teamsRx.unprotect(Buffer.from(c.teams.received[0]!.msg)) as Buffer;
    assert.equal(plain[1]! & 0x7f, 8);
    for (let i = 12; i < p.length; i++) assert.equal(plain[i], ULAW_TO_ALAW[p[i]!]);
    await Promise.all([c.carrier.close(), c.teams.close()]);
  });

  it('works with AES_CM_128_HMAC_SHA1_32 chosen by the answerer', async () => {
    const c = await setUpCall(engine, 'call-32', { suite: 'AES_CM_128_HMAC_SHA1_32' });
    await stream(c.carrier, c.teams, c.relayA, 20, (i) => g711Packet(i, 0x1111));
    for (const [i, r] of c.teams.received.entries()) {
      assert.equal(r.msg.length, 172 + 4);
      assert.deepEqual(c.teamsRx.unprotect(Buffer.from(r.msg)), g711Packet(i, 0x1111));
    }
    await Promise.all([c.carrier.close(), c.teams.close()]);
  });

  it('is idempotent by (call, leg), keeps ICE credentials and keys across re-offers, frees ports on delete', async () => {
    const carrier = await Endpoint.open();
    const req = {
      tenant: 'contoso',
      sdp: carrierSdp(carrier.port),
      profiles: { b: { srtp: true, ice: true } },
    };
    const first = await engine.offer('call-idem', 'a', req);
    const again = await engine.offer('call-idem', 'a', req);
    assert.deepEqual(again, first);
    for (const leg of Object.values(first.legs)) {
      assert.ok(leg.port >= DEDICATED.low && leg.rtcpPort <= DEDICATED.high, 'ports from the tenant pool');
    }
    // re-offer (re-INVITE) with a new carrier address: same ports, same ICE credentials and key, o= version + 1
    const reoffer = await engine.offer('call-idem', 'a', { ...req, sdp: carrierSdp(carrier.port + 2) });
    assert.deepEqual(reoffer.legs, first.legs);
    const r1 = describeRemote(parseSdp(first.sdp));
    const r2 = describeRemote(parseSdp(reoffer.sdp));
    assert.deepEqual(r2.ice, r1.ice);
    assert.deepEqual(r2.crypto[0]?.keys[0]?.key, r1.crypto[0]?.keys[0]?.key);
    assert.equal(parseSdp(reoffer.sdp).origin.split(' ')[2], '0');
    await assert.rejects(engine.offer('call-idem', 'a', { ...req, tenant: 'other' }), { status: 409 });
    const gone = await engine.delete('call-idem');
    assert.ok(gone?.legs.a);
    assert.equal(await engine.delete('call-idem'), null);
    assert.equal(engine.query('call-idem'), null);
    await carrier.close();
  });

  it('refuses bad requests with clear statuses', async () => {
    await assert.rejects(engine.offer('x1', 'a', { tenant: '', sdp: carrierSdp(1000) }), { status: 400 });
    await assert.rejects(engine.offer('x2', 'a', { tenant: 't', sdp: 'garbage' }), { status: 488 });
    assert.equal(engine.query('x2'), null, 'a failed create leaves nothing behind');
    await assert.rejects(engine.answer('nope', 'b', { sdp: carrierSdp(1000) }), { status: 404 });
    const strict = new MediaEngine({
      bindAddress: '127.0.0.1',
      pools: new PoolSet([{ ...DEDICATED, low: BASE + 800, high: BASE + 899 }]),
      noMediaTimeoutMs: 0,
    });
    await assert.rejects(strict.offer('x3', 'a', { tenant: 'fabrikam', sdp: carrierSdp(1000) }), { status: 403 });
    await strict.close();
  });

  it('Teams offers (SRTP, ICE): 183 and 200 answers keep ICE credentials, candidate and key stable (D6.11)', async () => {
    const carrier = await Endpoint.open();
    const teams = await Endpoint.open();
    const teamsKey = generateMasterKey();
    const crypto0 = formatCryptoAttribute({ tag: 0, suite: 'AES_CM_128_HMAC_SHA1_32', ...generateMasterKey() });
    const crypto1 = formatCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', ...teamsKey });
    const teamsOffer = teamsSdp(teams.port, {
      crypto: crypto0,
      ice: { ufrag: 'Ws8o', pwd: 'h8PChsyBp4CMyZWYRi7fxtjd' },
    }).replace('a=sendrecv', `a=crypto:${crypto1}\r\na=sendrecv`);
    const offer = await engine.offer('call-in', 'b', { tenant: 'fabrikam', sdp: teamsOffer, to: 'a' });
    const toCarrier = describeRemote(parseSdp(offer.sdp));
    assert.equal(toCarrier.srtp, false);
    assert.equal(toCarrier.ice, null);
    const a183 = await engine.answer('call-in', 'a', { sdp: carrierSdp(carrier.port, { codecs: '0 8 96' }) });
    const a200 = await engine.answer('call-in', 'a', { sdp: carrierSdp(carrier.port, { codecs: '0 96' }) });
    const r183 = describeRemote(parseSdp(a183.sdp!));
    const r200 = describeRemote(parseSdp(a200.sdp!));
    assert.ok(r183.ice);
    assert.deepEqual(r200.ice, r183.ice);
    assert.equal(r183.crypto.length, 1);
    assert.equal(r183.crypto[0]!.tag, 1, 'answers the _80 line (D6.2)');
    assert.equal(r183.crypto[0]!.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.deepEqual(r200.crypto[0]!.keys[0]!.key, r183.crypto[0]!.keys[0]!.key);
    const cand = (t: string) => t.split('\r\n').filter((l) => l.startsWith('a=candidate'));
    assert.deepEqual(cand(a200.sdp!), cand(a183.sdp!));
    assert.equal(cand(a183.sdp!).length, 1);
    assert.match(a183.sdp!, /\r\na=ice-lite\r\n/);
    // Teams → carrier with Teams' _80 key, carrier → Teams decrypted with our answered key
    const tx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', keys: [teamsKey] });
    await teams.send(tx.protect(g711Packet(5, 0x77)) as Buffer, r200.port);
    await carrier.waitFor(1);
    assert.deepEqual(carrier.received[0]!.msg, g711Packet(5, 0x77));
    await carrier.send(g711Packet(6, 0x78), toCarrier.port);
    await teams.waitFor(1);
    const rx = new SrtpContext(policyFromCrypto(r200.crypto[0]!));
    assert.deepEqual(rx.unprotect(Buffer.from(teams.received[0]!.msg)), g711Packet(6, 0x78));
    await Promise.all([carrier.close(), teams.close()]);
  });

  it('symmetric RTP (configured per leg) latches to the first source, then is strict again', async () => {
    const nat = await Endpoint.open(); // the carrier's public (NAT) address differs from its SDP
    const teams = await Endpoint.open();
    const attacker = await Endpoint.open();
    const offer = await engine.offer('call-nat', 'a', {
      tenant: 'fabrikam',
      sdp: carrierSdp(9, { address: '127.0.0.1' }),
      profiles: { a: { symmetricRtp: true } },
    });
    await engine.answer('call-nat', 'b', { sdp: carrierSdp(teams.port) });
    const relayA = offer.legs.a!.port;
    const relayB = offer.legs.b!.port;
    await nat.send(g711Packet(1, 0x10), relayA);
    await teams.waitFor(1);
    await attacker.send(g711Packet(1, 0x66), relayA);
    await teams.send(g711Packet(2, 0x20), relayB);
    await nat.waitFor(1); // answered toward the latched NAT address, not the SDP one
    assert.deepEqual(nat.received[0]!.msg, g711Packet(2, 0x20));
    assert.equal(teams.received.length, 1);
    const info = engine.query('call-nat')!.legs.a!.stats;
    assert.equal(info.target?.via, 'latch');
    assert.equal(info.dropped.source, 1);
    await Promise.all([nat.close(), teams.close(), attacker.close()]);
  });

  it('reports a no-media timeout', async () => {
    const c = await setUpCall(engine, 'call-silent');
    engine.checkMedia(30_000, Date.now() + 31_000);
    assert.ok(noMedia.includes('call-silent/a') || noMedia.includes('call-silent/b'));
    assert.equal(engine.query('call-silent')!.noMedia, true);
    assert.ok(engine.silentCalls().includes('call-silent'));
    // reported once per silent spell; a new SDP (re-INVITE) starts the clock again
    const reports = noMedia.length;
    engine.checkMedia(30_000, Date.now() + 32_000);
    assert.equal(noMedia.length, reports, 'not reported again while it stays silent');
    await engine.offer('call-silent', 'a', { tenant: 'fabrikam', sdp: carrierSdp(c.carrier.port) });
    engine.checkMedia(30_000, Date.now() + 1_000);
    assert.ok(!engine.silentCalls().includes('call-silent'), 'renegotiated: not silent any more');
    await engine.delete('call-silent');
    assert.ok(!engine.silentCalls().includes('call-silent'));
    await Promise.all([c.carrier.close(), c.teams.close()]);
  });

  it('no-media: a ringing call (no answer yet) and a call on hold are never silent; resuming restarts the clock', async (t) => {
    const silent = (id: string, afterMs: number) => {
      engine.checkMedia(30_000, Date.now() + afterMs);
      return engine.silentCalls().includes(id);
    };
    // ringing: only the offer so far
    const ringer = await Endpoint.open();
    await engine.offer('call-ringing', 'a', { tenant: 'fabrikam', sdp: carrierSdp(ringer.port) });
    assert.equal(silent('call-ringing', 120_000), false, 'no answer yet: no no-media clock');
    await engine.delete('call-ringing');
    await ringer.close();

    for (const [held, other] of [
      ['inactive', 'inactive'],
      ['sendonly', 'recvonly'],
      ['recvonly', 'sendonly'],
    ] as const) {
      const id = `call-hold-${held}`;
      const c = await setUpCall(engine, id);
      t.after(() => Promise.all([c.carrier.close(), c.teams.close()]).catch(() => {}));
      assert.equal(silent(id, 31_000), true, 'the same call off hold would be silent (the test can fail)');
      // the carrier puts the call on hold (re-INVITE), Teams answers accordingly
      const hold = await engine.offer(id, 'a', {
        tenant: 'fabrikam',
        sdp: carrierSdp(c.carrier.port).replace('a=sendrecv', `a=${held}`),
      });
      assert.match(hold.sdp, new RegExp(`a=${held}`), 'the hold is offered on to Teams');
      const crypto = formatCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', ...c.teamsTxKey });
      await engine.answer(id, 'b', { sdp: teamsSdp(c.teams.port, { crypto }).replace('a=sendrecv', `a=${other}`) });
      assert.equal(silent(id, 3_600_000), false, `on hold (${held}): no packets expected, not silent after an hour`);
      assert.equal(engine.query(id)!.noMedia, false);
      // resumed: the clock starts at the resuming SDP
      await engine.offer(id, 'a', { tenant: 'fabrikam', sdp: carrierSdp(c.carrier.port) });
      await engine.answer(id, 'b', { sdp: teamsSdp(c.teams.port, { crypto }) });
      assert.equal(silent(id, 10_000), false, 'resumed 10 s ago: not silent yet');
      assert.equal(silent(id, 31_000), true, 'resumed and silent for the timeout: silent');
      await engine.delete(id);
    }
  });

  it('no-media: a call whose legs both sent within the timeout is not silent; silent later; media again clears it', async () => {
    const c = await setUpCall(engine, 'call-flow');
    await stream(c.carrier, c.teams, c.relayA, 5, (i) => g711Packet(i, 0x3333));
    await c.teams.send(c.teamsTx.protect(g711Packet(1, 0x4444)) as Buffer, c.relayB);
    await c.carrier.waitFor(1);
    // 20 s after the packets, with a 20 s timeout: both legs sent within the timeout
    const t = Date.now();
    engine.checkMedia(20_000, t + 19_000);
    assert.ok(!engine.silentCalls().includes('call-flow'));
    engine.checkMedia(20_000, t + 21_000);
    assert.ok(engine.silentCalls().includes('call-flow'));
    // media again on both legs: not silent any more
    await stream(c.carrier, c.teams, c.relayA, 1, (i) => g711Packet(10 + i, 0x3333));
    await c.teams.send(c.teamsTx.protect(g711Packet(2, 0x4444)) as Buffer, c.relayB);
    await c.carrier.waitFor(2);
    engine.checkMedia(20_000, Date.now() + 1);
    assert.ok(!engine.silentCalls().includes('call-flow'), 'media resumed on both legs');
    await engine.delete('call-flow');
    await Promise.all([c.carrier.close(), c.teams.close()]);
  });
});
