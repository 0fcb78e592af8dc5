// The B2BUA: every call is two independent legs (RFC 3261 §12 dialogs, own Call-IDs, tags, CSeqs, Vias, Contacts).
// A new INVITE walks one way: classify (who sent it, which tenant) → route (RoutePolicy or Teams) → outbound
// attempts with failover → relay provisional and final answers → dialogs → in-dialog relay → BYE → CDR.
// Nothing crosses tenants: the tenant is fixed when the call is classified and every later step uses it.
import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { TenantConfig, TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { NonceIssuer } from '../auth/digest.ts';
import type { Disposition } from '../cdr/record.ts';
import type { CdrSink } from '../cdr/sinks.ts';
import type { CompiledConfig } from '../config/compiled.ts';
import type { Logger } from '../log.ts';
import { cleanNumber, toE164 } from '../numbers/e164.ts';
import type { CallHandler } from '../sbc/core.ts';
import {
  buildRequest,
  buildResponse,
  getHeader,
  headerKey,
  type RawHeader,
  type RequestSpec,
  type SipRequest,
  type SipResponse,
} from '../sip/message/index.ts';
import type { Peer, SipStack } from '../sip/stack.ts';
import {
  type ClientTransaction,
  generateBranch,
  type ServerInviteTransaction,
  type ServerTransaction,
} from '../sip/transaction/index.ts';
import type { CredentialLookup } from '../trunks/credentials.ts';
import type { AttemptTarget, Call, Leg, LegName } from './call.ts';
import { buildCdr, type CallEnd } from './cdr.ts';
import { acceptRemoteCSeq, nextRequest, uacDialog, uasDialog } from './dialog.ts';
import { authenticateCarrier } from './inbound-auth.ts';
import { LegSender } from './legs.ts';
import { type MediaAnchor, type MediaCallRef, passthroughMedia } from './media.ts';
import { authenticatedRetry } from './outbound-auth.ts';
import { relayStatus, shouldFailover } from './outcome.ts';
import {
  applyTrunkRules,
  CARRIER_ALLOW,
  carrierContact,
  carrierNumber,
  PASS_THROUGH_HEADERS,
  PRODUCT,
  TEAMS_ALLOW,
  teamsContact,
  translate,
  trunkPlan,
  VERSION,
} from './sides.ts';

/** The live configuration as the B2BUA reads it: the compiled snapshot. */
export type RoutingView = CompiledConfig;

export interface TeamsTarget {
  host: string;
  port: number;
}

export interface B2buaOptions {
  stack: SipStack;
  routing: () => RoutingView | undefined;
  teamsTargets: TeamsTarget[];
  teamsSources: string[];
  hosts: Map<string, string>;
  cdr: CdrSink;
  logger: Logger;
  podName: string;
  media?: MediaAnchor;
  /** Give up ringing after this long (CANCEL outbound, 480 inbound). */
  noAnswerMs?: number;
  /** Wait this long for any answer from Teams before trying the next proxy (the Teams failover timer). */
  teamsFailoverMs?: number;
  /** Refuse new calls (drain): 503 so callers fail over. */
  draining?: () => boolean;
  /** Trunk credentials (outbound challenges, inbound digest). */
  credentials?: CredentialLookup;
  /** Trunk target health: down targets are skipped. */
  health?: { isDown(trunkId: string, target: { host: string; port: number; transport: string }): boolean };
  /** Nonces for inbound digest challenges (default: a per-process secret). */
  nonces?: NonceIssuer;
}

const T1 = 500;
const T2 = 4000;

function token(bytes = 8): string {
  return randomBytes(bytes).toString('base64url');
}

function isTeamsSide(t: AttemptTarget): boolean {
  return t.side === 'teams';
}

export class B2bua implements CallHandler {
  #o: B2buaOptions;
  #media: MediaAnchor;
  #teamsSources = new BlockList();
  /** (Call-ID, our tag) → call and which leg it is. */
  #byDialog = new Map<string, { call: Call; leg: LegName }>();
  #byInviteTxn = new Map<ServerTransaction<Peer>, Call>();
  #calls = new Set<Call>();
  #nonces: NonceIssuer;
  #legs: LegSender;
  readonly counters = { attempts: 0, answered: 0, rejected: 0, ended: 0, cdrFailures: 0 };

  constructor(options: B2buaOptions) {
    this.#o = options;
    this.#media = options.media ?? passthroughMedia;
    this.#nonces = options.nonces ?? new NonceIssuer();
    this.#legs = new LegSender(options.stack, options.hosts);
    for (const cidr of options.teamsSources) {
      const [net, bits] = cidr.split('/');
      const family = isIP(net ?? '') === 6 ? 'ipv6' : 'ipv4';
      this.#teamsSources.addSubnet(net!, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family);
    }
  }

  activeCalls(): Call[] {
    return [...this.#calls];
  }

  activeCallsByTenant(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.#calls) out[c.tenant.id] = (out[c.tenant.id] ?? 0) + 1;
    return out;
  }

  // ---- classification ------------------------------------------------------------------------------------

  #fromTeams(peer: Peer): boolean {
    const ip = peer.sourceAddress ?? peer.address;
    return peer.transport === 'TLS' && this.#teamsSources.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
  }

  // ---- new calls -----------------------------------------------------------------------------------------

  onInvite(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): void {
    const reject = (status: number, reason: string, extra: RawHeader[] = []) => {
      this.counters.rejected++;
      this.#o.logger.info(
        { callId: req.callId, source: peer.sourceAddress, transport: peer.transport, status, reason },
        'call refused before a tenant was known',
      );
      txn.respond(buildResponse(req, status, reason, { toTag: token(), headers: extra }));
    };
    const routing = this.#o.routing();
    if (this.#o.draining?.()) reject(503, 'Draining', [{ name: 'Retry-After', value: '5' }]);
    else if (!routing) reject(503, 'No Configuration Loaded', [{ name: 'Retry-After', value: '5' }]);
    // Teams accepts no delayed offer (M5.5) and media anchoring needs an offer: refuse clearly.
    else if (req.body.length === 0) reject(488, 'SDP Offer Required');
    else if (this.#fromTeams(peer)) this.#inviteFromTeams(txn, req, peer, routing, reject);
    else this.#inviteFromCarrier(txn, req, peer, routing, reject);
  }

  #inviteFromTeams(
    txn: ServerTransaction<Peer>,
    req: SipRequest,
    peer: Peer,
    routing: RoutingView,
    reject: (s: number, r: string, h?: RawHeader[]) => void,
  ): void {
    // H3.7: the tenant is the Request-URI host (the derived trunk FQDN Teams dialled).
    const tenant = routing.tenantByFqdn(req.uri.host);
    if (!tenant) return reject(404, 'Unknown Trunk FQDN');
    const callee = toE164(req.uri.user ?? '', { countryCode: '1' }) ?? '';
    const caller = cleanNumber(req.from.uri.user ?? '') || 'anonymous';
    // From here the tenant is known: every outcome, refusals included, is a call attempt with a CDR.
    const call = this.#newCall(txn, req, peer, tenant, 'teams-to-carrier', caller, callee, {
      side: 'teams',
      contact: teamsContact(callee, req.uri.host.toLowerCase(), peer.localPort ?? 5061),
      transport: 'TLS',
    });
    if (tenant.suspended) return this.#refuse(call, 403, 'Tenant Suspended', 'rejected');
    if (!callee) return this.#refuse(call, 484, 'Address Incomplete', 'rejected');
    const decision = routing.route(tenant.id, callee, { source: caller });
    if (!decision) return this.#refuse(call, 404, 'Unknown Tenant', 'not-found');
    const action = decision.action;
    if (action.type === 'Block') {
      return this.#refuse(call, action.sipCode, action.reason || 'Blocked By Route Policy', 'blocked');
    }
    const targets: AttemptTarget[] = [];
    for (const trunk of action.trunks) {
      if (!routing.tenantMayUseTrunk(tenant.id, trunk.id)) continue; // defence in depth: the renderer checked too
      for (const t of trunk.targets) {
        if (this.#o.health?.isDown(trunk.id, t)) continue; // OPTIONS says it is down: skip until it is up again
        targets.push({ side: 'carrier', host: t.host, port: t.port, transport: t.transport, trunk });
      }
    }
    if (targets.length === 0) return this.#refuse(call, 503, 'No Usable Trunk', 'failed');
    call.routeDestination = translate(callee, action.translate);
    call.targets = targets;
    this.#nextAttempt(call);
  }

  #inviteFromCarrier(
    txn: ServerTransaction<Peer>,
    req: SipRequest,
    peer: Peer,
    routing: RoutingView,
    reject: (s: number, r: string, h?: RawHeader[]) => void,
  ): void {
    let trunks = routing.trunksForSource(peer.sourceAddress ?? peer.address);
    const open = trunks.filter((t) => !t.inbound?.digest);
    if (open.length > 0) trunks = open;
    else {
      // No trunk recognises the source on its own: digest trunks (those matching the source, else any) may.
      const digest = trunks.length > 0 ? trunks : routing.trunks.filter((t) => t.inbound?.digest);
      if (digest.length === 0) return reject(403, 'Source Not Allowed');
      const auth = authenticateCarrier(
        req,
        digest,
        this.#o.credentials,
        this.#nonces,
        routing.baseDomain ?? 'switchboard',
      );
      if (auth.kind === 'challenge') {
        return reject(407, 'Proxy Authentication Required', [{ name: 'Proxy-Authenticate', value: auth.header }]);
      }
      if (auth.kind === 'denied') return reject(403, 'Forbidden');
      trunks = [auth.trunk];
    }
    // The called number decides the tenant (its `numbers`); the trunk must be dedicated to or shared with it.
    let tenant: TenantConfig | undefined;
    let trunk: TrunkConfig | undefined;
    let callee = '';
    for (const t of trunks) {
      const dialled = applyTrunkRules(t, 'Inbound', cleanNumber(req.uri.user ?? ''));
      const e164 = toE164(dialled, trunkPlan(t));
      if (!e164) continue;
      const owner = routing.tenantForNumber(e164);
      if (owner && routing.tenantMayUseTrunk(owner.id, t.id)) {
        tenant = owner;
        trunk = t;
        callee = e164;
        break;
      }
    }
    if (!tenant || !trunk) return reject(404, 'Number Not Served On This Trunk');
    const fromUser = cleanNumber(req.from.uri.user ?? '');
    const caller = (fromUser && toE164(applyTrunkRules(trunk, 'Inbound', fromUser), trunkPlan(trunk))) || 'anonymous';
    const transport = peer.transport;
    const call = this.#newCall(txn, req, peer, tenant, 'carrier-to-teams', caller, callee, {
      side: 'carrier',
      contact: carrierContact(callee, this.#o.stack.sentBy(peer), transport),
      transport,
    });
    call.trunk = trunk;
    if (tenant.suspended) return this.#refuse(call, 403, 'Tenant Suspended', 'rejected');
    call.routeDestination = callee;
    call.targets = this.#o.teamsTargets.map((t) => ({ side: 'teams', host: t.host, port: t.port, transport: 'TLS' }));
    if (call.targets.length === 0) return this.#finishInbound(call, 503, 'No Teams Targets');
    this.#nextAttempt(call);
  }

  #newCall(
    txn: ServerTransaction<Peer>,
    req: SipRequest,
    peer: Peer,
    tenant: TenantConfig,
    direction: Call['direction'],
    caller: string,
    callee: string,
    leg: Omit<Leg, 'dialog'>,
  ): Call {
    const toTag = token();
    const call: Call = {
      id: token(12),
      tenant,
      direction,
      state: 'routing',
      caller,
      callee,
      inbound: {
        req,
        txn,
        peer,
        toTag,
        leg: {
          ...leg,
          dialog: uasDialog(req, toTag, peer.transport === 'TLS'),
          ...(peer.connectionId ? { connectionId: peer.connectionId } : {}),
        },
      },
      targets: [],
      attempt: 0,
      routeDestination: callee,
      times: { setup: Date.now() },
      timers: new Set(),
      cancelled: false,
    };
    this.#calls.add(call);
    this.#byInviteTxn.set(txn, call);
    this.#byDialog.set(`${req.callId}|${toTag}`, { call, leg: 'inbound' });
    this.counters.attempts++;
    this.#log(call).info({ direction, caller, callee }, 'call setup');
    return call;
  }

  #log(call: Call): Logger {
    return this.#o.logger.child({ tenant: call.tenant.id, callId: call.inbound.req.callId, call: call.id });
  }

  // ---- outbound attempts ---------------------------------------------------------------------------------

  #nextAttempt(call: Call): void {
    if (call.cancelled || call.state === 'ended') return;
    const target = call.targets[call.attempt];
    if (!target) {
      const last = call.lastStatus ?? { status: 503, reason: 'All Targets Failed' };
      return this.#finishInbound(call, relayStatus(last.status), last.reason);
    }
    call.attempt++;
    if (target.trunk) call.trunk = target.trunk;
    this.#sendInvite(call, target).catch((err: unknown) => {
      this.#log(call).warn({ err: String(err), target: `${target.host}:${target.port}` }, 'attempt failed to start');
      const sipStatus = (err as { sipStatus?: number }).sipStatus;
      if (sipStatus === 488) {
        // The media anchor found no acceptable media: no other target would do better.
        return this.#finishInbound(call, 488, 'Not Acceptable Here');
      }
      call.lastStatus = { status: 503, reason: 'Target Unreachable' };
      this.#nextAttempt(call);
    });
  }

  async #sendInvite(call: Call, target: AttemptTarget): Promise<void> {
    const address = await this.#legs.resolve(target.host);
    const peer: Peer = {
      transport: target.transport,
      address,
      port: target.port,
      ...(isTeamsSide(target) ? { servername: target.host, localHostname: call.tenant.fqdn } : {}),
    };
    const inReq = call.inbound.req;
    const callId = `${token(12)}@${PRODUCT.toLowerCase()}`;
    const fromTag = token();
    const teams = isTeamsSide(target);
    const sentBy = this.#o.stack.sentBy(peer, teams ? call.tenant.fqdn : undefined);
    let uri: string;
    let from: string;
    let to: string;
    let contact: string;
    const extra: RawHeader[] = [];
    if (teams) {
      // M5.1–M5.4: E.164 with "+", user=phone, the tenant FQDN in Contact with port and transport=tls.
      const tlsPort = Number(sentBy.slice(sentBy.lastIndexOf(':') + 1));
      uri = `sip:${call.routeDestination}@${target.host};user=phone`;
      to = `<sip:${call.routeDestination}@${target.host};user=phone>`;
      from = `<sip:${call.caller}@${call.tenant.fqdn};user=phone>;tag=${fromTag}`;
      contact = teamsContact(call.caller, call.tenant.fqdn, tlsPort);
      extra.push({ name: 'Allow', value: TEAMS_ALLOW });
    } else {
      const trunk = target.trunk!;
      const callee = carrierNumber(trunk, call.routeDestination);
      const caller = carrierNumber(trunk, call.caller);
      const hostPort = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
      uri = `sip:${callee}@${hostPort};user=phone`;
      to = `<sip:${callee}@${hostPort};user=phone>`;
      from = `<sip:${caller}@${sentBy.replace(/:\d+$/, '')}>;tag=${fromTag}`;
      contact = carrierContact(caller, sentBy, target.transport);
      extra.push({ name: 'Allow', value: CARRIER_ALLOW }, { name: 'User-Agent', value: `${PRODUCT}/${VERSION}` });
    }
    for (const h of inReq.headers) if (PASS_THROUGH_HEADERS.has(headerKey(h.name))) extra.push(h);
    const body = await this.#media.offer(this.#mediaRef(call, 'inbound'), inReq.body);
    if (call.cancelled || call.state === 'ended') return;
    const spec: RequestSpec = {
      method: 'INVITE',
      uri,
      vias: [`SIP/2.0/${target.transport} ${sentBy};branch=${generateBranch()};rport`],
      from,
      to,
      callId,
      cseq: 1,
      // RFC 3261 §16.6 step 3: one hop less than we got (the policy answered 483 to a request that had none left).
      maxForwards: Math.max(0, (inReq.maxForwards ?? 70) - 1),
      contacts: [contact],
      headers: extra,
      ...(body.length ? { contentType: getHeader(inReq, 'Content-Type') ?? 'application/sdp', body } : {}),
    };
    const req = buildRequest(spec);
    const leg: Leg = { side: target.side, contact, transport: target.transport, viaHost: sentBy };
    if (teams) leg.servername = target.host;
    const attemptNo = call.attempt;
    const txn = this.#startInviteTxn(call, req, peer, target);
    call.outbound = { req, spec, attemptNo, txn, target, leg, provisional: false };
    call.state = call.state === 'routing' ? 'proceeding' : call.state;
    this.#armTimer(call, this.#o.noAnswerMs ?? 180_000, () => {
      if (call.outbound?.attemptNo === attemptNo) this.#noAnswer(call, call.outbound.txn);
    });
    if (teams && this.#o.teamsFailoverMs) {
      this.#armTimer(call, this.#o.teamsFailoverMs, () => {
        if (call.outbound?.txn === txn && !call.outbound.provisional && call.state !== 'answered') {
          this.#abandonAttempt(call, txn);
          call.lastStatus = { status: 408, reason: 'Teams Failover Timer Expired' };
          this.#nextAttempt(call);
        }
      });
    }
  }

  #startInviteTxn(call: Call, req: SipRequest, peer: Peer, target: AttemptTarget): ClientTransaction<Peer> {
    const txn: ClientTransaction<Peer> = this.#o.stack.sendRequest(req, peer, {
      onProvisional: (res) => this.#onOutboundProvisional(call, txn, res),
      onFinal: (res) => this.#onOutboundFinal(call, txn, res),
      onTimeout: () => this.#onOutboundFailure(call, txn, 408, 'Request Timeout'),
      onTransportError: (err) => {
        this.#log(call).warn({ err: String(err), target: `${target.host}:${target.port}` }, 'transport error');
        this.#onOutboundFailure(call, txn, 503, 'Service Unavailable');
      },
    });
    return txn;
  }

  /**
   * A carrier challenged our INVITE (401/407): answer with the trunk's credentials once per attempt — same Call-ID
   * and tags, CSeq + 1, a new branch (RFC 3261 §22.2). False when we cannot (no credentials, not a digest challenge).
   */
  #retryWithCredentials(call: Call, txn: ClientTransaction<Peer>, res: SipResponse): boolean {
    const out = call.outbound;
    const auth = out?.target.trunk?.outbound.auth;
    if (!out || out.txn !== txn || out.authTried || !auth || call.cancelled || call.state === 'ended') return false;
    const creds = this.#o.credentials?.get(auth.secret);
    const retry = creds ? authenticatedRetry(out.spec, out.req, res, creds) : undefined;
    if (!retry) {
      this.#log(call).warn({ status: res.status, credentials: !!creds }, 'carrier challenge we cannot answer');
      return false;
    }
    const spec = retry.spec;
    const req = buildRequest(spec);
    out.req = req;
    out.spec = spec;
    out.authTried = true;
    out.provisional = false;
    out.txn = this.#startInviteTxn(call, req, txn.target, out.target);
    this.#log(call).info({ status: res.status, realm: retry.realm }, 'answering the carrier challenge');
    return true;
  }

  #onOutboundProvisional(call: Call, txn: ClientTransaction<Peer>, res: SipResponse): void {
    const out = call.outbound;
    if (!out || out.txn !== txn) return;
    out.provisional = true; // any provisional, 100 included, allows a CANCEL (RFC 3261 §9.1)
    if (out.cancelWhenProvisional) {
      out.cancelWhenProvisional = false;
      return this.#sendCancel(call);
    }
    if (res.status === 100) return;
    if (call.cancelled || call.state === 'ended' || call.state === 'answered') return;
    if (res.to.params.get('tag')) out.leg.dialog = uacDialog(out.req, res, out.target.transport === 'TLS');
    call.state = 'early';
    call.times.ring ??= Date.now();
    this.#relayProvisional(call, res).catch((err: unknown) => this.#mediaFailed(call, err));
  }

  async #relayProvisional(call: Call, res: SipResponse): Promise<void> {
    let body = res.body;
    if (body.length) body = await this.#media.answer(this.#mediaRef(call, 'outbound'), body);
    if (call.state !== 'early') return;
    const inbound = call.inbound;
    inbound.txn.respond(
      buildResponse(inbound.req, res.status, res.reason, {
        toTag: inbound.toTag,
        headers: this.#inboundResponseHeaders(call),
        ...(body.length ? { contentType: getHeader(res, 'Content-Type') ?? 'application/sdp', body } : {}),
      }),
    );
  }

  #inboundResponseHeaders(call: Call): RawHeader[] {
    const leg = call.inbound.leg;
    const headers: RawHeader[] = [{ name: 'Contact', value: leg.contact }];
    headers.push({ name: 'Allow', value: leg.side === 'teams' ? TEAMS_ALLOW : CARRIER_ALLOW });
    return headers;
  }

  #onOutboundFinal(call: Call, txn: ClientTransaction<Peer>, res: SipResponse): void {
    const out = call.outbound;
    if (res.status >= 200 && res.status < 300) {
      // A 2xx for an attempt we gave up on, a second fork, or a call already over: ACK it and hang it up.
      if (!out || out.txn !== txn || call.cancelled || call.state === 'ended' || call.state === 'answered') {
        if (out?.txn === txn && (call.state === 'answered' || call.state === 'confirmed')) {
          if (out.leg.dialog?.remoteTag === (res.to.params.get('tag') ?? '')) this.#ackOutbound(call, res, txn);
          return; // 2xx retransmission of the answer we took: ACK again
        }
        return this.#ackAndBye(txn.request, res, txn.target);
      }
      out.leg.dialog = uacDialog(out.req, res, out.target.transport === 'TLS');
      this.#ackOutbound(call, res, txn);
      call.state = 'answered';
      call.times.answer = Date.now();
      this.counters.answered++;
      this.#clearTimers(call);
      this.#byDialog.set(`${out.req.callId}|${out.leg.dialog.localTag}`, { call, leg: 'outbound' });
      this.#relayAnswer(call, res).catch((err: unknown) => this.#mediaFailed(call, err));
      return;
    }
    if (!out || out.txn !== txn) return;
    if ((res.status === 401 || res.status === 407) && this.#retryWithCredentials(call, txn, res)) return;
    this.#onOutboundFailure(call, txn, res.status, res.reason);
  }

  #onOutboundFailure(call: Call, txn: ClientTransaction<Peer>, status: number, reason: string): void {
    if (
      call.outbound?.txn !== txn ||
      call.state === 'ended' ||
      call.state === 'answered' ||
      call.state === 'confirmed'
    ) {
      return;
    }
    call.lastStatus = { status, reason };
    this.#clearTimers(call);
    if (call.cancelled) return; // the caller's CANCEL already ended the inbound side
    this.#log(call).info({ status, attempt: call.attempt }, 'outbound attempt failed');
    if (shouldFailover(status) && call.attempt < call.targets.length) return this.#nextAttempt(call);
    this.#finishInbound(call, relayStatus(status), reason);
  }

  async #relayAnswer(call: Call, res: SipResponse): Promise<void> {
    let body = res.body;
    if (body.length) body = await this.#media.answer(this.#mediaRef(call, 'outbound'), body);
    if (call.state !== 'answered') return;
    const inbound = call.inbound;
    const ok = buildResponse(inbound.req, res.status, res.reason, {
      toTag: inbound.toTag,
      headers: this.#inboundResponseHeaders(call),
      ...(body.length ? { contentType: getHeader(res, 'Content-Type') ?? 'application/sdp', body } : {}),
    });
    inbound.final2xx = ok;
    inbound.txn.respond(ok);
    // RFC 3261 §13.3.1.4: the UAS core retransmits the 2xx until the ACK arrives; give up after 64·T1.
    const reliable = inbound.peer.transport !== 'UDP';
    let interval = T1;
    const resend = () => {
      if (call.state !== 'answered') return;
      (inbound.txn as ServerInviteTransaction<Peer>).respond(ok);
      interval = Math.min(interval * 2, T2);
      this.#armTimer(call, interval, resend);
    };
    if (!reliable) this.#armTimer(call, interval, resend);
    this.#armTimer(call, 64 * T1, () => {
      if (call.state !== 'answered') return;
      this.#log(call).warn('no ACK for our 2xx: ending the call');
      this.#byeLeg(call, 'inbound');
      this.#byeLeg(call, 'outbound');
      this.#endCall(call, { status: 408, reason: 'No ACK', endedBy: 'sbc' });
    });
  }

  #ackOutbound(call: Call, res: SipResponse, txn: ClientTransaction<Peer>): void {
    const leg = call.outbound?.leg;
    if (!leg?.dialog) return;
    const { lines } = nextRequest(leg.dialog, 'ACK', res.cseq.seq);
    const ack = this.#legs.request(leg, 'ACK', lines);
    this.#legs
      .sendStateless(leg, ack, txn.target)
      .catch((err: unknown) => this.#log(call).warn({ err: String(err) }, 'ACK failed'));
  }

  /** ACK and BYE a 2xx we do not want (late answer after CANCEL, or a second fork). */
  #ackAndBye(sent: SipRequest, res: SipResponse, target: Peer): void {
    const dialog = uacDialog(sent, res, target.transport === 'TLS');
    const leg: Leg = {
      side: 'carrier',
      dialog,
      contact: getHeader(sent, 'Contact') ?? '<sip:sbc@invalid>',
      transport: target.transport,
      viaHost: sent.vias[0] ? `${sent.vias[0].host}${sent.vias[0].port ? `:${sent.vias[0].port}` : ''}` : '',
      ...(target.servername ? { servername: target.servername } : {}),
    };
    const ack = this.#legs.request(leg, 'ACK', nextRequest(dialog, 'ACK', res.cseq.seq).lines);
    const { lines } = nextRequest(dialog, 'BYE');
    const bye = this.#legs.request(leg, 'BYE', lines);
    void this.#legs
      .sendStateless(leg, ack, target)
      .then(() => this.#legs.target(leg, target))
      .then((peer) =>
        this.#o.stack.sendRequest(bye, peer, { onFinal: () => {}, onTimeout: () => {}, onTransportError: () => {} }),
      )
      .catch(() => {});
  }

  #noAnswer(call: Call, txn: ClientTransaction<Peer>): void {
    if (
      call.outbound?.txn !== txn ||
      call.state === 'answered' ||
      call.state === 'ended' ||
      call.state === 'confirmed'
    ) {
      return;
    }
    this.#abandonAttempt(call, txn);
    this.#finishInbound(call, 480, 'No Answer');
  }

  /** Stop waiting on an outbound INVITE: CANCEL it (after a provisional, RFC 3261 §9.1) and forget it. */
  #abandonAttempt(call: Call, txn: ClientTransaction<Peer>): void {
    const out = call.outbound;
    if (!out || out.txn !== txn) return;
    if (out.provisional) this.#sendCancel(call);
    else out.cancelWhenProvisional = true;
  }

  #sendCancel(call: Call): void {
    const out = call.outbound;
    if (!out) return;
    const inv = out.req;
    const cancel = buildRequest({
      method: 'CANCEL',
      uri: inv.uriText,
      vias: [inv.headers.find((h) => headerKey(h.name) === 'via')!.value],
      from: getHeader(inv, 'From')!,
      to: getHeader(inv, 'To')!,
      callId: inv.callId,
      cseq: { seq: inv.cseq.seq, method: 'CANCEL' },
      maxForwards: 70,
      headers: [{ name: 'Reason', value: 'SIP;cause=487;text="Request Terminated"' }],
    });
    this.#o.stack.sendRequest(cancel, out.txn.target, {
      onFinal: () => {},
      onTimeout: () => {},
      onTransportError: () => {},
    });
  }

  /** Refuse a call whose tenant is known: answered like any failure, and its CDR names the reason. */
  #refuse(call: Call, status: number, reason: string, disposition: Disposition): void {
    call.disposition = disposition;
    this.counters.rejected++;
    this.#finishInbound(call, status, reason);
  }

  /** Answer the inbound INVITE with a final failure and end the call. */
  #finishInbound(call: Call, status: number, reason: string): void {
    if (call.state === 'ended') return;
    const inbound = call.inbound;
    inbound.txn.respond(buildResponse(inbound.req, status, reason, { toTag: inbound.toTag }));
    this.#endCall(call, { status, reason, endedBy: status === 487 ? 'caller' : status === 480 ? 'sbc' : 'callee' });
  }

  // ---- CANCEL, ACK, in-dialog ----------------------------------------------------------------------------

  onCancel(txn: ServerTransaction<Peer>, req: SipRequest): void {
    const invite = this.#o.stack.transactions.findInviteForCancel(req);
    const call = invite ? this.#byInviteTxn.get(invite) : undefined;
    if (!invite || !call) {
      txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    txn.respond(buildResponse(req, 200, 'OK'));
    if (call.state === 'answered' || call.state === 'confirmed' || call.state === 'ended') return;
    call.cancelled = true;
    const out = call.outbound;
    if (out) {
      if (out.provisional) this.#sendCancel(call);
      else out.cancelWhenProvisional = true;
    }
    this.#finishInbound(call, 487, 'Request Terminated');
  }

  onAck(ack: SipRequest): void {
    const entry = this.#byDialog.get(`${ack.callId}|${ack.to.params.get('tag') ?? ''}`);
    if (!entry) return;
    const { call } = entry;
    if (entry.leg === 'inbound' && call.state === 'answered' && ack.cseq.seq === call.inbound.req.cseq.seq) {
      call.state = 'confirmed';
      this.#clearTimers(call);
      this.#log(call).info('call confirmed');
    }
  }

  onInDialog(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): boolean {
    const entry = this.#byDialog.get(`${req.callId}|${req.to.params.get('tag') ?? ''}`);
    if (!entry) return false;
    const { call, leg: fromName } = entry;
    const from = fromName === 'inbound' ? call.inbound.leg : call.outbound?.leg;
    if (!from?.dialog) return false;
    const checked = acceptRemoteCSeq(from.dialog, req);
    if (checked.check !== 'ok') {
      txn.respond(buildResponse(req, 500, 'CSeq Out Of Order'));
      return true;
    }
    from.dialog = checked.dialog;
    if (peer.connectionId && from.side === 'teams') from.connectionId = peer.connectionId;
    if (req.method === 'BYE') {
      txn.respond(buildResponse(req, 200, 'OK'));
      const other = fromName === 'inbound' ? 'outbound' : 'inbound';
      if (call.state === 'answered' || call.state === 'confirmed') this.#byeLeg(call, other);
      else if (call.outbound) this.#abandonAttempt(call, call.outbound.txn);
      this.#endCall(call, {
        status: 200,
        reason: 'OK',
        endedBy: fromName === 'inbound' ? 'caller' : 'callee',
        byeReason: getHeader(req, 'Reason'),
      });
      return true;
    }
    if (req.method === 'REFER') {
      txn.respond(buildResponse(req, 501, 'REFER Not Supported Yet'));
      return true;
    }
    if (call.state !== 'confirmed' && call.state !== 'answered') {
      txn.respond(buildResponse(req, 491, 'Request Pending'));
      return true;
    }
    this.#relayInDialog(call, fromName, txn, req).catch((err: unknown) => {
      this.#log(call).warn({ err: String(err), method: req.method }, 'in-dialog relay failed');
      txn.respond(buildResponse(req, (err as { sipStatus?: number }).sipStatus ?? 500, 'Relay Failed'));
    });
    return true;
  }

  async #relayInDialog(call: Call, fromName: LegName, txn: ServerTransaction<Peer>, req: SipRequest): Promise<void> {
    const toName: LegName = fromName === 'inbound' ? 'outbound' : 'inbound';
    const to = toName === 'inbound' ? call.inbound.leg : call.outbound?.leg;
    const from = fromName === 'inbound' ? call.inbound.leg : call.outbound!.leg;
    if (!to?.dialog) {
      txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    // Teams takes no UPDATE (M5.20): an offer in an UPDATE goes to Teams as a re-INVITE; one without SDP (a session
    // refresh) is answered here.
    let method = req.method;
    if (method === 'UPDATE' && to.side === 'teams') {
      if (req.body.length === 0) {
        txn.respond(buildResponse(req, 200, 'OK', [{ name: 'Contact', value: from.contact }]));
        return;
      }
      method = 'INVITE';
    }
    if (method === 'INVITE' && to.inviteInProgress) {
      txn.respond(buildResponse(req, 491, 'Request Pending'));
      return;
    }
    const next = nextRequest(to.dialog, method);
    to.dialog = next.dialog;
    let body = req.body;
    const isOffer = method === 'INVITE' || method === 'UPDATE';
    if (body.length && isOffer) body = await this.#media.offer(this.#mediaRef(call, fromName), body);
    const extra: RawHeader[] = [];
    for (const h of req.headers) if (PASS_THROUGH_HEADERS.has(headerKey(h.name))) extra.push(h);
    const out = this.#legs.request(to, method, next.lines, {
      headers: extra,
      ...(body.length ? { contentType: getHeader(req, 'Content-Type') ?? 'application/sdp', body } : {}),
      contact: isOffer || (to.side === 'teams' && method === 'OPTIONS'), // O4.2: Teams wants a Contact on OPTIONS
      maxForwards: Math.max(0, (req.maxForwards ?? 70) - 1),
    });
    if (method === 'INVITE') to.inviteInProgress = true;
    let target: Peer;
    try {
      target = await this.#legs.target(to);
    } catch {
      to.inviteInProgress = false;
      txn.respond(buildResponse(req, 503, 'Peer Unreachable'));
      return;
    }
    const reply = async (res: SipResponse) => {
      if (method === 'INVITE') to.inviteInProgress = false;
      let resBody = res.body;
      if (resBody.length && isOffer && res.status < 300) {
        resBody = await this.#media.answer(this.#mediaRef(call, toName), resBody);
      }
      if (method === 'INVITE' && res.status >= 200 && res.status < 300) {
        const ack = this.#legs.request(to, 'ACK', nextRequest(to.dialog!, 'ACK', res.cseq.seq).lines);
        this.#legs.sendStateless(to, ack, target).catch(() => {});
      }
      const headers: RawHeader[] = res.status < 300 && isOffer ? [{ name: 'Contact', value: from.contact }] : [];
      txn.respond(
        buildResponse(req, res.status, res.reason, {
          headers,
          ...(resBody.length
            ? { contentType: getHeader(res, 'Content-Type') ?? 'application/sdp', body: resBody }
            : {}),
        }),
      );
    };
    this.#o.stack.sendRequest(out, target, {
      onFinal: (res) => void reply(res),
      onTimeout: () => {
        to.inviteInProgress = false;
        txn.respond(buildResponse(req, 408, 'Request Timeout'));
      },
      onTransportError: () => {
        to.inviteInProgress = false;
        txn.respond(buildResponse(req, 503, 'Service Unavailable'));
      },
    });
  }

  #byeLeg(call: Call, name: LegName): void {
    const leg = name === 'inbound' ? call.inbound.leg : call.outbound?.leg;
    if (!leg?.dialog) return;
    const next = nextRequest(leg.dialog, 'BYE');
    leg.dialog = next.dialog;
    const bye = this.#legs.request(leg, 'BYE', next.lines);
    this.#legs
      .target(leg)
      .then((target) =>
        this.#o.stack.sendRequest(bye, target, { onFinal: () => {}, onTimeout: () => {}, onTransportError: () => {} }),
      )
      .catch((err: unknown) => this.#log(call).warn({ err: String(err) }, 'BYE could not be sent'));
  }

  // ---- timers and the end of a call ----------------------------------------------------------------------

  #armTimer(call: Call, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      call.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    call.timers.add(t);
  }

  #clearTimers(call: Call): void {
    for (const t of call.timers) clearTimeout(t);
    call.timers.clear();
  }

  /** An answer could not be anchored (media pod refused or unreachable): end the call cleanly on both sides. */
  #mediaFailed(call: Call, err: unknown): void {
    if (call.state === 'ended') return;
    this.#log(call).error({ err: String(err) }, 'media anchoring failed');
    const status = (err as { sipStatus?: number }).sipStatus ?? 500;
    if (call.state === 'answered' || call.state === 'confirmed') {
      this.#byeLeg(call, 'outbound');
      if (call.state === 'confirmed') this.#byeLeg(call, 'inbound');
    }
    if (call.outbound && call.state !== 'answered' && call.state !== 'confirmed')
      this.#abandonAttempt(call, call.outbound.txn);
    this.#finishInbound(call, status === 488 ? 488 : 500, 'Media Anchoring Failed');
  }

  #mediaRef(call: Call, from: LegName): MediaCallRef {
    const outbound = call.outbound?.leg.side ?? call.targets[0]?.side ?? 'carrier';
    return {
      callId: call.id,
      tenant: call.tenant.id,
      from,
      sides: { inbound: call.inbound.leg.side, outbound },
      carrierSrtp: call.trunk?.media.srtp === 'Required',
    };
  }

  #endCall(call: Call, how: CallEnd): void {
    if (call.state === 'ended') return;
    call.state = 'ended';
    call.times.end = Date.now();
    this.#clearTimers(call);
    this.#calls.delete(call);
    this.#byInviteTxn.delete(call.inbound.txn);
    this.#byDialog.delete(`${call.inbound.req.callId}|${call.inbound.toTag}`);
    const out = call.outbound;
    if (out?.leg.dialog) this.#byDialog.delete(`${out.req.callId}|${out.leg.dialog.localTag}`);
    this.counters.ended++;
    const cdr = buildCdr(call, how, this.#o.podName);
    this.#log(call).info({ disposition: cdr.disposition, sipCode: cdr.sipCode, talkMs: cdr.talkMs }, 'call ended');
    // The media figures come with the release; a media pod that does not answer does not hold the CDR back.
    this.#media
      .release(call.id)
      .catch((err: unknown) => {
        this.#log(call).warn({ err: String(err) }, 'media release failed');
        return undefined;
      })
      .then((media) => this.#o.cdr.write(media ? { ...cdr, media } : cdr))
      .catch((err: unknown) => {
        this.counters.cdrFailures++;
        this.#log(call).error({ err: String(err), cdrId: cdr.id }, 'CDR write failed');
      });
  }

  /** Teams-facing OPTIONS answers carry the Contact Teams pinged (O4.5). */
  optionsHeaders(req: SipRequest, peer: Peer): RawHeader[] {
    if (!this.#fromTeams(peer)) return [];
    const host = req.uri.host.toLowerCase();
    return [{ name: 'Contact', value: `<sip:${host}:${peer.localPort ?? 5061};transport=tls>` }];
  }
}
