// The SIP stack: transports → framing → parser → transaction layer → transaction user (TU).
// It owns what RFC 3261 puts between the wire and the TU: a 400 for requests that fail to parse (responses are
// dropped, §16.3/§18.1.2), `received`/`rport` stamping on the top Via (§18.2.1, RFC 3581), the response target
// rule (§18.2.2) and the transaction layer wiring. The TU (B2BUA, OPTIONS responder) never sees bytes.
import { eqLower } from './message/chars.ts';
import {
  buildErrorResponse,
  COMPACT_FORMS,
  formatVia,
  headerKey,
  type ParseLimits,
  parseMessage,
  SipParseError,
  type SipRequest,
  type SipResponse,
  serializeMessage,
  suggestedStatus,
} from './message/index.ts';
import {
  type ClientTransaction,
  type ClientTransactionHandlers,
  type ServerTransaction,
  type Timers,
  type TransactionConfig,
  TransactionLayer,
} from './transaction/index.ts';
import {
  type InboundMessage,
  type ListenerInfo,
  type SendTarget,
  type TlsPeerInfo,
  TransportLayer,
  type TransportLayerOptions,
} from './transport/index.ts';

/** Where a message came from / goes to, as the transaction layer sees it: a send target plus inbound facts. */
export interface Peer extends SendTarget {
  /** Inbound only: the TLS identity of the connection the message arrived on. */
  tls?: TlsPeerInfo;
  /** Inbound only: the source address and port exactly as seen on the socket. */
  sourceAddress?: string;
  sourcePort?: number;
  /** Inbound only: the local address/port the message arrived on. */
  localPort?: number;
}

export interface StackUser {
  /** A new request (not a retransmission) with its server transaction. */
  onRequest(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): void;
  /** A response that matched no client transaction (e.g. a retransmitted 2xx that needs a new ACK). */
  onStrayResponse?(res: SipResponse, peer: Peer): void;
  /** An ACK that matched no INVITE transaction in progress (ACK for a 2xx: end-to-end, RFC 3261 §13.2.2.4). */
  onStrayAck?(ack: SipRequest, peer: Peer): void;
}

export interface StackCounters {
  requestsIn: number;
  responsesIn: number;
  malformedRequests: number;
  malformedResponses: number;
  badRequestsAnswered: number;
  /** Messages the inbound guard dropped before parsing. */
  droppedByGuard: number;
}

/**
 * Protection before parsing: consulted for every inbound message before the parser runs (keep it O(1)).
 * `admit` false drops the message silently; `malformed` hears of messages that failed to parse.
 */
export interface InboundGuard {
  admit(m: InboundMessage): boolean;
  malformed?(m: InboundMessage): void;
}

/** Sees every parsed inbound message and every message we serialise (a per-call SIP trace). Keep it cheap. */
export type MessageTap = (direction: 'in' | 'out', msg: SipRequest | SipResponse, bytes?: Buffer) => void;

export interface SipStackOptions {
  listen: string[];
  transport?: Omit<TransportLayerOptions, 'onMessage'>;
  transaction?: Partial<TransactionConfig>;
  timers?: Timers;
  parseLimits?: ParseLimits;
  /**
   * A header every message we send carries unless it already has it, e.g. `X-MS-SBC: Vendor/Model/Version`
   * (Teams asks for it on every request and response, teams-direct-routing.md X7.1).
   */
  productHeader?: { name: string; value: string };
  /** Called for problems worth a log line (malformed input, TU errors). */
  onDiagnostic?: (event: string, detail: Record<string, unknown>) => void;
  /**
   * Host (IP or FQDN) written into Via sent-by and Contact instead of the listener address when `sentBy` is given no
   * explicit host: the public address behind NAT / a LoadBalancer (SWITCHBOARD_SIP_ADVERTISED_HOST).
   */
  advertisedHost?: string | undefined;
}

export class SipStack {
  readonly transport: TransportLayer;
  readonly transactions: TransactionLayer<Peer>;
  readonly counters: StackCounters = {
    requestsIn: 0,
    responsesIn: 0,
    malformedRequests: 0,
    malformedResponses: 0,
    badRequestsAnswered: 0,
    droppedByGuard: 0,
  };
  #user: StackUser | undefined;
  #guard: InboundGuard | undefined;
  #tap: MessageTap | undefined;
  #listen: string[];
  #parseLimits: ParseLimits | undefined;
  #diag: (event: string, detail: Record<string, unknown>) => void;
  #advertisedHost: string | undefined;

