// Calls through the simulated Teams peer:
// - IncomingCall: an INVITE the SBC sent to Teams (PSTN → Teams), answered by a scriptable response sequence;
// - OutgoingCall: an INVITE the sim placed toward the SBC (Teams → PSTN), with awaitable responses.
import { randomInt } from 'node:crypto';
import {
  buildRequest,
  getHeader,
  getHeaders,
  type RawHeader,
  type SipRequest,
  type SipResponse,
} from '../../../sbc-pod/src/sip/message/index.ts';
import type { IssuedCertificate } from '../harness/pki.ts';
import type { SipConnection } from './connection.ts';
import {
  type ClientTransaction,
  Dialog,
  type InDialogOptions,
  type RequestSender,
  rawFrom,
  rawTo,
  toTagOf,
} from './dialog.ts';
import { newTag, type TeamsResponseOptions, teamsResponse } from './teams-style.ts';
import type { Tenant } from './tenants.ts';
import { DEFAULT_WAIT_MS, EventLog } from './wait.ts';

/** What Teams puts in a REFER (M5.24): Refer-To and Referred-By, sent and compared byte for byte. */
export interface ReferOptions extends InDialogOptions {
  referTo: string;
  referredBy?: string;
  timeoutMs?: number;
}

/** Teams as transferor (M5.24): REFER in the dialog; resolves with the SBC's final response (202 expected). */
async function sendRefer(core: SimCore, d: Dialog, opts: ReferOptions): Promise<SipResponse> {
  const headers: RawHeader[] = [{ name: 'Refer-To', value: opts.referTo }];
  if (opts.referredBy !== undefined) headers.push({ name: 'Referred-By', value: opts.referredBy });
  const tx = await d.send(core, 'REFER', { ...opts, headers: [...headers, ...(opts.headers ?? [])] });
  return tx.final(opts.timeoutMs);
}

/** re-INVITE without SDP (delayed offer): the 2xx carries the offer, our ACK the answer. */
async function sendDelayedReinvite(
  core: SimCore,
  d: Dialog,
  call: { sdpVersion: number },
  opts: InDialogOptions & { timeoutMs?: number } = {},
): Promise<{ res: SipResponse; ack: SipRequest }> {
  const tx = await d.send(core, 'INVITE', opts);
  const res = await tx.final(opts.timeoutMs);
  call.sdpVersion += 1;
  const answer = res.status < 300 && res.body.length > 0 ? core.sdp(call.sdpVersion) : undefined;
  const ackTx = await d.send(
    core,
    'ACK',
    { newConnection: false, ...(answer !== undefined ? { body: answer, contentType: 'application/sdp' } : {}) },
    tx.request.cseq.seq,
  );
  return { res, ack: ackTx.request };
}

/** One scripted response. `sdp: true` adds the sim's SDP answer; a string is sent as the SDP body. */
export interface ScriptStep {
  status: number;
  reason?: string;
  sdp?: boolean | string;
  /** To tag for this response (e.g. several 180s from different endpoints); default: the call's tag. */
  toTag?: string;
  /** Wait this long before sending (call behaviour, e.g. ring time; not for test synchronisation). */
  delayMs?: number;
  /** Adds `Retry-After: n` (503). */
  retryAfter?: number;
  headers?: RawHeader[];
}

/**
 * A call script. A plain list of steps gets an automatic `100 Trying` first (Teams sends it immediately) unless it
 * starts with 100. `{ trying: false, steps: [] }` is a silent Teams (no provisional at all). A script without a
 * final response leaves the call ringing ("no answer") until the SBC CANCELs it.
 */
export type CallScript = ScriptStep[] | { trying?: boolean; steps: ScriptStep[] };

export const DEFAULT_SCRIPT: ScriptStep[] = [{ status: 180 }, { status: 200, sdp: true }];

export function normaliseScript(script: CallScript): { trying: boolean; steps: ScriptStep[] } {
  const steps = Array.isArray(script) ? script : script.steps;
  const explicit = !Array.isArray(script) ? script.trying : undefined;
  const startsWith100 = steps[0]?.status === 100;
  return { trying: explicit ?? !startsWith100, steps };
}

