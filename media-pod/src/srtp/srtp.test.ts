import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AesCm } from './aes-cm.ts';
import { estimateRoc, SrtpContext } from './context.ts';
import { deriveKey } from './kdf.ts';
import { ReplayWindow } from './replay.ts';
import { formatCryptoAttribute, parseCryptoAttribute, policyFromCrypto } from './sdes.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RFC 3711 Appendix B test vectors', () => {
  it('B.2 AES-CM keystream', () => {
    const aes = new AesCm(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
    assert.equal(
      aes.keystream(iv, 48).toString('hex').toUpperCase(),
      'E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0',
    );
    const ivFeff = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF');
    assert.equal(
      aes.keystream(ivFeff, 48).toString('hex').toUpperCase(),
      'EC8CDF7398607CB0F2D21675EA9EA1E4362B7C3C6773516318A077D7FC5073AE6A2CC3787889374FBEB4C81B17BA6C44',
    );
  });

  it('B.3 key derivation', () => {
    const mk = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
    const ms = hex('0EC675AD498AFEEBB6960B3AABE6');
    assert.equal(deriveKey(mk, ms, 0, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
    assert.equal(deriveKey(mk, ms, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
    assert.equal(deriveKey(mk, ms, 1, 20).toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });
});

// libsrtp's srtp_validate reference packets (same master key as B.3, SSRC 0xcafebabe).
const MASTER = hex('e1f97a0d3e018be0d64fa32c06de4139');
const SALT = hex('0ec675ad498afeebb6960b3aabe6');
const RTP_PLAIN = hex('800f1234decafbadcafebabe' + 'ab'.repeat(16));
const SRTP_80 = hex('800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb');
const RTCP_PLAIN = hex('81c8000bcafebabe' + 'ab'.repeat(16));
const SRTCP = hex('81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798');

const ctx = (suite: 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32' = 'AES_CM_128_HMAC_SHA1_80') =>
  new SrtpContext({ suite, keys: [{ key: MASTER, salt: SALT }] });

/** An RTP packet with the given seq/ssrc and a payload derived from seq. */
function rtp(seq: number, ssrc = 0x11223344, payloadLen = 160): Buffer {
  const b = Buffer.alloc(12 + payloadLen);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  for (let i = 0; i < payloadLen; i++) b[12 + i] = (seq + i) & 0xff;
  return b;
}

describe('SRTP protect/unprotect', () => {
  it('matches libsrtp reference SRTP (_80) and _32 packets', () => {
    assert.deepEqual(ctx().protect(RTP_PLAIN), SRTP_80);
    assert.deepEqual(ctx('AES_CM_128_HMAC_SHA1_32').protect(RTP_PLAIN), SRTP_80.subarray(0, 32));
    assert.deepEqual(ctx().unprotect(Buffer.from(SRTP_80)), RTP_PLAIN);
    assert.deepEqual(ctx('AES_CM_128_HMAC_SHA1_32').unprotect(Buffer.from(SRTP_80.subarray(0, 32))), RTP_PLAIN);
  });

  it('matches the libsrtp reference SRTCP packet', () => {
    // libsrtp numbers its first SRTCP packet 1; RFC 3711 §3.4 (which we follow) starts at 0: compare after index 0.
    const tx = ctx();
    const first = tx.protectRtcp(RTCP_PLAIN) as Buffer;
    assert.equal(first.readUInt32BE(24), 0x80000000);
    assert.deepEqual(ctx().unprotectRtcp(first), RTCP_PLAIN);
    assert.deepEqual(tx.protectRtcp(RTCP_PLAIN), SRTCP);
    assert.deepEqual(ctx().unprotectRtcp(Buffer.from(SRTCP)), RTCP_PLAIN);
    // _32 keeps an 80-bit SRTCP tag (RFC 4568 §6.2).
    assert.deepEqual(ctx('AES_CM_128_HMAC_SHA1_32').unprotectRtcp(Buffer.from(SRTCP)), RTCP_PLAIN);
  });

  it('rejects tampered packets and replays', () => {
    const rx = ctx();
    const bad = Buffer.from(SRTP_80);
    bad[20]! ^= 1;
    assert.equal(rx.unprotect(bad), 'auth');
    assert.deepEqual(rx.unprotect(Buffer.from(SRTP_80)), RTP_PLAIN);
    assert.equal(rx.unprotect(Buffer.from(SRTP_80)), 'replay');
    const rtcpRx = ctx();
    assert.deepEqual(rtcpRx.unprotectRtcp(Buffer.from(SRTCP)), RTCP_PLAIN);
    assert.equal(rtcpRx.unprotectRtcp(Buffer.from(SRTCP)), 'replay');
    assert.equal(ctx().unprotect(Buffer.alloc(8)), 'short');
  });

  it('keeps ROC in step across a sequence rollover, with reordering', () => {
    const tx = ctx();
    const rx = ctx();
    const seqs: number[] = [];
    for (let i = 0; i < 300; i++) seqs.push(65_400 + i);
    // swap a pair around the wrap: 65535 and 0 arrive reordered
    const order = seqs.map((s) => s);
    const a = order.indexOf(65_535);
    [order[a], order[a + 1]] = [order[a + 1]!, order[a]!];
    const protectedBySeq = new Map<number, Buffer>();
    for (const s of seqs) protectedBySeq.set(s, tx.protect(rtp(s)) as Buffer);
    for (const s of order) {
      const out = rx.unprotect(Buffer.from(protectedBySeq.get(s)!));
      assert.ok(Buffer.isBuffer(out), `seq ${s}: ${String(out)}`);
      assert.deepEqual(out, rtp(s));
    }
    assert.equal(rx.rolloverCounter(0x11223344), 1);
    assert.equal(tx.rolloverCounter(0x11223344), 1);
  });

  it('uses the ROC in the auth tag (a receiver with the wrong ROC fails auth)', () => {
    const tx = ctx();
    for (let s = 65_000; s < 65_536 + 10; s += 100) tx.protect(rtp(s));
    const late = tx.protect(rtp(65_536 + 20)) as Buffer; // seq 20, ROC 1
    assert.equal(ctx().unprotect(late), 'auth'); // a fresh receiver assumes ROC 0
  });

  it('estimates the ROC per RFC 3711 Appendix A', () => {
    assert.equal(estimateRoc(0, 10, 11), 0);
    assert.equal(estimateRoc(1, 5, 65_530), 0);
    assert.equal(estimateRoc(0, 65_530, 3), 1);
    assert.equal(estimateRoc(2, 40_000, 39_000), 2);
  });

  it('carries and selects keys by MKI', () => {
    const k2 = hex('00112233445566778899aabbccddeeff');
    const policy = {
      suite: 'AES_CM_128_HMAC_SHA1_80' as const,
      mkiLength: 4,
      keys: [
        { key: MASTER, salt: SALT, mki: 1 },
        { key: k2, salt: SALT, mki: 2 },
      ],
    };
    const tx = new SrtpContext(policy);
    const rx = new SrtpContext(policy);
    const p = tx.protect(rtp(7)) as Buffer;
    assert.equal(p.length, 12 + 160 + 4 + 10);
    assert.equal(p.readUInt32BE(172), 1);
    assert.deepEqual(rx.unprotect(Buffer.from(p)), rtp(7));
    const wrong = Buffer.from(p);
    wrong.writeUInt32BE(9, 172);
    assert.equal(rx.unprotect(wrong), 'mki');
    const c = tx.protectRtcp(RTCP_PLAIN) as Buffer;
    assert.deepEqual(rx.unprotectRtcp(c), RTCP_PLAIN);
  });

  it('handles CSRCs and header extensions (they stay in clear)', () => {
    const hdr = hex('91000001000000000000000100000002bede000112345678');
    const pkt = Buffer.concat([hdr, Buffer.alloc(20, 7)]);
    const tx = ctx();
    const enc = tx.protect(pkt) as Buffer;
    assert.deepEqual(enc.subarray(0, hdr.length), hdr);
    assert.notDeepEqual(enc.subarray(hdr.length, hdr.length + 20), Buffer.alloc(20, 7));
    assert.deepEqual(ctx().unprotect(enc), pkt);
  });
});

describe('replay window', () => {
  it('accepts new, refuses replays and too-old indices', () => {
    const w = new ReplayWindow(64);
    for (const i of [100, 98, 99, 150]) {
      assert.equal(w.check(i), 'ok');
      w.commit(i);
    }
    assert.equal(w.check(99), 'replay');
    assert.equal(w.check(86), 'old');
    assert.equal(w.check(87), 'ok');
    assert.equal(w.check(151), 'ok');
  });
});

describe('SDES crypto attributes (RFC 4568)', () => {
  it('parses Teams-style lines including lifetime and MKI', () => {
    const a = parseCryptoAttribute(
      'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:V/Lr6Lsvhad/crSB9kCQ28jrYDxR2Yfk5bXryH5V|2^31|1:1',
    );
    assert.ok(a);
    assert.equal(a.tag, 1);
    assert.equal(a.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(a.supported, true);
    assert.equal(a.keys[0]?.lifetime, 2 ** 31);
    assert.equal(a.keys[0]?.mki, 1);
    assert.equal(a.keys[0]?.mkiLength, 1);
    assert.equal(a.keys[0]?.key.length, 16);
    assert.equal(a.keys[0]?.salt.length, 14);
    assert.equal(policyFromCrypto(a).mkiLength, 1);
    const unknown = parseCryptoAttribute(
      '3 AES_256_CM_HMAC_SHA1_80 inline:8AbZePWwsKhLGX3GlXA+yHYPQ3cgraer/9DkFJYCOPZZy3o9wC0NIbIFYZfyHw==',
    );
    assert.equal(unknown?.supported, false);
    assert.equal(parseCryptoAttribute('1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ='), null);
    assert.equal(
      parseCryptoAttribute('x AES_CM_128_HMAC_SHA1_80 inline:V/Lr6Lsvhad/crSB9kCQ28jrYDxR2Yfk5bXryH5V'),
      null,
    );
  });

  it('formats and round-trips', () => {
    const s = formatCryptoAttribute({
      tag: 2,
      suite: 'AES_CM_128_HMAC_SHA1_32',
      key: MASTER,
      salt: SALT,
      lifetime: 2 ** 31,
      mki: 1,
      mkiLength: 4,
    });
    assert.match(s, /^2 AES_CM_128_HMAC_SHA1_32 inline:[A-Za-z0-9+/]{40}\|2\^31\|1:4$/);
    const p = parseCryptoAttribute(s);
    assert.deepEqual(p?.keys[0]?.key, MASTER);
    assert.deepEqual(p?.keys[0]?.salt, SALT);
  });
});
