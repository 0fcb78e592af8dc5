// STUN messages (RFC 5389): decode, encode, MESSAGE-INTEGRITY (HMAC-SHA1, short-term credentials), FINGERPRINT
// (CRC-32 XOR 0x5354554e) and (XOR-)MAPPED-ADDRESS for IPv4 and IPv6. Pure functions over buffers.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { crc32 } from './crc32.ts';

export const MAGIC_COOKIE = 0x2112a442;
export const FINGERPRINT_XOR = 0x5354554e;

export const StunClass = { Request: 0, Indication: 1, Success: 2, Error: 3 } as const;
export const METHOD_BINDING = 0x001;

export const Attr = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  XorMappedAddress: 0x0020,
  Priority: 0x0024,
  UseCandidate: 0x0025,
  Software: 0x8022,
  Fingerprint: 0x8028,
  IceControlled: 0x8029,
  IceControlling: 0x802a,
} as const;

export interface StunAttribute {
  type: number;
  /** Offset of the attribute header in the message. */
  offset: number;
  value: Buffer;
}

export interface StunMessage {
  method: number;
  class: number;
  transactionId: Buffer; // 12 bytes
  attributes: StunAttribute[];
  raw: Buffer;
}

/** Quick demultiplexing test (RFC 7983 first byte 0-3) plus the magic cookie and length checks. */
export function looksLikeStun(b: Uint8Array): boolean {
  return (
    b.length >= 20 &&
    b[0]! < 4 &&
    b[4] === 0x21 &&
    b[5] === 0x12 &&
    b[6] === 0xa4 &&
    b[7] === 0x42 &&
    (b[3]! & 3) === 0 &&
    ((b[2]! << 8) | b[3]!) + 20 === b.length
  );
}

export function messageType(method: number, cls: number): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7);
}

/** Decode a STUN message; null when it is malformed (bad header, truncated attribute). */
export function decodeStun(raw: Buffer): StunMessage | null {
  if (!looksLikeStun(raw)) return null;
  const type = raw.readUInt16BE(0);
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = ((type >> 4) & 1) | ((type >> 7) & 2);
  const attributes: StunAttribute[] = [];
  let off = 20;
  while (off < raw.length) {
    if (off + 4 > raw.length) return null;
    const at = raw.readUInt16BE(off);
    const len = raw.readUInt16BE(off + 2);
    const end = off + 4 + len;
    if (end > raw.length) return null;
    attributes.push({ type: at, offset: off, value: raw.subarray(off + 4, end) });
    off = end + ((4 - (len % 4)) % 4);
  }
  if (off !== raw.length) return null;
  return { method, class: cls, transactionId: raw.subarray(8, 20), attributes, raw };
}

export function getAttribute(m: StunMessage, type: number): StunAttribute | undefined {
  return m.attributes.find((a) => a.type === type);
}

/** Comprehension-required attributes (type < 0x8000) that we do not know. */
export function unknownRequired(m: StunMessage, known: readonly number[]): number[] {
  return m.attributes.filter((a) => a.type < 0x8000 && !known.includes(a.type)).map((a) => a.type);
}

/**
 * Verify MESSAGE-INTEGRITY with `key` (for short-term credentials, the password). The HMAC covers the message up to
 * the attribute, with the header length set as if MESSAGE-INTEGRITY were the last attribute. Attributes after it
 * other than FINGERPRINT make the message invalid (RFC 5389 §15.4).
 */
export function verifyMessageIntegrity(m: StunMessage, key: Uint8Array | string): boolean {
  const idx = m.attributes.findIndex((a) => a.type === Attr.MessageIntegrity);
  if (idx < 0) return false;
  const mi = m.attributes[idx]!;
  if (mi.value.length !== 20) return false;
  for (const a of m.attributes.slice(idx + 1)) if (a.type !== Attr.Fingerprint) return false;
  const header = Buffer.from(m.raw.subarray(0, 20));
  header.writeUInt16BE(mi.offset + 24 - 20, 2);
  const h = createHmac('sha1', key).update(header).update(m.raw.subarray(20, mi.offset)).digest();
  return timingSafeEqual(h, mi.value);
}