/** What calls need from the simulator. */
export interface SimCore extends RequestSender {
  readonly t1Ms: number;
  readonly t2Ms: number;
  readonly byeOnAckTimeout: boolean;
  /** Echo Session-Expires in the 2xx to an INVITE that asked for a session timer. */
  readonly echoSessionTimer: boolean;
  respond(conn: SipConnection, res: SipResponse): void;
  registerDialog(callId: string, localTag: string, owner: DialogOwner): void;
  record(rule: string, message: string, subject: string, where?: string): void;
  sdp(version: number): string;
  /** The Teams-style Contact the sim puts in its 18x/2xx and requests. */
  contact(): string;
  via(conn: SipConnection): string;
  /** True for a host name of one of the sim's own listeners (its Record-Route entries are not routes to the SBC). */
  isOwnHost(host: string): boolean;
}

export interface DialogOwner {
  readonly callId: string;
  /** The trunk FQDN the sim dialled (outgoing calls), for the H3.8 check of the SBC's in-dialog requests. */
  readonly dialledHost?: string;
  onRequest(req: SipRequest, conn: SipConnection): void;
}

/** Retransmit a 2xx until its ACK (RFC 3261 §13.3.1.4): T1, 2·T1, … capped at T2, for 64·T1 in total. */
class Reliable2xx {
  transmissions = 1;
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  constructor(core: SimCore, conn: SipConnection, res: SipResponse, onGiveUp: () => void) {
    let interval = core.t1Ms;
    const tick = (): void => {
      if (Date.now() - this.started >= 64 * core.t1Ms) {
        this.timer = undefined;
        onGiveUp();
        return;
      }
      this.transmissions += 1;
      core.respond(conn, res);
      interval = Math.min(interval * 2, core.t2Ms);
      this.timer = setTimeout(tick, interval);
    };
    this.timer = setTimeout(tick, interval);
  }

