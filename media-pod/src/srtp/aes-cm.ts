// AES in counter mode (RFC 3711 §4.1.1) with one reusable AES-ECB cipher per key: the counter blocks are built here
// and encrypted in one `update()` call, which avoids a key schedule per packet.
import { type Cipheriv, createCipheriv } from 'node:crypto';

const MAX_BLOCKS = 128; // 2048 bytes of keystream per call; larger inputs are processed in chunks

export class AesCm {
  readonly #ecb: Cipheriv;
  readonly #blocks = Buffer.alloc(MAX_BLOCKS * 16);

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new Error('AES-CM: key must be 16 bytes');
    this.#ecb = createCipheriv('aes-128-ecb', key, null);
    this.#ecb.setAutoPadding(false);
  }

  /** XOR `data[start, end)` in place with the keystream for the 16-byte `iv` (low 16 bits are the block counter). */
  xor(data: Uint8Array, start: number, end: number, iv: Uint8Array): void {
    let counter = 0;
    let pos = start;
    while (pos < end) {
      const blocks = Math.min(MAX_BLOCKS, Math.ceil((end - pos) / 16));
      const b = this.#blocks;
      for (let i = 0; i < blocks; i++) {
        const o = i * 16;
        b.set(iv, o);
        const c = (((iv[14]! << 8) | iv[15]!) + counter + i) & 0xffff;
        b[o + 14] = c >> 8;
        b[o + 15] = c & 0xff;
      }
      counter += blocks;
      const ks = this.#ecb.update(b.subarray(0, blocks * 16));
      const n = Math.min(end - pos, blocks * 16);
      for (let i = 0; i < n; i++) data[pos + i]! ^= ks[i]!;
      pos += n;
    }
  }

  /** `length` bytes of raw keystream for `iv` (used by the key derivation PRF and by tests). */
  keystream(iv: Uint8Array, length: number): Buffer {
    const out = Buffer.alloc(length);
    this.xor(out, 0, length, iv);
    return out;
  }
}
