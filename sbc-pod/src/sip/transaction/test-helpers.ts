// Test helpers: build SIP messages as plain objects conforming to message/types.ts, a recording fake transport, and
// a harness wiring a TransactionLayer to a manual clock. Not a test file itself.
import type { NameAddr, RawHeader, SipMessage, SipRequest, SipResponse, SipUri, Via } from '../message/types.ts';
import type { ClientTransaction, ClientTransactionHandlers } from './client.ts';
import { TransactionLayer, type TransactionLayerOptions } from './layer.ts';
import { formatNameAddr, formatVia } from './messages.ts';
import type { ServerInviteTransaction, ServerTransaction } from './server.ts';
import { ManualTimers } from './timers.ts';
import type { Target, TransactionConfig } from './types.ts';

/** Minimal URI parser for tests: `sip:user@host:port;p=v` (no escapes, no IPv6, no headers). */
export function uri(text: string): SipUri {
  const m = /^(sips?|tel):(?:([^@;]+)@)?([^:;]+)(?::(\d+))?((?:;[^;]*)*)$/.exec(text);
  if (!m) throw new Error(`test uri: cannot parse ${text}`);
  const params = new Map<string, string | null>();
  for (const p of (m[5] ?? '').split(';').slice(1)) {
    const eq = p.indexOf('=');
    if (eq < 0) params.set(p.toLowerCase(), null);
    else params.set(p.slice(0, eq).toLowerCase(), p.slice(eq + 1));
  }
  const out: SipUri = { scheme: m[1] as SipUri['scheme'], host: m[3]!, params, headers: new Map() };
  if (m[2] !== undefined) out.user = m[2];
  if (m[4] !== undefined) out.port = Number(m[4]);
  return out;
}

