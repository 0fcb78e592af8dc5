// RFC 4568 SDES crypto attributes: `a=crypto:<tag> <suite> inline:<base64 key||salt>[|lifetime][|mki:length] ...`.
import { randomBytes } from 'node:crypto';
import { SRTP_SUITES, type SrtpPolicy, type SrtpSuite } from './context.ts';

export interface SdesKeyParam {
  key: Buffer; // 16 bytes master key
  salt: Buffer; // 14 bytes master salt
  /** Lifetime in packets, if given (`2^31` or a decimal). */
  lifetime?: number;
  mki?: number;
  mkiLength?: number;
}

export interface CryptoAttribute {
  tag: number;
  /** The suite name as written; `supported` tells whether we can use it. */
  suite: string;
  supported: boolean;
  keys: SdesKeyParam[];
  sessionParams: string[];
}

const KEY_SALT_LENGTH = 30;

/** Parse the value of an `a=crypto:` line (with or without the `a=crypto:` prefix); null if malformed. */
export function parseCryptoAttribute(value: string): CryptoAttribute | null {
  const v = value.trim().replace(/^a=crypto:/, '');
  const parts = v.split(/\s+/);
  if (parts.length < 3) return null;
  const tagText = parts[0]!;
  if (!/^\d{1,9}$/.test(tagText)) return null;
  const suite = parts[1]!;
  const supported = (SRTP_SUITES as readonly string[]).includes(suite);
  const keys: SdesKeyParam[] = [];
  for (const kp of parts[2]!.split(';')) {
    if (!kp.startsWith('inline:')) return null;
    const fields = kp.slice(7).split('|');
    const material = Buffer.from(fields[0]!, 'base64');
    if (supported && material.length !== KEY_SALT_LENGTH) return null;
    const param: SdesKeyParam = { key: material.subarray(0, 16), salt: material.subarray(16, 30) };
    for (const f of fields.slice(1)) {
      if (f.includes(':')) {
        const [mki, len] = f.split(':');
        if (!/^\d+$/.test(mki ?? '') || !/^\d+$/.test(len ?? '')) return null;
        param.mki = Number(mki);
        param.mkiLength = Number(len);
        if (param.mkiLength < 1 || param.mkiLength > 128) return null;
      } else {
        const m = /^(?:2\^(\d+)|(\d+))$/.exec(f);
        if (!m) return null;
        param.lifetime = m[1] !== undefined ? 2 ** Number(m[1]) : Number(m[2]);
      }
    }
    keys.push(param);
  }
  return { tag: Number(tagText), suite, supported, keys, sessionParams: parts.slice(3) };
}

export interface FormatCryptoOptions {
  tag: number;
  suite: SrtpSuite;
  key: Uint8Array;
  salt: Uint8Array;
  lifetime?: number;
  mki?: number;
  mkiLength?: number;
}

/** The value of an `a=crypto:` line (without the `a=crypto:` prefix). */
export function formatCryptoAttribute(o: FormatCryptoOptions): string {
  let s = `${o.tag} ${o.suite} inline:${Buffer.concat([o.key, o.salt]).toString('base64')}`;
  if (o.lifetime !== undefined) {
    const log = Math.log2(o.lifetime);
    s += Number.isInteger(log) ? `|2^${log}` : `|${o.lifetime}`;
  }
  if (o.mki !== undefined && o.mkiLength) s += `|${o.mki}:${o.mkiLength}`;
  return s;
}

/** A fresh random master key and salt. */
export function generateMasterKey(): { key: Buffer; salt: Buffer } {
  const b = randomBytes(KEY_SALT_LENGTH);
  return { key: b.subarray(0, 16), salt: b.subarray(16) };
}

/** An SRTP policy for a parsed, supported crypto attribute. */
export function policyFromCrypto(c: CryptoAttribute): SrtpPolicy {
  if (!c.supported) throw new Error(`SRTP: unsupported suite ${c.suite}`);
  const mkiLength = c.keys[0]?.mkiLength ?? 0;
  return {
    suite: c.suite as SrtpSuite,
    mkiLength,
    keys: c.keys.map((k) => ({ key: k.key, salt: k.salt, mki: k.mki ?? 0 })),
  };
}
