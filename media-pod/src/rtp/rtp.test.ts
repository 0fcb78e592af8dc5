import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALAW_TO_ULAW, alawToLinear, linearToAlaw, linearToUlaw, ULAW_TO_ALAW, ulawToLinear } from './g711.ts';
import { classify } from './packet.ts';
import { ReceiveStats } from './stats.ts';

describe('packet classification (RFC 5761 / RFC 7983)', () => {
  it('tells RTP, RTCP, STUN and others apart', () => {
    const rtp = Buffer.alloc(172);
    rtp[0] = 0x80;
    rtp[1] = 0x00;
    assert.equal(classify(rtp), 'rtp');
    rtp[1] = 0x80 | 101; // marker + telephone-event
    assert.equal(classify(rtp), 'rtp');
    const sr = Buffer.from('80c8000600000001', 'hex');
    assert.equal(classify(sr), 'rtcp');
    assert.equal(classify(Buffer.from('81c9000700000001', 'hex')), 'rtcp');
    const stun = Buffer.alloc(20);
    stun[1] = 1;
    assert.equal(classify(stun), 'stun');
    assert.equal(classify(Buffer.from([0x16, 0xfe, 0xfd])), 'other'); // DTLS
    assert.equal(classify(Buffer.alloc(0)), 'other');
  });
});

describe('receive stats (RFC 3550 A.1, A.3, A.8)', () => {
  it('counts packets, bytes and losses across a sequence wrap', () => {
    const st = new ReceiveStats(8000);
    let t = 1_000_000;
    const seqs: number[] = [];
    for (let i = 0; i < 200; i++) seqs.push((65_500 + i) % 65_536);
    const dropped = new Set([65_530, 3, 4, 50]);
    for (const [i, s] of seqs.entries()) {
      t += 20;
      if (dropped.has(s)) continue;
      st.record(s, i * 160, 0xabc, 172, t);
    }
    const snap = st.snapshot();
    assert.equal(snap.packets, 196);
    assert.equal(snap.bytes, 196 * 172);
    assert.equal(snap.lost, 4);
    assert.equal(snap.jitter, 0);
    assert.equal(snap.lastPacketAt, t);
  });

  it('computes interarrival jitter per A.8', () => {
    const st = new ReceiveStats(8000);
    // arrivals alternate 10 ms early / late relative to a 20 ms clock: |D| = 160 timestamp units each time after the first
    let arrival = 0;
    for (let i = 0; i < 2000; i++) {
      arrival = i * 20 + (i % 2 ? 10 : 0);
      st.record(i, i * 160, 1, 172, arrival);
    }
    const snap = st.snapshot();
    // J converges to the mean |D| = 80 units (10 ms)
    assert.ok(Math.abs(snap.jitter - 80) <= 2, `jitter ${snap.jitter}`);
    assert.ok(Math.abs(snap.jitterMs - 10) < 0.3);
  });
});

describe('G.711 transcoding tables', () => {
  it('maps silence to silence and keeps sign and magnitude', () => {
    assert.equal(ULAW_TO_ALAW[0xff], 0xd5);
    assert.ok([0xff, 0xfe].includes(ALAW_TO_ULAW[0xd5]!)); // A-law "zero" is +8: μ-law 0xfe
    for (let i = 0; i < 256; i++) {
      const lin = ulawToLinear(i);
      const via = alawToLinear(ULAW_TO_ALAW[i]!);
      assert.ok(Math.abs(lin - via) <= Math.max(16, Math.abs(lin) * 0.07), `u ${i}: ${lin} vs ${via}`);
      const linA = alawToLinear(i);
      const viaU = ulawToLinear(ALAW_TO_ULAW[i]!);
      assert.ok(Math.abs(linA - viaU) <= Math.max(16, Math.abs(linA) * 0.07), `a ${i}: ${linA} vs ${viaU}`);
    }
    for (const v of [0, 1000, -1000, 30000, -30000]) {
      assert.ok(Math.abs(alawToLinear(linearToAlaw(v)) - v) <= Math.max(16, Math.abs(v) * 0.04));
      assert.ok(Math.abs(ulawToLinear(linearToUlaw(v)) - v) <= Math.max(16, Math.abs(v) * 0.04));
    }
  });
});