export function verifyFingerprint(m: StunMessage): boolean {
  const last = m.attributes[m.attributes.length - 1];
  if (!last || last.type !== Attr.Fingerprint || last.value.length !== 4) return false;
  return (crc32(m.raw, 0, last.offset) ^ FINGERPRINT_XOR) >>> 0 === last.value.readUInt32BE(0);
}

export interface TransportAddress {
  address: string;
  port: number;
}

function ipBytes(address: string): Buffer {
  if (!isIPv6(address)) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) b.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return b;
}

function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // compress the longest run of zero groups
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** XOR-MAPPED-ADDRESS value for `a`, XORed with the magic cookie (and the transaction id for IPv6). */
export function encodeXorAddress(a: TransportAddress, transactionId: Uint8Array): Buffer {
  const ip = ipBytes(a.address);
  const v = Buffer.alloc(4 + ip.length);
  v[1] = ip.length === 4 ? 1 : 2;
  v.writeUInt16BE(a.port ^ (MAGIC_COOKIE >>> 16), 2);
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  mask.set(transactionId, 4);
  for (let i = 0; i < ip.length; i++) v[4 + i] = ip[i]! ^ mask[i]!;
  return v;
}

export function decodeXorAddress(v: Buffer, transactionId: Uint8Array): TransportAddress | null {
  const family = v[1];
  const len = family === 1 ? 4 : family === 2 ? 16 : 0;
  if (!len || v.length !== 4 + len) return null;
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  mask.set(transactionId, 4);
  const ip = Buffer.alloc(len);
  for (let i = 0; i < len; i++) ip[i] = v[4 + i]! ^ mask[i]!;
  return { address: ipString(ip), port: v.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16) };
}

export interface EncodeOptions {
  method: number;
  class: number;
  transactionId: Uint8Array;
  attributes: { type: number; value: Uint8Array }[];
  /** Add MESSAGE-INTEGRITY keyed with this (short-term: the password). */
  integrityKey?: Uint8Array | string;
  fingerprint?: boolean;
  /** Padding byte (RFC 5769 vectors pad with 0x20; default 0). */
  padByte?: number;
}

export function encodeStun(o: EncodeOptions): Buffer {
  const pad = o.padByte ?? 0;
  let size = 20;
  for (const a of o.attributes) size += 4 + a.value.length + ((4 - (a.value.length % 4)) % 4);
  const total = size + (o.integrityKey !== undefined ? 24 : 0) + (o.fingerprint ? 8 : 0);
  const b = Buffer.alloc(total);
  b.writeUInt16BE(messageType(o.method, o.class), 0);
  b.writeUInt32BE(MAGIC_COOKIE, 4);
  b.set(o.transactionId, 8);
  let off = 20;
  for (const a of o.attributes) {
    b.writeUInt16BE(a.type, off);
    b.writeUInt16BE(a.value.length, off + 2);
    b.set(a.value, off + 4);
    off += 4 + a.value.length;
    while (off % 4) b[off++] = pad;
  }
  if (o.integrityKey !== undefined) {
    b.writeUInt16BE(off + 24 - 20, 2);
    const h = createHmac('sha1', o.integrityKey).update(b.subarray(0, off)).digest();
    b.writeUInt16BE(Attr.MessageIntegrity, off);
    b.writeUInt16BE(20, off + 2);
    h.copy(b, off + 4);
    off += 24;
  }
  if (o.fingerprint) {
    b.writeUInt16BE(off + 8 - 20, 2);
    const crc = (crc32(b, 0, off) ^ FINGERPRINT_XOR) >>> 0;
    b.writeUInt16BE(Attr.Fingerprint, off);
    b.writeUInt16BE(4, off + 2);
    b.writeUInt32BE(crc, off + 4);
    off += 8;
  }
  b.writeUInt16BE(off - 20, 2);
  return b;
}
