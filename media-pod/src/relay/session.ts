// A media session: the legs of one call (keyed by leg name), and the offer/answer state that ties them together.
import { createHash, randomInt } from 'node:crypto';
import { ALAW_TO_ULAW, ULAW_TO_ALAW } from '../rtp/g711.ts';
import {
  buildLocalSdp,
  describeRemote,
  offerCodecs,
  payloadTypeMap,
  type RemoteStream,
  selectAnswerCodecs,
} from '../sdp/negotiate.ts';
import { type Codec, parseSdp, type Sdp, SdpError, serializeSdp } from '../sdp/sdp.ts';
import { SrtpContext, type SrtpSuite } from '../srtp/context.ts';
import { generateMasterKey, policyFromCrypto } from '../srtp/sdes.ts';
import { generateIceCredentials } from '../stun/ice-lite.ts';
import type { Leg, LegProfile, LegStats } from './leg.ts';

/** What we last sent to a leg, and what it last sent us. */
interface LegNegotiation {
  /** SDP we produced for this leg (offer or answer), parsed and as text. */
  sentText: string | null;
  sentCodecs: Codec[];
  /** The remote's last SDP (offer or answer) and its description. */
  received: Sdp | null;
  receivedText: string | null;
  remote: RemoteStream | null;
  origin: { sessId: number; version: number; body: string };
  /** The crypto tag/suite in force toward this leg. */
  crypto: { tag: number; suite: SrtpSuite } | null;
  remoteKeyId: string | null;
}

export class NegotiationError extends Error {}

export interface PendingOffer {
  from: string;
  to: string;
  transcode: boolean;
}

export class MediaSession {
  readonly callId: string;
  readonly tenant: string;
  readonly legs = new Map<string, Leg>();
  readonly neg = new Map<string, LegNegotiation>();
  readonly createdAt = Date.now();
  pending: PendingOffer | null = null;
  transcode = false;
  /** Legs we sent a re-anchoring offer to and that have not answered yet. */
  readonly reanchorPending = new Set<string>();
  /** Idempotency cache: request fingerprint → response, per (leg, operation). */
  readonly replies = new Map<string, { fingerprint: string; response: unknown }>();
  advertisedAddress: string;
  /** The no-media watchdog finds this call silent now (cleared when media resumes or SDP is renegotiated). */
  noMediaReported = false;
  /** When the last SDP was accepted from either side: the no-media clock of every leg starts again from here. */
  mediaSince = Date.now();

  constructor(callId: string, tenant: string, advertisedAddress: string) {
    this.callId = callId;
    this.tenant = tenant;
    this.advertisedAddress = advertisedAddress;
  }

