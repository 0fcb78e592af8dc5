// A minimal "SBC" for testing the simulator without the real SBC: a SIP-over-TLS peer on plain node:tls that logs
// what it receives and sends hand-built messages.
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import {
  parseMessage,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../../sbc-pod/src/sip/message/index.ts';
import { StreamFramer } from '../../../sbc-pod/src/sip/transport/stream-framer.ts';
import type { IssuedCertificate } from '../harness/pki.ts';
import { DEFAULT_WAIT_MS, EventLog } from './wait.ts';

export interface Received {
  msg: SipMessage;
  raw: string;
}

export class FakePeer {
  readonly socket: tls.TLSSocket;
  readonly received = new EventLog<Received>((r) =>
    r.msg.kind === 'request' ? `${r.msg.method} ${r.msg.uriText}` : `${r.msg.status} (${r.msg.cseq.method})`,
  );
  closed = false;
  readonly closedPromise: Promise<void>;
  private readonly framer = new StreamFramer();

  constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    let done: () => void = () => {};
    this.closedPromise = new Promise((r) => {
      done = r;
    });
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.framer.push(chunk)) {
        if (ev.type === 'message') this.received.push({ msg: parseMessage(ev.data), raw: ev.data.toString('utf8') });
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      done();
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(typeof text === 'string' ? Buffer.from(text) : text);
  }

  response(
    pred: (r: SipResponse) => boolean,
    what: string,
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<Received & { msg: SipResponse }> {
    return this.received.waitFor((r) => r.msg.kind === 'response' && pred(r.msg), what, timeoutMs) as Promise<
      Received & { msg: SipResponse }
    >;
  }

  request(method: string, timeoutMs = DEFAULT_WAIT_MS, from = 0): Promise<Received & { msg: SipRequest }> {
    return this.received.waitFor(
      (r) => r.msg.kind === 'request' && r.msg.method === method,
      `${method} at the fake SBC`,
      timeoutMs,
      from,
    ) as Promise<Received & { msg: SipRequest }>;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Connect to a sim listener as "the SBC" (TLS client with `cert`, trusting `ca`, SNI `servername`). */
export function connectAsSbc(opts: {
  host: string;
  port: number;
  servername: string;
  ca: string[];
  cert?: IssuedCertificate;
  localAddress?: string;
  timeoutMs?: number;
}): Promise<FakePeer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`TLS connect to ${opts.host}:${opts.port} timed out`)),
      opts.timeoutMs ?? DEFAULT_WAIT_MS,
    );
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      servername: opts.servername,
      ca: opts.ca,
      minVersion: 'TLSv1.2',
      ...(opts.cert !== undefined ? { cert: opts.cert.chainPem, key: opts.cert.keyPem } : {}),
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(new FakePeer(socket));
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
  });
}

/** A TLS server acting as the SBC's Teams-facing listener. */
export class FakeSbcServer {
  readonly server: tls.Server;
  readonly peers = new EventLog<FakePeer>((p) => `${p.socket.remoteAddress}:${p.socket.remotePort}`);
  port = 0;

  constructor(opts: { cert: IssuedCertificate; ca: string[]; host?: string }) {
    this.server = tls.createServer(
      {
        key: opts.cert.keyPem,
        cert: opts.cert.chainPem,
        ca: opts.ca,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      (socket) => this.peers.push(new FakePeer(socket)),
    );
    this.server.on('tlsClientError', () => {});
  }

  async listen(host = '127.0.0.1'): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const p of this.peers.items) p.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Join SIP lines with CRLF and append the blank line and body with a correct Content-Length. */
export function sipText(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
