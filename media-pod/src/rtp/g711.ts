// G.711 μ-law ⇄ A-law transcoding by 256-entry tables built from the linear codecs (ITU-T G.711).

function ulawToLinear(u: number): number {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function alawToLinear(a: number): number {
  a ^= 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

const SEG_AEND = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
const SEG_UEND = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];

function search(v: number, table: number[]): number {
  for (let i = 0; i < 8; i++) if (v <= table[i]!) return i;
  return 8;
}

/** 16-bit linear PCM → A-law. */
function linearToAlaw(pcm: number): number {
  let v = pcm >> 3;
  let mask = 0xd5;
  if (v < 0) {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = search(v, SEG_AEND);
  if (seg >= 8) return 0x7f ^ mask;
  const a = (seg << 4) | ((seg < 2 ? v >> 1 : v >> seg) & 0x0f);
  return a ^ mask;
}

/** 16-bit linear PCM → μ-law. */
function linearToUlaw(pcm: number): number {
  let v = pcm >> 2;
  let mask = 0xff;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  }
  if (v > 8159) v = 8159;
  v += 0x21;
  const seg = search(v, SEG_UEND);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

export const ULAW_TO_ALAW = new Uint8Array(256);
export const ALAW_TO_ULAW = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  ULAW_TO_ALAW[i] = linearToAlaw(ulawToLinear(i));
  ALAW_TO_ULAW[i] = linearToUlaw(alawToLinear(i));
}

export { alawToLinear, linearToAlaw, linearToUlaw, ulawToLinear };

/** Transcode `data[start, end)` in place with a 256-entry table. */
export function transcodeInPlace(data: Uint8Array, start: number, end: number, table: Uint8Array): void {
  for (let i = start; i < end; i++) data[i] = table[data[i]!]!;
}
