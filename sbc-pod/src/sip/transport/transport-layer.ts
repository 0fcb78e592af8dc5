// The SIP transport layer (RFC 3261 §18): UDP, TCP and TLS listeners on IPv4 and IPv6, one inbound message per
// `message` event, and `send()` that reuses connections (also through RFC 5923 aliases) or opens new ones.
//
// Transports move bytes and never parse SIP beyond stream framing (see stream-framer.ts).

import type { X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { endpointKey, familyOf, formatHostPort, isIpLiteral, normalizeAddress } from './address.ts';
import { looksLikeResponse, mustUseCongestionControlledTransport } from './congestion.ts';
import { type ListenSpec, parseListenSpec } from './listen-spec.ts';
import { type FrameEvent, PONG, StreamFramer } from './stream-framer.ts';
import {
  type CertificateEntry,
  CertificateStore,
  type LoadedCertificate,
  matchHostname,
  parseSubjectAltName,
  type SecureContextSettings,
} from './tls-certificates.ts';
import {
  type AddressFamily,
  type CloseReason,
  type ConnectionDirection,
  type ConnectionInfo,
  type Endpoint,
  type FramingErrorInfo,
  type InboundMessage,
  type RejectedConnection,
  type RejectReason,
  type SendOptions,
  type SendResult,
  type SendTarget,
  type SourceEndpoint,
  type StreamProtocol,
  type TlsPeerInfo,
  TransportError,
  type TransportErrorCode,
} from './types.ts';

export interface TransportLimits {
  /** Inbound TCP/TLS connections across all listeners; excess connections are closed on accept. */
  maxConnections: number;
  /** Inbound TCP/TLS connections per source IP. */
  maxConnectionsPerPeer: number;
  /** Close a TCP/TLS connection after this long without traffic in either direction; 0 disables. */
  idleTimeoutMs: number;
  /** Outbound TCP connect timeout. */
  connectTimeoutMs: number;
  /** TLS handshake timeout, both directions. */
  tlsHandshakeTimeoutMs: number;
  maxHeaderBytes: number;
  maxMessageBytes: number;
  /** Larger datagrams are dropped on receive and refused (EMSGSIZE) on send. */
  maxUdpMessageBytes: number;
  /** A send fails with OVERLOAD when this many bytes are already queued on the connection. */
  maxWriteBufferBytes: number;
  /** After a graceful close (`end()`), destroy the socket if the peer has not closed within this time. */
  closeGraceMs: number;
  /**
   * SO_RCVBUF / SO_SNDBUF asked for on UDP sockets (0 keeps the OS default). A burst larger than the receive buffer
   * is dropped by the kernel and costs the sender a retransmission (T1 = 500 ms), so the default is generous; Linux
   * caps it at net.core.rmem_max / wmem_max.
   */
  udpReceiveBufferBytes: number;
  udpSendBufferBytes: number;
}

export const DEFAULT_LIMITS: TransportLimits = {
  maxConnections: 10_000,
  maxConnectionsPerPeer: 256,
  idleTimeoutMs: 10 * 60_000,
  connectTimeoutMs: 10_000,
  tlsHandshakeTimeoutMs: 10_000,
  maxHeaderBytes: 32 * 1024,
  maxMessageBytes: 64 * 1024,
  maxUdpMessageBytes: 65_507,
  maxWriteBufferBytes: 4 * 1024 * 1024,
  closeGraceMs: 2_000,
  udpReceiveBufferBytes: 4 * 1024 * 1024,
  udpSendBufferBytes: 1024 * 1024,
};

export type ClientVerificationMode = 'off' | 'request' | 'require';

export interface TlsTransportOptions {
  /** Server certificates chosen by SNI; also the source of our client certificate unless `clientCertificate` is set. */
  certificates: CertificateEntry[];
  /** Default TLSv1.2 (Teams requires 1.2; 1.0/1.1 are refused). */
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** OpenSSL cipher list for TLS ≤ 1.2, e.g. TEAMS_CIPHERS. */
  ciphers?: string;
  /** Roots used to verify servers we connect to; default: Node's bundled roots. */
  serverCa?: string[];
  /** Client certificate presented on outbound connections (mutual TLS). Default: the default certificate entry. */
  clientCertificate?: { certPem: string; keyPem: string };
  /** Inbound mutual TLS. */
  verifyClient?: {
    /** 'request' asks for a certificate and reports it; 'require' also closes connections that fail the checks. */
    mode: ClientVerificationMode;
    /** Trusted roots for client certificates (several at once, e.g. both Microsoft roots). */
    ca?: string[];
    /** DNS SANs of which the client certificate must carry at least one, e.g. `sip.pstnhub.microsoft.com`. */
    allowedSans?: string[];
  };
}

export interface TransportLayerOptions {
  tls?: TlsTransportOptions;
  limits?: Partial<TransportLimits>;
  /** Path MTU for the RFC 3261 §18.1.1 UDP size rule (default 1500). */
  udpPathMtu?: number;
  onMessage?: (message: InboundMessage) => void;
  /**
   * A stream framing error (missing Content-Length, oversize, …). Return bytes (e.g. a 400 response) to write before
   * the connection is closed.
   */
  onFramingError?: (info: FramingErrorInfo) => Buffer | undefined;
  /** Clock for timestamps (default Date.now). */
  now?: () => number;
  /** Prefix of connection ids (default: random). */
  idPrefix?: string;
  /**
   * Bind every listener with SO_REUSEPORT so several processes share one address (the kernel spreads UDP flows and
   * accepted connections over them). Each UDP listener then also gets a private reply socket on the same IP: our
   * UDP requests leave from it with its port in the top Via, so their responses reach this process, not whichever
   * sharer the kernel hashes the peer's flow to.
   */
  reusePort?: boolean;
}

/** Protection on accept of inbound stream connections (e.g. ConnectionGuard): consulted before any TLS work. */
export interface ConnectionGate {
  /** 'allow' counts the connection open (`closed` is called when it ends); anything else refuses it. */
  open(sourceIp: string): string;
  closed(sourceIp: string): void;
}

export interface ListenerInfo extends ListenSpec {
  /** The spec string this listener was started from. */
  spec: string;
  /** Bound with SO_REUSEPORT (shared with other processes). */
  reusePort?: boolean;
  /** UDP with reusePort: the port of this process's private reply socket (the Via port of our UDP requests). */
  replyPort?: number;
}

export interface TransportStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  connectionsAccepted: number;
  connectionsOpened: number;
  connectionsRejected: Record<RejectReason, number>;
  connectionsClosed: Record<CloseReason, number>;
  framingErrors: number;
  keepalivePings: number;
  udpDropped: number;
  transportSwitches: number;
  handlerErrors: number;
}

