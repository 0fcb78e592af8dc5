// Client transactions and dialog state shared by the simulator's incoming and outgoing calls.
import {
  buildRequest,
  getHeader,
  parseNameAddr,
  type RawHeader,
  type SipRequest,
  type SipResponse,
} from '../../../sbc-pod/src/sip/message/index.ts';
import type { SipConnection } from './connection.ts';
import { newBranch } from './teams-style.ts';
import { DEFAULT_WAIT_MS, EventLog } from './wait.ts';

/** A request the simulator sent and the responses it got (matched on top Via branch + CSeq method). */
export class ClientTransaction {
  readonly branch: string;
  readonly request: SipRequest;
  readonly conn: SipConnection;
  readonly responses = new EventLog<SipResponse>((r) => `${r.status} ${r.reason}`);
  /** For an INVITE to the SBC: the host the sim dialled (H3.8 check on the SBC's Contact). */
  dialledHost?: string;
  /** Called for every response (after it is logged). */
  onResponse?: (res: SipResponse) => void;

  constructor(branch: string, request: SipRequest, conn: SipConnection) {
    this.branch = branch;
    this.request = request;
    this.conn = conn;
  }

  final(timeoutMs: number = DEFAULT_WAIT_MS): Promise<SipResponse> {
    return this.responses.waitFor(
      (r) => r.status >= 200,
      `a final response to ${this.request.method} ${this.request.uriText}`,
      timeoutMs,
    );
  }

  waitFor(status: number, timeoutMs: number = DEFAULT_WAIT_MS): Promise<SipResponse> {
    return this.responses.waitFor(
      (r) => r.status === status,
      `${status} to ${this.request.method} ${this.request.uriText}`,
      timeoutMs,
    );
  }
}

/** How the simulator reaches the SBC for a request (the sim owns the TLS clients and transaction table). */
export interface RequestSender {
  send(
    req: SipRequest,
    route: { conn?: SipConnection; nextHop: string; newConnection?: boolean; localAddress?: string },
  ): Promise<ClientTransaction>;
  uppercase(req: SipRequest): SipRequest;
}

export interface InDialogOptions {
  body?: string;
  contentType?: string;
  headers?: RawHeader[];
  /** Send on a new TLS connection (T1.14), optionally from `localAddress`. */
  newConnection?: boolean;
  localAddress?: string;
  uppercase?: boolean;
}

/** UAC/UAS-agnostic dialog state (RFC 3261 §12). */
export class Dialog {
  readonly callId: string;
  localTag: string;
  remoteTag: string;
  /** From value for our requests (with our tag) and To value (with the remote tag). */
  localHeader: string;
  remoteHeader: string;
  remoteTarget: string;
  routeSet: string[];
  localContact: string;
  localSeq: number;
  conn: SipConnection;
  viaHost: () => string;

  constructor(init: {
    callId: string;
    localTag: string;
    remoteTag: string;
    localHeader: string;
    remoteHeader: string;
    remoteTarget: string;
    routeSet: string[];
    localContact: string;
    localSeq: number;
    conn: SipConnection;
    viaHost: () => string;
  }) {
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localHeader = init.localHeader;
    this.remoteHeader = init.remoteHeader;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localContact = init.localContact;
    this.localSeq = init.localSeq;
    this.conn = init.conn;
    this.viaHost = init.viaHost;
  }

  /** Next hop URI: the top route (loose routing) or the remote target. */
  get nextHop(): string {
    const top = this.routeSet[0];
    return top !== undefined ? parseNameAddr(top).uriText : this.remoteTarget;
  }

  build(method: string, opts: InDialogOptions = {}, cseq?: number): SipRequest {
    const seq = cseq ?? ++this.localSeq;
    const branch = newBranch();
    const headers: RawHeader[] = [];
    if (method === 'INVITE' || method === 'NOTIFY' || method === 'UPDATE' || method === 'REFER') {
      headers.push({ name: 'Contact', value: this.localContact });
    }
    headers.push(...(opts.headers ?? []));
    return buildRequest({
      method,
      uri: this.remoteTarget,
      vias: [`SIP/2.0/TLS ${this.viaHost()};branch=${branch}`],
      from: this.localHeader,
      to: this.remoteHeader,
      callId: this.callId,
      cseq: { seq, method },
      routes: this.routeSet,
      headers,
      ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}),
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    });
  }

  async send(
    sender: RequestSender,
    method: string,
    opts: InDialogOptions = {},
    cseq?: number,
  ): Promise<ClientTransaction> {
    let req = this.build(method, opts, cseq);
    if (opts.uppercase === true) req = sender.uppercase(req);
    const tx = await sender.send(req, {
      conn: this.conn,
      nextHop: this.nextHop,
      ...(opts.newConnection !== undefined ? { newConnection: opts.newConnection } : {}),
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    });
    return tx;
  }
}

/** To tag of a response. */
export function toTagOf(msg: SipResponse | SipRequest): string | undefined {
  return msg.to.params.get('tag') ?? undefined;
}

/** The raw To header value of a message. */
export function rawTo(msg: SipResponse | SipRequest): string {
  return getHeader(msg, 'To') ?? '';
}

export function rawFrom(msg: SipResponse | SipRequest): string {
  return getHeader(msg, 'From') ?? '';
}
