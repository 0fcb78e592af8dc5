// SDP (RFC 8866) parse and serialize, enough for audio offer/answer: order of lines is kept, attributes are kept as
// name/value pairs, and helpers read what the media pod needs (codecs, crypto, ICE, rtcp-mux, direction).

export interface SdpAttribute {
  name: string;
  value: string | null;
}

export interface SdpConnection {
  addrType: string; // IP4 | IP6
  address: string;
}

export interface SdpMedia {
  media: string; // audio, video, image, ...
  port: number;
  portCount: number | null;
  proto: string;
  formats: string[];
  connection: SdpConnection | null;
  bandwidth: string[];
  attributes: SdpAttribute[];
}

export interface Sdp {
  origin: string; // the o= value as is
  sessionName: string;
  connection: SdpConnection | null;
  bandwidth: string[];
  timing: string[];
  /** Other session-level lines (i=, u=, e=, p=, z=, k=, r=) as full `x=value` strings, in order. */
  other: string[];
  attributes: SdpAttribute[];
  media: SdpMedia[];
}

export class SdpError extends Error {}

function parseConnection(v: string): SdpConnection {
  const [net, addrType, address] = v.split(' ');
  if (net !== 'IN' || !addrType || !address) throw new SdpError(`bad c= line: ${v}`);
  return { addrType, address: address.split('/')[0]! };
}

function parseAttribute(v: string): SdpAttribute {
  const i = v.indexOf(':');
  return i < 0 ? { name: v, value: null } : { name: v.slice(0, i), value: v.slice(i + 1) };
}

export function parseSdp(text: string): Sdp {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== 'v=0') throw new SdpError('SDP must start with v=0');
  const sdp: Sdp = {
    origin: '',
    sessionName: '-',
    connection: null,
    bandwidth: [],
    timing: [],
    other: [],
    attributes: [],
    media: [],
  };
  let m: SdpMedia | null = null;
  for (const line of lines.slice(1)) {
    if (line[1] !== '=') throw new SdpError(`bad SDP line: ${line}`);
    const type = line[0];
    const v = line.slice(2);
    if (type === 'm') {
      const [media, portSpec, proto, ...formats] = v.split(' ');
      if (!media || !portSpec || !proto) throw new SdpError(`bad m= line: ${line}`);
      const [port, count] = portSpec.split('/');
      if (!/^\d+$/.test(port ?? '')) throw new SdpError(`bad m= port: ${line}`);
      m = {
        media,
        port: Number(port),
        portCount: count ? Number(count) : null,
        proto,
        formats: formats.filter((f) => f.length > 0),
        connection: null,
        bandwidth: [],
        attributes: [],
      };
      sdp.media.push(m);
      continue;
    }
    if (m) {
      if (type === 'c') m.connection = parseConnection(v);
      else if (type === 'b') m.bandwidth.push(v);
      else if (type === 'a') m.attributes.push(parseAttribute(v));
      // i= and k= at media level are dropped
      continue;
    }
    if (type === 'o') sdp.origin = v;
    else if (type === 's') sdp.sessionName = v;
    else if (type === 'c') sdp.connection = parseConnection(v);
    else if (type === 'b') sdp.bandwidth.push(v);
    else if (type === 't') sdp.timing.push(v);
    else if (type === 'a') sdp.attributes.push(parseAttribute(v));
    else sdp.other.push(line);
  }
  if (!sdp.origin) throw new SdpError('SDP without o= line');
  return sdp;
}

const attr = (a: SdpAttribute) => (a.value === null ? `a=${a.name}` : `a=${a.name}:${a.value}`);

