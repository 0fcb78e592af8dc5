// Public surface of the SIP transport layer.

export { endpointKey, familyOf, formatHostPort, isIpLiteral, normalizeAddress } from './address.ts';
export { DEFAULT_PATH_MTU, looksLikeResponse, mustUseCongestionControlledTransport } from './congestion.ts';
export { DEFAULT_PORTS, formatListenSpec, type ListenSpec, ListenSpecError, parseListenSpec } from './listen-spec.ts';
export {
  DEFAULT_FRAMER_LIMITS,
  type FrameEvent,
  type FramerLimits,
  type FramingErrorCode,
  findContentLength,
  PING,
  PONG,
  StreamFramer,
} from './stream-framer.ts';
export {
  type CertificateEntry,
  CertificateStore,
  type LoadedCertificate,
  matchHostname,
  parseSubjectAltName,
  splitPemChain,
  TEAMS_CIPHERS,
} from './tls-certificates.ts';
export {
  type ClientVerificationMode,
  DEFAULT_LIMITS,
  type ListenerInfo,
  type TlsTransportOptions,
  TransportLayer,
  type TransportLayerOptions,
  type TransportLimits,
  type TransportStats,
} from './transport-layer.ts';
export * from './types.ts';