  #neg(leg: string): LegNegotiation {
    let n = this.neg.get(leg);
    if (!n) {
      n = {
        sentText: null,
        sentCodecs: [],
        received: null,
        receivedText: null,
        remote: null,
        origin: { sessId: randomInt(1, 2 ** 31), version: 0, body: '' },
        crypto: null,
        remoteKeyId: null,
      };
      this.neg.set(leg, n);
    }
    return n;
  }

  /** Apply a remote SDP from `from`: source address, SRTP key (peer→us), returns the description. */
  #acceptRemote(leg: Leg, sdpText: string): { sdp: Sdp; remote: RemoteStream } {
    const sdp = parseSdp(sdpText);
    const remote = describeRemote(sdp);
    const n = this.#neg(leg.name);
    n.received = sdp;
    n.receivedText = sdpText;
    n.remote = remote;
    leg.setRemote(remote);
    this.mediaSince = Date.now();
    return { sdp, remote };
  }

  #setInboundKey(leg: Leg, remote: RemoteStream, tag: number | null): { tag: number; suite: SrtpSuite } | null {
    const n = this.#neg(leg.name);
    if (!remote.srtp) {
      leg.srtpIn = null;
      n.remoteKeyId = null;
      return null;
    }
    const c = tag === null ? remote.crypto[0] : remote.crypto.find((x) => x.tag === tag);
    if (!c) throw new NegotiationError('no usable SDES crypto attribute (AES_CM_128_HMAC_SHA1_80/_32)');
    const id = createHash('sha256')
      .update(`${c.suite}|${c.keys.map((k) => `${k.key.toString('base64')}${k.salt.toString('base64')}`).join(',')}`)
      .digest('hex');
    if (id !== n.remoteKeyId || !leg.srtpIn || leg.srtpIn.suite !== c.suite) {
      leg.srtpIn = new SrtpContext(policyFromCrypto(c));
      n.remoteKeyId = id;
    }
    return { tag: c.tag, suite: c.suite as SrtpSuite };
  }

  #setOutboundKey(leg: Leg, crypto: { tag: number; suite: SrtpSuite } | null): void {
    const n = this.#neg(leg.name);
    if (!crypto) {
      leg.srtpOut = null;
      n.crypto = null;
      return;
    }
    leg.localKey ??= generateMasterKey();
    if (!leg.srtpOut || leg.srtpOut.suite !== crypto.suite) {
      leg.srtpOut = new SrtpContext({
        suite: crypto.suite,
        keys: [{ key: leg.localKey.key, salt: leg.localKey.salt }],
      });
    }
    n.crypto = crypto;
  }

  #render(
    leg: Leg,
    template: Sdp,
    audioIndex: number,
    o: {
      codecs: Codec[];
      crypto: { tag: number; suite: SrtpSuite } | null;
      ice: boolean;
      rtcpMux: boolean;
      direction: RemoteStream['direction'];
      ptime: string | null;
      maxptime: string | null;
    },
  ): string {
    const n = this.#neg(leg.name);
    if (o.ice) leg.ice ??= generateIceCredentials();
    const addrType = this.advertisedAddress.includes(':') ? 'IP6' : 'IP4';
    const describe = (origin: string) =>
      buildLocalSdp(template, audioIndex, {
        origin,
        address: this.advertisedAddress,
        addrType,
        port: leg.port,
        rtcpPort: leg.rtcpPort,
        rtcpMux: o.rtcpMux,
        crypto: o.crypto && leg.localKey ? { ...o.crypto, key: leg.localKey.key, salt: leg.localKey.salt } : null,
        ice: o.ice ? leg.ice : null,
        codecs: o.codecs,
        direction: o.direction,
        ptime: o.ptime,
        maxptime: o.maxptime,
      });
    const body = serializeSdp(describe('-'));
    if (body !== n.origin.body) {
      // o= version goes up only when the content changes (RFC 3264 §8)
      if (n.origin.body) n.origin.version++;
      n.origin.body = body;
    }
    const text = serializeSdp(
      describe(`- ${n.origin.sessId} ${n.origin.version} IN ${addrType} ${this.advertisedAddress}`),
    );
    n.sentText = text;
    n.sentCodecs = o.codecs;
    return text;
  }

  /** An SDP offer arrived from leg `from`: returns our offer for leg `to`. */
  offer(from: Leg, to: Leg, sdpText: string, transcode: boolean): string {
    const { sdp, remote } = this.#acceptRemote(from, sdpText);
    this.#setInboundKey(from, remote, null);
    const codecs = offerCodecs(remote.codecs, transcode);
    if (!codecs.length) throw new NegotiationError('no codecs in offer');
    this.#setOutboundKey(to, to.profile.srtp ? { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80' } : null);
    this.pending = { from: from.name, to: to.name, transcode };
    this.transcode = transcode;
    return this.#render(to, sdp, remote.audioIndex, {
      codecs,
      crypto: this.#neg(to.name).crypto,
      ice: to.profile.ice,
      rtcpMux: to.profile.rtcpMux,
      direction: remote.direction,
      ptime: remote.ptime,
      maxptime: remote.maxptime,
    });
  }

  /** An SDP answer arrived from leg `from` (the leg we offered to): returns our answer for the offerer. */
  answer(from: Leg, to: Leg, sdpText: string): string {
    const offerer = this.#neg(to.name);
    if (!offerer.received || !offerer.remote) throw new NegotiationError('answer without an offer');
    const transcode = this.pending?.transcode ?? false;
    const { remote } = this.#acceptRemote(from, sdpText);
    const offered = this.#neg(from.name);
    // SRTP toward the answerer: its crypto line says which of our offered tags it took, and carries its key
    if (offered.crypto) {
      if (!remote.srtp) throw new NegotiationError('SRTP offered but the answer is RTP/AVP');
      const c = remote.crypto.find((x) => x.tag === offered.crypto!.tag) ?? remote.crypto[0];
      if (!c) throw new NegotiationError('answer has no usable crypto attribute');
      this.#setInboundKey(from, remote, c.tag);
      this.#setOutboundKey(from, { tag: c.tag, suite: c.suite as SrtpSuite });
    } else {
      this.#setInboundKey(from, remote, null);
    }
    // codecs for the offerer, in its numbering
    const sel = selectAnswerCodecs(offerer.remote.codecs, remote.codecs, transcode);
    // SRTP toward the offerer mirrors its offer: same tag and suite, our key
    const offerCrypto = offerer.remote.srtp ? offerer.remote.crypto[0] : undefined;
    this.#setOutboundKey(to, offerCrypto ? { tag: offerCrypto.tag, suite: offerCrypto.suite as SrtpSuite } : null);
    const text = this.#render(to, offerer.received, offerer.remote.audioIndex, {
      codecs: sel.codecs,
      crypto: this.#neg(to.name).crypto,
      ice: offerer.remote.ice !== null,
      rtcpMux: offerer.remote.rtcpMux && to.profile.rtcpMux !== false,
      direction: remote.direction,
      ptime: remote.ptime ?? offerer.remote.ptime,
      maxptime: remote.maxptime,
    });
    // offerer accepted mux only if it offered it and we answered with it
    to.rtcpMux = offerer.remote.rtcpMux && to.profile.rtcpMux !== false;
    from.rtcpMux = remote.rtcpMux;
    // payload-type maps: sender numbering = the SDP we sent it; receiver numbering = the SDP it sent us
    to.ptMap = payloadTypeMap(sel.codecs, remote.codecs); // offerer → answerer
    from.ptMap = payloadTypeMap(offered.sentCodecs, offerer.remote.codecs); // answerer → offerer
    to.transcode = null;
    from.transcode = null;
    if (sel.transcode) {
      const { offererCodec, answererCodec } = sel.transcode;
      const u2a = offererCodec.name.toLowerCase() === 'pcmu';
      to.transcode = { pt: offererCodec.pt, table: u2a ? ULAW_TO_ALAW : ALAW_TO_ULAW, newPt: answererCodec.pt };
      const answererSends = offered.sentCodecs.find((c) => c.name.toLowerCase() === answererCodec.name.toLowerCase());
      from.transcode = {
        pt: answererSends?.pt ?? answererCodec.pt,
        table: u2a ? ALAW_TO_ULAW : ULAW_TO_ALAW,
        newPt: offererCodec.pt,
      };
    }
    return text;
  }

  /**
   * Re-anchoring on this pod: `stored` holds each leg's last remote SDP (without keys). Media toward each side starts
   * at once (targets from the stored SDP); we return a fresh offer per leg (new ports, new SRTP key, new ICE
   * credentials) for the sbc-pod to send in a re-INVITE. Each leg's answer then goes through `answerReanchor`.
   */
  reanchor(stored: Record<string, string>): Record<string, string> {
    const offers: Record<string, string> = {};
    const remotes = new Map<string, { sdp: Sdp; remote: RemoteStream }>();
    for (const [name, leg] of this.legs) {
      const text = stored[name];
      if (!text) throw new NegotiationError(`no stored SDP for leg ${name}`);
      remotes.set(name, this.#acceptRemote(leg, text));
      leg.srtpIn = null; // keys were not stored: SRTP from this side waits for its answer
    }
    for (const [name, leg] of this.legs) {
      const peer = leg.peer;
      if (!peer) throw new NegotiationError(`leg ${name} has no peer`);
      const own = remotes.get(name)!;
      const other = remotes.get(peer.name)!;
      const srtp = leg.profile.srtp || own.remote.srtp;
      this.#setOutboundKey(leg, srtp ? { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80' } : null);
      offers[name] = this.#render(leg, other.sdp, other.remote.audioIndex, {
        codecs: offerCodecs(other.remote.codecs, this.transcode),
        crypto: this.#neg(name).crypto,
        ice: leg.profile.ice || own.remote.ice !== null,
        rtcpMux: leg.profile.rtcpMux,
        direction: other.remote.direction,
        ptime: other.remote.ptime,
        maxptime: other.remote.maxptime,
      });
      this.reanchorPending.add(name);
    }
    this.pending = null;
    return offers;
  }

  /** The answer of one leg to its re-anchoring offer. Nothing goes to the other side. */
  answerReanchor(leg: Leg, sdpText: string): void {
    const { remote } = this.#acceptRemote(leg, sdpText);
    const sent = this.#neg(leg.name);
    if (sent.crypto) {
      const c = remote.crypto.find((x) => x.tag === sent.crypto!.tag) ?? remote.crypto[0];
      if (!remote.srtp || !c) throw new NegotiationError('SRTP offered but the answer has no usable crypto');
      this.#setInboundKey(leg, remote, c.tag);
      this.#setOutboundKey(leg, { tag: c.tag, suite: c.suite as SrtpSuite });
    } else this.#setInboundKey(leg, remote, null);
    leg.rtcpMux = remote.rtcpMux;
    this.reanchorPending.delete(leg.name);
    // payload-type maps for both directions once both sides have answered
    if (this.reanchorPending.size === 0) {
      for (const [name, l] of this.legs) {
        const peerRemote = l.peer ? this.#neg(l.peer.name).remote : null;
        l.ptMap = peerRemote ? payloadTypeMap(this.#neg(name).sentCodecs, peerRemote.codecs) : null;
        l.transcode = null;
      }
    }
  }

  /** The leg's last remote SDP as received (for the state store; may contain keys: strip before storing). */
  receivedSdp(leg: string): string | null {
    return this.neg.get(leg)?.receivedText ?? null;
  }

  info(): SessionInfo {
    const legs: Record<string, LegInfo> = {};
    for (const [name, leg] of this.legs) {
      const n = this.neg.get(name);
      legs[name] = {
        port: leg.port,
        rtcpPort: leg.rtcpPort,
        srtp: n?.crypto?.suite ?? null,
        remoteSrtp: leg.srtpIn?.suite ?? null,
        ice: leg.ice !== null,
        rtcpMux: leg.rtcpMux,
        remote: leg.remote ? { address: leg.remote.address, port: leg.remote.port } : null,
        stats: leg.snapshot(),
      };
    }
    return { callId: this.callId, tenant: this.tenant, createdAt: this.createdAt, noMedia: this.noMediaReported, legs };
  }
}

export interface LegInfo {
  port: number;
  rtcpPort: number;
  /** Suite we use toward this leg (null: plain RTP). */
  srtp: SrtpSuite | null;
  remoteSrtp: SrtpSuite | null;
  ice: boolean;
  rtcpMux: boolean;
  remote: { address: string; port: number } | null;
  stats: LegStats;
}

export interface SessionInfo {
  callId: string;
  tenant: string;
  createdAt: number;
  /** The no-media watchdog finds this call silent: a leg sent nothing for the no-media timeout (holds excepted). */
  noMedia: boolean;
  legs: Record<string, LegInfo>;
}

export type { LegProfile };
export { SdpError };
