// One SIP-over-TLS connection of the simulator (accepted by a Teams proxy listener or dialled by the Teams client):
// Content-Length framing (shared pure framer), parsing, CRLF keep-alive answers, and what the tests want to know
// about the TLS session (SNI, protocol, the peer's certificate).
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { parseMessage, type SipMessage, serializeMessage } from '../../../sbc-pod/src/sip/message/index.ts';
import { PONG, StreamFramer } from '../../../sbc-pod/src/sip/transport/stream-framer.ts';

export type ConnectionRole = 'server' | 'client';

export interface ConnectionHandlers {
  message(conn: SipConnection, msg: SipMessage): void;
  /** A frame that did not parse, or a framing error (the connection is then closed). */
  malformed(conn: SipConnection, reason: string, data?: Buffer): void;
  closed(conn: SipConnection): void;
}

let nextId = 1;

export class SipConnection {
  readonly id = nextId++;
  readonly role: ConnectionRole;
  /** Listener name (`sip`, `sip2`, `sip3`, `api`) for accepted connections, `client` for dialled ones. */
  readonly listener: string;
  readonly socket: TLSSocket;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** SNI: the name the SBC asked for (server role) or the name the sim sent (client role); false when none. */
  readonly servername: string | false;
  readonly protocol: string | null;
  /** The SBC's certificate on this connection (its client certificate, or its server certificate). */
  readonly peerCert: X509Certificate | undefined;
  /** Subjects of the certificate chain the SBC sent, leaf first (T1.7: leaf + intermediates). */
  readonly peerChainSubjects: string[];
  readonly closedPromise: Promise<void>;
  closed = false;
  private readonly framer = new StreamFramer({ maxMessageBytes: 256 * 1024 });

  constructor(
    socket: TLSSocket,
    role: ConnectionRole,
    listener: string,
    handlers: ConnectionHandlers,
    sni?: string | false,
  ) {
    this.socket = socket;
    this.role = role;
    this.listener = listener;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    const sn = (socket as TLSSocket & { servername?: string | false }).servername;
    this.servername = sni ?? (typeof sn === 'string' && sn !== '' ? sn : false);
    this.protocol = socket.getProtocol();
    this.peerCert = socket.getPeerX509Certificate();
    this.peerChainSubjects = [];
    // getPeerCertificate(true) links issuers up to the local trust anchor: walk it, stopping at a self-reference.
    let c = socket.getPeerCertificate(true) as { subject?: { CN?: string }; issuerCertificate?: unknown } | null;
    const seen = new Set<unknown>();
    while (c?.subject && !seen.has(c)) {
      seen.add(c);
      this.peerChainSubjects.push(String(c.subject.CN ?? ''));
      c = (c.issuerCertificate ?? null) as typeof c;
    }
    let resolveClosed: () => void = () => {};
    this.closedPromise = new Promise<void>((r) => {
      resolveClosed = r;
    });
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.framer.push(chunk)) {
        if (ev.type === 'ping') {
          if (!socket.destroyed) socket.write(PONG);
        } else if (ev.type === 'message') {
          let msg: SipMessage;
          try {
            msg = parseMessage(ev.data, { stream: true });
          } catch (err) {
            handlers.malformed(this, `unparsable SIP message: ${(err as Error).message}`, ev.data);
            continue;
          }
          handlers.message(this, msg);
        } else if (ev.type === 'error') {
          handlers.malformed(this, `framing error ${ev.code}: ${ev.reason}`, ev.headers);
          socket.destroy();
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      resolveClosed();
      handlers.closed(this);
    });
  }

  get describe(): string {
    return `${this.listener}#${this.id} ${this.remoteAddress}:${this.remotePort}→${this.localAddress}:${this.localPort}`;
  }

  send(msg: SipMessage): boolean {
    if (this.closed || this.socket.destroyed) return false;
    this.socket.write(serializeMessage(msg));
    return true;
  }

  close(): void {
    this.socket.destroy();
  }
}
