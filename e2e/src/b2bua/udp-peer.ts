// A scriptable SIP endpoint on a real UDP socket, for carrier-side tests where sipp cannot say what it received:
// it logs every message, and plays UAC (INVITE, ACK, in-dialog requests, CANCEL) or UAS (scripted answers, in-dialog
// 200s). Built on the pod's own parser/builders; tests assert on the parsed messages.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  buildRequest,
  buildResponse,
  getHeader,
  parseMessage,
  type RawHeader,
  type SipRequest,
  type SipResponse,
  serializeMessage,
} from '../../../sbc-pod/src/sip/message/index.ts';
import { EventLog } from '../teams-sim/wait.ts';

export type SipMessage = SipRequest | SipResponse;

export interface Received {
  msg: SipMessage;
  from: { address: string; port: number };
}

const SDP = (host: string) =>
  [
    'v=0',
    `o=peer 1 1 IN IP4 ${host}`,
    's=-',
    `c=IN IP4 ${host}`,
    't=0 0',
    'm=audio 40000 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');

export const tag = () => randomBytes(6).toString('hex');
const branch = () => `z9hG4bK${randomBytes(8).toString('hex')}`;

/** What a UAS does with a new INVITE: responses in order, each optionally with SDP; no final = keep ringing. */
export interface UasStep {
  status: number;
  reason?: string;
  sdp?: boolean;
  /** A body of our own (an SDP) instead of the default one. */
  body?: string;
  headers?: RawHeader[];
}

export class UdpPeer {
  readonly received = new EventLog<Received>((r) =>
    r.msg.kind === 'request'
      ? `${r.msg.method} ${r.msg.uriText}`
      : `${r.msg.status} ${r.msg.reason} (${r.msg.cseq.method})`,
  );
  readonly host: string;
  port = 0;
  /** Script for the next INVITEs that open a dialog (default: 180, 200+SDP). */
  script: UasStep[] = [{ status: 180 }, { status: 200, sdp: true }];
  /** Answer a CANCEL's INVITE with 487 (false: only 200 the CANCEL, so a test can send a crossing 200). */
  terminateOnCancel = true;
  /** Answer out-of-dialog OPTIONS with 200 (false: ignore them, like a dead target). */
  answerOptions = true;
  /** A test's own handler, asked first for every request; return true when it answered. */
  onRequest?: (req: SipRequest, from: { address: string; port: number }) => boolean;
  /** Extra headers on every in-dialog 200 we send. */
  #socket: Socket;
  #toTags = new Map<string, string>();

  private constructor(host: string) {
    this.host = host;
    this.#socket = createSocket('udp4');
  }

