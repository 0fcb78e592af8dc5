// SRTP/SRTCP protect and unprotect (RFC 3711) for AES_CM_128_HMAC_SHA1_80 and _32 (RFC 4568 §6.2), with MKI, ROC
// estimation (§3.3.1), sequence rollover and a replay window per SSRC. One context per direction and leg: a context
// that protects never unprotects and the other way round. Keys live only in memory here and are never logged.
import { createHmac } from 'node:crypto';
import { AesCm } from './aes-cm.ts';
import { deriveSessionKeys } from './kdf.ts';
import { ReplayWindow } from './replay.ts';

export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';
export const SRTP_SUITES: readonly SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

export interface SrtpMasterKey {
  /** 16 bytes. */
  key: Uint8Array;
  /** 14 bytes. */
  salt: Uint8Array;
  /** MKI value carried in packets when the policy's mkiLength > 0. */
  mki?: number;
}

export interface SrtpPolicy {
  suite: SrtpSuite;
  /** At least one; the first protects outgoing packets. Several only make sense with an MKI. */
  keys: SrtpMasterKey[];
  /** MKI length in bytes (0: no MKI). */
  mkiLength?: number;
  /** Replay window size in packets (default 128). */
  replayWindow?: number;
}

/** Why a packet was refused. */
export type SrtpError = 'short' | 'auth' | 'replay' | 'old' | 'mki' | 'malformed';

interface KeySet {
  mki: number;
  rtpCipher: AesCm;
  rtpAuth: Buffer;
  rtpSalt: Buffer;
  rtcpCipher: AesCm;
  rtcpAuth: Buffer;
  rtcpSalt: Buffer;
}

interface StreamState {
  roc: number;
  seq: number; // s_l: highest sequence number seen (authenticated)
  replay: ReplayWindow;
  rtcpIndex: number; // sender: next SRTCP index
  rtcpReplay: ReplayWindow;
}

const MAX_STREAMS = 64; // SSRCs per context: bounds memory against a peer that cycles SSRCs

export function tagLength(suite: SrtpSuite): number {
  return suite === 'AES_CM_128_HMAC_SHA1_32' ? 4 : 10;
}

/** RTP header length including CSRCs and the header extension, or -1 if malformed. */
export function rtpHeaderLength(p: Uint8Array, length: number): number {
  if (length < 12 || p[0]! >> 6 !== 2) return -1;
  let len = 12 + (p[0]! & 0x0f) * 4;
  if (p[0]! & 0x10) {
    if (length < len + 4) return -1;
    len += 4 + ((p[len + 2]! << 8) | p[len + 3]!) * 4;
  }
  return len <= length ? len : -1;
}

/** RFC 3711 Appendix A: the index v of a received sequence number given the highest s_l and the ROC. */
export function estimateRoc(roc: number, sl: number, seq: number): number {
  if (sl < 32768) return seq - sl > 32768 ? roc - 1 : roc;
  return sl - 32768 > seq ? roc + 1 : roc;
}

export class SrtpContext {
  readonly suite: SrtpSuite;
  readonly tagLength: number;
  readonly mkiLength: number;
  readonly #keys: KeySet[];
  readonly #streams = new Map<number, StreamState>();
  readonly #windowSize: number;
  readonly #iv = Buffer.alloc(16);
  readonly #roc = Buffer.alloc(4);

