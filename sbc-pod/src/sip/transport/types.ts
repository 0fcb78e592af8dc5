// Shared types of the SIP transport layer. Transports move bytes; the SIP parser runs above them.

import type { X509Certificate } from 'node:crypto';

export type TransportProtocol = 'UDP' | 'TCP' | 'TLS';
export type StreamProtocol = 'TCP' | 'TLS';
export type AddressFamily = 'IPv4' | 'IPv6';

export interface Endpoint {
  address: string;
  port: number;
}

export interface SourceEndpoint extends Endpoint {
  transport: TransportProtocol;
  family: AddressFamily;
}

/** What we know about the TLS peer of a connection (the client for inbound, the server for outbound connections). */
export interface TlsPeerInfo {
  /** Chain verified against the configured roots. Always true for outbound connections (else they fail). */
  authorized: boolean;
  /** OpenSSL verification code when not authorized, e.g. `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, or `NO_CERTIFICATE`. */
  authorizationError?: string;
  /** SNI: for inbound connections what the client asked for; for outbound connections what we sent. */
  servername?: string;
  /** Peer certificate chain as sent, leaf first (empty when the peer sent none). */
  peerCertificateChain: X509Certificate[];
  /** DNS names from the peer leaf's subjectAltName. */
  peerDnsNames: string[];
  /** IP addresses from the peer leaf's subjectAltName. */
  peerIpAddresses: string[];
  /** The peer SANs that matched the configured allow-list (inbound mTLS), or that matched the dialled name. */
  verifiedSans: string[];
  protocol: string | null;
  cipher: string | null;
  /** SHA-256 fingerprint (colon hex) of the certificate we presented on this connection, if any. */
  localCertificateFingerprint?: string;
}

/** One inbound SIP message: `data` is exactly one message (stream framing already applied). */
export interface InboundMessage {
  data: Buffer;
  source: SourceEndpoint;
  local: Endpoint;
  /** Set for TCP/TLS: the connection the message arrived on (use it to send responses back). */
  connectionId?: string;
  tls?: TlsPeerInfo;
  /** Clock reading (options.now) when the bytes arrived. */
  receivedAt: number;
}

export interface SendTarget {
  transport: TransportProtocol;
  /** IP literal (IPv6 with or without brackets). Name resolution happens above the transport layer. */
  address: string;
  port: number;
  /** Prefer this connection (e.g. the one a request arrived on). */
  connectionId?: string;
  /**
   * TLS: the hostname we expect the server to prove (also sent as SNI). Never sent as SNI when it is an IP literal;
   * without it the server certificate must carry the target IP in its SAN.
   */
  servername?: string;
  /** TLS client identity: pick our client certificate from the certificate table by this hostname. */
  localHostname?: string;
  /** Bind outbound connections (and pick the UDP listener) by this local address. */
  localAddress?: string;
}

export interface SendOptions {
  /**
   * UDP only (RFC 3261 §18.1.1): when the message is larger than path MTU − 200 bytes, send it over TCP to the same
   * address and port instead. Only for requests; responses are never switched.
   */
  allowTransportSwitch?: boolean;
  /** Called when the transport changes (UDP → TCP) so the caller can rewrite the top Via; returns the bytes to send. */
  rewriteForTransport?: (transport: TransportProtocol, data: Buffer) => Buffer;
  /** Fail with CLOSED rather than open a new connection when `target.connectionId` is gone. */
  connectionOnly?: boolean;
}

export interface SendResult {
  /** The transport actually used (differs from the target's after a UDP → TCP switch). */
  transport: TransportProtocol;
  connectionId?: string;
  local: Endpoint;
  /** True when a new connection was opened for this send. */
  opened: boolean;
}

export type TransportErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'EADDRNOTAVAIL'
  | 'EMSGSIZE'
  | 'TLS_HANDSHAKE'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'OVERLOAD'
  | 'NO_TRANSPORT'
  | 'INVALID_TARGET'
  | 'UNKNOWN';

/** A failure to deliver bytes (RFC 3261 §18.4): the transaction layer treats it like a 503 / timeout. */
export class TransportError extends Error {
  readonly code: TransportErrorCode;
  /** Lower-level code when there is one, e.g. `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, `ECONNRESET`. */
  readonly detail?: string;
  readonly target?: SendTarget;

  constructor(
    code: TransportErrorCode,
    message: string,
    extra: { detail?: string | undefined; target?: SendTarget; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'TransportError';
    this.code = code;
    if (extra.detail !== undefined) this.detail = extra.detail;
    if (extra.target !== undefined) this.target = extra.target;
  }
}

export type ConnectionDirection = 'inbound' | 'outbound';

export type CloseReason =
  | 'idle'
  | 'peer-closed'
  | 'error'
  | 'framing'
  | 'local'
  | 'shutdown'
  | 'tls-verify'
  | 'certificate-rotated';

/** A snapshot of one TCP/TLS connection. */
export interface ConnectionInfo {
  id: string;
  transport: StreamProtocol;
  direction: ConnectionDirection;
  remote: SourceEndpoint;
  local: Endpoint;
  /** `address:port` aliases (RFC 5923) this connection can be reused toward, besides its remote endpoint. */
  aliases: string[];
  tls?: TlsPeerInfo;
  /** Outbound TLS: the server name we verified (and sent as SNI when it is a hostname). */
  servername?: string;
  /** Outbound TLS: the local hostname whose certificate we presented. */
  localHostname?: string;
  createdAt: number;
  lastActivityAt: number;
  messagesIn: number;
  messagesOut: number;
}

export type RejectReason =
  | 'global-limit'
  | 'peer-limit'
  | 'tls-handshake'
  | 'tls-handshake-timeout'
  | 'tls-no-certificate'
  | 'tls-untrusted'
  | 'tls-san';

export interface RejectedConnection {
  transport: StreamProtocol;
  remote: Endpoint;
  local: Endpoint;
  reason: RejectReason;
  detail?: string;
}

export interface FramingErrorInfo {
  connection: ConnectionInfo;
  code: string;
  reason: string;
  /** The header section when it was complete (so a 400 can be built from it). */
  headers?: Buffer;
}
