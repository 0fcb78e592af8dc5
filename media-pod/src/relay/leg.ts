// One leg of an anchored call: a UDP port pair from the tenant's pool (RTCP also accepted on the RTP port, RFC 5761),
// strict source validation, ICE-lite answers, SRTP ⇄ RTP per direction, payload-type mapping, PCMU⇄PCMA
// transcoding and stats. A packet received on this leg is sent out of the peer leg toward the peer's target.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { classify } from '../rtp/packet.ts';
import { ReceiveStats, type StreamStatsSnapshot } from '../rtp/stats.ts';
import type { RemoteStream } from '../sdp/negotiate.ts';
import { rtpHeaderLength, type SrtpContext } from '../srtp/context.ts';
import { answerBindingRequest, type IceCredentials } from '../stun/ice-lite.ts';

export interface LegProfile {
  /** Offer SDES-SRTP (RTP/SAVP) toward this leg when we make the offer. Default false. */
  srtp?: boolean;
  /** Be ICE-lite toward this leg (a=ice-lite, ufrag/pwd, one host candidate) when we make the offer. */
  ice?: boolean;
  /** Offer RTCP multiplexing. Default true. */
  rtcpMux?: boolean;
  /** Latch to the first source that sends (NATed carriers). Default false: strict. */
  symmetricRtp?: boolean;
}

export interface Target {
  address: string;
  port: number;
}

export interface DropCounters {
  source: number;
  srtp: number;
  replay: number;
  malformed: number;
  stun: number;
  noTarget: number;
}

export interface LegStats {
  received: StreamStatsSnapshot;
  rtcpReceived: number;
  sent: { packets: number; bytes: number; rtcp: number };
  dropped: DropCounters;
  stunAnswered: number;
  /** Where we send media for this leg now, and how we learned it. */
  target: (Target & { via: 'sdp' | 'ice' | 'srtp' | 'latch' }) | null;
}

const key = (address: string, port: number) => `${address}:${port}`;

export class Leg {
  readonly name: string;
  readonly tenant: string;
  readonly port: number;
  readonly rtcpPort: number;
  readonly rtpSocket: Socket;
  readonly rtcpSocket: Socket;
  profile: Required<LegProfile>;
  ice: IceCredentials | null = null;
  /** Our master key toward this leg (SDES), generated once per leg. */
  localKey: { key: Buffer; salt: Buffer } | null = null;
  remote: RemoteStream | null = null;
  /** Negotiated: the peer multiplexes RTCP on its RTP port. */
  rtcpMux = false;
  /** peer→us and us→peer contexts; null for plain RTP. */
  srtpIn: SrtpContext | null = null;
  srtpOut: SrtpContext | null = null;
  /** Map and transcoding table applied to RTP received on this leg before it is sent to the peer. */
  ptMap: Uint8Array | null = null;
  transcode: { pt: number; table: Uint8Array; newPt: number } | null = null;
  peer: Leg | null = null;
  target: (Target & { via: 'sdp' | 'ice' | 'srtp' | 'latch' }) | null = null;
  rtcpTarget: Target | null = null;
  #allowed = new Set<string>();
  #nominated = false;
  #icePriority = -1;
  #latched = false;
  readonly stats = new ReceiveStats(8000);
  rtcpReceived = 0;
  sent = { packets: 0, bytes: 0, rtcp: 0 };
  dropped: DropCounters = { source: 0, srtp: 0, replay: 0, malformed: 0, stun: 0, noTarget: 0 };
  stunAnswered = 0;
  lastActivity = 0;
  closed = false;

