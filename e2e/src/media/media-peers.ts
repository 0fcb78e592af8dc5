// What the e2e media tests play on the far ends of a call: SDP a carrier and Teams would send, RTP packets, SDES keys,
// and a paced sender that waits until enough packets arrive decoded at the other end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { SrtpContext } from '../../../media-pod/src/srtp/context.ts';
import {
  type CryptoAttribute,
  formatCryptoAttribute,
  parseCryptoAttribute,
  policyFromCrypto,
} from '../../../media-pod/src/srtp/sdes.ts';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** A G.711 (PCMU) RTP packet; `payload` defaults to 160 random bytes (20 ms). */
export function rtpPacket(seq: number, ssrc: number, payload: Buffer = randomBytes(160)): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = 0; // PCMU
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE((seq * 160) >>> 0, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, payload]);
}

/** Teams' SDP: SRTP (SDES) with RTCP-mux, media from `address`. */
export function teamsSdp(
  address: string,
  port: number,
  crypto: string,
  version: number,
  direction: Direction = 'sendrecv',
): string {
  return [
    'v=0',
    `o=- 1 ${version} IN IP4 ${address}`,
    's=session',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/SAVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    `a=crypto:${crypto}`,
    'a=rtcp-mux',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** A carrier's SDP: plain RTP on 127.0.0.1. */
export function carrierSdp(port: number, version: number, direction: Direction = 'sendrecv'): string {
  return [
    'v=0',
    `o=carrier 1 ${version} IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** A fresh AES_CM_128_HMAC_SHA1_80 key as an `a=crypto` value, and parsed. */
export function newCrypto(): { attr: string; crypto: CryptoAttribute } {
  const k = randomBytes(30);
  const attr = formatCryptoAttribute({
    tag: 1,
    suite: 'AES_CM_128_HMAC_SHA1_80',
    key: k.subarray(0, 16),
    salt: k.subarray(16),
  });
  return { attr, crypto: parseCryptoAttribute(attr)! };
}

/**
 * Send a packet every 20 ms from `send` until `want` arrive at `sock` (decoded by `decode`), at most `timeoutMs`:
 * media toward a leg starts only once the media pod has that leg's answer, so the first packets may be dropped.
 */
export async function flowUntil(
  sock: Socket,
  decode: (m: Buffer) => Buffer | undefined,
  send: (i: number) => void,
  want: number,
  timeoutMs = 5000,
): Promise<Buffer[]> {
  const got: Buffer[] = [];
  const onMessage = (m: Buffer) => {
    const plain = decode(m);
    if (plain) got.push(plain);
  };
  sock.on('message', onMessage);
  const deadline = Date.now() + timeoutMs;
  try {
    for (let i = 0; got.length < want && Date.now() < deadline; i++) {
      send(i);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    sock.off('message', onMessage);
  }
  return got;
}

/** Decrypt SRTP under `crypto`; undefined for a packet that does not authenticate. */
export function srtpDecoder(crypto: CryptoAttribute): (m: Buffer) => Buffer | undefined {
  const rx = new SrtpContext(policyFromCrypto(crypto));
  return (m) => {
    const p = rx.unprotect(m);
    return Buffer.isBuffer(p) ? p : undefined;
  };
}

/**
 * Audio both ways through the media pod: carrier RTP sent to `carrierLeg` reaches Teams as SRTP under `ourCrypto`
 * (the key the SBC offered Teams), and Teams' SRTP under `teamsCrypto` sent to `teamsLeg` reaches the carrier as RTP,
 * five packets each way with their payloads intact.
 */
export async function assertMediaBothWays(o: {
  teamsSock: Socket;
  carrierRtp: Socket;
  carrierLeg: number;
  teamsLeg: number;
  ourCrypto: CryptoAttribute;
  teamsCrypto: CryptoAttribute;
}): Promise<void> {
  const payloads = Array.from({ length: 400 }, () => randomBytes(160));
  const atTeams = await flowUntil(
    o.teamsSock,
    srtpDecoder(o.ourCrypto),
    (i) => o.carrierRtp.send(rtpPacket(2000 + i, 0x9999, payloads[i]!), o.carrierLeg, '127.0.0.1'),
    5,
  );
  assert.equal(atTeams.length, 5, 'carrier RTP reaches Teams as SRTP it can decrypt');
  for (const m of atTeams) assert.deepEqual(m.subarray(12), payloads[m.readUInt16BE(2) - 2000]);
  const tx = new SrtpContext(policyFromCrypto(o.teamsCrypto));
  const atCarrier = await flowUntil(
    o.carrierRtp,
    (m) => m,
    (i) => o.teamsSock.send(tx.protect(rtpPacket(5000 + i, 0x1234, payloads[i]!)) as Buffer, o.teamsLeg, '127.0.0.1'),
    5,
  );
  assert.equal(atCarrier.length, 5, 'Teams SRTP reaches the carrier as RTP');
  for (const m of atCarrier) assert.deepEqual(m.subarray(12), payloads[m.readUInt16BE(2) - 5000]);
}
