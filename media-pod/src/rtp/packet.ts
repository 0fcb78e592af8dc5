// RTP/RTCP classification and header access (RFC 3550, RFC 5761 demultiplexing, RFC 7983 first-byte ranges).

export type PacketKind = 'rtp' | 'rtcp' | 'stun' | 'other';

/** Classify a datagram received on a media port. RTCP is told from RTP by PT 64-95 (RFC 5761 §4). */
export function classify(b: Uint8Array): PacketKind {
  if (b.length < 1) return 'other';
  const first = b[0]!;
  if (first < 4) return b.length >= 20 ? 'stun' : 'other';
  if (first >= 128 && first <= 191 && b.length >= 8) {
    const pt = b[1]! & 0x7f;
    if (pt >= 64 && pt <= 95) return 'rtcp';
    return b.length >= 12 ? 'rtp' : 'other';
  }
  return 'other';
}

export const rtpPayloadType = (b: Uint8Array): number => b[1]! & 0x7f;
export const rtpSeq = (b: Uint8Array): number => (b[2]! << 8) | b[3]!;
export const rtpTimestamp = (b: Uint8Array): number => ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0;
export const rtpSsrc = (b: Uint8Array): number => ((b[8]! << 24) | (b[9]! << 16) | (b[10]! << 8) | b[11]!) >>> 0;

export function setPayloadType(b: Uint8Array, pt: number): void {
  b[1] = (b[1]! & 0x80) | (pt & 0x7f);
}