  get active(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export type CallState =
  | 'proceeding'
  | 'early'
  | 'accepted'
  | 'confirmed'
  | 'rejected'
  | 'cancelled'
  | 'terminated'
  | 'ignored';

function answerInDialog(
  core: SimCore,
  req: SipRequest,
  conn: SipConnection,
  call: { sdpVersion: number },
  onBye: () => void,
  reliable: (res: SipResponse, cseq: number) => void,
): void {
  const opts: TeamsResponseOptions = { contact: core.contact() };
  switch (req.method) {
    case 'BYE':
      core.respond(conn, teamsResponse(req, 200));
      onBye();
      return;
    case 'INVITE': {
      call.sdpVersion += 1;
      const res = teamsResponse(req, 200, { ...opts, sdp: core.sdp(call.sdpVersion) });
      core.respond(conn, res);
      reliable(res, req.cseq.seq);
      return;
    }
    case 'NOTIFY':
    case 'OPTIONS':
    case 'INFO':
      core.respond(conn, teamsResponse(req, 200));
      return;
    default:
      core.respond(conn, teamsResponse(req, 405, { allow: true }));
  }
}

/** An INVITE the SBC sent to Teams, and everything that followed on that call. */
export class IncomingCall implements DialogOwner {
  readonly invite: SipRequest;
  readonly conn: SipConnection;
  readonly listener: string;
  readonly callId: string;
  readonly branch: string;
  tenant?: Tenant;
  tenantDomain?: string;
  number?: string;
  state: CallState = 'proceeding';
  finalStatus?: number;
  /** The To tag of the 2xx (and the default for other responses). */
  readonly localTag = newTag();
  readonly tagsUsed = new Set<string>();
  /** Responses the sim sent for this call (initial INVITE and in-dialog), first transmissions only. */
  readonly sent = new EventLog<SipResponse>((r) => `${r.status} ${r.reason} (${r.cseq.method})`);
  /** Every request the SBC sent on this call after the INVITE: ACK, CANCEL, BYE, re-INVITE, … */
  readonly requests = new EventLog<SipRequest>((r) => `${r.method} ${r.uriText}`);
  readonly states = new EventLog<CallState>();
  dialog?: Dialog;
  sdpVersion = 0;
  private readonly core: SimCore;
  private lastResponse?: SipResponse;
  private pending2xx?: { cseq: number; r: Reliable2xx };
  private initial2xx?: Reliable2xx;
  private wake?: () => void;

  constructor(core: SimCore, invite: SipRequest, conn: SipConnection, listener: string) {
    this.core = core;
    this.invite = invite;
    this.conn = conn;
    this.listener = listener;
    this.callId = invite.callId;
    this.branch = invite.vias[0]?.branch ?? '';
    this.states.push('proceeding');
  }

  /** How many times the 200 to the initial INVITE was sent (1 + retransmissions). */
  get okTransmissions(): number {
    return this.initial2xx?.transmissions ?? 0;
  }

  /** True while the sim is still retransmitting the 2xx to the initial INVITE. */
  get retransmitting(): boolean {
    return this.initial2xx?.active ?? false;
  }

  get acks(): SipRequest[] {
    return this.requests.filter((r) => r.method === 'ACK');
  }

  private setState(s: CallState): void {
    if (this.state === s) return;
    this.state = s;
    this.states.push(s);
  }

  /** Resend the last response (the SBC retransmitted its INVITE). */
  resendLast(): void {
    if (this.lastResponse !== undefined) this.core.respond(this.conn, this.lastResponse);
  }

  /** Send a response to the initial INVITE. */
  respond(status: number, step: Partial<ScriptStep> = {}): SipResponse {
    const tag = status === 100 ? undefined : (step.toTag ?? this.localTag);
    if (tag !== undefined) {
      if (!this.tagsUsed.has(tag)) this.core.registerDialog(this.callId, tag, this);
      this.tagsUsed.add(tag);
    }
    const headers: RawHeader[] = [...(step.headers ?? [])];
    if (step.retryAfter !== undefined) headers.push({ name: 'Retry-After', value: String(step.retryAfter) });
    // RFC 4028 §9: a UAS that supports timers echoes the interval (and the refresher the UAC asked for).
    const se = getHeader(this.invite, 'Session-Expires');
    if (se !== undefined && status >= 200 && status < 300 && this.core.echoSessionTimer) {
      headers.push({ name: 'Session-Expires', value: /refresher=/i.test(se) ? se : `${se};refresher=uac` });
    }
    const sdp =
      typeof step.sdp === 'string' ? step.sdp : step.sdp === true ? this.core.sdp(this.sdpVersion) : undefined;
    const res = teamsResponse(this.invite, status, {
      ...(step.reason !== undefined ? { reason: step.reason } : {}),
      ...(tag !== undefined ? { toTag: tag } : {}),
      ...(status > 100 && status < 300 ? { contact: this.core.contact() } : {}),
      ...(sdp !== undefined ? { sdp } : {}),
      headers,
    });
    this.lastResponse = res;
    this.core.respond(this.conn, res);
    this.sent.push(res);
    if (status > 100 && status < 200) this.setState('early');
    if (status >= 200) {
      this.finalStatus = status;
      if (status < 300) {
        this.setState('accepted');
        this.dialog = new Dialog({
          callId: this.callId,
          localTag: tag!,
          remoteTag: this.invite.from.params.get('tag') ?? '',
          localHeader: rawTo(res),
          remoteHeader: rawFrom(this.invite),
          remoteTarget: this.invite.contacts[0]?.uriText ?? this.invite.uriText,
          routeSet: this.invite.recordRoutes.map((na) => `<${na.uriText}>`),
          localContact: this.core.contact(),
          localSeq: randomInt(1, 10_000),
          conn: this.conn,
          viaHost: () => this.core.via(this.dialog?.conn ?? this.conn),
        });
        this.initial2xx = new Reliable2xx(this.core, this.conn, res, () => this.ackTimeout(res));
      } else if (this.state !== 'cancelled') this.setState('rejected');
    }
    return res;
  }

  private ackTimeout(res: SipResponse): void {
    this.core.record('M5.12', `no ACK for ${res.status} within 64*T1`, `${res.status} (INVITE)`, this.listener);
    if (this.core.byeOnAckTimeout && this.state === 'accepted') void this.bye().catch(() => {});
  }

  /** Play a script (called by the sim once the tenant lookup passed). */
  async play(steps: ScriptStep[]): Promise<void> {
    for (const step of steps) {
      if (step.delayMs !== undefined && step.delayMs > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, step.delayMs);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
      if (this.finalStatus !== undefined || this.state === 'cancelled') return;
      this.respond(step.status, step);
    }
  }

  onAck(req: SipRequest): void {
    this.requests.push(req);
    if (this.initial2xx !== undefined && req.cseq.seq === this.invite.cseq.seq) {
      this.initial2xx.stop();
      if (this.state === 'accepted') this.setState('confirmed');
    }
    if (this.pending2xx !== undefined && req.cseq.seq === this.pending2xx.cseq) {
      this.pending2xx.r.stop();
      this.pending2xx = undefined;
    }
  }

  onCancel(req: SipRequest, conn: SipConnection): void {
    this.requests.push(req);
    this.core.respond(conn, teamsResponse(req, 200));
    if (this.finalStatus !== undefined) return;
    this.setState('cancelled');
    this.wake?.();
    this.respond(487);
  }

  onRequest(req: SipRequest, conn: SipConnection): void {
    if (req.method === 'ACK') {
      this.onAck(req);
      return;
    }
    this.requests.push(req);
    answerInDialog(
      this.core,
      req,
      conn,
      this,
      () => this.terminate(),
      (res, cseq) => {
        this.pending2xx?.r.stop();
        this.pending2xx = {
          cseq,
          r: new Reliable2xx(this.core, conn, res, () =>
            this.core.record('M5.12', 'no ACK for re-INVITE 200 within 64*T1', '200 (INVITE)', this.listener),
          ),
        };
      },
    );
  }

  private terminate(): void {
    this.initial2xx?.stop();
    this.pending2xx?.r.stop();
    this.setState('terminated');
  }

  waitForAck(timeoutMs: number = DEFAULT_WAIT_MS): Promise<SipRequest> {
    return this.requests.waitFor((r) => r.method === 'ACK', `ACK for call ${this.callId}`, timeoutMs);
  }

  waitForRequest(method: string, timeoutMs: number = DEFAULT_WAIT_MS, from = 0): Promise<SipRequest> {
    return this.requests.waitFor((r) => r.method === method, `${method} on call ${this.callId}`, timeoutMs, from);
  }

  waitForState(state: CallState, timeoutMs: number = DEFAULT_WAIT_MS): Promise<CallState> {
    return this.states.waitFor((s) => s === state, `call ${this.callId} to reach state ${state}`, timeoutMs);
  }

  private requireDialog(): Dialog {
    if (this.dialog === undefined) throw new Error(`call ${this.callId} has no dialog (state ${this.state})`);
    return this.dialog;
  }

  /** Teams hangs up: BYE toward the SBC's Contact (on the INVITE's connection, or a new one). */
  async bye(opts: InDialogOptions & { timeoutMs?: number } = {}): Promise<SipResponse> {
    const tx = await this.requireDialog().send(this.core, 'BYE', opts);
    this.terminate();
    return tx.final(opts.timeoutMs);
  }

  /** Teams transfers the call (M5.24): REFER toward the SBC; NOTIFYs arrive in `requests`. */
  refer(opts: ReferOptions): Promise<SipResponse> {
    return sendRefer(this.core, this.requireDialog(), opts);
  }

  /** A re-INVITE without SDP; the ACK carries the answer to the SBC's 2xx offer. */
  reinviteWithoutSdp(
    opts: InDialogOptions & { timeoutMs?: number } = {},
  ): Promise<{ res: SipResponse; ack: SipRequest }> {
    return sendDelayedReinvite(this.core, this.requireDialog(), this, opts);
  }

  /** A re-INVITE from Teams with an SDP offer (default: the sim's SDP, next version). ACKs a 2xx. */
  async reinvite(sdp?: string, opts: InDialogOptions & { timeoutMs?: number } = {}): Promise<SipResponse> {
    const d = this.requireDialog();
    this.sdpVersion += 1;
    const tx = await d.send(this.core, 'INVITE', {
      ...opts,
      body: sdp ?? this.core.sdp(this.sdpVersion),
      contentType: 'application/sdp',
    });
    const res = await tx.final(opts.timeoutMs);
    if (res.status < 300) await d.send(this.core, 'ACK', { ...opts, newConnection: false }, tx.request.cseq.seq);
    return res;
  }
}

export interface PlaceCallOptions {
  /** The derived trunk FQDN of the tenant: SNI, Request-URI host and To host (H3.7). */
  tenantFqdn: string;
  from: string;
  to: string;
  /** SDP offer (default: the sim's Teams-like offer). */
  sdp?: string;
  /** Extra headers (e.g. P-Asserted-Identity, Privacy, History-Info, X-MS-*). */
  headers?: RawHeader[];
  /** Add a Record-Route pointing at the `sip` proxy (default false: Contact only). */
  recordRoute?: boolean;
  /** `Session-Expires` value (default 1800;refresher=uac, false for none). */
  sessionExpires?: string | false;
  /** Write header names in UPPERCASE (default false). */
  uppercase?: boolean;
  /** Dial from this loopback source address (e.g. 127.0.2.7, "any IP in 52.112.0.0/14"). */
  localAddress?: string;
  /** Always open a new TLS connection (default: reuse one to the same SBC/SNI/source). */
  newConnection?: boolean;
  /** Override where the SBC listens. */
  sbc?: { host: string; port: number };
  /** Send no SNI (the certificate is still verified against tenantFqdn). */
  sni?: boolean;
  /** Client certificate to present (default: the sim's Teams certificate), e.g. one from an unknown root. */
  cert?: IssuedCertificate;
  /** ACK 2xx responses automatically (default true). */
  autoAck?: boolean;
  /** Request-URI port (default: the SBC port). */
  requestUriPort?: number;
}

/** A call Teams placed toward the SBC. */
export class OutgoingCall implements DialogOwner {
  readonly tx: ClientTransaction;
  readonly callId: string;
  readonly localTag: string;
  readonly dialledHost: string;
  readonly autoAck: boolean;
  state: CallState = 'proceeding';
  readonly states = new EventLog<CallState>();
  /** In-dialog requests from the SBC (BYE, re-INVITE, NOTIFY, …). */
  readonly requests = new EventLog<SipRequest>((r) => `${r.method} ${r.uriText}`);
  dialog?: Dialog;
  sdpVersion = 0;
  acked = false;
  private readonly core: SimCore;
  private readonly localContact: string;

  constructor(core: SimCore, tx: ClientTransaction, opts: { dialledHost: string; autoAck: boolean; contact: string }) {
    this.core = core;
    this.tx = tx;
    this.callId = tx.request.callId;
    this.localTag = tx.request.from.params.get('tag') ?? '';
    this.dialledHost = opts.dialledHost;
    this.autoAck = opts.autoAck;
    this.localContact = opts.contact;
    this.states.push('proceeding');
    core.registerDialog(this.callId, this.localTag, this);
    tx.onResponse = (res) => this.onResponse(res);
  }

  get invite(): SipRequest {
    return this.tx.request;
  }

  get responses(): SipResponse[] {
    return this.tx.responses.items;
  }

  get provisionals(): SipResponse[] {
    return this.responses.filter((r) => r.status < 200);
  }

  get finalResponse(): SipResponse | undefined {
    return this.responses.find((r) => r.status >= 200);
  }

  private setState(s: CallState): void {
    if (this.state === s) return;
    this.state = s;
    this.states.push(s);
  }

  private onResponse(res: SipResponse): void {
    if (res.status > 100 && res.status < 200 && this.state === 'proceeding') this.setState('early');
    if (res.status >= 300) {
      if (this.state !== 'cancelled') this.setState('rejected');
      return;
    }
    if (res.status >= 200) {
      if (this.dialog === undefined) {
        this.dialog = new Dialog({
          callId: this.callId,
          localTag: this.localTag,
          remoteTag: toTagOf(res) ?? '',
          localHeader: rawFrom(this.tx.request),
          remoteHeader: rawTo(res),
          remoteTarget: res.contacts[0]?.uriText ?? this.tx.request.uriText,
          routeSet: [...res.recordRoutes]
            .reverse()
            .filter((na) => !this.core.isOwnHost(na.uri.host))
            .map((na) => `<${na.uriText}>`),
          localContact: this.localContact,
          localSeq: this.tx.request.cseq.seq,
          conn: this.tx.conn,
          viaHost: () => this.core.via(this.dialog?.conn ?? this.tx.conn),
        });
        this.setState('confirmed');
      }
      if (this.autoAck || this.acked) void this.ack().catch(() => {});
    }
  }

  /** Wait for a response with this status (or matching the predicate) to the INVITE. */
  waitFor(status: number | ((r: SipResponse) => boolean), timeoutMs: number = DEFAULT_WAIT_MS): Promise<SipResponse> {
    const pred = typeof status === 'number' ? (r: SipResponse) => r.status === status : status;
    return this.tx.responses.waitFor(pred, `${String(status)} for call ${this.callId}`, timeoutMs);
  }

  final(timeoutMs: number = DEFAULT_WAIT_MS): Promise<SipResponse> {
    return this.tx.final(timeoutMs);
  }

  waitForState(state: CallState, timeoutMs: number = DEFAULT_WAIT_MS): Promise<CallState> {
    return this.states.waitFor((s) => s === state, `call ${this.callId} to reach state ${state}`, timeoutMs);
  }

  waitForRequest(method: string, timeoutMs: number = DEFAULT_WAIT_MS, from = 0): Promise<SipRequest> {
    return this.requests.waitFor(
      (r) => r.method === method,
      `${method} from the SBC on ${this.callId}`,
      timeoutMs,
      from,
    );
  }

  private requireDialog(): Dialog {
    if (this.dialog === undefined) throw new Error(`call ${this.callId} has no confirmed dialog (state ${this.state})`);
    return this.dialog;
  }

  /** ACK the 2xx (done automatically unless `autoAck: false`). */
  async ack(opts: InDialogOptions = {}): Promise<void> {
    this.acked = true;
    await this.requireDialog().send(this.core, 'ACK', opts, this.tx.request.cseq.seq);
  }

  async bye(opts: InDialogOptions & { timeoutMs?: number } = {}): Promise<SipResponse> {
    const tx = await this.requireDialog().send(this.core, 'BYE', opts);
    this.setState('terminated');
    return tx.final(opts.timeoutMs);
  }

  /** CANCEL the INVITE (hop-by-hop, same branch, same connection); resolves with the response to the CANCEL. */
  async cancel(timeoutMs: number = DEFAULT_WAIT_MS): Promise<SipResponse> {
    const inv = this.tx.request;
    const cancel = buildRequest({
      method: 'CANCEL',
      uri: inv.uriText,
      vias: [getHeader(inv, 'Via') ?? ''],
      from: rawFrom(inv),
      to: rawTo(inv),
      callId: inv.callId,
      cseq: { seq: inv.cseq.seq, method: 'CANCEL' },
      routes: getHeaders(inv, 'Route'),
    });
    this.setState('cancelled');
    const tx = await this.core.send(cancel, { conn: this.tx.conn, nextHop: inv.uriText });
    return tx.final(timeoutMs);
  }

  /** Teams transfers the call (M5.24): REFER toward the SBC; NOTIFYs arrive in `requests`. */
  refer(opts: ReferOptions): Promise<SipResponse> {
    return sendRefer(this.core, this.requireDialog(), opts);
  }

  /** A re-INVITE without SDP; the ACK carries the answer to the SBC's 2xx offer. */
  reinviteWithoutSdp(
    opts: InDialogOptions & { timeoutMs?: number } = {},
  ): Promise<{ res: SipResponse; ack: SipRequest }> {
    return sendDelayedReinvite(this.core, this.requireDialog(), this, opts);
  }

  /** re-INVITE with an SDP offer (default: the sim's SDP, next version); a 2xx is ACKed. */
  async reinvite(sdp?: string, opts: InDialogOptions & { timeoutMs?: number } = {}): Promise<SipResponse> {
    const d = this.requireDialog();
    this.sdpVersion += 1;
    const tx = await d.send(this.core, 'INVITE', {
      ...opts,
      body: sdp ?? this.core.sdp(this.sdpVersion),
      contentType: 'application/sdp',
    });
    const res = await tx.final(opts.timeoutMs);
    if (res.status < 300) await d.send(this.core, 'ACK', { newConnection: false }, tx.request.cseq.seq);
    return res;
  }

  onRequest(req: SipRequest, conn: SipConnection): void {
    this.requests.push(req);
    if (req.method === 'ACK') return;
    answerInDialog(
      this.core,
      req,
      conn,
      this,
      () => this.setState('terminated'),
      () => {},
    );
  }
}