  constructor(options: SipStackOptions) {
    this.#listen = options.listen;
    this.#advertisedHost = options.advertisedHost ? bracketIpv6(options.advertisedHost) : undefined;
    this.#parseLimits = options.parseLimits;
    this.#diag = options.onDiagnostic ?? (() => {});
    this.transport = new TransportLayer({ ...options.transport, onMessage: (m) => this.#onMessage(m) });
    this.transactions = new TransactionLayer<Peer>({
      transport: {
        // The transport's promise resolves with a SendResult; the transaction layer only waits for it.
        send: (target, data) => this.transport.send(target, data) as Promise<unknown> as Promise<void>,
        reliable: (target) => target.transport !== 'UDP',
      },
      serialize: tapped(
        options.productHeader ? stampingSerializer(options.productHeader) : serializeMessage,
        () => this.#tap,
      ),
      config: options.transaction,
      ...(options.timers ? { timers: options.timers } : {}),
      tu: {
        onRequest: (txn, req, peer) => this.#user?.onRequest(txn, req, peer),
        onStrayResponse: (res, peer) => this.#user?.onStrayResponse?.(res, peer),
        onStrayAck: (ack, peer) => this.#user?.onStrayAck?.(ack, peer),
      },
      onCallbackError: (err, where) => this.#diag('tu-error', { where, error: String(err) }),
    });
  }

  setUser(user: StackUser): void {
    this.#user = user;
  }

  /** Install (or remove) the pre-parse guard. */
  setGuard(guard: InboundGuard | undefined): void {
    this.#guard = guard;
  }

  /** Install (or remove) the message tap. */
  setTap(tap: MessageTap | undefined): void {
    this.#tap = tap;
  }

  async start(): Promise<ListenerInfo[]> {
    return this.transport.start(this.#listen);
  }

  listeners(): ListenerInfo[] {
    return this.transport.boundListeners();
  }

  /** Start a client transaction. The request must already carry its top Via (see `viaFor`). */
  sendRequest(req: SipRequest, target: Peer, handlers: ClientTransactionHandlers<Peer>): ClientTransaction<Peer> {
    return this.transactions.sendRequest(req, target, handlers);
  }

  /** Send outside any transaction: ACK for a 2xx, 2xx retransmissions by the dialog layer. */
  sendStateless(msg: SipRequest | SipResponse, target: Peer): Promise<void> {
    return this.transactions.sendStateless(msg, target);
  }

  /**
   * The `sent-by` for a request we send to `target`: the given host, else the configured advertised host, else the
   * address of a listener of that transport; the port is always the listener's.
   */
  sentBy(target: SendTarget, advertisedHost?: string): string {
    const family = target.address.includes(':') ? 'IPv6' : 'IPv4';
    const listeners = this.transport.boundListeners();
    const l =
      listeners.find((x) => x.transport === target.transport && x.family === family) ??
      listeners.find((x) => x.transport === target.transport);
    const port = l?.port ?? (target.transport === 'TLS' ? 5061 : 5060);
    const host =
      advertisedHost ??
      this.#advertisedHost ??
      (l ? (l.family === 'IPv6' ? `[${l.address}]` : l.address) : '127.0.0.1');
    return `${host}:${port}`;
  }

  /**
   * The Via sent-by of a request that opens a transaction we may have to CANCEL: like `sentBy`, but over a shared UDP
   * address (SO_REUSEPORT) with this pod's private reply port, the port the transport would put there anyway. Written
   * into the request itself, it is stored with the call, so a pod that takes the call over sends a CANCEL whose Via
   * is the INVITE's (RFC 3261 §9.1: the peer matches the CANCEL by branch and sent-by).
   */
  requestSentBy(target: SendTarget, advertisedHost?: string): string {
    const base = this.sentBy(target, advertisedHost);
    if (target.transport !== 'UDP') return base;
    const family = target.address.includes(':') ? 'IPv6' : 'IPv4';
    const listeners = this.transport.boundListeners().filter((x) => x.transport === 'UDP');
    const l = listeners.find((x) => x.family === family) ?? listeners[0];
    return l?.replyPort ? `${base.slice(0, base.lastIndexOf(':'))}:${l.replyPort}` : base;
  }

  async close(): Promise<void> {
    this.transactions.shutdown();
    await this.transport.close();
  }

  #onMessage(m: InboundMessage): void {
    if (this.#guard && !this.#guard.admit(m)) {
      this.counters.droppedByGuard++;
      return;
    }
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(m.data, this.#parseLimits);
    } catch (err) {
      if (err instanceof SipParseError) this.#onMalformed(err, m);
      else this.#diag('parser-bug', { error: String(err), source: m.source.address });
      return;
    }
    this.#tap?.('in', msg, m.data);
    const peer = responseTarget(m, msg);
    if (msg.kind === 'request') {
      this.counters.requestsIn++;
      stampReceived(msg, m);
      this.transactions.receiveRequest(msg, peer);
    } else {
      this.counters.responsesIn++;
      this.transactions.receiveResponse(msg, peer);
    }
  }

  #onMalformed(err: SipParseError, m: InboundMessage): void {
    this.#guard?.malformed?.(m);
    const firstLine = m.data.subarray(0, Math.min(m.data.length, 160)).toString('latin1').split('\r\n', 1)[0];
    this.#diag('malformed', {
      code: err.code,
      reason: err.reason,
      source: `${m.source.address}:${m.source.port}`,
      firstLine,
    });
    if (err.isRequest !== true) {
      this.counters.malformedResponses++; // RFC 3261: a malformed response is silently discarded
      return;
    }
    this.counters.malformedRequests++;
    if (err.method === 'ACK') return; // never answer an ACK
    const bytes = buildErrorResponse(err, suggestedStatus(err));
    if (!bytes) return;
    this.counters.badRequestsAnswered++;
    const target: SendTarget = {
      transport: m.source.transport,
      address: m.source.address,
      port: m.source.port,
      ...(m.connectionId ? { connectionId: m.connectionId } : {}),
    };
    this.transport.send(target, bytes).catch(() => {});
  }
}