  static async start(opts: { host?: string; port?: number } = {}): Promise<UdpPeer> {
    const p = new UdpPeer(opts.host ?? '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      p.#socket.once('error', reject);
      p.#socket.bind(opts.port ?? 0, p.host, () => resolve());
    });
    p.port = p.#socket.address().port;
    p.#socket.on('message', (data, rinfo) => p.#onMessage(data, { address: rinfo.address, port: rinfo.port }));
    return p;
  }

  get sentBy(): string {
    return `${this.host}:${this.port}`;
  }

  sdp(): string {
    return SDP(this.host);
  }

  send(msg: SipMessage, to: { address: string; port: number }): void {
    this.#socket.send(serializeMessage(msg), to.port, to.address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  /** Wait for a request of this method (optionally matching `pred`). */
  waitForRequest(method: string, pred: (r: SipRequest) => boolean = () => true, timeoutMs = 5_000): Promise<Received> {
    return this.received.waitFor(
      (r) => r.msg.kind === 'request' && r.msg.method === method && pred(r.msg),
      `${method} at ${this.sentBy}`,
      timeoutMs,
    );
  }

  waitForResponse(pred: (r: SipResponse) => boolean, what: string, timeoutMs = 5_000): Promise<SipResponse> {
    return this.received
      .waitFor((r) => r.msg.kind === 'response' && pred(r.msg), what, timeoutMs)
      .then((r) => r.msg as SipResponse);
  }

  respond(req: SipRequest, to: { address: string; port: number }, step: UasStep): SipResponse {
    const key = `${req.callId}|${req.from.params.get('tag') ?? ''}`;
    let toTag = this.#toTags.get(key);
    if (!toTag) {
      toTag = tag();
      this.#toTags.set(key, toTag);
    }
    const headers: RawHeader[] = [];
    if (step.status > 100 && step.status < 300)
      headers.push({ name: 'Contact', value: `<sip:peer@${this.sentBy};transport=udp>` });
    headers.push(...(step.headers ?? []));
    const res = buildResponse(req, step.status, step.reason ?? reasonFor(step.status), {
      ...(step.status > 100 ? { toTag } : {}),
      headers,
      ...(step.body !== undefined
        ? { contentType: 'application/sdp', body: step.body }
        : step.sdp
          ? { contentType: 'application/sdp', body: this.sdp() }
          : {}),
    });
    this.send(res, to);
    return res;
  }

  #onMessage(data: Buffer, from: { address: string; port: number }): void {
    let msg: SipMessage;
    try {
      msg = parseMessage(data);
    } catch {
      return;
    }
    this.received.push({ msg, from });
    if (msg.kind !== 'request') return;
    if (this.onRequest?.(msg, from)) return;
    const inDialog = msg.to.params.has('tag');
    if (msg.method === 'ACK') return;
    if (msg.method === 'CANCEL') {
      this.send(buildResponse(msg, 200, 'OK'), from);
      if (!this.terminateOnCancel) return;
      const invite = this.received.find(
        (r) =>
          r.msg.kind === 'request' &&
          r.msg.method === 'INVITE' &&
          r.msg.callId === msg.callId &&
          r.msg.vias[0]?.params.get('branch') === msg.vias[0]?.params.get('branch'),
      );
      if (invite) this.respond(invite.msg as SipRequest, from, { status: 487 });
      return;
    }
    if (msg.method === 'INVITE' && !inDialog) {
      // Retransmissions of an INVITE we already answered get nothing new (the SBC only retransmits before a 1xx).
      const branchOf = (m: SipMessage) => m.vias[0]?.branch;
      const seen = this.received.filter(
        (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && branchOf(r.msg) === branchOf(msg),
      );
      if (seen.length > 1) return;
      for (const step of this.script) this.respond(msg, from, step);
      return;
    }
    if (msg.method === 'OPTIONS' && !inDialog) {
      if (this.answerOptions) this.respond(msg, from, { status: 200 });
      return;
    }
    if (inDialog) {
      const sdp = msg.method === 'INVITE' || (msg.method === 'UPDATE' && msg.body.length > 0);
      this.respond(msg, from, { status: 200, sdp });
    }
  }

  #uasSeq = new Map<string, number>();

  /**
   * An in-dialog request from our UAS side of the call `invite` opened (we answered it): To/From swapped, our tag,
   * toward its Contact via its source. Resolves with the final response (a 2xx to a re-INVITE is ACKed).
   */
  async uasRequest(
    invite: Received,
    method: string,
    opts: { sdp?: boolean; timeoutMs?: number } = {},
  ): Promise<SipResponse> {
    const inv = invite.msg as SipRequest;
    const key = `${inv.callId}|${inv.from.params.get('tag') ?? ''}`;
    const ourTag = this.#toTags.get(key);
    if (!ourTag) throw new Error('we never answered that INVITE');
    const seq = (this.#uasSeq.get(key) ?? 100) + 1;
    this.#uasSeq.set(key, seq);
    const build = (m: string) =>
      buildRequest({
        method: m,
        uri: inv.contacts[0]?.uriText ?? inv.from.uriText,
        vias: [`SIP/2.0/UDP ${this.sentBy};branch=${branch()};rport`],
        from: `${getHeader(inv, 'To')!};tag=${ourTag}`,
        to: getHeader(inv, 'From')!,
        callId: inv.callId,
        cseq: { seq, method: m },
        routes: inv.recordRoutes.map((r) => `<${r.uriText}>`),
        ...(m === 'INVITE' ? { contacts: [`<sip:peer@${this.sentBy};transport=udp>`] } : {}),
        ...(opts.sdp && m !== 'ACK' ? { contentType: 'application/sdp', body: this.sdp() } : {}),
      });
    this.send(build(method), invite.from);
    const res = await this.waitForResponse(
      (r) => r.callId === inv.callId && r.cseq.seq === seq && r.cseq.method === method && r.status >= 200,
      `final response to our ${method} (CSeq ${seq})`,
      opts.timeoutMs ?? 5_000,
    );
    if (method === 'INVITE' && res.status < 300) this.send(build('ACK'), invite.from);
    return res;
  }

  /** Start a call as a carrier UAC toward `target`. */
  invite(
    target: { address: string; port: number },
    opts: {
      to: string;
      from: string;
      headers?: RawHeader[];
      maxForwards?: number;
      /** Request-URI host (default the target address). */
      host?: string;
    },
  ): UacCall {
    const host = opts.host ?? `${target.address}:${target.port}`;
    const req = buildRequest({
      method: 'INVITE',
      uri: `sip:${opts.to}@${host};user=phone`,
      vias: [`SIP/2.0/UDP ${this.sentBy};branch=${branch()};rport`],
      from: `<sip:${opts.from}@${this.sentBy};user=phone>;tag=${tag()}`,
      to: `<sip:${opts.to}@${host};user=phone>`,
      callId: `${randomBytes(8).toString('hex')}@${this.host}`,
      cseq: 1,
      maxForwards: opts.maxForwards ?? 70,
      contacts: [`<sip:${opts.from}@${this.sentBy};transport=udp>`],
      headers: opts.headers ?? [],
      contentType: 'application/sdp',
      body: this.sdp(),
    });
    this.send(req, target);
    return new UacCall(this, req, target);
  }
}

/** A call this peer placed: responses to the INVITE, then the dialog for ACK/BYE/re-INVITE/… */
export class UacCall {
  readonly peer: UdpPeer;
  readonly invite: SipRequest;
  readonly target: { address: string; port: number };
  #seq = 1;
  remoteTag = '';
  remoteTarget = '';
  routeSet: string[] = [];

  constructor(peer: UdpPeer, invite: SipRequest, target: { address: string; port: number }) {
    this.peer = peer;
    this.invite = invite;
    this.target = target;
  }

  responses(): SipResponse[] {
    return this.peer.received.items
      .map((r) => r.msg)
      .filter((m): m is SipResponse => m.kind === 'response' && m.callId === this.invite.callId);
  }

  waitFor(status: number | ((r: SipResponse) => boolean), timeoutMs = 5_000): Promise<SipResponse> {
    const pred = typeof status === 'number' ? (r: SipResponse) => r.status === status : status;
    return this.peer.waitForResponse(
      (r) => r.callId === this.invite.callId && r.cseq.method === 'INVITE' && pred(r),
      `${String(status)} to INVITE ${this.invite.callId}`,
      timeoutMs,
    );
  }

  /** The final answer to the INVITE; a 2xx is ACKed and becomes the dialog. A failure is ACKed (hop by hop). */
  async final(timeoutMs = 5_000): Promise<SipResponse> {
    const res = await this.waitFor((r) => r.status >= 200, timeoutMs);
    if (res.status < 300) {
      this.remoteTag = res.to.params.get('tag') ?? '';
      this.remoteTarget = res.contacts[0]?.uriText ?? this.invite.uriText;
      this.routeSet = [...res.recordRoutes].reverse().map((r) => `<${r.uriText}>`);
      this.peer.send(this.#build('ACK', 1), this.target);
    } else {
      const ack = buildRequest({
        method: 'ACK',
        uri: this.invite.uriText,
        vias: [getHeader(this.invite, 'Via')!],
        from: getHeader(this.invite, 'From')!,
        to: getHeader(res, 'To')!,
        callId: this.invite.callId,
        cseq: { seq: 1, method: 'ACK' },
      });
      this.peer.send(ack, this.target);
    }
    return res;
  }

  cancel(): void {
    const cancel = buildRequest({
      method: 'CANCEL',
      uri: this.invite.uriText,
      vias: [getHeader(this.invite, 'Via')!],
      from: getHeader(this.invite, 'From')!,
      to: getHeader(this.invite, 'To')!,
      callId: this.invite.callId,
      cseq: { seq: 1, method: 'CANCEL' },
    });
    this.peer.send(cancel, this.target);
  }

  #build(
    method: string,
    seq: number,
    opts: { headers?: RawHeader[]; sdp?: boolean; body?: string; maxForwards?: number } = {},
  ) {
    return buildRequest({
      method,
      uri: this.remoteTarget,
      vias: [`SIP/2.0/UDP ${this.peer.sentBy};branch=${branch()};rport`],
      from: getHeader(this.invite, 'From')!,
      to: `${getHeader(this.invite, 'To')!};tag=${this.remoteTag}`,
      callId: this.invite.callId,
      cseq: { seq, method },
      routes: this.routeSet,
      maxForwards: opts.maxForwards ?? 70,
      ...(method === 'INVITE' || method === 'UPDATE' ? { contacts: [this.invite.contacts[0]!.uriText] } : {}),
      headers: opts.headers ?? [],
      ...(opts.body !== undefined
        ? { contentType: 'application/sdp', body: opts.body }
        : opts.sdp
          ? { contentType: 'application/sdp', body: this.peer.sdp() }
          : {}),
    });
  }

  /** Send an in-dialog request and wait for its final response (a 2xx to a re-INVITE is ACKed). */
  async request(
    method: string,
    opts: { headers?: RawHeader[]; sdp?: boolean; body?: string; maxForwards?: number; timeoutMs?: number } = {},
  ): Promise<SipResponse> {
    const seq = ++this.#seq;
    const req = this.#build(method, seq, opts);
    this.peer.send(req, this.target);
    const res = await this.peer.waitForResponse(
      (r) => r.callId === this.invite.callId && r.cseq.seq === seq && r.cseq.method === method && r.status >= 200,
      `final response to ${method} (CSeq ${seq})`,
      opts.timeoutMs ?? 5_000,
    );
    if (method === 'INVITE' && res.status < 300) this.peer.send(this.#build('ACK', seq), this.target);
    return res;
  }
}

function reasonFor(status: number): string {
  const reasons: Record<number, string> = {
    100: 'Trying',
    180: 'Ringing',
    183: 'Session Progress',
    200: 'OK',
    401: 'Unauthorized',
    407: 'Proxy Authentication Required',
    480: 'Temporarily Unavailable',
    486: 'Busy Here',
    487: 'Request Terminated',
    603: 'Decline',
  };
  return reasons[status] ?? 'Unknown';
}