export function serializeSdp(sdp: Sdp): string {
  const out = ['v=0', `o=${sdp.origin}`, `s=${sdp.sessionName}`];
  for (const o of sdp.other) out.push(o);
  if (sdp.connection) out.push(`c=IN ${sdp.connection.addrType} ${sdp.connection.address}`);
  for (const b of sdp.bandwidth) out.push(`b=${b}`);
  for (const t of sdp.timing.length ? sdp.timing : ['0 0']) out.push(`t=${t}`);
  for (const a of sdp.attributes) out.push(attr(a));
  for (const m of sdp.media) {
    const port = m.portCount ? `${m.port}/${m.portCount}` : String(m.port);
    out.push(`m=${[m.media, port, m.proto, ...m.formats].join(' ')}`);
    if (m.connection) out.push(`c=IN ${m.connection.addrType} ${m.connection.address}`);
    for (const b of m.bandwidth) out.push(`b=${b}`);
    for (const a of m.attributes) out.push(attr(a));
  }
  return `${out.join('\r\n')}\r\n`;
}

export function getAttr(list: SdpAttribute[], name: string): string | null | undefined {
  return list.find((a) => a.name === name)?.value;
}

export function hasAttr(list: SdpAttribute[], name: string): boolean {
  return list.some((a) => a.name === name);
}

export interface Codec {
  pt: number;
  name: string; // as written, e.g. PCMU, telephone-event
  rate: number;
  channels: number;
  fmtp: string | null;
}

const STATIC: Record<number, [string, number]> = {
  0: ['PCMU', 8000],
  3: ['GSM', 8000],
  4: ['G723', 8000],
  8: ['PCMA', 8000],
  9: ['G722', 8000],
  13: ['CN', 8000],
  18: ['G729', 8000],
};

/** The codecs of an RTP media section, in m= order, without duplicate payload types (the first one wins). */
export function codecsOf(m: SdpMedia): Codec[] {
  const seen = new Set<number>();
  const out: Codec[] = [];
  for (const f of m.formats) {
    const pt = Number(f);
    if (!Number.isInteger(pt) || pt < 0 || pt > 127 || seen.has(pt)) continue;
    seen.add(pt);
    const rtpmap = m.attributes.find((a) => a.name === 'rtpmap' && a.value?.split(' ')[0] === f)?.value;
    let name: string | undefined;
    let rate = 8000;
    let channels = 1;
    if (rtpmap) {
      const [n, r, c] = (rtpmap.split(' ')[1] ?? '').split('/');
      name = n;
      rate = Number(r) || 8000;
      channels = Number(c) || 1;
    } else if (STATIC[pt]) {
      [name, rate] = STATIC[pt]!;
    }
    if (!name) continue;
    const fmtp = m.attributes.find((a) => a.name === 'fmtp' && a.value?.split(' ')[0] === f)?.value ?? null;
    out.push({ pt, name, rate, channels, fmtp: fmtp === null ? null : fmtp.slice(f.length + 1) });
  }
  return out;
}

/** Same codec (encoding name case-insensitively, clock rate, channels). */
export function sameCodec(a: Codec, b: Codec): boolean {
  return a.name.toLowerCase() === b.name.toLowerCase() && a.rate === b.rate && a.channels === b.channels;
}

export function codecAttributes(codecs: Codec[]): SdpAttribute[] {
  const out: SdpAttribute[] = [];
  for (const c of codecs) {
    out.push({ name: 'rtpmap', value: `${c.pt} ${c.name}/${c.rate}${c.channels > 1 ? `/${c.channels}` : ''}` });
    if (c.fmtp !== null) out.push({ name: 'fmtp', value: `${c.pt} ${c.fmtp}` });
  }
  return out;
}

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export function directionOf(sdp: Sdp, m: SdpMedia): Direction {
  for (const d of ['sendrecv', 'sendonly', 'recvonly', 'inactive'] as const) {
    if (hasAttr(m.attributes, d)) return d;
  }
  for (const d of ['sendrecv', 'sendonly', 'recvonly', 'inactive'] as const) {
    if (hasAttr(sdp.attributes, d)) return d;
  }
  return 'sendrecv';
}

export function reverseDirection(d: Direction): Direction {
  return d === 'sendonly' ? 'recvonly' : d === 'recvonly' ? 'sendonly' : d;
}