export interface TransportEvents {
  message: [InboundMessage];
  connectionOpen: [ConnectionInfo];
  connectionClose: [ConnectionInfo, CloseReason];
  connectionRejected: [RejectedConnection];
  keepalive: [{ connectionId: string; kind: 'ping' | 'crlf' }];
  framingError: [FramingErrorInfo];
  /** A `message` listener threw; the transport keeps running. */
  handlerError: [unknown];
}

interface Listener {
  info: ListenerInfo;
  udp?: dgram.Socket;
  /** The private reply socket of a shared (SO_REUSEPORT) UDP listener. */
  replyUdp?: dgram.Socket;
  server?: net.Server;
  tlsServer?: tls.Server;
}

interface Conn {
  info: ConnectionInfo;
  socket: net.Socket;
  framer: StreamFramer;
  keys: Set<string>;
  state: 'open' | 'closing' | 'closed';
  closeReason?: CloseReason;
  graceTimer?: NodeJS.Timeout;
  release?: () => void;
}

interface PendingTls {
  listener: Listener;
  release: () => void;
}

const KNOWN_SOCKET_CODES = new Set<TransportErrorCode>([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EMSGSIZE',
]);

function emptyCounters<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

function isCrlfOnly(data: Buffer): boolean {
  for (const b of data) if (b !== 0x0d && b !== 0x0a) return false;
  return true;
}

function toFamily(family: string | number | undefined, address: string): AddressFamily {
  if (family === 'IPv6' || family === 6) return 'IPv6';
  if (family === 'IPv4' || family === 4) return 'IPv4';
  return familyOf(address);
}

/** The peer certificate chain as reported by OpenSSL (leaf first). */
function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return chain;
  chain.push(leaf);
  let cert: X509Certificate | undefined = leaf;
  const detailed = socket.getPeerCertificate(true);
  // Walk issuers through the detailed object (it carries the chain OpenSSL built/received).
  let node: tls.DetailedPeerCertificate | undefined = detailed?.issuerCertificate;
  let prev: tls.DetailedPeerCertificate | undefined = detailed;
  while (node && node !== prev && node.raw && chain.length < 10) {
    const next = new (leaf.constructor as typeof X509Certificate)(node.raw);
    if (cert && next.fingerprint256 === cert.fingerprint256) break;
    chain.push(next);
    cert = next;
    prev = node;
    node = node.issuerCertificate;
  }
  return chain;
}

function describeTls(socket: tls.TLSSocket, servername: string | undefined, allowedSans?: string[]): TlsPeerInfo {
  const chain = peerChain(socket);
  const { dns, ip } = parseSubjectAltName(chain[0]?.subjectAltName);
  let verifiedSans: string[];
  if (allowedSans && allowedSans.length > 0) {
    const allowed = new Set(allowedSans.map((s) => s.toLowerCase()));
    verifiedSans = dns.filter((d) => allowed.has(d));
  } else if (servername && chain[0]) {
    verifiedSans = isIpLiteral(servername)
      ? ip.filter((a) => normalizeAddress(a) === normalizeAddress(servername))
      : dns.filter((d) => matchHostname(d, servername));
  } else {
    verifiedSans = [];
  }
  const authError = socket.authorizationError;
  const cipher = socket.getCipher();
  const info: TlsPeerInfo = {
    authorized: socket.authorized && chain.length > 0,
    peerCertificateChain: chain,
    peerDnsNames: dns,
    peerIpAddresses: ip,
    verifiedSans,
    protocol: socket.getProtocol(),
    cipher: cipher ? (cipher.standardName ?? cipher.name) : null,
  };
  if (!info.authorized)
    info.authorizationError = chain.length === 0 ? 'NO_CERTIFICATE' : String(authError ?? 'UNKNOWN');
  if (servername) info.servername = servername;
  const local = socket.getX509Certificate();
  if (local) info.localCertificateFingerprint = local.fingerprint256;
  return info;
}

let layerCounter = 0;
const NO_OPTIONS: SendOptions = {};

export class TransportLayer extends EventEmitter<TransportEvents> {
  readonly limits: TransportLimits;
  readonly stats: TransportStats;
  private readonly options: TransportLayerOptions;
  private readonly now: () => number;
  private readonly idPrefix: string;
  private readonly pathMtu: number;
  private readonly listenersList: Listener[] = [];
  private readonly conns = new Map<string, Conn>();
  private readonly byKey = new Map<string, Conn[]>();
  private readonly pendingConnects = new Map<string, Promise<Conn>>();
  private readonly pendingTls = new WeakMap<net.Socket, PendingTls>();
  /** Accepted raw sockets not yet released (handshaking or open), for close(). */
  private readonly acceptedRaw = new Set<net.Socket>();
  private connectionGate: ConnectionGate | undefined;

  /** Install (or remove) the accept-time gate for inbound TCP/TLS connections. */
  setConnectionGate(gate: ConnectionGate | undefined): void {
    this.connectionGate = gate;
  }
  /** Outbound sockets still connecting/handshaking, for close(). */
  private readonly connecting = new Set<net.Socket>();
  private readonly perPeer = new Map<string, number>();
  private inboundCount = 0;
  private connCounter = 0;
  private closed = false;
  private certs: CertificateStore | undefined;
  private tlsOptions: TlsTransportOptions | undefined;
  private clientContexts = new Map<string, tls.SecureContext>();