function stampingSerializer(header: { name: string; value: string }): (msg: SipRequest | SipResponse) => Buffer {
  const key = headerKey(header.name);
  return (msg) => {
    const hs = msg.headers;
    let has = false;
    let contentLength = -1;
    for (let i = 0; i < hs.length; i++) {
      const name = hs[i]!.name;
      if (isHeader(name, key)) {
        has = true;
        break;
      }
      if (contentLength < 0 && isHeader(name, 'content-length')) contentLength = i;
    }
    if (!has) {
      // Before Content-Length (always last from our builders) so the header block stays conventional.
      hs.splice(contentLength < 0 ? hs.length : contentLength, 0, header);
    }
    return serializeMessage(msg);
  };
}

/** An IPv6 literal as a Via/URI host (`[…]`); names and IPv4 unchanged. */
function bracketIpv6(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The serializer with the message tap (when one is installed) told of every message it serialises. */
function tapped(
  serialize: (msg: SipRequest | SipResponse) => Buffer,
  tap: () => MessageTap | undefined,
): (msg: SipRequest | SipResponse) => Buffer {
  return (msg) => {
    const bytes = serialize(msg);
    tap()?.('out', msg, bytes);
    return bytes;
  };
}

/** `headerKey(name) === key` without building the lower-case string (`key` is a lower-case long form). */
function isHeader(name: string, key: string): boolean {
  if (name.length === key.length) return eqLower(name, key);
  if (name.length !== 1) return false;
  const long = COMPACT_FORMS[name.toLowerCase()];
  return long !== undefined && long.length === key.length && eqLower(long, key);
}

/** RFC 3261 §18.2.2 with RFC 3581: where responses to an inbound message go. */
function responseTarget(m: InboundMessage, msg: SipRequest | SipResponse): Peer {
  const source = m.source;
  const via = msg.vias[0];
  let port = source.port;
  if (source.transport === 'UDP' && msg.kind === 'request' && via && via.rport === undefined) {
    port = via.port ?? 5060; // no rport: the port in sent-by, at the address it came from
  }
  const peer: Peer = {
    transport: source.transport,
    address: source.address,
    port,
    sourceAddress: source.address,
    sourcePort: source.port,
    localPort: m.local.port,
  };
  if (m.connectionId) peer.connectionId = m.connectionId;
  if (m.tls) peer.tls = m.tls;
  return peer;
}

/** Add `received` (and fill `rport`) on the top Via so responses retrace the real path (§18.2.1, RFC 3581 §4). */
function stampReceived(req: SipRequest, m: InboundMessage): void {
  const via = req.vias[0];
  if (!via) return;
  const hostBare = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
  const needReceived = hostBare.toLowerCase() !== m.source.address.toLowerCase();
  const needRport = via.rport === null;
  if (!needReceived && !needRport) return;
  const params = new Map(via.params);
  if (needReceived) params.set('received', m.source.address);
  if (needRport) params.set('rport', String(m.source.port));
  const stamped = {
    ...via,
    params,
    ...(needReceived ? { received: m.source.address } : {}),
    ...(needRport ? { rport: m.source.port } : {}),
  };
  req.vias[0] = stamped;
  // Rewrite the first value of the first Via header line; later values on that line stay as received.
  const idx = req.headers.findIndex((h) => isHeader(h.name, 'via'));
  if (idx < 0) return;
  const line = req.headers[idx]!;
  const rest = splitFirstValue(line.value);
  req.headers[idx] = { name: line.name, value: formatVia(stamped) + (rest === undefined ? '' : `,${rest}`) };
}

/** The text after the first top-level comma of a header value (commas in quotes or <> do not count). */
function splitFirstValue(value: string): string | undefined {
  let quoted = false;
  let angle = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 92) i++;
      else if (c === 34) quoted = false;
    } else if (c === 34) quoted = true;
    else if (c === 60) angle++;
    else if (c === 62) angle--;
    else if (c === 44 && angle === 0) return value.slice(i + 1);
  }
  return undefined;
}