export function nameAddr(uriText: string, tag?: string, displayName?: string): NameAddr {
  const params = new Map<string, string | null>();
  if (tag !== undefined) params.set('tag', tag);
  const out: NameAddr = { uriText, uri: uri(uriText), params };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

export interface ViaSpec {
  transport?: string;
  host?: string;
  port?: number;
  /** `null` = no branch parameter at all. */
  branch?: string | null;
}

export function via(spec: ViaSpec = {}): Via {
  const v: Via = {
    protocol: 'SIP/2.0',
    transport: spec.transport ?? 'UDP',
    host: spec.host ?? '192.0.2.10',
    params: new Map(),
  };
  if (spec.port !== undefined) v.port = spec.port;
  if (spec.branch !== null) v.branch = spec.branch ?? 'z9hG4bK-test-1';
  return v;
}

export interface RequestSpec {
  method?: string;
  uri?: string;
  callId?: string;
  cseq?: number;
  /** Defaults to the request method. */
  cseqMethod?: string;
  from?: NameAddr;
  to?: NameAddr;
  vias?: Via[];
  routes?: NameAddr[];
  /** Put all Via values on one comma-separated line. */
  joinVias?: boolean;
  extraHeaders?: RawHeader[];
}

export function request(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? 'INVITE';
  const uriText = spec.uri ?? 'sip:+15551234567@sbc.example.com;user=phone';
  const vias = spec.vias ?? [via()];
  const from = spec.from ?? nameAddr('sip:alice@carrier.example.net', 'from-tag-1', 'Alice');
  const to = spec.to ?? nameAddr('sip:+15551234567@sbc.example.com');
  const callId = spec.callId ?? 'call-1@carrier.example.net';
  const cseq = { seq: spec.cseq ?? 1, method: spec.cseqMethod ?? method };
  const routes = spec.routes ?? [];
  const headers: RawHeader[] = [];
  if (spec.joinVias) headers.push({ name: 'Via', value: vias.map(formatVia).join(', ') });
  else for (const v of vias) headers.push({ name: 'Via', value: formatVia(v) });
  headers.push({ name: 'Max-Forwards', value: '70' });
  for (const r of routes) headers.push({ name: 'Route', value: formatNameAddr(r) });
  headers.push(
    { name: 'From', value: formatNameAddr(from) },
    { name: 'To', value: formatNameAddr(to) },
    { name: 'Call-ID', value: callId },
    { name: 'CSeq', value: `${cseq.seq} ${cseq.method}` },
    ...(spec.extraHeaders ?? []),
    { name: 'Content-Length', value: '0' },
  );
  return {
    kind: 'request',
    method,
    uriText,
    uri: uri(uriText),
    headers,
    body: Buffer.alloc(0),
    callId,
    cseq,
    from,
    to,
    vias,
    maxForwards: 70,
    contentLength: 0,
    routes,
    recordRoutes: [],
    contacts: [],
  };
}

/** A response to `req` built independently of the code under test; `toTag` is added to To when given. */
export function response(req: SipRequest, status: number, toTag?: string, reason = 'Reason'): SipResponse {
  const to = toTag === undefined ? req.to : { ...req.to, params: new Map(req.to.params).set('tag', toTag) };
  const headers: RawHeader[] = [
    ...req.vias.map((v) => ({ name: 'Via', value: formatVia(v) })),
    { name: 'From', value: formatNameAddr(req.from) },
    { name: 'To', value: formatNameAddr(to) },
    { name: 'Call-ID', value: req.callId },
    { name: 'CSeq', value: `${req.cseq.seq} ${req.cseq.method}` },
    { name: 'Content-Length', value: '0' },
  ];
  return {
    kind: 'response',
    status,
    reason,
    headers,
    body: Buffer.alloc(0),
    callId: req.callId,
    cseq: req.cseq,
    from: req.from,
    to,
    vias: req.vias,
    contentLength: 0,
    routes: [],
    recordRoutes: [],
    contacts: [],
  };
}

/** A crude text serializer (start line + raw headers), enough to look at bytes in tests. */
export function serializeForTest(msg: SipMessage): Buffer {
  const start = msg.kind === 'request' ? `${msg.method} ${msg.uriText} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  const lines = [start, ...msg.headers.map((h) => `${h.name}: ${h.value}`), '', ''];
  return Buffer.concat([Buffer.from(lines.join('\r\n')), msg.body]);
}

export const UDP_PEER: Target = { transport: 'UDP', host: '192.0.2.10', port: 5060 };
export const TCP_PEER: Target = { transport: 'TCP', host: '192.0.2.10', port: 5060 };
export const TLS_PEER: Target = { transport: 'TLS', host: '52.114.14.70', port: 5061 };

export interface Sent {
  at: number;
  target: Target;
  msg: SipMessage;
  data: Buffer;
}

export interface TuEvent {
  type: string;
  at: number;
  msg?: SipMessage;
  txn?: unknown;
  err?: unknown;
}

/** Layer + manual clock + recording transport + recording TU. */
export class Harness {
  readonly timers = new ManualTimers();
  readonly sent: Sent[] = [];
  readonly events: TuEvent[] = [];
  readonly serverTxns: ServerTransaction<Target>[] = [];
  readonly callbackErrors: unknown[] = [];
  readonly layer: TransactionLayer<Target>;
  /** Return an Error to make the next matching send reject with it. */
  failSend: ((target: Target, msg: SipMessage) => Error | undefined) | undefined;
  /** Called in tu.onRequest (to answer synchronously, set handlers, …). */
  onRequest: ((txn: ServerTransaction<Target>, req: SipRequest) => void) | undefined;
  readonly #messages = new WeakMap<Buffer, SipMessage>();

  constructor(
    config: Partial<TransactionConfig> = {},
    extra: Partial<Pick<TransactionLayerOptions<Target>, 'responseFallback' | 'generateBranch'>> = {},
  ) {
    this.layer = new TransactionLayer<Target>({
      transport: {
        send: (target, data) => {
          const msg = this.#messages.get(data);
          if (!msg) throw new Error('send of bytes that were not serialized through the layer');
          this.sent.push({ at: this.timers.now, target, msg, data });
          const err = this.failSend?.(target, msg);
          return err ? Promise.reject(err) : Promise.resolve();
        },
        reliable: (target) => target.transport !== 'UDP',
      },
      serialize: (msg) => {
        const data = serializeForTest(msg);
        this.#messages.set(data, msg);
        return data;
      },
      timers: this.timers,
      config,
      onCallbackError: (err) => this.callbackErrors.push(err),
      tu: {
        onRequest: (txn, req) => {
          this.serverTxns.push(txn);
          this.onRequest?.(txn, req);
        },
        onStrayResponse: (res) => this.events.push({ type: 'stray-response', at: this.timers.now, msg: res }),
        onStrayAck: (ack, _source, txn) => this.events.push({ type: 'stray-ack', at: this.timers.now, msg: ack, txn }),
      },
      ...extra,
    });
  }

  /** Client handlers that record into `events`. */
  handlers(): ClientTransactionHandlers<Target> {
    const rec = (type: string) => (msg?: SipMessage, err?: unknown) => {
      const ev: TuEvent = { type, at: this.timers.now };
      if (msg) ev.msg = msg;
      if (err !== undefined) ev.err = err;
      this.events.push(ev);
    };
    return {
      onProvisional: (res) => rec('provisional')(res),
      onFinal: (res) => rec('final')(res),
      onTimeout: () => rec('timeout')(),
      onTransportError: (err) => rec('transport-error')(undefined, err),
      onTerminated: () => rec('terminated')(),
    };
  }

  send(req: SipRequest, target: Target = UDP_PEER): ClientTransaction<Target> {
    return this.layer.sendRequest(req, target, this.handlers());
  }

  /** Server transaction handlers that record into `events`. */
  watch(txn: ServerTransaction<Target>): void {
    txn.handlers = {
      onTimeout: () => this.events.push({ type: 'server-timeout', at: this.timers.now, txn }),
      onTransportError: (err) => this.events.push({ type: 'server-transport-error', at: this.timers.now, err, txn }),
      onTerminated: () => this.events.push({ type: 'server-terminated', at: this.timers.now, txn }),
    };
  }

  lastServer(): ServerTransaction<Target> {
    const txn = this.serverTxns.at(-1);
    if (!txn) throw new Error('no server transaction yet');
    return txn;
  }

  lastServerInvite(): ServerInviteTransaction<Target> {
    const txn = this.lastServer();
    if (txn.kind !== 'server-invite') throw new Error('last server transaction is not an INVITE');
    return txn;
  }

  sendTimes(filter?: (s: Sent) => boolean): number[] {
    return this.sent.filter(filter ?? (() => true)).map((s) => s.at);
  }

  sentMessages(): SipMessage[] {
    return this.sent.map((s) => s.msg);
  }

  eventTypes(): string[] {
    return this.events.map((e) => e.type);
  }

  clear(): void {
    this.sent.length = 0;
    this.events.length = 0;
  }

  /** Asserts nothing is left behind: no transactions, no timers. */
  isClean(): boolean {
    return this.layer.size() === 0 && this.timers.pending() === 0;
  }
}

/** Lets pending promise callbacks (rejected sends) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export const isResponse = (status: number) => (s: Sent) => s.msg.kind === 'response' && s.msg.status === status;
export const isRequest = (method: string) => (s: Sent) => s.msg.kind === 'request' && s.msg.method === method;