  private constructor(name: string, tenant: string, port: number, profile: LegProfile, rtp: Socket, rtcp: Socket) {
    this.name = name;
    this.tenant = tenant;
    this.port = port;
    this.rtcpPort = port + 1;
    this.profile = { srtp: false, ice: false, rtcpMux: true, symmetricRtp: false, ...profile };
    this.rtpSocket = rtp;
    this.rtcpSocket = rtcp;
    rtp.on('message', (m, r) => this.#onPacket(m, r, false));
    rtcp.on('message', (m, r) => this.#onPacket(m, r, true));
    rtp.on('error', () => {});
    rtcp.on('error', () => {});
  }

  /** Bind the pair `port`, `port + 1` on `address`; rejects (and closes what was opened) if either is taken. */
  static async open(o: {
    name: string;
    tenant: string;
    port: number;
    bindAddress: string;
    profile: LegProfile;
  }): Promise<Leg> {
    const type = o.bindAddress.includes(':') ? 'udp6' : 'udp4';
    const rtp = createSocket({ type, recvBufferSize: 1 << 20 });
    const rtcp = createSocket({ type });
    try {
      await bind(rtp, o.port, o.bindAddress);
      await bind(rtcp, o.port + 1, o.bindAddress);
    } catch (err) {
      closeQuietly(rtp);
      closeQuietly(rtcp);
      throw err;
    }
    return new Leg(o.name, o.tenant, o.port, o.profile, rtp, rtcp);
  }

  /** Apply what the remote side told us in SDP: the negotiated address becomes the target unless ICE proved one. */
  setRemote(r: RemoteStream): void {
    const changed = !this.remote || this.remote.address !== r.address || this.remote.port !== r.port;
    this.remote = r;
    this.rtcpMux = r.rtcpMux;
    if (changed || !this.target) {
      // a new negotiated address (re-INVITE) resets what ICE, SRTP or latching had learned
      this.target = { address: r.address, port: r.port, via: 'sdp' };
      this.#latched = false;
      this.#nominated = false;
      this.#icePriority = -1;
    }
    this.rtcpTarget = r.rtcpMux ? null : { address: r.rtcpAddress, port: r.rtcpPort };
  }

  #isNegotiatedSource(address: string, port: number): boolean {
    const r = this.remote;
    if (!r) return false;
    return (address === r.address && port === r.port) || (address === r.rtcpAddress && port === r.rtcpPort);
  }

  #onPacket(msg: Buffer, rinfo: RemoteInfo, onRtcpPort: boolean): void {
    const kind = classify(msg);
    if (kind === 'stun') {
      this.#onStun(msg, rinfo, onRtcpPort);
      return;
    }
    if (kind === 'other') {
      this.dropped.malformed++;
      return;
    }
    const { address, port } = rinfo;
    let known =
      this.#isNegotiatedSource(address, port) ||
      (this.#allowed.size > 0 && this.#allowed.has(key(address, port))) ||
      (this.#latched && this.target !== null && this.target.address === address && this.target.port === port);
    let packet: Buffer = msg;
    if (this.srtpIn) {
      const out = kind === 'rtp' ? this.srtpIn.unprotect(msg) : this.srtpIn.unprotectRtcp(msg);
      if (typeof out === 'string') {
        if (!known) this.dropped.source++;
        else if (out === 'replay' || out === 'old') this.dropped.replay++;
        else this.dropped.srtp++;
        return;
      }
      packet = out;
      if (!known && kind === 'rtp') {
        // an authenticated SRTP packet proves the source: accept it and send there (peer moved / NAT)
        this.#allowed.add(key(address, port));
        if (!this.#nominated) this.target = { address, port, via: 'srtp' };
        known = true;
      }
    }
    if (!known) {
      if (this.profile.symmetricRtp && !this.#latched && kind === 'rtp') {
        this.#latched = true;
        this.target = { address, port, via: 'latch' };
      } else {
        this.dropped.source++;
        return;
      }
    }
    this.lastActivity = Date.now();
    const peer = this.peer;
    if (!peer || peer.closed) {
      this.dropped.noTarget++;
      return;
    }
    if (kind === 'rtcp') {
      this.rtcpReceived++;
      peer.#sendRtcp(packet);
      return;
    }
    this.stats.record(
      (packet[2]! << 8) | packet[3]!,
      ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0,
      ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0,
      packet.length,
      this.lastActivity,
    );
    const pt = packet[1]! & 0x7f;
    const tc = this.transcode;
    if (tc && pt === tc.pt) {
      const hl = rtpHeaderLength(packet, packet.length);
      if (hl > 0) {
        const end = packet[0]! & 0x20 ? packet.length - packet[packet.length - 1]! : packet.length;
        for (let i = hl; i < end; i++) packet[i] = tc.table[packet[i]!]!;
        packet[1] = (packet[1]! & 0x80) | tc.newPt;
      }
    } else if (this.ptMap) packet[1] = (packet[1]! & 0x80) | this.ptMap[pt]!;
    peer.#sendRtp(packet);
  }

  #sendRtp(packet: Buffer): void {
    const t = this.target;
    if (!t) {
      this.dropped.noTarget++;
      return;
    }
    let out: Buffer = packet;
    if (this.srtpOut) {
      const p = this.srtpOut.protect(packet);
      if (typeof p === 'string') return;
      out = p;
    }
    this.sent.packets++;
    this.sent.bytes += out.length;
    this.rtpSocket.send(out, t.port, t.address);
  }

  #sendRtcp(packet: Buffer): void {
    const t = this.rtcpMux || !this.rtcpTarget ? this.target : this.rtcpTarget;
    if (!t) {
      this.dropped.noTarget++;
      return;
    }
    let out: Buffer = packet;
    if (this.srtpOut) {
      const p = this.srtpOut.protectRtcp(packet);
      if (typeof p === 'string') return;
      out = p;
    }
    this.sent.rtcp++;
    (this.rtcpMux || !this.rtcpTarget ? this.rtpSocket : this.rtcpSocket).send(out, t.port, t.address);
  }

  #onStun(msg: Buffer, rinfo: RemoteInfo, onRtcpPort: boolean): void {
    if (!this.ice) {
      this.dropped.stun++;
      return;
    }
    const from = { address: rinfo.address, port: rinfo.port };
    const r = answerBindingRequest(msg, from, this.ice);
    const sock = onRtcpPort ? this.rtcpSocket : this.rtpSocket;
    if (r.kind === 'drop') {
      this.dropped.stun++;
      return;
    }
    sock.send(r.response, rinfo.port, rinfo.address);
    if (r.kind === 'error') {
      this.dropped.stun++;
      return;
    }
    this.stunAnswered++;
    if (onRtcpPort) return; // component 2: answered, but media targets follow component 1
    this.#allowed.add(key(rinfo.address, rinfo.port));
    const prio = r.priority ?? 0;
    if (r.useCandidate) {
      // the controlling agent nominated this pair: media goes here from now on
      this.#nominated = true;
      this.target = { ...from, via: 'ice' };
    } else if (!this.#nominated && (this.target?.via !== 'ice' || prio > this.#icePriority)) {
      this.target = { ...from, via: 'ice' };
      this.#icePriority = prio;
    }
  }

  snapshot(): LegStats {
    return {
      received: this.stats.snapshot(),
      rtcpReceived: this.rtcpReceived,
      sent: { ...this.sent },
      dropped: { ...this.dropped },
      stunAnswered: this.stunAnswered,
      target: this.target ? { ...this.target } : null,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([closeSocket(this.rtpSocket), closeSocket(this.rtcpSocket)]);
  }
}

async function bind(s: Socket, port: number, address: string): Promise<void> {
  const failed = once(s, 'error').then(([e]) => Promise.reject(e as Error));
  const ok = once(s, 'listening');
  s.bind(port, address);
  await Promise.race([ok, failed]);
  failed.catch(() => {});
}

function closeQuietly(s: Socket): void {
  try {
    s.close();
  } catch {
    // not bound
  }
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
