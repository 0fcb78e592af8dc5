// Per-stream receive statistics: RFC 3550 A.1 sequence tracking (extended highest sequence, cycles, probation),
// A.3 expected/lost, A.8 interarrival jitter (in timestamp units and milliseconds).

const RTP_SEQ_MOD = 65536;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const MIN_SEQUENTIAL = 2;

export interface StreamStatsSnapshot {
  ssrc: number | null;
  packets: number;
  bytes: number;
  /** Expected minus received (RFC 3550 A.3), never below 0. */
  lost: number;
  expected: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  jitterMs: number;
  /** Unix ms of the last packet, or null. */
  lastPacketAt: number | null;
}

export class ReceiveStats {
  readonly clockRate: number;
  ssrc: number | null = null;
  packets = 0;
  bytes = 0;
  lastPacketAt: number | null = null;
  #maxSeq = 0;
  #cycles = 0;
  #baseSeq = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #probation = MIN_SEQUENTIAL;
  #received = 0;
  #transit = 0;
  #jitter = 0; // scaled by 16 as in A.8
  #haveTransit = false;

  constructor(clockRate = 8000) {
    this.clockRate = clockRate;
  }

  #init(seq: number): void {
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
  }

  /** Record one RTP packet: its sequence number, RTP timestamp, SSRC, size, and arrival time in ms. */
  record(seq: number, timestamp: number, ssrc: number, bytes: number, arrivalMs: number): void {
    this.packets++;
    this.bytes += bytes;
    this.lastPacketAt = arrivalMs;
    if (this.ssrc !== ssrc) {
      // new source (or SSRC change after re-INVITE / re-anchoring): restart sequence and jitter state
      this.ssrc = ssrc;
      this.#init(seq);
      this.#maxSeq = seq - 1;
      this.#probation = MIN_SEQUENTIAL;
      this.#haveTransit = false;
    }
    if (!this.#updateSeq(seq)) return;
    // A.8: transit = arrival (in timestamp units) - timestamp; J += (|D| - J) / 16
    const arrival = Math.round((arrivalMs * this.clockRate) / 1000);
    const transit = (arrival - timestamp) | 0;
    if (this.#haveTransit) {
      let d = (transit - this.#transit) | 0;
      if (d < 0) d = -d;
      this.#jitter += d - ((this.#jitter + 8) >> 4);
    }
    this.#transit = transit;
    this.#haveTransit = true;
  }

  #updateSeq(seq: number): boolean {
    const udelta = (seq - this.#maxSeq + RTP_SEQ_MOD) % RTP_SEQ_MOD;
    if (this.#probation) {
      if (seq === (this.#maxSeq + 1) % RTP_SEQ_MOD) {
        this.#probation--;
        this.#maxSeq = seq;
        if (this.#probation === 0) {
          this.#init(seq);
          this.#received++;
          return true;
        }
      } else {
        this.#probation = MIN_SEQUENTIAL - 1;
        this.#maxSeq = seq;
      }
      return false;
    }
    if (udelta < MAX_DROPOUT) {
      if (seq < this.#maxSeq) this.#cycles += RTP_SEQ_MOD;
      this.#maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      if (seq === this.#badSeq) {
        this.#init(seq); // the source restarted its sequence
      } else {
        this.#badSeq = (seq + 1) % RTP_SEQ_MOD;
        return false;
      }
    }
    // else: duplicate or reordered packet
    this.#received++;
    return true;
  }

  snapshot(): StreamStatsSnapshot {
    const extendedMax = this.#cycles + this.#maxSeq;
    const expected = this.ssrc === null || this.#probation ? 0 : extendedMax - this.#baseSeq + 1;
    const jitter = this.#jitter >> 4;
    return {
      ssrc: this.ssrc,
      packets: this.packets,
      bytes: this.bytes,
      expected,
      lost: Math.max(0, expected - this.#received),
      jitter,
      jitterMs: Math.round((jitter * 1000 * 100) / this.clockRate) / 100,
      lastPacketAt: this.lastPacketAt,
    };
  }
}