  constructor(options: TransportLayerOptions = {}) {
    super();
    this.options = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.now = options.now ?? Date.now;
    this.pathMtu = options.udpPathMtu ?? 1500;
    layerCounter += 1;
    this.idPrefix = options.idPrefix ?? `${Math.random().toString(36).slice(2, 8)}${layerCounter}-`;
    this.stats = {
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      connectionsAccepted: 0,
      connectionsOpened: 0,
      connectionsRejected: emptyCounters<RejectReason>([
        'global-limit',
        'peer-limit',
        'tls-handshake',
        'tls-handshake-timeout',
        'tls-no-certificate',
        'tls-untrusted',
        'tls-san',
      ]),
      connectionsClosed: emptyCounters<CloseReason>([
        'idle',
        'peer-closed',
        'error',
        'framing',
        'local',
        'shutdown',
        'tls-verify',
        'certificate-rotated',
      ]),
      framingErrors: 0,
      keepalivePings: 0,
      udpDropped: 0,
      transportSwitches: 0,
      handlerErrors: 0,
    };
    if (options.onMessage) this.on('message', options.onMessage);
    if (options.tls) {
      this.tlsOptions = options.tls;
      this.certs = new CertificateStore(options.tls.certificates, this.serverContextSettings());
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Listeners

  /** Start one listener per spec (e.g. `udp:127.0.0.1:5060`, `tls:[::1]:0`); resolves with the bound addresses. */
  async start(specs: Array<string | ListenSpec>): Promise<ListenerInfo[]> {
    const out: ListenerInfo[] = [];
    for (const spec of specs) out.push(await this.listen(spec));
    return out;
  }

  /** Start one listener. Port 0 binds a free port (see the returned `port`). */
  async listen(specInput: string | ListenSpec): Promise<ListenerInfo> {
    if (this.closed) throw new Error('transport layer is closed');
    const spec = typeof specInput === 'string' ? parseListenSpec(specInput) : specInput;
    const specText = typeof specInput === 'string' ? specInput : `${spec.transport.toLowerCase()}:${spec.address}`;
    const ipv6Only = spec.family === 'IPv6';
    const reusePort = this.options.reusePort === true;
    if (spec.transport === 'UDP') {
      const bindUdp = async (port: number, shared: boolean): Promise<dgram.Socket> => {
        const udp = dgram.createSocket({ type: ipv6Only ? 'udp6' : 'udp4', ipv6Only, reusePort: shared });
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: spec.address, port, exclusive: true }, () => {
            udp.removeListener('error', reject);
            resolve();
          });
        });
        this.sizeUdpBuffers(udp);
        udp.on('error', () => {
          // Asynchronous send errors are reported through the send callback; nothing else to do here.
        });
        return udp;
      };
      const udp = await bindUdp(spec.port, reusePort);
      const bound = udp.address();
      const listener: Listener = { info: { ...spec, port: bound.port, spec: specText }, udp };
      udp.on('message', (msg, rinfo) => this.onDatagram(listener, msg, rinfo));
      if (reusePort) {
        let reply: dgram.Socket;
        try {
          reply = await bindUdp(0, false);
        } catch (err) {
          udp.close();
          throw err;
        }
        listener.replyUdp = reply;
        listener.info.reusePort = true;
        listener.info.replyPort = reply.address().port;
        reply.on('message', (msg, rinfo) => this.onDatagram(listener, msg, rinfo));
      }
      this.listenersList.push(listener);
      return listener.info;
    }
    if (spec.transport === 'TLS' && !this.certs?.defaultCertificate) {
      throw new Error(`cannot listen on ${specText}: no TLS certificates configured`);
    }
    const server = net.createServer({ noDelay: true });
    const listener: Listener = { info: { ...spec, spec: specText }, server };
    if (spec.transport === 'TLS') listener.tlsServer = this.createTlsServer(listener);
    server.on('connection', (raw) => this.onAccept(listener, raw));
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: spec.address, port: spec.port, ipv6Only, exclusive: true, reusePort }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    listener.info.port = (server.address() as net.AddressInfo).port;
    if (reusePort) listener.info.reusePort = true;
    this.listenersList.push(listener);
    return listener.info;
  }

  /** Best effort: the OS may cap the sizes (or refuse, e.g. in a restricted sandbox); the defaults then stay. */
  private sizeUdpBuffers(udp: dgram.Socket): void {
    const { udpReceiveBufferBytes: rcv, udpSendBufferBytes: snd } = this.limits;
    try {
      if (rcv > 0 && udp.getRecvBufferSize() < rcv) udp.setRecvBufferSize(rcv);
    } catch {}
    try {
      if (snd > 0 && udp.getSendBufferSize() < snd) udp.setSendBufferSize(snd);
    } catch {}
  }

  /** Bound listeners (with the real port when 0 was asked for). */
  boundListeners(): ListenerInfo[] {
    return this.listenersList.map((l) => ({ ...l.info }));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // TLS configuration

  private serverContextSettings(): SecureContextSettings {
    const t = this.tlsOptions;
    const settings: SecureContextSettings = { minVersion: t?.minVersion ?? 'TLSv1.2' };
    if (t?.maxVersion) settings.maxVersion = t.maxVersion;
    if (t?.ciphers) settings.ciphers = t.ciphers;
    if (t?.verifyClient && t.verifyClient.mode !== 'off' && t.verifyClient.ca) settings.ca = t.verifyClient.ca;
    return settings;
  }

  private defaultServerContextOptions(): tls.SecureContextOptions {
    const settings = this.serverContextSettings();
    const def = this.certs?.defaultCertificate;
    return {
      ...(def ? { cert: def.entry.certPem, key: def.entry.keyPem } : {}),
      minVersion: settings.minVersion,
      ...(settings.maxVersion ? { maxVersion: settings.maxVersion } : {}),
      ...(settings.ciphers ? { ciphers: settings.ciphers } : {}),
      ...(settings.ca ? { ca: settings.ca } : {}),
    };
  }

  private createTlsServer(listener: Listener): tls.Server {
    const verify = this.tlsOptions?.verifyClient;
    const requestCert = !!verify && verify.mode !== 'off';
    const server = tls.createServer({
      ...this.defaultServerContextOptions(),
      requestCert,
      // Verification results are checked in onSecure so that rejections are counted and explained.
      rejectUnauthorized: false,
      handshakeTimeout: this.limits.tlsHandshakeTimeoutMs,
      SNICallback: (servername, cb) => {
        const selected = this.certs?.find(servername);
        cb(null, selected?.context);
      },
    });
    server.on('secureConnection', (socket) => this.onSecure(socket));
    server.on('tlsClientError', (err, socket) => this.onTlsClientError(listener, err, socket));
    return server;
  }

  /**
   * Replace the certificate table (hot swap, e.g. after renewal). New handshakes use the new certificates; existing
   * connections keep working until `closeConnectionsUsingStaleCertificates()` (or the peer) closes them.
   */
  setCertificates(entries: CertificateEntry[]): void {
    if (!this.tlsOptions) this.tlsOptions = { certificates: entries };
    else this.tlsOptions = { ...this.tlsOptions, certificates: entries };
    if (!this.certs) this.certs = new CertificateStore(entries, this.serverContextSettings());
    else this.certs.replace(entries, this.serverContextSettings());
    this.clientContexts.clear();
    const opts = this.defaultServerContextOptions();
    for (const l of this.listenersList) l.tlsServer?.setSecureContext(opts);
  }

  /** Currently loaded certificates (fingerprints, hostnames). */
  get certificates(): readonly LoadedCertificate[] {
    return this.certs?.entries ?? [];
  }

  private clientIdentity(localHostname: string | undefined): { certPem: string; keyPem: string } | undefined {
    if (localHostname) {
      const hit = this.certs?.find(localHostname);
      if (hit) return hit.entry;
    }
    return this.tlsOptions?.clientCertificate ?? this.certs?.defaultCertificate?.entry;
  }

  private clientContext(identity: { certPem: string; keyPem: string } | undefined): tls.SecureContext {
    const key = identity ? identity.certPem : '';
    let ctx = this.clientContexts.get(key);
    if (!ctx) {
      const t = this.tlsOptions;
      ctx = tls.createSecureContext({
        ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}),
        ...(t?.serverCa ? { ca: t.serverCa } : {}),
        minVersion: t?.minVersion ?? 'TLSv1.2',
        ...(t?.maxVersion ? { maxVersion: t.maxVersion } : {}),
        ...(t?.ciphers ? { ciphers: t.ciphers } : {}),
      });
      this.clientContexts.set(key, ctx);
    }
    return ctx;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Inbound

  private deliver(message: InboundMessage): void {
    this.stats.messagesIn += 1;
    try {
      this.emit('message', message);
    } catch (err) {
      this.stats.handlerErrors += 1;
      if (this.listenerCount('handlerError') > 0) this.emit('handlerError', err);
    }
  }

  private onDatagram(listener: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.bytesIn += msg.length;
    if (msg.length === 0 || msg.length > this.limits.maxUdpMessageBytes || isCrlfOnly(msg)) {
      // Empty datagrams and CRLF keep-alives carry no message; oversize ones are refused.
      this.stats.udpDropped += 1;
      return;
    }
    const address = normalizeAddress(rinfo.address);
    this.deliver({
      data: msg,
      source: { transport: 'UDP', address, port: rinfo.port, family: toFamily(rinfo.family, address) },
      local: { address: listener.info.address, port: listener.info.port },
      receivedAt: this.now(),
    });
  }

  private reject(
    transport: StreamProtocol,
    socket: net.Socket,
    reason: RejectReason,
    detail?: string,
    endpoints?: { remote: Endpoint; local: Endpoint },
  ): void {
    this.stats.connectionsRejected[reason] += 1;
    const remote = endpoints?.remote ?? {
      address: normalizeAddress(socket.remoteAddress ?? ''),
      port: socket.remotePort ?? 0,
    };
    const local = endpoints?.local ?? {
      address: normalizeAddress(socket.localAddress ?? ''),
      port: socket.localPort ?? 0,
    };
    socket.destroy();
    const event: RejectedConnection = { transport, remote, local, reason };
    if (detail !== undefined) event.detail = detail;
    this.emit('connectionRejected', event);
  }

  private onAccept(listener: Listener, raw: net.Socket): void {
    const transport = listener.info.transport as StreamProtocol;
    if (this.closed) {
      raw.destroy();
      return;
    }
    const peerIp = normalizeAddress(raw.remoteAddress ?? '');
    if (this.inboundCount >= this.limits.maxConnections) {
      this.reject(transport, raw, 'global-limit');
      return;
    }
    const current = this.perPeer.get(peerIp) ?? 0;
    if (current >= this.limits.maxConnectionsPerPeer) {
      this.reject(transport, raw, 'peer-limit');
      return;
    }
    const gate = this.connectionGate;
    if (gate) {
      const verdict = gate.open(peerIp);
      if (verdict !== 'allow') {
        this.reject(transport, raw, 'peer-limit', verdict);
        return;
      }
    }
    this.inboundCount += 1;
    this.perPeer.set(peerIp, current + 1);
    this.acceptedRaw.add(raw);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.acceptedRaw.delete(raw);
      this.inboundCount -= 1;
      const n = (this.perPeer.get(peerIp) ?? 1) - 1;
      if (n <= 0) this.perPeer.delete(peerIp);
      else this.perPeer.set(peerIp, n);
      gate?.closed(peerIp);
    };
    raw.once('close', release);
    raw.on('error', () => {});
    raw.setNoDelay(true);
    if (transport === 'TCP') {
      this.stats.connectionsAccepted += 1;
      this.adopt(raw, 'TCP', 'inbound', { release });
      return;
    }
    this.pendingTls.set(raw, { listener, release });
    listener.tlsServer!.emit('connection', raw);
  }

  /** The raw TCP socket under a server-side TLSSocket (Node keeps it as `_parent`). */
  private pendingFor(socket: tls.TLSSocket): PendingTls | undefined {
    const parent = (socket as unknown as { _parent?: net.Socket })._parent;
    if (!parent) return undefined;
    const pending = this.pendingTls.get(parent);
    this.pendingTls.delete(parent);
    return pending;
  }

  private onTlsClientError(listener: Listener, err: NodeJS.ErrnoException, socket: tls.TLSSocket): void {
    const pending = this.pendingFor(socket);
    pending?.release();
    const reason: RejectReason = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls-handshake-timeout' : 'tls-handshake';
    const remote = { address: normalizeAddress(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    this.reject('TLS', socket, reason, err.code ?? err.message, {
      remote,
      local: { address: listener.info.address, port: listener.info.port },
    });
  }

  private onSecure(socket: tls.TLSSocket): void {
    const pending = this.pendingFor(socket);
    if (!pending || this.closed) {
      pending?.release();
      socket.destroy();
      return;
    }
    socket.once('close', pending.release);
    socket.on('error', () => {});
    const verify = this.tlsOptions?.verifyClient;
    const sni = (socket as tls.TLSSocket & { servername?: string | false }).servername;
    const peer = describeTls(socket, sni || undefined, verify?.allowedSans);
    if (verify?.mode === 'require') {
      let reason: RejectReason | undefined;
      if (peer.peerCertificateChain.length === 0) reason = 'tls-no-certificate';
      else if (!peer.authorized) reason = 'tls-untrusted';
      else if (verify.allowedSans && verify.allowedSans.length > 0 && peer.verifiedSans.length === 0)
        reason = 'tls-san';
      if (reason) {
        pending.release();
        const detail =
          reason === 'tls-san' ? `peer SANs [${peer.peerDnsNames.join(', ')}] not allowed` : peer.authorizationError;
        this.reject('TLS', socket, reason, detail);
        return;
      }
    }
    this.stats.connectionsAccepted += 1;
    this.adopt(socket, 'TLS', 'inbound', { release: pending.release, tls: peer });
  }

  private adopt(
    socket: net.Socket,
    transport: StreamProtocol,
    direction: ConnectionDirection,
    extra: { release?: () => void; tls?: TlsPeerInfo; servername?: string; localHostname?: string },
  ): Conn {
    this.connCounter += 1;
    const id = `${this.idPrefix}${transport.toLowerCase()}-${this.connCounter}`;
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const remote: SourceEndpoint = {
      transport,
      address,
      port: socket.remotePort ?? 0,
      family: toFamily(socket.remoteFamily, address),
    };
    const now = this.now();
    const info: ConnectionInfo = {
      id,
      transport,
      direction,
      remote,
      local: { address: normalizeAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
      aliases: [],
      createdAt: now,
      lastActivityAt: now,
      messagesIn: 0,
      messagesOut: 0,
    };
    if (extra.tls) info.tls = extra.tls;
    if (extra.servername) info.servername = extra.servername;
    if (extra.localHostname) info.localHostname = extra.localHostname;
    const conn: Conn = {
      info,
      socket,
      framer: new StreamFramer({
        maxHeaderBytes: this.limits.maxHeaderBytes,
        maxMessageBytes: this.limits.maxMessageBytes,
      }),
      keys: new Set(),
      state: 'open',
    };
    if (extra.release) conn.release = extra.release;
    this.conns.set(id, conn);
    this.index(conn, endpointKey(transport, remote.address, remote.port));
    if (this.limits.idleTimeoutMs > 0) {
      socket.setTimeout(this.limits.idleTimeoutMs);
      socket.on('timeout', () => this.closeConn(conn, 'idle', false));
    }
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', () => {
      if (conn.state === 'open') conn.closeReason = 'error';
    });
    socket.once('close', () => this.onClosed(conn));
    if (socket.destroyed) {
      // Closed between handshake and adoption.
      queueMicrotask(() => this.onClosed(conn));
    }
    this.emit('connectionOpen', this.snapshot(conn));
    return conn;
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.state !== 'open') return;
    conn.info.lastActivityAt = this.now();
    this.stats.bytesIn += chunk.length;
    const events = conn.framer.push(chunk);
    if (events.length === 0) return;
    // Answers written while this chunk's messages are handled (the TU usually answers synchronously) leave in one
    // write instead of one TLS record and syscall each; nothing waits longer than the end of this handler.
    const socket = conn.socket;
    const corked = events.length > 1;
    if (corked) socket.cork();
    try {
      this.handleFrames(conn, events);
    } finally {
      if (corked) socket.uncork();
    }
  }

  private handleFrames(conn: Conn, events: FrameEvent[]): void {
    for (const ev of events) {
      if (conn.state !== 'open') return;
      switch (ev.type) {
        case 'message': {
          conn.info.messagesIn += 1;
          const message: InboundMessage = {
            data: ev.data,
            source: conn.info.remote,
            local: conn.info.local,
            connectionId: conn.info.id,
            receivedAt: conn.info.lastActivityAt,
          };
          if (conn.info.tls) message.tls = conn.info.tls;
          this.deliver(message);
          break;
        }
        case 'ping':
          this.stats.keepalivePings += 1;
          conn.socket.write(PONG);
          this.emit('keepalive', { connectionId: conn.info.id, kind: 'ping' });
          break;
        case 'crlf':
          this.emit('keepalive', { connectionId: conn.info.id, kind: 'crlf' });
          break;
        case 'error': {
          this.stats.framingErrors += 1;
          const info: FramingErrorInfo = { connection: this.snapshot(conn), code: ev.code, reason: ev.reason };
          if (ev.headers) info.headers = ev.headers;
          let reply: Buffer | undefined;
          try {
            reply = this.options.onFramingError?.(info);
          } catch (err) {
            this.stats.handlerErrors += 1;
            if (this.listenerCount('handlerError') > 0) this.emit('handlerError', err);
          }
          this.emit('framingError', info);
          if (reply && reply.length > 0 && !conn.socket.destroyed) {
            conn.socket.write(reply);
            this.stats.bytesOut += reply.length;
          }
          this.closeConn(conn, 'framing', true);
          return;
        }
      }
    }
  }

  private onClosed(conn: Conn): void {
    if (conn.state === 'closed') return;
    const reason = conn.closeReason ?? 'peer-closed';
    conn.state = 'closed';
    if (conn.graceTimer) clearTimeout(conn.graceTimer);
    this.unindex(conn);
    this.conns.delete(conn.info.id);
    conn.release?.();
    this.stats.connectionsClosed[reason] += 1;
    this.emit('connectionClose', this.snapshot(conn), reason);
  }

  private closeConn(conn: Conn, reason: CloseReason, graceful: boolean): void {
    if (conn.state !== 'open') return;
    conn.state = 'closing';
    conn.closeReason = reason;
    this.unindex(conn);
    if (graceful && !conn.socket.destroyed) {
      conn.socket.end();
      conn.graceTimer = setTimeout(() => conn.socket.destroy(), this.limits.closeGraceMs);
      conn.graceTimer.unref();
    } else {
      // Flush what a handler wrote during a corked batch (see onData) before the socket goes.
      while (conn.socket.writableCorked > 0) conn.socket.uncork();
      conn.socket.destroy();
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Connection table

  private index(conn: Conn, key: string): void {
    if (conn.keys.has(key)) return;
    conn.keys.add(key);
    const list = this.byKey.get(key);
    if (list) list.push(conn);
    else this.byKey.set(key, [conn]);
  }

  private unindex(conn: Conn): void {
    for (const key of conn.keys) {
      const list = this.byKey.get(key);
      if (!list) continue;
      const rest = list.filter((c) => c !== conn);
      if (rest.length > 0) this.byKey.set(key, rest);
      else this.byKey.delete(key);
    }
    conn.keys.clear();
  }

  private snapshot(conn: Conn): ConnectionInfo {
    return { ...conn.info, aliases: [...conn.info.aliases] };
  }

  /**
   * RFC 5923: allow reusing `connectionId` toward `address:port` (the sent-by of a Via carrying `;alias`).
   * Returns false when the connection is unknown or closing.
   */
  addAlias(connectionId: string, address: string, port: number): boolean {
    const conn = this.conns.get(connectionId);
    if (!conn) return false;
    if (conn.state !== 'open' || !isIpLiteral(address)) return false;
    const key = endpointKey(conn.info.transport, address, port);
    if (conn.keys.has(key)) return true;
    this.index(conn, key);
    conn.info.aliases.push(formatHostPort(normalizeAddress(address), port));
    return true;
  }

  getConnection(connectionId: string): ConnectionInfo | undefined {
    const conn = this.conns.get(connectionId);
    return conn && conn.state === 'open' ? this.snapshot(conn) : undefined;
  }

  /** Open connections (snapshots). */
  connections(): ConnectionInfo[] {
    return [...this.conns.values()].filter((c) => c.state === 'open').map((c) => this.snapshot(c));
  }

  /** Close one connection; `graceful` flushes pending writes first. */
  closeConnection(connectionId: string, options: { reason?: CloseReason; graceful?: boolean } = {}): boolean {
    const conn = this.conns.get(connectionId);
    if (conn?.state !== 'open') return false;
    this.closeConn(conn, options.reason ?? 'local', options.graceful ?? false);
    return true;
  }

  /** Close every open connection matching `predicate`; returns how many were closed. */
  closeConnections(
    predicate: (info: ConnectionInfo) => boolean,
    options: { reason?: CloseReason; graceful?: boolean } = {},
  ): number {
    let n = 0;
    for (const conn of [...this.conns.values()]) {
      if (conn.state === 'open' && predicate(this.snapshot(conn))) {
        this.closeConn(conn, options.reason ?? 'local', options.graceful ?? false);
        n += 1;
      }
    }
    return n;
  }

  /**
   * After a certificate hot swap: close (gracefully) TLS connections on which we presented a certificate that is no
   * longer in the table, so that peers reconnect and see the new one (reference T1.15). Returns how many were closed.
   */
  closeConnectionsUsingStaleCertificates(options: { graceful?: boolean } = {}): number {
    const certs = this.certs;
    if (!certs) return 0;
    return this.closeConnections(
      (c) => {
        const fp = c.tls?.localCertificateFingerprint;
        return c.transport === 'TLS' && fp !== undefined && !certs.hasFingerprint(fp);
      },
      { reason: 'certificate-rotated', graceful: options.graceful ?? true },
    );
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Send

  /**
   * Send one message. Stream transports reuse a connection to the target (by id, by remote endpoint or by alias) or
   * open one; failures reject with a TransportError (RFC 3261 §18.4).
   */
  send(target: SendTarget, data: Buffer, options: SendOptions = NO_OPTIONS): Promise<SendResult> {
    // Not `async`, to spare the hot path a promise per hop; every failure still arrives as a rejection.
    try {
      if (this.closed) throw new TransportError('CLOSED', 'transport layer is closed', { target });
      if (!isIpLiteral(target.address)) {
        throw new TransportError('INVALID_TARGET', `target address ${JSON.stringify(target.address)} is not an IP`, {
          target,
        });
      }
      if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
        throw new TransportError('INVALID_TARGET', `target port ${target.port} is out of range`, { target });
      }
      if (target.transport === 'UDP') {
        if (
          options.allowTransportSwitch &&
          mustUseCongestionControlledTransport(data.length, this.pathMtu) &&
          !looksLikeResponse(data)
        ) {
          this.stats.transportSwitches += 1;
          const tcpData = options.rewriteForTransport ? options.rewriteForTransport('TCP', data) : data;
          const { connectionId: _ignored, ...rest } = target;
          return this.sendStream({ ...rest, transport: 'TCP' }, tcpData, options);
        }
        return this.sendUdp(target, data);
      }
      return this.sendStream(target, data, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private sendUdp(target: SendTarget, data: Buffer): Promise<SendResult> {
    if (data.length > this.limits.maxUdpMessageBytes) {
      throw new TransportError('EMSGSIZE', `datagram of ${data.length} bytes exceeds the UDP limit`, { target });
    }
    const address = normalizeAddress(target.address);
    const listener = this.udpListenerFor(familyOf(address), target.localAddress);
    if (!listener?.udp) {
      throw new TransportError('NO_TRANSPORT', `no ${familyOf(address)} UDP listener to send from`, { target });
    }
    let udp = listener.udp;
    let localPort = listener.info.port;
    if (listener.replyUdp && !looksLikeResponse(data)) {
      // A shared address: the request leaves from our private socket, whose port its top Via names, so the answer
      // comes back here (responses we send go from the shared socket, as the peer expects).
      udp = listener.replyUdp;
      localPort = listener.info.replyPort ?? localPort;
      data = withViaPort(data, listener.info.port, localPort);
    }
    const out = data;
    return new Promise<SendResult>((resolve, reject) => {
      udp.send(out, target.port, address, (err) => {
        if (err) {
          reject(this.mapError(err, 'connect', target, 'UDP send'));
          return;
        }
        this.stats.messagesOut += 1;
        this.stats.bytesOut += out.length;
        resolve({
          transport: 'UDP',
          local: { address: listener.info.address, port: localPort },
          opened: false,
        });
      });
    });
  }

  /** The UDP listener to send from: one of the family, preferably bound to `localAddress`. */
  private udpListenerFor(family: AddressFamily, localAddress: string | undefined): Listener | undefined {
    const list = this.listenersList;
    const local = localAddress ? normalizeAddress(localAddress) : undefined;
    let first: Listener | undefined;
    for (let i = 0; i < list.length; i++) {
      const l = list[i]!;
      if (!l.udp || l.info.family !== family) continue;
      if (local === undefined || l.info.address === local) return l;
      first ??= l;
    }
    return first;
  }

  private sendStream(target: SendTarget, data: Buffer, options: SendOptions): Promise<SendResult> {
    let conn: Conn | undefined;
    if (target.connectionId) {
      const byId = this.conns.get(target.connectionId);
      if (byId && byId.state === 'open' && byId.info.transport === target.transport) conn = byId;
      else if (options.connectionOnly) {
        throw new TransportError('CLOSED', `connection ${target.connectionId} is closed`, { target });
      }
    }
    conn ??= this.findReusable(target);
    // The common case, an open connection, writes right away; otherwise connect (or join a connect) first.
    if (conn) return this.write(conn, data, target, false);
    return this.sendOnNewConnection(target, data);
  }

  private async sendOnNewConnection(target: SendTarget, data: Buffer): Promise<SendResult> {
    let opened = false;
    const key = this.connectKey(target);
    let pending = this.pendingConnects.get(key);
    if (!pending) {
      pending = this.openConnection(target).finally(() => this.pendingConnects.delete(key));
      this.pendingConnects.set(key, pending);
      opened = true;
    }
    const conn = await pending;
    return this.write(conn, data, target, opened);
  }

  private connectKey(target: SendTarget): string {
    return [
      endpointKey(target.transport, target.address, target.port),
      target.servername?.toLowerCase() ?? '',
      target.localHostname?.toLowerCase() ?? '',
      target.localAddress ? normalizeAddress(target.localAddress) : '',
    ].join('|');
  }

  private findReusable(target: SendTarget): Conn | undefined {
    const list = this.byKey.get(endpointKey(target.transport, target.address, target.port));
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const conn = list[i]!;
      if (conn.state !== 'open') continue;
      if (conn.info.transport === 'TLS' && !this.tlsCompatible(conn, target)) continue;
      return conn;
    }
    return undefined;
  }

  /** May `conn` carry a message for `target` without weakening TLS identity checks? */
  private tlsCompatible(conn: Conn, target: SendTarget): boolean {
    const info = conn.info;
    if (target.localHostname && info.direction === 'outbound') {
      if ((info.localHostname ?? '').toLowerCase() !== target.localHostname.toLowerCase()) return false;
    }
    const sn = target.servername;
    if (!sn || isIpLiteral(sn)) return true;
    if (info.direction === 'outbound') return (info.servername ?? '').toLowerCase() === sn.toLowerCase();
    const leaf = info.tls?.peerCertificateChain[0];
    return !!info.tls?.authorized && !!leaf && leaf.checkHost(sn) !== undefined;
  }

  private mapError(
    err: NodeJS.ErrnoException,
    phase: 'connect' | 'handshake',
    target: SendTarget,
    what: string,
  ): TransportError {
    const code = err.code ?? 'UNKNOWN';
    const where = formatHostPort(normalizeAddress(target.address), target.port);
    if (phase === 'handshake') {
      return new TransportError('TLS_HANDSHAKE', `TLS handshake with ${where} failed: ${err.message}`, {
        detail: code,
        target,
        cause: err,
      });
    }
    const mapped: TransportErrorCode = KNOWN_SOCKET_CODES.has(code as TransportErrorCode)
      ? (code as TransportErrorCode)
      : 'UNKNOWN';
    return new TransportError(mapped, `${what} to ${where} failed: ${err.message}`, {
      detail: code,
      target,
      cause: err,
    });
  }

  private openConnection(target: SendTarget): Promise<Conn> {
    const address = normalizeAddress(target.address);
    const family = familyOf(address) === 'IPv6' ? 6 : 4;
    const where = formatHostPort(address, target.port);
    const isTls = target.transport === 'TLS';
    const sn = target.servername;
    const snIsHost = !!sn && !isIpLiteral(sn);
    return new Promise<Conn>((resolve, reject) => {
      let phase: 'connect' | 'handshake' = 'connect';
      let settled = false;
      let socket: net.Socket;
      const connectOpts = {
        host: address,
        port: target.port,
        family,
        ...(target.localAddress ? { localAddress: normalizeAddress(target.localAddress) } : {}),
      };
      if (isTls) {
        const identity = this.clientIdentity(target.localHostname);
        const expected = sn ? (isIpLiteral(sn) ? normalizeAddress(sn) : sn) : address;
        socket = tls.connect({
          ...connectOpts,
          ...(snIsHost ? { servername: sn } : {}),
          secureContext: this.clientContext(identity),
          rejectUnauthorized: true,
          checkServerIdentity: (_host, cert) => tls.checkServerIdentity(expected, cert),
        });
      } else {
        socket = net.connect(connectOpts);
      }
      this.connecting.add(socket);
      const cleanup = () => {
        settled = true;
        clearTimeout(timer);
        this.connecting.delete(socket);
        socket.removeListener('error', onError);
        socket.removeListener('close', onClose);
      };
      const fail = (err: TransportError) => {
        if (settled) return;
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onTimeout = () =>
        fail(
          new TransportError(
            'TIMEOUT',
            phase === 'connect'
              ? `connect to ${where} timed out after ${this.limits.connectTimeoutMs} ms`
              : `TLS handshake with ${where} timed out after ${this.limits.tlsHandshakeTimeoutMs} ms`,
            { target, detail: phase },
          ),
        );
      let timer = setTimeout(onTimeout, this.limits.connectTimeoutMs);
      const onError = (err: NodeJS.ErrnoException) => fail(this.mapError(err, phase, target, 'connect'));
      const onClose = () =>
        fail(
          new TransportError(
            phase === 'handshake' ? 'TLS_HANDSHAKE' : 'CLOSED',
            `connection to ${where} closed during ${phase}`,
            { target },
          ),
        );
      socket.once('error', onError);
      socket.once('close', onClose);
      const established = (tlsInfo?: TlsPeerInfo) => {
        if (settled) return;
        cleanup();
        if (this.closed) {
          socket.destroy();
          reject(new TransportError('CLOSED', 'transport layer is closed', { target }));
          return;
        }
        socket.on('error', () => {});
        (socket as net.Socket).setNoDelay(true);
        this.stats.connectionsOpened += 1;
        const extra: Parameters<TransportLayer['adopt']>[3] = {};
        if (tlsInfo) extra.tls = tlsInfo;
        if (isTls && sn) extra.servername = sn;
        if (isTls && target.localHostname) extra.localHostname = target.localHostname;
        resolve(this.adopt(socket, target.transport as StreamProtocol, 'outbound', extra));
      };
      socket.once('connect', () => {
        if (!isTls) {
          established();
          return;
        }
        phase = 'handshake';
        clearTimeout(timer);
        timer = setTimeout(onTimeout, this.limits.tlsHandshakeTimeoutMs);
      });
      if (isTls) {
        socket.once('secureConnect', () =>
          established(describeTls(socket as tls.TLSSocket, sn ? (snIsHost ? sn : normalizeAddress(sn)) : undefined)),
        );
      }
    });
  }

  private write(conn: Conn, data: Buffer, target: SendTarget, opened: boolean): Promise<SendResult> {
    if (conn.state !== 'open' || conn.socket.destroyed) {
      return Promise.reject(new TransportError('CLOSED', `connection ${conn.info.id} is closed`, { target }));
    }
    if (conn.socket.writableLength > this.limits.maxWriteBufferBytes) {
      return Promise.reject(
        new TransportError('OVERLOAD', `connection ${conn.info.id} has too many bytes queued`, { target }),
      );
    }
    conn.info.lastActivityAt = this.now();
    conn.info.messagesOut += 1;
    this.stats.messagesOut += 1;
    this.stats.bytesOut += data.length;
    return new Promise<SendResult>((resolve, reject) => {
      conn.socket.write(data, (err) => {
        if (err) {
          reject(
            new TransportError('CLOSED', `write on ${conn.info.id} failed: ${err.message}`, {
              target,
              cause: err,
              detail: (err as NodeJS.ErrnoException).code,
            }),
          );
        } else {
          const info = conn.info;
          resolve({
            transport: info.transport,
            connectionId: info.id,
            local: { address: info.local.address, port: info.local.port },
            opened,
          });
        }
      });
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Shutdown

  /** Stop listeners, destroy every socket and wait until they are closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const l of this.listenersList) {
      for (const udp of [l.udp, l.replyUdp]) {
        if (udp) waits.push(new Promise((resolve) => udp.close(() => resolve())));
      }
      if (l.server) {
        const server = l.server;
        waits.push(new Promise((resolve) => server.close(() => resolve())));
      }
    }
    for (const conn of [...this.conns.values()]) {
      if (conn.state === 'closed') continue;
      waits.push(
        new Promise((resolve) => {
          if (conn.socket.destroyed && conn.socket.closed) resolve();
          else conn.socket.once('close', () => resolve());
        }),
      );
      if (conn.state === 'open') this.closeConn(conn, 'shutdown', false);
      else conn.socket.destroy();
    }
    for (const raw of this.acceptedRaw) raw.destroy();
    for (const s of this.connecting) s.destroy();
    await Promise.all(waits);
    this.listenersList.length = 0;
  }
}

/**
 * The request with the port of its top Via sent-by changed from `from` (or none) to `to`. Only the first Via header
 * line is touched, and only a UDP one; anything unexpected leaves the bytes as they are.
 */
export function withViaPort(data: Buffer, from: number, to: number): Buffer {
  const head = data.toString('latin1', 0, Math.min(data.length, 4096));
  const end = head.indexOf('\r\n\r\n');
  const m =
    /\r\n(?:via|v)[ \t]*:[ \t]*SIP[ \t]*\/[ \t]*2\.0[ \t]*\/[ \t]*UDP[ \t]+(\[[^\]]+\]|[^\s:;,]+)(?::(\d+))?/i.exec(
      head,
    );
  if (!m || (end >= 0 && m.index > end)) return data;
  if (m[2] !== undefined && Number(m[2]) !== from) return data;
  const start = m.index + m[0].length - (m[2] === undefined ? 0 : m[2].length + 1);
  const stop = m.index + m[0].length;
  return Buffer.concat([data.subarray(0, start), Buffer.from(`:${to}`, 'latin1'), data.subarray(stop)]);
}