  constructor(policy: SrtpPolicy) {
    if (!SRTP_SUITES.includes(policy.suite)) throw new Error(`SRTP: unsupported suite ${policy.suite}`);
    if (policy.keys.length === 0) throw new Error('SRTP: no master key');
    this.suite = policy.suite;
    this.tagLength = tagLength(policy.suite);
    this.mkiLength = policy.mkiLength ?? 0;
    if (this.mkiLength < 0 || this.mkiLength > 4) throw new Error('SRTP: MKI length must be 0-4 bytes');
    this.#windowSize = policy.replayWindow ?? 128;
    this.#keys = policy.keys.map((k) => {
      if (k.key.length !== 16 || k.salt.length !== 14) throw new Error('SRTP: master key 16 bytes, salt 14 bytes');
      const rtp = deriveSessionKeys(k.key, k.salt, false);
      const rtcp = deriveSessionKeys(k.key, k.salt, true);
      return {
        mki: k.mki ?? 0,
        rtpCipher: new AesCm(rtp.encryptionKey),
        rtpAuth: rtp.authKey,
        rtpSalt: rtp.salt,
        rtcpCipher: new AesCm(rtcp.encryptionKey),
        rtcpAuth: rtcp.authKey,
        rtcpSalt: rtcp.salt,
      };
    });
  }

  /** The current ROC of an SSRC (for tests and stats), or undefined. */
  rolloverCounter(ssrc: number): number | undefined {
    return this.#streams.get(ssrc)?.roc;
  }

  #stream(ssrc: number, seq: number, create: boolean): StreamState | undefined {
    let s = this.#streams.get(ssrc);
    if (!s && create) {
      if (this.#streams.size >= MAX_STREAMS) {
        const oldest = this.#streams.keys().next().value;
        if (oldest !== undefined) this.#streams.delete(oldest);
      }
      s = {
        roc: 0,
        seq,
        replay: new ReplayWindow(this.#windowSize),
        rtcpIndex: 0,
        rtcpReplay: new ReplayWindow(this.#windowSize),
      };
      this.#streams.set(ssrc, s);
    }
    return s;
  }

  #keyByMki(p: Uint8Array, at: number): KeySet | undefined {
    if (this.mkiLength === 0) return this.#keys[0];
    let mki = 0;
    for (let i = 0; i < this.mkiLength; i++) mki = mki * 256 + p[at + i]!;
    return this.#keys.find((k) => k.mki === mki);
  }

  #writeMki(out: Buffer, at: number, mki: number): void {
    for (let i = this.mkiLength - 1; i >= 0; i--) {
      out[at + i] = mki & 0xff;
      mki = Math.floor(mki / 256);
    }
  }

  #rtpIv(salt: Buffer, ssrc: number, roc: number, seq: number): Buffer {
    const iv = this.#iv;
    salt.copy(iv, 0, 0, 14);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
    iv[12]! ^= seq >> 8;
    iv[13]! ^= seq & 0xff;
    return iv;
  }

  #rtcpIv(salt: Buffer, ssrc: number, index: number): Buffer {
    const iv = this.#iv;
    salt.copy(iv, 0, 0, 14);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(10) ^ index) >>> 0, 10);
    return iv;
  }

  #tag(authKey: Buffer, data: Uint8Array, roc: number | -1): Buffer {
    const h = createHmac('sha1', authKey).update(data);
    if (roc >= 0) {
      this.#roc.writeUInt32BE(roc >>> 0, 0);
      h.update(this.#roc);
    }
    return h.digest();
  }

  /** RTP → SRTP. Returns a new buffer, or 'malformed'. */
  protect(rtp: Uint8Array): Buffer | SrtpError {
    const len = rtp.length;
    const hl = rtpHeaderLength(rtp, len);
    if (hl < 0) return 'malformed';
    const seq = (rtp[2]! << 8) | rtp[3]!;
    const ssrc = ((rtp[8]! << 24) | (rtp[9]! << 16) | (rtp[10]! << 8) | rtp[11]!) >>> 0;
    const s = this.#stream(ssrc, seq, true)!;
    const v = estimateRoc(s.roc, s.seq, seq);
    if (v === s.roc + 1) {
      s.roc = v;
      s.seq = seq;
    } else if (v === s.roc && seq > s.seq) s.seq = seq;
    const roc = Math.max(0, v);
    const k = this.#keys[0]!;
    const out = Buffer.allocUnsafe(len + this.mkiLength + this.tagLength);
    out.set(rtp, 0);
    k.rtpCipher.xor(out, hl, len, this.#rtpIv(k.rtpSalt, ssrc, roc, seq));
    if (this.mkiLength) this.#writeMki(out, len, k.mki);
    const tag = this.#tag(k.rtpAuth, out.subarray(0, len), roc);
    tag.copy(out, len + this.mkiLength, 0, this.tagLength);
    return out;
  }

  /** SRTP → RTP, in place: returns a view of `srtp` holding the RTP packet, or why it was refused. */
  unprotect(srtp: Buffer): Buffer | SrtpError {
    const authEnd = srtp.length - this.tagLength - this.mkiLength;
    if (authEnd < 12) return 'short';
    const hl = rtpHeaderLength(srtp, authEnd);
    if (hl < 0) return 'malformed';
    const k = this.#keyByMki(srtp, authEnd);
    if (!k) return 'mki';
    const seq = (srtp[2]! << 8) | srtp[3]!;
    const ssrc = srtp.readUInt32BE(8);
    const known = this.#streams.get(ssrc);
    const roc0 = known ? known.roc : 0;
    const sl = known ? known.seq : seq;
    const v = estimateRoc(roc0, sl, seq);
    if (v < 0) return 'old';
    const index = v * 65536 + seq;
    if (known) {
      const r = known.replay.check(index);
      if (r !== 'ok') return r;
    }
    const tag = this.#tag(k.rtpAuth, srtp.subarray(0, authEnd), v);
    const tagAt = authEnd + this.mkiLength;
    for (let i = 0; i < this.tagLength; i++) if (tag[i] !== srtp[tagAt + i]) return 'auth';
    const s = known ?? this.#stream(ssrc, seq, true)!;
    if (v === s.roc + 1) {
      s.roc = v;
      s.seq = seq;
    } else if (v === s.roc && seq > s.seq) s.seq = seq;
    s.replay.commit(index);
    k.rtpCipher.xor(srtp, hl, authEnd, this.#rtpIv(k.rtpSalt, ssrc, v, seq));
    return srtp.subarray(0, authEnd);
  }

  /** RTCP → SRTCP (encrypted, E flag set). The tag is always 80 bits for SRTCP (RFC 4568 §6.2). */
  protectRtcp(rtcp: Uint8Array): Buffer | SrtpError {
    const len = rtcp.length;
    if (len < 8 || rtcp[0]! >> 6 !== 2) return 'malformed';
    const ssrc = ((rtcp[4]! << 24) | (rtcp[5]! << 16) | (rtcp[6]! << 8) | rtcp[7]!) >>> 0;
    const s = this.#stream(ssrc, 0, true)!;
    const index = s.rtcpIndex;
    s.rtcpIndex = (index + 1) & 0x7fffffff;
    const k = this.#keys[0]!;
    const out = Buffer.allocUnsafe(len + 4 + this.mkiLength + 10);
    out.set(rtcp, 0);
    k.rtcpCipher.xor(out, 8, len, this.#rtcpIv(k.rtcpSalt, ssrc, index));
    out.writeUInt32BE((0x80000000 | index) >>> 0, len);
    if (this.mkiLength) this.#writeMki(out, len + 4, k.mki);
    const tag = this.#tag(k.rtcpAuth, out.subarray(0, len + 4), -1);
    tag.copy(out, len + 4 + this.mkiLength, 0, 10);
    return out;
  }

  /** SRTCP → RTCP, in place. */
  unprotectRtcp(srtcp: Buffer): Buffer | SrtpError {
    const authEnd = srtcp.length - 10 - this.mkiLength;
    if (authEnd < 12) return 'short';
    if (srtcp[0]! >> 6 !== 2) return 'malformed';
    const k = this.#keyByMki(srtcp, authEnd);
    if (!k) return 'mki';
    const word = srtcp.readUInt32BE(authEnd - 4);
    const encrypted = (word & 0x80000000) !== 0;
    const index = word & 0x7fffffff;
    const ssrc = srtcp.readUInt32BE(4);
    const known = this.#streams.get(ssrc);
    if (known) {
      const r = known.rtcpReplay.check(index);
      if (r !== 'ok') return r;
    }
    const tag = this.#tag(k.rtcpAuth, srtcp.subarray(0, authEnd), -1);
    const tagAt = authEnd + this.mkiLength;
    for (let i = 0; i < 10; i++) if (tag[i] !== srtcp[tagAt + i]) return 'auth';
    const s = known ?? this.#stream(ssrc, 0, true)!;
    s.rtcpReplay.commit(index);
    const end = authEnd - 4;
    if (encrypted) k.rtcpCipher.xor(srtcp, 8, end, this.#rtcpIv(k.rtcpSalt, ssrc, index));
    return srtcp.subarray(0, end);
  }
}
