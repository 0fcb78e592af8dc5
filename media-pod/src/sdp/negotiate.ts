// Offer/answer logic for one anchored audio stream between two legs: what the remote side told us (RemoteStream),
// what we tell each side (buildLocalSdp), codec selection with PCMU⇄PCMA fallback, and payload-type maps per
// direction. Pure: no sockets, no keys in logs.

import type { SrtpSuite } from '../srtp/context.ts';
import { type CryptoAttribute, formatCryptoAttribute, parseCryptoAttribute } from '../srtp/sdes.ts';
import type { IceCredentials } from '../stun/ice-lite.ts';
import {
  type Codec,
  codecAttributes,
  codecsOf,
  type Direction,
  directionOf,
  getAttr,
  hasAttr,
  type Sdp,
  type SdpAttribute,
  SdpError,
  type SdpMedia,
  sameCodec,
} from './sdp.ts';

export interface RemoteStream {
  audioIndex: number;
  address: string;
  addrType: string;
  port: number;
  rtcpAddress: string;
  rtcpPort: number;
  rtcpMux: boolean;
  proto: string;
  srtp: boolean;
  /** Supported crypto attributes, best first (_80 before _32, D6.2). */
  crypto: CryptoAttribute[];
  ice: { ufrag: string; pwd: string } | null;
  codecs: Codec[];
  direction: Direction;
  ptime: string | null;
  maxptime: string | null;
}

/** Read the first audio stream of a remote SDP. Throws SdpError when there is none or it is unusable. */
export function describeRemote(sdp: Sdp): RemoteStream {
  const audioIndex = sdp.media.findIndex((m) => m.media === 'audio');
  if (audioIndex < 0) throw new SdpError('no audio stream');
  const m = sdp.media[audioIndex]!;
  const conn = m.connection ?? sdp.connection;
  if (!conn) throw new SdpError('no c= line for the audio stream');
  const rtcpAttr = getAttr(m.attributes, 'rtcp');
  let rtcpPort = m.port + 1;
  let rtcpAddress = conn.address;
  if (rtcpAttr) {
    const [p, , , a] = rtcpAttr.split(' ');
    if (/^\d+$/.test(p ?? '')) rtcpPort = Number(p);
    if (a) rtcpAddress = a;
  }
  const rtcpMux = hasAttr(m.attributes, 'rtcp-mux');
  if (rtcpMux) {
    rtcpPort = m.port;
    rtcpAddress = conn.address;
  }
  const srtp = /\/SAVPF?$/.test(m.proto) && !m.proto.includes('TLS');
  const crypto = m.attributes
    .filter((a) => a.name === 'crypto' && a.value)
    .map((a) => parseCryptoAttribute(a.value!))
    .filter((c): c is CryptoAttribute => c?.supported === true)
    .sort((x, y) => rank(x.suite) - rank(y.suite));
  const ufrag = getAttr(m.attributes, 'ice-ufrag') ?? getAttr(sdp.attributes, 'ice-ufrag');
  const pwd = getAttr(m.attributes, 'ice-pwd') ?? getAttr(sdp.attributes, 'ice-pwd');
  return {
    audioIndex,
    address: conn.address,
    addrType: conn.addrType,
    port: m.port,
    rtcpAddress,
    rtcpPort,
    rtcpMux,
    proto: m.proto,
    srtp,
    crypto,
    ice: ufrag && pwd ? { ufrag, pwd } : null,
    codecs: codecsOf(m),
    direction: directionOf(sdp, m),
    ptime: getAttr(m.attributes, 'ptime') ?? null,
    maxptime: getAttr(m.attributes, 'maxptime') ?? null,
  };
}

const rank = (suite: string) => (suite === 'AES_CM_128_HMAC_SHA1_80' ? 0 : 1);

export const isAudioCodec = (c: Codec) => !['telephone-event', 'cn'].includes(c.name.toLowerCase());
const isG711 = (c: Codec) => ['pcmu', 'pcma'].includes(c.name.toLowerCase()) && c.rate === 8000;
const G711: Record<string, Codec> = {
  pcmu: { pt: 0, name: 'PCMU', rate: 8000, channels: 1, fmtp: null },
  pcma: { pt: 8, name: 'PCMA', rate: 8000, channels: 1, fmtp: null },
};

/** Codecs to offer to the other side: the offerer's, plus the missing G.711 sibling when transcoding is allowed. */
export function offerCodecs(from: Codec[], transcode: boolean): Codec[] {
  const out = [...from];
  if (transcode) {
    const used = new Set(out.map((c) => c.pt));
    for (const [have, add] of [
      ['pcmu', 'pcma'],
      ['pcma', 'pcmu'],
    ] as const) {
      const sibling = G711[add]!;
      if (
        out.some((c) => c.name.toLowerCase() === have && isG711(c)) &&
        !out.some((c) => c.name.toLowerCase() === add) &&
        !used.has(sibling.pt)
      ) {
        const lastAudio = out.map(isAudioCodec).lastIndexOf(true);
        out.splice(lastAudio + 1, 0, sibling);
        used.add(sibling.pt);
      }
    }
  }
  return out;
}

