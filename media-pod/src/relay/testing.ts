// Test helpers shared by the relay and API tests and the benchmark: UDP endpoints on loopback that collect packets,
// bounded waits (no sleeps), and SDP builders for a carrier (plain RTP) and a Teams-like peer (SRTP, ICE).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';

export interface Received {
  msg: Buffer;
  from: RemoteInfo;
}

export class Endpoint {
  readonly socket: Socket;
  readonly received: Received[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg, from) => {
      this.received.push({ msg, from });
      this.#waiters = this.#waiters.filter((w) => {
        if (this.received.length >= w.n) w.resolve();
        return this.received.length < w.n;
      });
    });
  }

  static async open(address = '127.0.0.1'): Promise<Endpoint> {
    const s = createSocket('udp4');
    s.bind(0, address);
    await once(s, 'listening');
    return new Endpoint(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(msg: Uint8Array, port: number, address = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(msg, port, address, (e) => (e ? reject(e) : resolve())));
  }

  /** Resolves once `n` packets in total have arrived; rejects after `ms` (a bound, not a synchronisation sleep). */
  waitFor(n: number, ms = 5000): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${n} packets (have ${this.received.length})`)),
        ms,
      );
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A G.711 RTP packet (172 bytes with a 160-byte payload) whose payload encodes its sequence number. */
export function g711Packet(seq: number, ssrc: number, pt = 0, payloadLen = 160): Buffer {
  const b = Buffer.alloc(12 + payloadLen);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  for (let i = 0; i < payloadLen; i++) b[12 + i] = (seq * 7 + i) & 0xff;
  return b;
}

export function carrierSdp(port: number, o: { codecs?: string; extra?: string[]; address?: string } = {}): string {
  const address = o.address ?? '127.0.0.1';
  return [
    'v=0',
    `o=carrier 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP ${o.codecs ?? '0 8 96'}`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:96 telephone-event/8000',
    'a=fmtp:96 0-15',
    'a=ptime:20',
    'a=sendrecv',
    ...(o.extra ?? []),
    '',
  ].join('\r\n');
}

export function teamsSdp(
  port: number,
  o: { crypto: string; codecs?: string; ice?: { ufrag: string; pwd: string }; address?: string },
): string {
  const address = o.address ?? '127.0.0.1';
  return [
    'v=0',
    `o=- 0 0 IN IP4 ${address}`,
    's=session',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/SAVP ${o.codecs ?? '0 101'}`,
    `c=IN IP4 ${address}`,
    `a=rtcp:${port}`,
    'a=rtcp-mux',
    ...(o.ice
      ? [
          `a=ice-ufrag:${o.ice.ufrag}`,
          `a=ice-pwd:${o.ice.pwd}`,
          `a=candidate:1 1 UDP 2130706431 ${address} ${port} typ host`,
        ]
      : []),
    `a=crypto:${o.crypto}`,
    'a=sendrecv',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    '',
  ].join('\r\n');
}
