// SRTP key derivation (RFC 3711 §4.3) with the AES-CM PRF (§4.3.3). Key derivation rate 0 (the SDES default): r = 0.
import { AesCm } from './aes-cm.ts';

export const LABEL_RTP_ENCRYPTION = 0;
export const LABEL_RTP_AUTH = 1;
export const LABEL_RTP_SALT = 2;
export const LABEL_RTCP_ENCRYPTION = 3;
export const LABEL_RTCP_AUTH = 4;
export const LABEL_RTCP_SALT = 5;

export interface SessionKeys {
  encryptionKey: Buffer; // 16 bytes
  authKey: Buffer; // 20 bytes
  salt: Buffer; // 14 bytes
}

/** PRF_n(master_key, x): x = (label || r) XOR master_salt, right-aligned, then AES-CM with IV = x * 2^16. */
export function deriveKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  if (masterSalt.length !== 14) throw new Error('SRTP: master salt must be 14 bytes');
  const iv = Buffer.alloc(16);
  iv.set(masterSalt, 0);
  // key_id = label (8 bits) || r (48 bits, 0 here): label lands at byte 7 of the 14-byte salt.
  iv[7]! ^= label;
  return new AesCm(masterKey).keystream(iv, length);
}

export function deriveSessionKeys(masterKey: Uint8Array, masterSalt: Uint8Array, rtcp: boolean): SessionKeys {
  const base = rtcp ? LABEL_RTCP_ENCRYPTION : LABEL_RTP_ENCRYPTION;
  return {
    encryptionKey: deriveKey(masterKey, masterSalt, base, 16),
    authKey: deriveKey(masterKey, masterSalt, base + 1, 20),
    salt: deriveKey(masterKey, masterSalt, base + 2, 14),
  };
}