export interface AnswerSelection {
  /** Codecs for the answer to the offerer, in the offerer's payload numbering. */
  codecs: Codec[];
  /** 'ulaw2alaw' when the offerer sends PCMU and the answerer takes PCMA, etc.; null without transcoding. */
  transcode: { offererCodec: Codec; answererCodec: Codec } | null;
}

/** Choose the answer codecs for the offerer given what it offered and what the answerer answered. */
export function selectAnswerCodecs(offered: Codec[], answered: Codec[], transcode: boolean): AnswerSelection {
  const codecs: Codec[] = [];
  for (const a of answered) {
    const o = offered.find((c) => sameCodec(c, a));
    if (o && !codecs.includes(o)) codecs.push(o);
  }
  if (codecs.some(isAudioCodec)) return { codecs, transcode: null };
  const first = answered.find(isAudioCodec);
  if (transcode && first && isG711(first)) {
    const sibling = offered.find((c) => isG711(c) && !sameCodec(c, first));
    if (sibling) return { codecs: [sibling, ...codecs], transcode: { offererCodec: sibling, answererCodec: first } };
  }
  throw new SdpError('no common codec');
}

/**
 * Payload-type map for packets sent by one side (numbered as in the SDP we sent it) and received by the other
 * (numbered as in the SDP it sent us). Identity where no mapping is needed; null if no entry differs.
 */
export function payloadTypeMap(senderNumbering: Codec[], receiverNumbering: Codec[]): Uint8Array | null {
  const map = new Uint8Array(128);
  let differs = false;
  for (let i = 0; i < 128; i++) map[i] = i;
  for (const s of senderNumbering) {
    const r = receiverNumbering.find((c) => sameCodec(c, s));
    if (r && r.pt !== s.pt) {
      map[s.pt] = r.pt;
      differs = true;
    }
  }
  return differs ? map : null;
}

export interface LocalLegDescription {
  origin: string; // o= value
  address: string;
  addrType: string;
  port: number;
  rtcpPort: number;
  rtcpMux: boolean;
  /** Our crypto line for this leg (tag, suite, our key), or null for plain RTP/AVP. */
  crypto: { tag: number; suite: SrtpSuite; key: Uint8Array; salt: Uint8Array } | null;
  ice: IceCredentials | null;
  codecs: Codec[];
  direction: Direction;
  ptime: string | null;
  maxptime: string | null;
}

/**
 * Our SDP toward a leg. `template` gives the m= line structure to keep (the other side's offer when we offer,
 * this leg's offer when we answer); every stream but the anchored audio one is rejected with port 0.
 */
export function buildLocalSdp(template: Sdp, audioIndex: number, l: LocalLegDescription): Sdp {
  const media: SdpMedia[] = template.media.map((m, i) => {
    if (i !== audioIndex) {
      return { ...m, port: 0, portCount: null, connection: null, bandwidth: [], attributes: [] };
    }
    const attributes: SdpAttribute[] = [...codecAttributes(l.codecs)];
    if (l.ptime) attributes.push({ name: 'ptime', value: l.ptime });
    if (l.maxptime) attributes.push({ name: 'maxptime', value: l.maxptime });
    attributes.push({ name: l.direction, value: null });
    attributes.push({ name: 'rtcp', value: String(l.rtcpMux ? l.port : l.rtcpPort) });
    if (l.rtcpMux) attributes.push({ name: 'rtcp-mux', value: null });
    if (l.crypto) {
      attributes.push({ name: 'crypto', value: formatCryptoAttribute({ ...l.crypto, lifetime: 2 ** 31 }) });
    }
    if (l.ice) {
      attributes.push({ name: 'ice-ufrag', value: l.ice.ufrag });
      attributes.push({ name: 'ice-pwd', value: l.ice.pwd });
      attributes.push({ name: 'candidate', value: `1 1 UDP 2130706431 ${l.address} ${l.port} typ host` });
      if (!l.rtcpMux) {
        attributes.push({ name: 'candidate', value: `1 2 UDP 2130706430 ${l.address} ${l.rtcpPort} typ host` });
      }
    }
    return {
      media: 'audio',
      port: l.port,
      portCount: null,
      proto: l.crypto ? 'RTP/SAVP' : 'RTP/AVP',
      formats: l.codecs.map((c) => String(c.pt)),
      connection: null,
      bandwidth: [],
      attributes,
    };
  });
  return {
    origin: l.origin,
    sessionName: '-',
    connection: { addrType: l.addrType, address: l.address },
    bandwidth: [],
    timing: ['0 0'],
    other: [],
    attributes: l.ice ? [{ name: 'ice-lite', value: null }] : [],
    media,
  };
}
