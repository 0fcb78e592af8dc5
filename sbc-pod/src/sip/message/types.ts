// The SIP message model shared by the parser, the transaction layer and the B2BUA.
// The parser fills the hot fields eagerly (framing, Via, From/To tags, Call-ID, CSeq, Max-Forwards,
// Content-Length, Route/Record-Route, Contact); every other header stays a raw string until asked for.

/**
 * A parsed SIP/SIPS/TEL URI (RFC 3261 §19.1, RFC 3966). Parameter names are lower-cased; values keep their case.
 * `user`, `password`, parameter and header texts stay %-escaped exactly as received (see `unescapeUriText`).
 * A `tel:` URI keeps its telephone-subscriber number in `user` and has `host: ''`.
 * Any other scheme (e.g. `http:` in a From header, RFC 4475 §3.3.4) is `scheme: 'other'` with `otherScheme` (lower
 * case) and `opaque` (the text after the colon), and `host: ''`.
 * URIs inside parsed messages are validated when the message is parsed but taken apart on first access
 * (`LazySipUri` in uri.ts): read and assign them like plain objects, but do not spread them (`{ ...uri }`).
 */
export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel' | 'other';
  /** Lower-case scheme name when `scheme` is `'other'`. */
  otherScheme?: string;
  /** Everything after `scheme:` when `scheme` is `'other'`. */
  opaque?: string;
  user?: string;
  password?: string;
  /** Host as written; IPv6 references keep their brackets, e.g. `[2001:db8::1]`. */
  host: string;
  port?: number;
  /** `;name=value` parameters; a flag parameter (`;lr`) maps to `null`. */
  params: Map<string, string | null>;
  /** `?name=value` headers, still %-escaped. */
  headers: Map<string, string>;
}

/** A name-addr or addr-spec header value: From, To, Contact, Route, Record-Route, Refer-To, P-Asserted-Identity. */
export interface NameAddr {
  displayName?: string;
  /** The URI text exactly as received (without the angle brackets). */
  uriText: string;
  uri: SipUri;
  /** Header parameters after the URI (`;tag=…`, `;expires=…`). */
  params: Map<string, string | null>;
  /** `*` Contact (REGISTER only). */
  wildcard?: boolean;
}

/** One Via hop (RFC 3261 §20.42). */
export interface Via {
  protocol: string; // "SIP/2.0"
  transport: string; // upper-case: UDP, TCP, TLS, SCTP, WS, WSS
  host: string;
  port?: number;
  branch?: string;
  received?: string;
  /** `rport` with no value (request asks for it) is `null`; absent is `undefined`. */
  rport?: number | null;
  params: Map<string, string | null>;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** One header line as received: the name keeps its original case and form (compact or long). */
export interface RawHeader {
  name: string;
  value: string;
}

interface SipMessageBase {
  /** Every header in order as received (folded lines already unfolded); the source of truth on serialize. */
  headers: RawHeader[];
  body: Buffer;
  callId: string;
  cseq: CSeq;
  from: NameAddr;
  to: NameAddr;
  /** Top-most first; comma-separated Via values are split into separate entries. */
  vias: Via[];
  maxForwards?: number;
  contentLength?: number;
  routes: NameAddr[];
  recordRoutes: NameAddr[];
  contacts: NameAddr[];
  /**
   * Set to `'latin1'` when the header section was not valid UTF-8 and was decoded byte-for-byte instead (so it
   * re-serializes to the same bytes). Absent means UTF-8.
   */
  headerEncoding?: 'latin1';
}

export interface SipRequest extends SipMessageBase {
  kind: 'request';
  method: string;
  /** Request-URI text exactly as received. */
  uriText: string;
  uri: SipUri;
}

export interface SipResponse extends SipMessageBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;
