// The B2BUA: every call is two independent legs (RFC 3261 §12 dialogs, own Call-IDs, tags, CSeqs, Vias, Contacts).
// A new INVITE walks one way: classify (who sent it, which tenant) → route (RoutePolicy or Teams) → outbound
// attempts with failover → relay provisional and final answers → dialogs → in-dialog relay → BYE → CDR.
// Nothing crosses tenants: the tenant is fixed when the call is classified and every later step uses it.
import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { TenantConfig, TrunkConfig } from '../../../crds/src/render/config-types.ts';
import type { AdmissionController } from '../admission/admission.ts';
import { NonceIssuer } from '../auth/digest.ts';
import type { Cdr, Disposition } from '../cdr/record.ts';
import type { CdrSink } from '../cdr/sinks.ts';
import type { CompiledConfig } from '../config/compiled.ts';
import type { Logger } from '../log.ts';
import { cleanNumber, toE164 } from '../numbers/e164.ts';
import type { CallHandler } from '../sbc/core.ts';
import {
  buildRequest,
  buildResponse,
  getHeader,
  getHeaders,
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
import { callToStored, storedToCall } from '../state/snapshot.ts';
import { cancelTag, type DeadlineKind, type DialogStore, type PodMessage, type StoredCall } from '../state/store.ts';
import type { SbcMetrics } from '../telemetry/metrics.ts';
import { ATTR, type CallStep, type CallTracing } from '../telemetry/tracing.ts';
import type { CredentialLookup } from '../trunks/credentials.ts';
import { type AttemptTarget, type Call, type Leg, type LegName, legOf, otherLeg } from './call.ts';
import { buildCdr, type CallEnd } from './cdr.ts';
import { acceptRemoteCSeq, nextRequest, uacDialog, uasDialog } from './dialog.ts';
import {
  callerNumber,
  diversionToHistoryInfo,
  historyInfoToDiversion,
  privacyRequested,
  screenCallerId,
} from './identity.ts';
import { authenticateCarrier } from './inbound-auth.ts';
import { type InDialogOptions, LegSender } from './legs.ts';
import { type MediaAnchor, type MediaCallRef, passthroughMedia } from './media.ts';
import { authenticatedRetry } from './outbound-auth.ts';
import { relayStatus, shouldFailover } from './outcome.ts';
import { reasonTowardCarrier, statusFromCarrier } from './q850.ts';
import { answeredCodec, sendrecvSdp, toTeamsSdp } from './sdp-policy.ts';
import {
  answerSessionTimer,
  expiryAfterMs,
  formatSessionExpires,
  parseMinSe,
  parseSessionExpires,
  refreshAfterMs,
  supportsTimer,
} from './session-timer.ts';
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
  /** Teams target health from the OPTIONS keep-alive: down targets are tried last (O4.3). */
  teamsHealth?: {
    order<T extends TeamsTarget>(targets: T[]): T[];
    reportFailure?(target: TeamsTarget, status?: number): void;
  };
  /** Name resolution (Teams FQDNs re-resolved at least every 15 min, T1.11); default: hosts map, then DNS. */
  resolve?: (host: string) => Promise<string>;
  /** Require a trusted Teams client certificate with one of these SANs from Teams-range peers (T1.6). */
  teamsVerify?: { require: boolean; sans: string[] };
  /** A 180 to Teams after this long when the carrier has sent no provisional (M5.19; 0/undefined = off). */
  teamsEarlyRingingMs?: number;
  /** RFC 4028 session timers: the interval we ask for and the smallest we accept. */
  sessionTimer?: { expiresS: number; minSeS: number };
  /** Provisional responses toward a carrier trunk (M5.10): all, only the first, or 183 turned into 180. */
  carrierProvisional?: (trunk: TrunkConfig | undefined) => 'all' | 'first' | '183-as-180';
  /** Trunk ids that are trusted with the caller's identity under Privacy: id (RFC 3325). */
  trustedTrunks?: Set<string>;
  /** Admission control (tenant and trunk limits, DESIGN.md §6); absent = every call is admitted. */
  admission?: Pick<AdmissionController, 'admit'> & Partial<Pick<AdmissionController, 'adopt'>>;
  /** Call metrics (attempts, answers, ends, outbound attempts, admission refusals). */
  metrics?: SbcMetrics;
  /** Per-call trace spans. */
  tracing?: CallTracing;
  /** Rate a CDR under its tenant's plan before it is written. */
  rate?: (cdr: Cdr, tenant: TenantConfig) => Cdr;
  /** Told of refusals that count against the source (403s, unknown sources) so repeat offenders get blocked. */
  protection?: { recordBad(source: string, reason: 'unknown-source' | 'unauthorised' | 'forbidden'): boolean };
  /** Per-call SIP trace: told of the Call-ID of every leg of a call. */
  sipTrace?: { watch(tenant: string, callId: string, initial?: SipRequest): void };
  /**
   * Dialog store (DESIGN.md §8): every call's state is written there before a response that depends on it leaves,
   * so any pod can carry on a call another set up. Shared (Redis) stores also hand deadlines to surviving pods.
   */
  store?: DialogStore;
  /** While a shared store is down: refuse new calls with 503 (default) or admit them without replication. */
  storePolicy?: 'refuse' | 'admit';
  /** A survivor acts on a deadline this long after it passed unrenewed (default 2000 ms). */
  timerGraceMs?: number;
  /** How often a pod looks for due deadlines in a shared store (default 500 ms). */
  timerPollMs?: number;
  /**
   * Orphaned calls (shared stores): each pod heartbeats every `heartbeatMs` (default graceMs / 4) and every `sweepMs`
   * (default 2 s) adopts up to `batch` (default 20) calls of pods whose heartbeat is more than `graceMs` old
   * (default 10 s): quiet calls of a dead or drained pod that no request or deadline would bring to another pod.
   */
  orphans?: { graceMs?: number; sweepMs?: number; batch?: number; heartbeatMs?: number };
}

/** Re-anchoring a call's media: attempts, the pause while the call is not ready, and after a failure. */
const REANCHOR_ATTEMPTS = 10;
const REANCHOR_WAIT_MS = 300;
const REANCHOR_RETRY_MS = 1000;

/** State read again after an await (TypeScript keeps the narrowing from before it). */
const hasEnded = (call: Call): boolean => call.state === 'ended';

/** An INVITE, or an UPDATE with a body: a new offer. */
function isOfferMethod(method: string, req: SipRequest): boolean {
  return method === 'INVITE' || (method === 'UPDATE' && req.body.length > 0);
}

/** Microsoft's SIP proxy certificate SAN (T1.6). */
export const TEAMS_SAN = 'sip.pstnhub.microsoft.com';

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
  /** Teams dialogs replaced by a transfer or Replaces: Teams still BYEs them; they no longer touch the call. */
  #retired = new Map<string, Leg>();
  readonly counters = { attempts: 0, answered: 0, rejected: 0, ended: 0, cdrFailures: 0 };
  /** The routing step of each call's trace, ended when admission starts (or the call ends). */
  #routingSteps = new WeakMap<Call, CallStep>();

  constructor(options: B2buaOptions) {
    this.#o = options;
    this.#media = options.media ?? passthroughMedia;
    this.#nonces = options.nonces ?? new NonceIssuer();
    this.#legs = new LegSender(options.stack, options.hosts, options.resolve);
    for (const cidr of options.teamsSources) {
      const [net, bits] = cidr.split('/');
      const family = isIP(net ?? '') === 6 ? 'ipv6' : 'ipv4';
      this.#teamsSources.addSubnet(net!, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family);
    }
    options.store?.onHealth((up) => this.#onStoreHealth(up));
    this.#media.onCallsLost?.((ids) => this.#onMediaLost(ids));
    this.#media.onNoMedia?.((ids) => this.#onNoMedia(ids));
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
      if (status === 403 || status === 401) {
        const why = reason === 'Source Not Allowed' ? 'unknown-source' : status === 401 ? 'unauthorised' : 'forbidden';
        this.#o.protection?.recordBad(peer.sourceAddress ?? peer.address, why);
      }
    };
    const routing = this.#o.routing();
    const minSe = this.#o.sessionTimer?.minSeS ?? 90;
    const fromTeams = this.#fromTeams(peer);
    if (fromTeams && !this.#teamsPeerTrusted(peer)) {
      reject(403, 'Teams Certificate Not Trusted');
      if (peer.connectionId) this.#o.stack.transport.closeConnection(peer.connectionId, { graceful: true });
      return;
    }
    if (this.#o.draining?.()) reject(503, 'Draining', [{ name: 'Retry-After', value: '5' }]);
    else if (this.#storeRefuses()) reject(503, 'State Store Unavailable', [{ name: 'Retry-After', value: '5' }]);
    // M5.28: an INVITE with Replaces from Teams (call queue answer, consultative transfer) replaces a Teams leg.
    else if (fromTeams && getHeader(req, 'Replaces')) this.#inviteWithReplaces(txn, req, peer);
    // RFC 4028 §8.1 / M5.15: an interval below our Min-SE is answered 422 with ours.
    else if (answerSessionTimer(parseSessionExpires(getHeader(req, 'Session-Expires')), minSe).reject422) {
      reject(422, 'Session Interval Too Small', [{ name: 'Min-SE', value: String(minSe) }]);
    } else if (!routing) reject(503, 'No Configuration Loaded', [{ name: 'Retry-After', value: '5' }]);
    // Teams accepts no delayed offer (M5.5) and media anchoring needs an offer: refuse clearly.
    else if (req.body.length === 0) reject(488, 'SDP Offer Required');
    else if (fromTeams) this.#inviteFromTeams(txn, req, peer, routing, reject);
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
    // M5.17: the billed user is in P-Asserted-Identity when Teams forwards it, else From; Privacy: id hides it.
    const presented = callerNumber(getHeader(req, 'From'), getHeaders(req, 'P-Asserted-Identity'));
    let caller = presented.startsWith('+') ? presented : (toE164(presented, { countryCode: '1' }) ?? presented);
    // From here the tenant is known: every outcome, refusals included, is a call attempt with a CDR.
    const call = this.#newCall(txn, req, peer, tenant, 'teams-to-carrier', caller, callee, {
      side: 'teams',
      contact: teamsContact(callee, req.uri.host.toLowerCase(), peer.localPort ?? 5061),
      transport: 'TLS',
    });
    call.privacy = privacyRequested(getHeader(req, 'Privacy'));
    if (tenant.suspended) return this.#refuse(call, 403, 'Tenant Suspended', 'rejected');
    if (!callee) return this.#refuse(call, 484, 'Address Incomplete', 'rejected');
    // H3.11: the caller ID must be one of the tenant's numbers (Pass | Replace | Reject).
    const screened = screenCallerId(
      caller,
      tenant.callerIdScreening,
      (n) => routing.tenantForNumber(n)?.id === tenant.id,
      tenant.defaultCallerId,
    );
    if (screened.kind === 'reject') return this.#refuse(call, 403, 'Caller ID Not Allowed For Tenant', 'rejected');
    caller = screened.caller;
    call.caller = caller;
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
    this.#admit(call, targets[0]?.trunk?.id, () => {
      this.#armEarlyRinging(call);
      this.#nextAttempt(call);
    });
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
    // M5.3: the CLI a carrier asserts in P-Asserted-Identity wins over an anonymous or missing From.
    const fromUser = callerNumber(getHeader(req, 'From'), getHeaders(req, 'P-Asserted-Identity'));
    const caller =
      (fromUser !== 'anonymous' && toE164(applyTrunkRules(trunk, 'Inbound', fromUser), trunkPlan(trunk))) ||
      'anonymous';
    const transport = peer.transport;
    const call = this.#newCall(txn, req, peer, tenant, 'carrier-to-teams', caller, callee, {
      side: 'carrier',
      contact: carrierContact(callee, this.#o.stack.sentBy(peer), transport),
      transport,
    });
    call.trunk = trunk;
    if (tenant.suspended) return this.#refuse(call, 403, 'Tenant Suspended', 'rejected');
    call.routeDestination = callee;
    call.privacy = privacyRequested(getHeader(req, 'Privacy'));
    const ordered = this.#o.teamsHealth?.order(this.#o.teamsTargets) ?? this.#o.teamsTargets;
    call.targets = ordered.map((t) => ({ side: 'teams', host: t.host, port: t.port, transport: 'TLS' }));
    if (call.targets.length === 0) return this.#finishInbound(call, 503, 'No Teams Targets');
    this.#admit(call, trunk.id, () => this.#nextAttempt(call));
  }

  // ---- admission and telemetry ---------------------------------------------------------------------------

  /** Admission control once the tenant and trunk are known: refused → the controller's answer and a CDR saying why. */
  #admit(call: Call, trunk: string | undefined, go: () => void): void {
    this.#routingSteps.get(call)?.end(trunk ? { [ATTR.trunk]: trunk } : undefined);
    this.#countAttempt(call, trunk);
    const admission = this.#o.admission;
    if (!admission) return go();
    const step = call.span?.admission();
    const req = { tenant: call.tenant.id, callId: call.inbound.req.callId, side: call.inbound.leg.side };
    void admission.admit(trunk === undefined ? req : { ...req, trunk }).then((result) => {
      if (result.ok) {
        step?.end({ 'switchboard.admission.backend': result.backend });
        if (call.state === 'ended' || call.cancelled) return void result.release();
        call.admission = { release: result.release, handOff: result.handOff, trunk };
        return go();
      }
      step?.fail(result.reason, { [ATTR.reason]: result.reason });
      this.#o.metrics?.admissionRejected(call.tenant.id, result.reason);
      if (call.state === 'ended') return;
      call.admissionReason = result.reason;
      this.#log(call).info(
        { reason: result.reason, status: result.sipStatus, backend: result.backend },
        'call refused by admission control',
      );
      const retry = result.retryAfter !== undefined ? [{ name: 'Retry-After', value: String(result.retryAfter) }] : [];
      this.#refuse(call, result.sipStatus, result.sipReason, 'admission-rejected', retry);
    });
  }

  /** Failover to another trunk: give the old trunk's admission back and take the new one's (skip it if refused). */
  #readmit(call: Call, target: AttemptTarget): void {
    const held = call.admission;
    const trunk = target.trunk!.id;
    call.admission = undefined;
    void held?.release();
    const req = { tenant: call.tenant.id, trunk, callId: call.inbound.req.callId, side: call.inbound.leg.side };
    void this.#o.admission!.admit(req).then((result) => {
      if (call.state === 'ended' || call.cancelled) {
        if (result.ok) void result.release();
        return;
      }
      if (result.ok) {
        call.admission = { release: result.release, handOff: result.handOff, trunk };
        return this.#nextAttempt(call);
      }
      this.#o.metrics?.admissionRejected(call.tenant.id, result.reason);
      this.#log(call).info({ reason: result.reason, trunk }, 'failover trunk refused by admission control');
      call.targets.splice(call.attempt, 1);
      call.lastStatus = { status: result.sipStatus, reason: result.sipReason };
      this.#nextAttempt(call);
    });
  }

  #callLabels(call: Call, trunk = call.trunk?.id): { tenant: string; direction: Call['direction']; trunk?: string } {
    return { tenant: call.tenant.id, direction: call.direction, ...(trunk ? { trunk } : {}) };
  }

  /** One `call attempt` per call in the metrics (when routed, or when it ends without getting that far). */
  #countAttempt(call: Call, trunk: string | undefined): void {
    if (call.counted) return;
    call.counted = true;
    this.#o.metrics?.callAttempt(this.#callLabels(call, trunk));
  }

  /** The outbound attempt in progress finished (final answer, timeout, transport error). */
  #attemptDone(call: Call, status: number): void {
    this.#o.metrics?.outboundAttempt(call.tenant.id, call.outbound?.target.trunk?.id, status);
    const step = call.attemptStep;
    call.attemptStep = undefined;
    if (!step) return;
    if (status < 300) step.end({ [ATTR.statusCode]: status });
    else step.fail(String(status), { [ATTR.statusCode]: status });
  }

  /** At CDR time: rating, the call-ended metrics and the end of the call's span. */
  #finishCdr(call: Call, cdr: Cdr): Cdr {
    let out = cdr;
    if (this.#o.rate) {
      try {
        out = this.#o.rate(cdr, call.tenant);
      } catch (err) {
        this.#log(call).warn({ err: String(err) }, 'rating failed: CDR written unrated');
      }
    }
    this.#o.metrics?.callEnded(out);
    const attrs = {
      [ATTR.disposition]: out.disposition,
      [ATTR.statusCode]: out.sipCode,
      [ATTR.attempt]: out.attempts ?? 0,
    };
    if (out.disposition === 'failed') call.span?.fail(out.sipReason ?? 'failed', attrs);
    else call.span?.end(attrs);
    return out;
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
    if (this.#o.tracing?.enabled) {
      call.span = this.#o.tracing.startCallSpan(req.callId, tenant.id, { direction });
      this.#routingSteps.set(call, call.span.routing());
    }
    this.#o.sipTrace?.watch(tenant.id, req.callId, req);
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
      return this.#finishInbound(call, relayStatus(last.status), last.reason, last.reasonHeader);
    }
    const held = call.admission;
    if (held && target.trunk && held.trunk !== target.trunk.id && this.#o.admission) return this.#readmit(call, target);
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
      // M5.18: a carrier's Diversion reaches Teams as History-Info.
      const hi = diversionToHistoryInfo(getHeaders(inReq, 'Diversion'), call.tenant.fqdn, call.routeDestination);
      if (hi) extra.push({ name: 'History-Info', value: hi });
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
      // RFC 3325 / M5.17: Privacy: id → an anonymous From; the identity goes only to trusted trunks, in PAI.
      const trusted = this.#o.trustedTrunks?.has(trunk.id) ?? false;
      if (call.privacy) {
        from = `<sip:anonymous@anonymous.invalid>;tag=${fromTag}`;
        contact = carrierContact('anonymous', sentBy, target.transport);
      }
      if (trusted && call.caller.startsWith('+')) {
        extra.push({ name: 'P-Asserted-Identity', value: `<sip:${caller}@${sentBy.replace(/:\d+$/, '')};user=phone>` });
      }
      // M5.18: Teams' History-Info (forwarded calls) reaches the carrier as Diversion.
      const diversion = historyInfoToDiversion(getHeaders(inReq, 'History-Info'), (n) => carrierNumber(trunk, n));
      if (diversion) extra.push({ name: 'Diversion', value: diversion });
      extra.push({ name: 'Supported', value: '100rel' });
    }
    for (const h of inReq.headers) if (PASS_THROUGH_HEADERS.has(headerKey(h.name))) extra.push(h);
    // RFC 4028 on this leg, independent of the other: we ask to be the refresher; 422 → retry at its Min-SE.
    const st = this.#o.sessionTimer;
    if (st) {
      extra.push(
        { name: 'Session-Expires', value: `${st.expiresS};refresher=uac` },
        { name: 'Min-SE', value: String(st.minSeS) },
        { name: 'Supported', value: 'timer' },
      );
    }
    const mediaStep = call.span?.media();
    let body: Buffer;
    try {
      body = await this.#media.offer(this.#mediaRef(call, 'inbound'), inReq.body);
      mediaStep?.end();
    } catch (err) {
      mediaStep?.fail(String((err as Error)?.message ?? err));
      throw err;
    }
    if (call.cancelled || call.state === 'ended') return;
    const sdpOut = teams ? toTeamsSdp(body) : body;
    const spec: RequestSpec = {
      method: 'INVITE',
      uri,
      // Our reply port on a shared UDP address (stack.requestSentBy): a survivor's CANCEL must repeat this Via.
      vias: [
        `SIP/2.0/${target.transport} ${this.#o.stack.requestSentBy(peer, teams ? call.tenant.fqdn : undefined)};branch=${generateBranch()};rport`,
      ],
      from,
      to,
      callId,
      cseq: 1,
      // RFC 3261 §16.6 step 3: one hop less than we got (the policy answered 483 to a request that had none left).
      maxForwards: Math.max(0, (inReq.maxForwards ?? 70) - 1),
      contacts: [contact],
      headers: extra,
      ...(sdpOut.length ? { contentType: getHeader(inReq, 'Content-Type') ?? 'application/sdp', body: sdpOut } : {}),
    };
    const req = buildRequest(spec);
    const leg: Leg = { side: target.side, contact, transport: target.transport, viaHost: sentBy, lastSdp: sdpOut };
    if (teams) leg.servername = target.host;
    const attemptNo = call.attempt;
    this.#o.sipTrace?.watch(call.tenant.id, callId);
    call.attemptStep?.fail('abandoned');
    call.attemptStep = call.span?.attempt(attemptNo, {
      host: target.host,
      port: target.port,
      transport: target.transport,
      trunk: target.trunk?.id,
    });
    const txn = this.#startInviteTxn(call, req, peer, target);
    call.outbound = { req, spec, attemptNo, txn, target, leg, provisional: false };
    void this.#replicate(call); // the CDR so far and the no-answer deadline, for a survivor; nothing waits on it
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
    if (res.to.params.get('tag')) {
      const seq = out.leg.dialog?.localSeq ?? 0;
      out.leg.dialog = uacDialog(out.req, res, out.target.transport === 'TLS');
      out.leg.dialog.localSeq = Math.max(seq, out.leg.dialog.localSeq);
      // RFC 3262: a carrier's reliable provisional gets its PRACK (never toward Teams, M5.20).
      const reliable = /\b100rel\b/i.test(getHeaders(res, 'Require').join(','));
      if (out.leg.side === 'carrier' && reliable && getHeader(res, 'RSeq'))
        this.#sendPrack(call, out.leg, res, txn.target);
    }
    const ringing = call.state !== 'early';
    call.state = 'early';
    call.times.ring ??= Date.now();
    // A survivor that takes the call over while it rings must know it may CANCEL it at once (and the ring time).
    if (ringing) void this.#replicate(call);
    this.#relayProvisional(call, res).catch((err: unknown) => this.#mediaFailed(call, err));
  }

  async #relayProvisional(call: Call, res: SipResponse): Promise<void> {
    // M5.10: toward a carrier, only the first 18x or 183 as 180 without SDP (per trunk policy).
    let status = res.status;
    let reason = res.reason;
    let dropSdp = false;
    if (call.inbound.leg.side === 'carrier') {
      const policy = this.#o.carrierProvisional?.(call.trunk) ?? 'all';
      if (policy === 'first' && (call.provisionalsRelayed ?? 0) > 0) return;
      if (policy === '183-as-180' && status === 183) {
        status = 180;
        reason = 'Ringing';
        dropSdp = true;
      }
    }
    call.provisionalsRelayed = (call.provisionalsRelayed ?? 0) + 1;
    let body = res.body;
    if (body.length) body = await this.#media.answer(this.#mediaRef(call, 'outbound'), body);
    if (call.state !== 'early') return;
    if (dropSdp) body = Buffer.alloc(0);
    const inbound = call.inbound;
    if (inbound.leg.side === 'teams' && body.length) {
      body = toTeamsSdp(body, inbound.leg.lastSdp);
      inbound.leg.lastSdp = body;
    }
    inbound.txn.respond(
      buildResponse(inbound.req, status, reason, {
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
      const earlySeq = out.leg.dialog?.localSeq ?? 0;
      out.leg.dialog = uacDialog(out.req, res, out.target.transport === 'TLS');
      out.leg.dialog.localSeq = Math.max(earlySeq, out.leg.dialog.localSeq);
      this.#ackOutbound(call, res, txn);
      call.state = 'answered';
      const codec = res.body.length ? answeredCodec(res.body) : undefined;
      if (codec) call.codec = codec;
      const se = parseSessionExpires(getHeader(res, 'Session-Expires'));
      if (se) {
        call.sessionTimers ??= {};
        call.sessionTimers.outbound = { interval: se.interval, weRefresh: (se.refresher ?? 'uac') === 'uac' };
        this.#startSessionTimer(call, 'outbound');
      }
      call.times.answer = Date.now();
      this.counters.answered++;
      this.#attemptDone(call, res.status);
      this.#o.metrics?.callAnswered(this.#callLabels(call));
      this.#clearTimers(call);
      this.#byDialog.set(`${out.req.callId}|${out.leg.dialog.localTag}`, { call, leg: 'outbound' });
      this.#relayAnswer(call, res).catch((err: unknown) => this.#mediaFailed(call, err));
      return;
    }
    if (!out || out.txn !== txn) return;
    if ((res.status === 401 || res.status === 407) && this.#retryWithCredentials(call, txn, res)) return;
    if (res.status === 422 && this.#retryWithMinSe(call, txn, res)) return;
    // T1.12: 503 + Retry-After from a Microsoft proxy: close that connection; the call goes to the next target.
    if (res.status === 503 && out.target.side === 'teams' && getHeader(res, 'Retry-After') !== undefined) {
      this.#dropTeamsConnection(out.target, txn.target);
    }
    this.#onOutboundFailure(call, txn, res.status, res.reason, getHeader(res, 'Reason'));
  }

  #onOutboundFailure(
    call: Call,
    txn: ClientTransaction<Peer>,
    status: number,
    reason: string,
    reasonHeader?: string,
  ): void {
    if (
      call.outbound?.txn !== txn ||
      call.state === 'ended' ||
      call.state === 'answered' ||
      call.state === 'confirmed'
    ) {
      return;
    }
    call.lastStatus = { status, reason, reasonHeader };
    this.#attemptDone(call, status);
    this.#clearTimers(call);
    if (call.cancelled) return; // the caller's CANCEL already ended the inbound side
    this.#log(call).info({ status, attempt: call.attempt }, 'outbound attempt failed');
    if (shouldFailover(status) && call.attempt < call.targets.length) return this.#nextAttempt(call);
    this.#finishInbound(call, relayStatus(status), reason, reasonHeader);
  }

  async #relayAnswer(call: Call, res: SipResponse): Promise<void> {
    let body = res.body;
    if (body.length) body = await this.#media.answer(this.#mediaRef(call, 'outbound'), body);
    if (call.state !== 'answered') return;
    const inbound = call.inbound;
    if (inbound.leg.side === 'teams' && body.length) body = toTeamsSdp(body, inbound.leg.lastSdp);
    if (body.length) inbound.leg.lastSdp = body;
    const headers = this.#inboundResponseHeaders(call);
    // RFC 4028 on the inbound leg: answer the caller's Session-Expires and watch (or do) its refreshes.
    const asked = answerSessionTimer(
      parseSessionExpires(getHeader(inbound.req, 'Session-Expires')),
      this.#o.sessionTimer?.minSeS ?? 90,
      supportsTimer(getHeaders(inbound.req, 'Supported')),
    );
    if (!asked.reject422 && asked.se) {
      headers.push({ name: 'Session-Expires', value: formatSessionExpires(asked.se) });
      if (asked.se.refresher === 'uac') headers.push({ name: 'Require', value: 'timer' });
      call.sessionTimers ??= {};
      call.sessionTimers.inbound = { interval: asked.se.interval, weRefresh: asked.se.refresher === 'uas' };
      this.#startSessionTimer(call, 'inbound');
    }
    const ok = buildResponse(inbound.req, res.status, res.reason, {
      toTag: inbound.toTag,
      headers,
      ...(body.length ? { contentType: getHeader(res, 'Content-Type') ?? 'application/sdp', body } : {}),
    });
    // DESIGN.md §8: the dialogs are in the store before the 2xx that confirms them leaves; a write that fails ends
    // the call cleanly (BYE to the callee, 500 to the caller) instead of leaving a call no other pod could carry on.
    if (!(await this.#replicateAnswer(call))) return;
    if (call.state !== 'answered') return;
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
  #refuse(call: Call, status: number, reason: string, disposition: Disposition, extra: RawHeader[] = []): void {
    call.disposition = disposition;
    this.counters.rejected++;
    this.#finishInbound(call, status, reason, undefined, extra);
  }

  /** Answer the inbound INVITE with a final failure and end the call. */
  #finishInbound(call: Call, status: number, reason: string, reasonHeader?: string, extra: RawHeader[] = []): void {
    if (call.state === 'ended') return;
    const inbound = call.inbound;
    // M5.13/M5.14: toward a carrier a failure carries its Q.850 cause (486 → 17, Teams' own cause when given);
    // toward Teams a carrier's Q.850 cause picks the status.
    const headers: RawHeader[] = [...extra];
    if (inbound.leg.side === 'carrier' && status >= 400) {
      headers.push({ name: 'Reason', value: reasonTowardCarrier(status, reasonHeader) });
    } else if (inbound.leg.side === 'teams' && reasonHeader && status >= 400 && status !== 487) {
      status = statusFromCarrier(status, reasonHeader);
    }
    inbound.txn.respond(buildResponse(inbound.req, status, reason, { toTag: inbound.toTag, headers }));
    this.#endCall(call, { status, reason, endedBy: status === 487 ? 'caller' : status === 480 ? 'sbc' : 'callee' });
  }

  // ---- CANCEL, ACK, in-dialog ----------------------------------------------------------------------------

  onCancel(txn: ServerTransaction<Peer>, req: SipRequest): void {
    const invite = this.#o.stack.transactions.findInviteForCancel(req);
    const call = invite ? this.#byInviteTxn.get(invite) : undefined;
    if (!invite || !call) {
      // With a shared address the CANCEL can reach another pod than its INVITE (the kernel re-hashed the flow after a
      // pod came or went): the INVITE's pod cancels it, or — when that pod is gone — this one takes the call over.
      if (this.#o.store?.shared) return void this.#cancelElsewhere(txn, req);
      txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    txn.respond(buildResponse(req, 200, 'OK'));
    this.#cancelCall(call);
  }

  /** The caller cancelled a call that is not answered yet: CANCEL the outbound attempt, 487 to the caller. */
  #cancelCall(call: Call): void {
    if (call.state === 'answered' || call.state === 'confirmed' || call.state === 'ended') return;
    call.cancelled = true;
    const out = call.outbound;
    if (out) {
      // A call taken over from another pod gets no provisional here (its INVITE transaction died with that pod): the
      // INVITE went out long ago, so it is CANCELled now.
      if (out.provisional || call.replica?.takenOverFrom) this.#sendCancel(call);
      else out.cancelWhenProvisional = true;
    }
    this.#finishInbound(call, 487, 'Request Terminated');
  }

  onAck(ack: SipRequest): void {
    const entry = this.#byDialog.get(`${ack.callId}|${ack.to.params.get('tag') ?? ''}`);
    if (!entry) {
      // An ACK for a call another pod set up: take it over, then handle it here.
      if (this.#o.store?.shared) {
        void this.#takeover(ack.callId, ack.to.params.get('tag') ?? '').then((r) => {
          if (r === 'taken') this.onAck(ack);
        });
      }
      return;
    }
    const { call } = entry;
    if (entry.leg === 'inbound' && call.state === 'answered' && ack.cseq.seq === call.inbound.req.cseq.seq) {
      call.state = 'confirmed';
      this.#clearTimers(call);
      this.#log(call).info('call confirmed');
      void this.#replicate(call);
      return;
    }
    // The ACK of a re-INVITE without SDP carries the answer to the other leg's 2xx offer: it goes there.
    const other = entry.leg === 'inbound' ? call.outbound?.leg : call.inbound.leg;
    const pending = other?.pendingAck;
    if (!other?.dialog || !pending) return;
    other.pendingAck = undefined;
    void this.#replicate(call); // the stored leg no longer waits for this ACK
    const otherName: LegName = entry.leg === 'inbound' ? 'outbound' : 'inbound';
    void (async () => {
      let body = ack.body;
      if (body.length) body = await this.#media.answer(this.#mediaRef(call, entry.leg), body);
      if (other.side === 'teams' && body.length) body = toTeamsSdp(body, other.lastSdp);
      if (body.length) other.lastSdp = body;
      const lines = nextRequest(other.dialog!, 'ACK', pending.cseq).lines;
      const out = this.#legs.request(other, 'ACK', lines, body.length ? { contentType: 'application/sdp', body } : {});
      await this.#legs.sendStateless(other, out, pending.target);
    })().catch((err: unknown) => this.#log(call).warn({ err: String(err), leg: otherName }, 'ACK relay failed'));
  }

  onInDialog(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): boolean {
    const key = `${req.callId}|${req.to.params.get('tag') ?? ''}`;
    const retired = this.#retired.get(key);
    if (retired) {
      // A Teams dialog a transfer or Replaces took over: Teams ends it with BYE (M5.25 step 4); the call lives on.
      if (req.method === 'BYE') this.#retired.delete(key);
      const ok = req.method === 'BYE' || req.method === 'NOTIFY' || req.method === 'OPTIONS' || req.method === 'INFO';
      txn.respond(buildResponse(req, ok ? 200 : 481, ok ? 'OK' : 'Call/Transaction Does Not Exist'));
      return true;
    }
    const entry = this.#byDialog.get(key);
    if (!entry) {
      if (!this.#o.store?.shared) return false;
      // DESIGN.md §8: a dialog this pod does not hold — another pod set the call up (and died, or drained): load it
      // from the store, rebuild the call, and handle the request here.
      void this.#takeover(req.callId, req.to.params.get('tag') ?? '').then((r) => {
        if (r === 'taken' && this.#byDialog.has(key)) {
          if (!this.onInDialog(txn, req, peer)) txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
        } else if (r === 'busy') {
          txn.respond(buildResponse(req, 500, 'Dialog Busy', [{ name: 'Retry-After', value: '1' }]));
        } else txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
      });
      return true;
    }
    if (this.#fromTeams(peer) && !this.#teamsPeerTrusted(peer)) {
      txn.respond(buildResponse(req, 403, 'Teams Certificate Not Trusted'));
      if (peer.connectionId) this.#o.stack.transport.closeConnection(peer.connectionId, { graceful: true });
      return true;
    }
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
      if (from.side === 'teams' && (call.state === 'confirmed' || call.state === 'answered')) {
        this.#onRefer(call, fromName, txn, req).catch((err: unknown) =>
          this.#log(call).warn({ err: String(err) }, 'transfer failed'),
        );
      } else txn.respond(buildResponse(req, 501, 'REFER Not Supported On This Side'));
      return true;
    }
    if (call.state !== 'confirmed' && call.state !== 'answered') {
      txn.respond(buildResponse(req, 491, 'Request Pending'));
      return true;
    }
    // RFC 4028: a re-INVITE or UPDATE from a leg refreshes that leg's session.
    if ((req.method === 'INVITE' || req.method === 'UPDATE') && call.sessionTimers?.[fromName]) {
      const asked = parseSessionExpires(getHeader(req, 'Session-Expires'));
      const st = call.sessionTimers[fromName]!;
      if (asked && asked.interval >= (this.#o.sessionTimer?.minSeS ?? 1)) st.interval = asked.interval;
      this.#startSessionTimer(call, fromName);
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
        txn.respond(
          buildResponse(req, 200, 'OK', [{ name: 'Contact', value: from.contact }, ...this.#seHeaders(call, fromName)]),
        );
        return;
      }
      method = 'INVITE';
    }
    // A re-INVITE without SDP (delayed offer): the 2xx brings the offer; its answer comes in the caller's ACK.
    const delayedOffer = method === 'INVITE' && req.body.length === 0;
    if ((method === 'INVITE' && to.inviteInProgress) || (call.reanchoring && isOfferMethod(method, req))) {
      txn.respond(buildResponse(req, 491, 'Request Pending'));
      return;
    }
    const next = nextRequest(to.dialog, method);
    to.dialog = next.dialog;
    let body = req.body;
    const isOffer = method === 'INVITE' || method === 'UPDATE';
    if (body.length && isOffer) body = await this.#media.offer(this.#mediaRef(call, fromName), body);
    // M5.22: toward Teams hold is a=inactive and never c=0.0.0.0 (the address stays what it was).
    if (to.side === 'teams' && body.length && isOffer) body = toTeamsSdp(body, to.lastSdp);
    if (body.length && isOffer) to.lastSdp = body;
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
        if (delayedOffer && resBody.length) to.pendingAck = { cseq: res.cseq.seq, target };
        else {
          const ack = this.#legs.request(to, 'ACK', nextRequest(to.dialog!, 'ACK', res.cseq.seq).lines);
          this.#legs.sendStateless(to, ack, target).catch(() => {});
        }
        if (call.sessionTimers?.[toName]) this.#startSessionTimer(call, toName);
      }
      if (from.side === 'teams' && resBody.length && res.status < 300) resBody = toTeamsSdp(resBody, from.lastSdp);
      if (resBody.length && res.status < 300) from.lastSdp = resBody;
      const headers: RawHeader[] =
        res.status < 300 && isOffer
          ? [{ name: 'Contact', value: from.contact }, ...this.#seHeaders(call, fromName)]
          : [];
      // Both legs' CSeqs, targets and SDP moved: in the store before the answer leaves (any pod can go on from here).
      await this.#replicate(call);
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
      pool: call.tenant.mediaPool,
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
    // Legs a transfer or Replaces swapped in are keyed by their own dialogs.
    for (const leg of [call.inbound.leg, out?.leg]) {
      if (leg?.dialog && this.#byDialog.get(`${leg.dialog.callId}|${leg.dialog.localTag}`)?.call === call)
        this.#byDialog.delete(`${leg.dialog.callId}|${leg.dialog.localTag}`);
    }
    for (const t of call.legTimers?.values() ?? []) clearTimeout(t);
    call.legTimers?.clear();
    this.counters.ended++;
    this.#checkIdle();
    const cdr = buildCdr(call, how, this.#o.podName);
    this.#countAttempt(call, call.trunk?.id);
    this.#routingSteps.get(call)?.end();
    call.attemptStep?.fail('call ended');
    call.attemptStep = undefined;
    const held = call.admission;
    call.admission = undefined;
    if (held) void held.release();
    this.#log(call).info({ disposition: cdr.disposition, sipCode: cdr.sipCode, talkMs: cdr.talkMs }, 'call ended');
    // The media figures come with the release; a media pod that does not answer does not hold the CDR back.
    this.#media
      .release(call.id)
      .catch((err: unknown) => {
        this.#log(call).warn({ err: String(err) }, 'media release failed');
        return undefined;
      })
      .then(async (media) => {
        // Exactly once across pods: only the pod that ends the call in the store writes its CDR.
        const m = media && call.reanchored ? { ...media, reanchored: call.reanchored } : media;
        if (await this.#claimEnd(call)) await this.#o.cdr.write(this.#finishCdr(call, m ? { ...cdr, media: m } : cdr));
      })
      .catch((err: unknown) => {
        this.counters.cdrFailures++;
        this.#log(call).error({ err: String(err), cdrId: cdr.id }, 'CDR write failed');
      });
  }

  // ---- Teams rules: mutual TLS, failover, early ringing, PRACK, session timers ----------------------------------

  /** T1.6: with SWITCHBOARD_TEAMS_VERIFY=require, a Teams-range peer must present a trusted certificate and SAN. */
  #teamsPeerTrusted(peer: Peer): boolean {
    const v = this.#o.teamsVerify;
    if (!v?.require) return true;
    const tls = peer.tls;
    if (!tls?.authorized || tls.peerCertificateChain.length === 0) return false;
    const sans = (v.sans.length ? v.sans : [TEAMS_SAN]).map((s) => s.toLowerCase());
    return tls.peerDnsNames.some((n) => sans.includes(n.toLowerCase()));
  }

  /** M5.19: Teams gives up after its failover timer without an 18x: ring it ourselves if the carrier is silent. */
  #armEarlyRinging(call: Call): void {
    const ms = this.#o.teamsEarlyRingingMs;
    if (!ms || call.inbound.leg.side !== 'teams') return;
    this.#legTimer(call, 'early-ringing', ms, () => {
      if (call.cancelled || (call.state !== 'routing' && call.state !== 'proceeding')) return;
      if ((call.provisionalsRelayed ?? 0) > 0) return;
      call.provisionalsRelayed = 1;
      this.#log(call).info('no provisional from the carrier yet: 180 to Teams');
      call.inbound.txn.respond(
        buildResponse(call.inbound.req, 180, 'Ringing', {
          toTag: call.inbound.toTag,
          headers: this.#inboundResponseHeaders(call),
        }),
      );
    });
  }

  /** RFC 3262 §7.2: PRACK a reliable provisional (RAck = RSeq, CSeq number and method of the INVITE). */
  #sendPrack(call: Call, leg: Leg, res: SipResponse, fallback: Peer): void {
    const rseq = getHeader(res, 'RSeq')?.trim();
    if (!leg.dialog || !rseq) return;
    void this.#sendOnLeg(
      call,
      leg,
      'PRACK',
      { headers: [{ name: 'RAck', value: `${rseq} ${res.cseq.seq} INVITE` }] },
      fallback,
    );
  }

  /** RFC 4028 §7.4: a 422 gets one retry with Session-Expires raised to the Min-SE it names (same call, CSeq + 1). */
  #retryWithMinSe(call: Call, txn: ClientTransaction<Peer>, res: SipResponse): boolean {
    const out = call.outbound;
    const minSe = parseMinSe(getHeader(res, 'Min-SE'));
    const via = out?.req.vias[0];
    if (!out || out.txn !== txn || out.seRetried || !minSe || !via || call.cancelled || call.state === 'ended') {
      return false;
    }
    const skip = new Set(['session-expires', 'min-se']);
    const headers = (out.spec.headers ?? []).filter((h) => !skip.has(headerKey(h.name)));
    headers.push(
      { name: 'Session-Expires', value: `${minSe};refresher=uac` },
      { name: 'Min-SE', value: String(minSe) },
    );
    const seq = typeof out.spec.cseq === 'number' ? out.spec.cseq : out.spec.cseq.seq;
    const sentBy = `${via.host}${via.port ? `:${via.port}` : ''}`;
    const spec: RequestSpec = {
      ...out.spec,
      headers,
      cseq: seq + 1,
      vias: [`SIP/2.0/${via.transport} ${sentBy};branch=${generateBranch()};rport`],
    };
    const req = buildRequest(spec);
    out.req = req;
    out.spec = spec;
    out.seRetried = true;
    out.provisional = false;
    out.txn = this.#startInviteTxn(call, req, txn.target, out.target);
    this.#log(call).info({ minSe }, '422: retrying with the larger session interval');
    return true;
  }

  /** T1.12: close the TLS connection to a draining Microsoft proxy (after the ACK of its 503 is on its way). */
  #dropTeamsConnection(target: AttemptTarget, peer: Peer): void {
    this.#o.teamsHealth?.reportFailure?.({ host: target.host, port: target.port }, 503);
    setImmediate(() => {
      const closed = this.#o.stack.transport.closeConnections(
        (c) => c.transport === 'TLS' && c.remote.address === peer.address && c.remote.port === peer.port,
        { graceful: true },
      );
      this.#o.logger.info(
        { target: `${target.host}:${target.port}`, closed },
        'Teams proxy draining: connection closed',
      );
    });
  }

  /** Session-Expires for our 2xx to a refresh on a leg with a session timer. */
  #seHeaders(call: Call, name: LegName): RawHeader[] {
    const st = call.sessionTimers?.[name];
    if (!st) return [];
    return [{ name: 'Session-Expires', value: `${st.interval};refresher=${st.weRefresh ? 'uas' : 'uac'}` }];
  }

  #legTimer(call: Call, key: string, ms: number, fn: () => void): void {
    call.legTimers ??= new Map();
    const timers = call.legTimers;
    clearTimeout(timers.get(key));
    if (call.state === 'ended') return;
    const t = setTimeout(() => {
      timers.delete(key);
      fn();
    }, ms);
    t.unref();
    timers.set(key, t);
  }

  /** (Re)arm a leg's session timer: our refresh at half the interval, or its expiry when the peer refreshes. */
  #startSessionTimer(call: Call, name: LegName): void {
    const st = call.sessionTimers?.[name];
    if (!st || call.state === 'ended') return;
    if (st.weRefresh) {
      this.#legTimer(call, `refresh:${name}`, refreshAfterMs(st.interval), () => this.#refreshSession(call, name));
      st.expiresAt = Date.now() + st.interval * 1000;
    } else {
      this.#legTimer(call, `expire:${name}`, expiryAfterMs(st.interval), () => this.#sessionExpired(call, name));
      st.expiresAt = Date.now() + expiryAfterMs(st.interval);
    }
    // The renewed deadline goes to the store (before the answer, the answer's own write carries it).
    if (call.state === 'answered' || call.state === 'confirmed') void this.#replicate(call);
  }

  #sessionExpired(call: Call, name: LegName): void {
    if (call.state === 'ended') return;
    if (this.#o.store?.shared && call.replica && !call.replica.checked) {
      // Another pod may have taken the call over (its refreshes went there): act only if we still own it.
      void this.#stillOwner(call).then((mine) => {
        if (!mine) return;
        call.replica!.checked = true;
        this.#sessionExpired(call, name);
        call.replica!.checked = false;
      });
      return;
    }
    this.#log(call).warn({ leg: name }, 'session expired without a refresh (RFC 4028): ending both legs');
    this.#byeLeg(call, 'inbound');
    this.#byeLeg(call, 'outbound');
    this.#endCall(call, { status: 408, reason: 'Session Expired', endedBy: 'sbc' });
  }

  /** Refresh a leg's session by re-INVITE with the SDP last sent on it (M5.15/M5.20: never UPDATE toward Teams). */
  #refreshSession(call: Call, name: LegName): void {
    const leg = legOf(call, name);
    const st = call.sessionTimers?.[name];
    if (!leg?.dialog || !st || (call.state !== 'confirmed' && call.state !== 'answered')) return;
    if (leg.inviteInProgress) {
      this.#legTimer(call, `refresh:${name}`, 1000, () => this.#refreshSession(call, name));
      return;
    }
    leg.inviteInProgress = true;
    void this.#sendOnLeg(call, leg, 'INVITE', {
      contact: true,
      headers: [
        { name: 'Session-Expires', value: `${st.interval};refresher=uac` },
        { name: 'Supported', value: 'timer' },
      ],
      ...(leg.lastSdp?.length ? { contentType: 'application/sdp', body: leg.lastSdp } : {}),
    }).then(async (res) => {
      leg.inviteInProgress = false;
      if (!res || res.status === 481 || res.status === 408) return this.#sessionExpired(call, name);
      if (res.status < 300) {
        const ack = this.#legs.request(leg, 'ACK', nextRequest(leg.dialog!, 'ACK', res.cseq.seq).lines);
        await this.#legs.sendStateless(leg, ack).catch(() => {});
      }
      this.#startSessionTimer(call, name); // a 491 or other failure: try again at the next half interval
    });
  }

  /**
   * Send an in-dialog request on a leg, in order with the others sent this way (NOTIFYs of a transfer keep their
   * order); resolves with the final response, or undefined on timeout or transport failure.
   */
  #sendOnLeg(
    call: Call,
    leg: Leg,
    method: string,
    opts: InDialogOptions,
    fallback?: Peer,
  ): Promise<SipResponse | undefined> {
    if (!leg.dialog) return Promise.resolve(undefined);
    const next = nextRequest(leg.dialog, method);
    leg.dialog = next.dialog;
    const req = this.#legs.request(leg, method, next.lines, opts);
    let done!: (r: SipResponse | undefined) => void;
    const final = new Promise<SipResponse | undefined>((r) => {
      done = r;
    });
    call.sendChain = (call.sendChain ?? Promise.resolve())
      .then(() => this.#legs.target(leg, fallback))
      .then((target) => {
        this.#o.stack.sendRequest(req, target, {
          onFinal: (res) => done(res),
          onTimeout: () => done(undefined),
          onTransportError: () => done(undefined),
        });
      })
      .catch(() => done(undefined));
    return final;
  }

  // ---- REFER and Replaces from Teams (M5.24–M5.28) ---------------------------------------------------------------

  /** NOTIFY with the transfer's progress as a sipfrag (RFC 3515 §2.4.4). */
  #notifyRefer(call: Call, leg: Leg, referCseq: number, frag: string, final: boolean): void {
    void this.#sendOnLeg(call, leg, 'NOTIFY', {
      contact: true,
      headers: [
        { name: 'Event', value: `refer;id=${referCseq}` },
        { name: 'Subscription-State', value: final ? 'terminated;reason=noresource' : 'active;expires=60' },
      ],
      contentType: 'message/sipfrag;version=2.0',
      body: Buffer.from(`${frag}\r\n`),
    });
  }

  /** A Teams leg takes the place of another: the old dialog is retired (Teams BYEs it), the new one is the call's. */
  #swapTeamsLeg(call: Call, name: LegName, leg: Leg): Leg | undefined {
    const old = legOf(call, name);
    if (old?.dialog) {
      const key = `${old.dialog.callId}|${old.dialog.localTag}`;
      this.#byDialog.delete(key);
      this.#retired.set(key, old);
      const t = setTimeout(() => this.#retired.delete(key), 300_000);
      t.unref();
    }
    if (name === 'inbound') call.inbound.leg = leg;
    else if (call.outbound) call.outbound.leg = leg;
    this.#byDialog.set(`${leg.dialog!.callId}|${leg.dialog!.localTag}`, { call, leg: name });
    // The replaced leg's session timer goes with it; the new leg starts without one.
    if (call.sessionTimers) delete call.sessionTimers[name];
    for (const k of [`refresh:${name}`, `expire:${name}`]) {
      clearTimeout(call.legTimers?.get(k));
      call.legTimers?.delete(k);
    }
    return old;
  }

  /**
   * M5.25: REFER from Teams → 202, NOTIFY 100, a new INVITE back to Teams (Request-URI = Refer-To, Referred-By byte
   * for byte, a=sendrecv), NOTIFYs of its progress; on answer the carrier leg is re-INVITEd with the new SDP and the
   * new dialog becomes the call's Teams leg; Teams BYEs the old one. The carrier leg is never touched before that.
   */
  async #onRefer(call: Call, teamsName: LegName, txn: ServerTransaction<Peer>, req: SipRequest): Promise<void> {
    const oldLeg = legOf(call, teamsName)!;
    const referTo = getHeader(req, 'Refer-To') ?? '';
    const referredBy = getHeader(req, 'Referred-By');
    const inner = /<([^>]*)>/.exec(referTo)?.[1] ?? referTo.split(';')[0] ?? '';
    const uri = (inner.split('?')[0] ?? '').trim();
    if (!/^sip:/i.test(uri)) {
      txn.respond(buildResponse(req, 400, 'Bad Refer-To'));
      return;
    }
    if (call.transferring) {
      txn.respond(buildResponse(req, 491, 'Request Pending'));
      return;
    }
    call.transferring = true;
    txn.respond(buildResponse(req, 202, 'Accepted', [{ name: 'Contact', value: oldLeg.contact }]));
    const cseq = req.cseq.seq;
    this.#notifyRefer(call, oldLeg, cseq, 'SIP/2.0 100 Trying', false);
    const transferee = teamsName === 'outbound' ? call.caller : call.callee;
    const offer = sendrecvSdp(oldLeg.lastSdp ?? Buffer.alloc(0));
    const targets = this.#o.teamsHealth?.order(this.#o.teamsTargets) ?? this.#o.teamsTargets;
    this.#log(call).info({ referTo: uri.length }, 'REFER from Teams: calling the transfer target through Teams');
    for (const target of targets) {
      if (call.state === 'ended') return;
      const outcome = await this.#transferAttempt(
        call,
        oldLeg,
        teamsName,
        target,
        uri,
        referredBy,
        transferee,
        offer,
        cseq,
      );
      if (outcome === 'done') return;
    }
    call.transferring = false;
    if (call.state !== 'ended') this.#notifyRefer(call, oldLeg, cseq, 'SIP/2.0 503 Service Unavailable', true);
  }

  async #transferAttempt(
    call: Call,
    oldLeg: Leg,
    teamsName: LegName,
    target: TeamsTarget,
    uri: string,
    referredBy: string | undefined,
    transferee: string,
    offer: Buffer,
    referCseq: number,
  ): Promise<'done' | 'next'> {
    let address: string;
    try {
      address = await this.#legs.resolve(target.host);
    } catch {
      return 'next';
    }
    const fqdn = call.tenant.fqdn;
    const peer: Peer = { transport: 'TLS', address, port: target.port, servername: target.host, localHostname: fqdn };
    const sentBy = this.#o.stack.sentBy(peer, fqdn);
    const contact = teamsContact(transferee, fqdn, Number(sentBy.slice(sentBy.lastIndexOf(':') + 1)));
    const headers: RawHeader[] = [{ name: 'Allow', value: TEAMS_ALLOW }];
    if (referredBy !== undefined) headers.push({ name: 'Referred-By', value: referredBy });
    const req = buildRequest({
      method: 'INVITE',
      uri,
      vias: [`SIP/2.0/TLS ${sentBy};branch=${generateBranch()};rport`],
      from: `<sip:${transferee}@${fqdn};user=phone>;tag=${token()}`,
      to: `<${uri}>`,
      callId: `${token(12)}@${PRODUCT.toLowerCase()}`,
      cseq: 1,
      maxForwards: 70,
      contacts: [contact],
      headers,
      ...(offer.length ? { contentType: 'application/sdp', body: offer } : {}),
    });
    const leg: Leg = {
      side: 'teams',
      contact,
      transport: 'TLS',
      viaHost: sentBy,
      servername: target.host,
      lastSdp: offer,
    };
    return new Promise((resolve) => {
      this.#o.stack.sendRequest(req, peer, {
        onProvisional: (res) => {
          // M5.26: the transferee keeps its media path (the carrier leg is untouched) while the target rings.
          if (res.status > 100 && call.state !== 'ended') {
            this.#notifyRefer(call, oldLeg, referCseq, `SIP/2.0 ${res.status} ${res.reason}`, false);
          }
        },
        onFinal: (res) => {
          if (res.status >= 200 && res.status < 300) {
            leg.dialog = uacDialog(req, res, true);
            const ack = this.#legs.request(leg, 'ACK', nextRequest(leg.dialog, 'ACK', res.cseq.seq).lines);
            this.#legs.sendStateless(leg, ack, peer).catch(() => {});
            if (call.state === 'ended') {
              void this.#sendOnLeg(call, leg, 'BYE', {});
              return resolve('done');
            }
            this.#notifyRefer(call, oldLeg, referCseq, 'SIP/2.0 200 OK', true);
            this.#swapTeamsLeg(call, teamsName, leg);
            call.transferring = false;
            if (res.body.length) {
              this.#reofferLeg(call, otherLeg(teamsName), teamsName, res.body).catch((err: unknown) =>
                this.#log(call).warn({ err: String(err) }, 're-INVITE of the carrier after the transfer failed'),
              );
            }
            return resolve('done');
          }
          if (res.status === 503 || res.status === 408) return resolve('next');
          // M5.13: a rejection is final (no retry); the old call stays up.
          this.#notifyRefer(call, oldLeg, referCseq, `SIP/2.0 ${res.status} ${res.reason}`, true);
          call.transferring = false;
          resolve('done');
        },
        onTimeout: () => resolve('next'),
        onTransportError: () => resolve('next'),
      });
    });
  }

  /** re-INVITE leg `name` with an SDP that came from leg `fromName` (after a transfer or Replaces); ACK its 2xx. */
  async #reofferLeg(call: Call, name: LegName, fromName: LegName, sdp: Buffer): Promise<SipResponse | undefined> {
    const leg = legOf(call, name);
    if (!leg?.dialog) return undefined;
    let body = await this.#media.offer(this.#mediaRef(call, fromName), sdp);
    if (leg.side === 'teams') body = toTeamsSdp(body, leg.lastSdp);
    leg.lastSdp = body;
    const res = await this.#sendOnLeg(call, leg, 'INVITE', { contact: true, contentType: 'application/sdp', body });
    if (res && res.status < 300) {
      const ack = this.#legs.request(leg, 'ACK', nextRequest(leg.dialog!, 'ACK', res.cseq.seq).lines);
      await this.#legs.sendStateless(leg, ack).catch(() => {});
    }
    return res;
  }

  // ---- Media re-anchoring (issue [5/10] item 7) ----------------------------------------------------------------

  /** The media pod holding these calls stopped answering: move each to another pod of the pool. */
  #onMediaLost(callIds: string[]): void {
    const byId = new Map([...this.#calls].map((c) => [c.id, c]));
    for (const id of callIds) {
      const call = byId.get(id);
      if (call) void this.#reanchorCall(call, 1);
    }
  }

  /**
   * The media pod saw no RTP on a leg of these calls for its no-media timeout (a dead phone, a carrier that lost the
   * call without a BYE): end each call this pod holds, BYE on both legs, CDR reason "Media Timeout". A call being
   * re-anchored or transferred is left alone (its media is moving on purpose).
   */
  #onNoMedia(callIds: string[]): void {
    const ids = new Set(callIds);
    for (const call of [...this.#calls]) {
      if (!ids.has(call.id) || call.state !== 'confirmed' || call.reanchoring || call.transferring) continue;
      this.#log(call).warn('no media on the call for the media pod’s no-media timeout: ending both legs');
      this.#byeLeg(call, 'inbound');
      this.#byeLeg(call, 'outbound');
      this.#endCall(call, { status: 408, reason: 'Media Timeout', endedBy: 'sbc' });
    }
  }

  /**
   * Re-anchor a call's media: the media pool's fresh offers go to both legs in our own re-INVITEs (next CSeq, our
   * Contact; SRTP toward Teams), each 2xx is ACKed and its answer posted to the new pod. The call, its dialogs and
   * its CDR go on. A call that is not confirmed yet (or has an INVITE in flight) is retried shortly; bounded.
   */
  async #reanchorCall(call: Call, attempt: number): Promise<void> {
    const media = this.#media;
    if (!media.reanchor || !media.reanchorAnswer || call.state === 'ended') return;
    const names: LegName[] = ['inbound', 'outbound'];
    const retry = (ms: number, why: string) => {
      if (attempt >= REANCHOR_ATTEMPTS) {
        this.#log(call).error({ why }, 'media re-anchoring given up: the call has no media');
        return;
      }
      this.#legTimer(call, 'reanchor', ms, () => void this.#reanchorCall(call, attempt + 1));
    };
    if (
      call.state !== 'confirmed' ||
      call.transferring ||
      call.reanchoring ||
      names.some((n) => !legOf(call, n)?.dialog || legOf(call, n)?.inviteInProgress)
    ) {
      return retry(REANCHOR_WAIT_MS, `call ${call.state}, or an INVITE in progress`);
    }
    call.reanchoring = true;
    let offers: Record<LegName, Buffer>;
    try {
      offers = await media.reanchor(call.id);
    } catch (err) {
      call.reanchoring = false;
      this.#log(call).warn({ err: String(err), attempt }, 'media re-anchoring failed');
      return retry(REANCHOR_RETRY_MS, String(err));
    }
    this.#log(call).info('media moved to another media pod: re-INVITE of both legs');
    const results = await Promise.all(names.map((n) => this.#reanchorLeg(call, n, offers[n])));
    call.reanchoring = false;
    call.reanchored = (call.reanchored ?? 0) + 1;
    if (hasEnded(call)) return;
    const gone = names.filter((_, i) => results[i] === 'gone');
    if (gone.length) {
      // A leg whose dialog no longer answers (481, timeout): the call cannot go on.
      this.#log(call).warn({ legs: gone }, 're-INVITE after media re-anchoring failed: ending the call');
      for (const n of names) if (!gone.includes(n)) this.#byeLeg(call, n);
      this.#endCall(call, { status: 500, reason: 'Media Re-anchoring Failed', endedBy: 'sbc' });
      return;
    }
    await this.#replicate(call);
  }

  /** One leg's re-INVITE with its re-anchoring offer; a 491 (glare) is tried again after a pause, twice at most. */
  async #reanchorLeg(call: Call, name: LegName, offer: Buffer): Promise<'ok' | 'failed' | 'gone'> {
    for (let tries = 1; ; tries++) {
      const leg = legOf(call, name);
      if (!leg?.dialog || call.state === 'ended') return 'failed';
      const body = leg.side === 'teams' ? toTeamsSdp(offer, leg.lastSdp) : offer;
      const st = call.sessionTimers?.[name];
      leg.inviteInProgress = true;
      leg.lastSdp = body;
      const res = await this.#sendOnLeg(call, leg, 'INVITE', {
        contact: true,
        headers: st
          ? [
              { name: 'Session-Expires', value: `${st.interval};refresher=${st.weRefresh ? 'uac' : 'uas'}` },
              { name: 'Supported', value: 'timer' },
            ]
          : [],
        contentType: 'application/sdp',
        body,
      });
      leg.inviteInProgress = false;
      if (!res || res.status === 481 || res.status === 408) return 'gone';
      if (res.status === 491 && tries < 3 && !hasEnded(call)) {
        await new Promise<void>((r) => setTimeout(r, 500 * tries).unref());
        continue;
      }
      if (res.status >= 300) {
        this.#log(call).warn({ leg: name, status: res.status }, 'leg refused the re-anchoring re-INVITE');
        return 'failed';
      }
      const ack = this.#legs.request(leg, 'ACK', nextRequest(leg.dialog!, 'ACK', res.cseq.seq).lines);
      await this.#legs.sendStateless(leg, ack).catch(() => {});
      if (st) this.#startSessionTimer(call, name);
      if (!res.body.length) {
        this.#log(call).warn({ leg: name }, 'a 2xx to the re-anchoring re-INVITE without SDP');
        return 'failed';
      }
      try {
        await this.#media.reanchorAnswer!(call.id, name, res.body);
      } catch (err) {
        this.#log(call).warn({ leg: name, err: String(err) }, 'media pod refused the re-anchoring answer');
        return 'failed';
      }
      return 'ok';
    }
  }

  /** M5.28: INVITE with Replaces from Teams: find the Teams dialog it names (RFC 3891 §3), or 481. */
  #inviteWithReplaces(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): void {
    const m = /^\s*([^;\s]+)\s*(.*)$/.exec(getHeader(req, 'Replaces') ?? '');
    const callId = m?.[1];
    const params = m?.[2] ?? '';
    const toTag = /;\s*to-tag=([^;\s]+)/i.exec(params)?.[1] ?? '';
    const fromTag = /;\s*from-tag=([^;\s]+)/i.exec(params)?.[1] ?? '';
    let found: { call: Call; name: LegName } | undefined;
    for (const call of this.#calls) {
      for (const name of ['inbound', 'outbound'] as const) {
        const leg = legOf(call, name);
        const d = leg?.dialog;
        if (leg?.side !== 'teams' || !d || d.callId !== callId) continue;
        const tags = [d.localTag, d.remoteTag];
        if (tags.includes(toTag) && tags.includes(fromTag)) found = { call, name };
      }
    }
    if (!found || (found.call.state !== 'confirmed' && found.call.state !== 'answered')) {
      txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist', { toTag: token() }));
      return;
    }
    const { call, name } = found;
    this.#replaceTeamsLeg(call, name, txn, req, peer).catch((err: unknown) => {
      this.#log(call).warn({ err: String(err) }, 'Replaces failed');
      txn.respond(buildResponse(req, 500, 'Replaces Failed', { toTag: token() }));
    });
  }

  /**
   * The new Teams dialog takes over: the carrier is re-INVITEd with Teams' new offer, its answer goes to Teams in
   * our 200, the replaced Teams dialog is BYEd. A failure is answered once, never retried (M5.28: 404 10202 otherwise).
   */
  async #replaceTeamsLeg(
    call: Call,
    name: LegName,
    txn: ServerTransaction<Peer>,
    req: SipRequest,
    peer: Peer,
  ): Promise<void> {
    const carrierName = otherLeg(name);
    const toTag = token();
    const old = legOf(call, name);
    const res = await this.#reofferLeg(call, carrierName, name, req.body);
    if (!res || res.status >= 300) {
      txn.respond(buildResponse(req, res?.status ?? 503, res?.reason ?? 'Carrier Unreachable', { toTag }));
      return;
    }
    let answer = res.body.length ? await this.#media.answer(this.#mediaRef(call, carrierName), res.body) : res.body;
    answer = toTeamsSdp(answer, old?.lastSdp);
    const user = name === 'outbound' ? call.caller : call.callee;
    const contact = teamsContact(user, req.uri.host.toLowerCase(), peer.localPort ?? 5061);
    const leg: Leg = {
      side: 'teams',
      dialog: uasDialog(req, toTag, true),
      contact,
      transport: 'TLS',
      lastSdp: answer,
      ...(peer.connectionId ? { connectionId: peer.connectionId } : {}),
    };
    this.#swapTeamsLeg(call, name, leg);
    txn.respond(
      buildResponse(req, 200, 'OK', {
        toTag,
        headers: [
          { name: 'Contact', value: contact },
          { name: 'Allow', value: TEAMS_ALLOW },
        ],
        ...(answer.length ? { contentType: 'application/sdp', body: answer } : {}),
      }),
    );
    this.#log(call).info('INVITE with Replaces: Teams leg replaced');
    // RFC 3891 §3: the replaced dialog is ended by the UA that accepted the replacement.
    if (old?.dialog) {
      void this.#sendOnLeg(call, old, 'BYE', {}).then(() =>
        this.#retired.delete(`${old.dialog!.callId}|${old.dialog!.localTag}`),
      );
    }
  }

  // ---- dialog store: replication, takeover, deadlines that survive the pod, drain (DESIGN.md §8) ----------------

  /**
   * A CANCEL whose INVITE this pod does not hold: find the call by the INVITE's (Call-ID, From tag) in the store.
   * Its owner is told (Redis pub/sub) and cancels it there; no listener means the owner is gone, so this pod takes the
   * call over and cancels it (CANCEL toward the callee, 487 to the caller). 481 when no stored call matches (e.g. a
   * call still routing, not yet replicated, on a pod that died: nothing is left to cancel).
   */
  async #cancelElsewhere(txn: ServerTransaction<Peer>, req: SipRequest): Promise<void> {
    const store = this.#o.store!;
    const fromTag = req.from.params.get('tag') ?? '';
    try {
      const id = fromTag ? await store.lookup(req.callId, cancelTag(fromTag)) : undefined;
      const rec = id ? await store.load(id) : undefined;
      if (!id || !rec) {
        txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
        return;
      }
      if (rec.owner !== this.#o.podName && store.notify) {
        const heard = await store.notify(rec.owner, { kind: 'cancel', id });
        if (heard > 0) {
          this.#o.logger.info({ callId: req.callId, owner: rec.owner }, 'CANCEL passed to the pod holding its INVITE');
          txn.respond(buildResponse(req, 200, 'OK'));
          return;
        }
      }
      const r = await this.#adoptById(id, 'CANCEL', (call) => this.#cancelCall(call));
      if (r === 'taken') {
        // Adopted before (by an in-dialog request): the local call is cancelled now if it still rings.
        const local = [...this.#calls].find((c) => c.id === id);
        if (local) this.#cancelCall(local);
        txn.respond(buildResponse(req, 200, 'OK'));
      } else if (r === 'busy') txn.respond(buildResponse(req, 500, 'Call Busy', [{ name: 'Retry-After', value: '1' }]));
      else txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    } catch (err) {
      this.#o.logger.warn({ err: String(err), callId: req.callId }, "CANCEL of another pod's call failed");
      txn.respond(buildResponse(req, 500, 'Dialog Store Unavailable', [{ name: 'Retry-After', value: '1' }]));
    }
  }

  /** A message for this pod through the shared store: a CANCEL another pod received for a call ringing here. */
  #onPodMessage(msg: PodMessage): void {
    if (msg.kind !== 'cancel') return;
    const call = [...this.#calls].find((c) => c.id === msg.id);
    if (!call) return;
    this.#log(call).info('CANCEL received by another pod: cancelling here');
    this.#cancelCall(call);
  }

  /** Policy `refuse`: while a shared store is down, new calls get 503 + Retry-After (callers fail over). */
  #storeRefuses(): boolean {
    const s = this.#o.store;
    return !!s && !s.healthy() && (this.#o.storePolicy ?? 'refuse') === 'refuse';
  }

  /** The store came back (Redis restarted or failed over): write every live call again (it may have lost them). */
  #onStoreHealth(up: boolean): void {
    this.#o.logger[up ? 'info' : 'warn'](
      { calls: this.#calls.size, policy: this.#o.storePolicy ?? 'refuse' },
      up ? 'dialog store reachable: re-replicating live calls' : 'dialog store unreachable',
    );
    if (!up) return;
    // Every pod's heartbeat paused with the store: beat now, and judge no other pod gone before it could beat again.
    this.#sweepAfter = Date.now() + this.#orphanOptions().graceMs;
    void this.#beat();
    for (const call of this.#calls) {
      if (call.replica) {
        call.replica.unreplicated = false;
        call.replica.deadlines = {}; // an emptied Redis lost the deadlines too: schedule them again
      }
      if (call.state !== 'routing') void this.#replicate(call);
    }
  }

  /** The record lives while the call can: twice the longest session interval, else a cap (refreshed on every write). */
  #recordTtlMs(call: Call): number {
    if (call.state === 'answered' || call.state === 'confirmed') {
      const intervals = Object.values(call.sessionTimers ?? {}).map((st) => st?.interval ?? 0);
      const longest = Math.max(0, ...intervals);
      return longest > 0 ? longest * 2000 + 60_000 : 12 * 3600_000;
    }
    return 2 * (this.#o.noAnswerMs ?? 180_000) + 60_000;
  }

  /** Deadlines a survivor acts on: the earliest session refresh/expiry when answered, else the no-answer timer. */
  #deadlinesOf(call: Call): Partial<Record<DeadlineKind, number>> {
    if (call.state === 'answered' || call.state === 'confirmed') {
      let at: number | undefined;
      for (const st of Object.values(call.sessionTimers ?? {})) {
        if (!st?.expiresAt) continue;
        const due = st.weRefresh ? st.expiresAt - st.interval * 500 : st.expiresAt;
        at = at === undefined ? due : Math.min(at, due);
      }
      return at === undefined ? {} : { session: at };
    }
    return { 'no-answer': call.times.setup + (this.#o.noAnswerMs ?? 180_000) };
  }

  /** Write the call to the store; writes of one call go one after the other. Resolves false when it was not stored. */
  #replicate(call: Call): Promise<boolean> {
    const store = this.#o.store;
    if (!store || call.state === 'ended') return Promise.resolve(true);
    call.replica ??= { v: 0, pods: [this.#o.podName], deadlines: {} };
    const r = call.replica;
    const next = (r.saving ?? Promise.resolve()).then(() => this.#write(store, call, r));
    r.saving = next.then(() => undefined);
    return next;
  }

  async #write(store: DialogStore, call: Call, r: NonNullable<Call['replica']>): Promise<boolean> {
    if (call.state === 'ended') return true;
    if (!store.healthy()) {
      r.unreplicated = true;
      return false;
    }
    const deadlines = this.#deadlinesOf(call);
    const rec = callToStored(call, this.#o.podName, { ...r, v: r.v + 1, deadlines });
    try {
      let res = await store.save(rec, { ttlMs: this.#recordTtlMs(call), expect: r.v });
      // Versions differ but the record is gone (Redis restarted empty): it is ours to write again.
      if (res === 'conflict' && !(await store.load(call.id))) {
        res = await store.save(rec, { ttlMs: this.#recordTtlMs(call), expect: 0 });
      }
      if (res !== 'ok') {
        if ((call.state as string) !== 'ended') {
          this.#log(call).warn({ result: res }, 'another pod took the call over or ended it: dropping the local copy');
          this.#forget(call);
        }
        return false;
      }
      r.v = rec.v;
      r.unreplicated = false;
      const grace = this.#o.timerGraceMs ?? 2000;
      for (const kind of ['session', 'no-answer'] as const) {
        if (deadlines[kind] === r.deadlines[kind]) continue;
        const at = deadlines[kind];
        await store.schedule(call.id, kind, at === undefined ? undefined : at + grace);
      }
      r.deadlines = deadlines;
      return true;
    } catch (err) {
      r.unreplicated = true;
      this.#log(call).warn({ err: String(err) }, 'dialog store write failed');
      return false;
    }
  }

  /** The write before the 2xx: on failure the call ends cleanly unless the policy admits calls without replication. */
  async #replicateAnswer(call: Call): Promise<boolean> {
    const store = this.#o.store;
    if (!store || (await this.#replicate(call))) return true;
    if (call.state !== 'answered') return false;
    if ((this.#o.storePolicy ?? 'refuse') === 'admit' && !store.healthy()) {
      this.#log(call).warn('dialog store down: call answered without replication (policy admit)');
      return true;
    }
    this.#log(call).error('dialog state could not be stored: ending the call');
    this.#byeLeg(call, 'outbound');
    this.#finishInbound(call, 500, 'State Store Unavailable');
    return false;
  }

  /** True for the one pod that ends the call (its CDR is written there); true as well when no store holds it. */
  async #claimEnd(call: Call): Promise<boolean> {
    const store = this.#o.store;
    if (!store || !call.replica || call.replica.v === 0) return true;
    const dialogs = [{ callId: call.inbound.req.callId, tag: call.inbound.toTag }];
    const fromTag = call.inbound.req.from.params.get('tag');
    if (fromTag) dialogs.push({ callId: call.inbound.req.callId, tag: cancelTag(fromTag) });
    for (const leg of [call.inbound.leg, call.outbound?.leg]) {
      if (leg?.dialog) dialogs.push({ callId: leg.dialog.callId, tag: leg.dialog.localTag });
    }
    try {
      await call.replica.saving;
      const mine = await store.finish({ id: call.id, dialogs });
      if (!mine) this.#log(call).info('call already ended by another pod: its CDR is written there');
      return mine;
    } catch (err) {
      // Better a CDR that the sinks deduplicate by id than none.
      this.#log(call).warn({ err: String(err) }, 'dialog store unreachable at the end of the call: writing the CDR');
      return true;
    }
  }

  /** Does the store still name this pod as the call's owner (no other pod took it over)? */
  async #stillOwner(call: Call): Promise<boolean> {
    const store = this.#o.store;
    if (!store || !call.replica || call.replica.v === 0) return true;
    try {
      const rec = await store.load(call.id);
      if (!rec || rec.owner === this.#o.podName) return true;
      this.#log(call).info({ owner: rec.owner }, 'call taken over by another pod: dropping the local copy');
      this.#forget(call);
      return false;
    } catch {
      return true; // store down: the local copy is all there is
    }
  }

  /** Drop a call from this pod without ending it (another pod has it, or it was handed over): no BYE, no CDR. */
  #forget(call: Call): void {
    if (call.state === 'ended') return;
    call.state = 'ended';
    this.#forgotten.add(call);
    this.#clearTimers(call);
    for (const t of call.legTimers?.values() ?? []) clearTimeout(t);
    call.legTimers?.clear();
    this.#calls.delete(call);
    this.#byInviteTxn.delete(call.inbound.txn);
    for (const [k, e] of [...this.#byDialog]) if (e.call === call) this.#byDialog.delete(k);
    // The call goes on at another pod (or already ended there): its cluster-wide slots are that pod's to renew and
    // give back — releasing them here would drop a live call from the tenant's count.
    const held = call.admission;
    call.admission = undefined;
    if (held) void (held.handOff ? held.handOff() : held.release());
    this.#checkIdle();
  }

  #pendingTakeovers = new Map<string, Promise<'taken' | 'none' | 'busy'>>();
  /** Calls dropped here while they go on at another pod (their admission slots are that pod's). */
  #forgotten = new WeakSet<Call>();

  /** Load the call a dialog belongs to from the store and carry it on here (once per call, under its lock). */
  #takeover(callId: string, tag: string): Promise<'taken' | 'none' | 'busy'> {
    const key = `${callId}|${tag}`;
    let p = this.#pendingTakeovers.get(key);
    if (!p) {
      p = this.#doTakeover(callId, tag).finally(() => this.#pendingTakeovers.delete(key));
      this.#pendingTakeovers.set(key, p);
    }
    return p;
  }

  async #doTakeover(callId: string, tag: string): Promise<'taken' | 'none' | 'busy'> {
    const store = this.#o.store!;
    try {
      const id = await store.lookup(callId, tag);
      if (!id) return 'none';
      return await this.#adoptById(id, 'in-dialog request');
    } catch (err) {
      this.#o.logger.warn({ err: String(err), callId }, 'takeover failed: dialog store unreachable');
      return 'busy';
    }
  }

  /**
   * Adopt a stored call under its lock; `then` runs on the adopted call before the lock is released. With `orphanOf`
   * (the sweeper) only a call that pod still owns is adopted — and only once answered (a ringing call's no-answer
   * deadline deals with it) — without waiting for a lock another pod holds (that pod is adopting it).
   */
  async #adoptById(
    id: string,
    why: string,
    then?: (call: Call, rec: StoredCall) => void,
    opts: { orphanOf?: string } = {},
  ): Promise<'taken' | 'none' | 'busy'> {
    const store = this.#o.store!;
    const held = () => [...this.#calls].some((c) => c.id === id);
    if (held()) return 'taken';
    let token: string | undefined;
    // Another pod holds the lock while it takes the call over: wait for it, bounded (its lock expires anyway).
    const attempts = opts.orphanOf === undefined ? 40 : 1;
    for (let i = 0; i < attempts && !token; i++) {
      token = await store.lock(id, 5000);
      if (!token && i + 1 < attempts) await new Promise((r) => setTimeout(r, 25 + Math.random() * 25));
    }
    if (!token) return 'busy';
    try {
      // Adopted here meanwhile (a sweep and an in-dialog request of the same call): one local copy only.
      if (held()) return 'taken';
      const rec = await store.load(id);
      const from = opts.orphanOf;
      if (from !== undefined && rec?.owner !== from) {
        // Not (or no longer) that pod's: ended, or adopted by another pod — fix the owner index and leave it.
        await store.reindex(id, from, rec?.owner);
        return 'none';
      }
      if (!rec) return 'none';
      if (from !== undefined && rec.state !== 'answered' && rec.state !== 'confirmed') return 'none';
      const routing = this.#o.routing();
      const call = routing
        ? storedToCall(rec, {
            tenantById: (t) => routing.tenantById(t),
            trunkById: (t) => routing.trunkById(t),
            sendStateless: (res, to) => void this.#o.stack.sendStateless(res, to).catch(() => {}),
          })
        : undefined;
      if (!call) return 'none';
      const me = this.#o.podName;
      call.replica = {
        v: rec.v,
        pods: rec.pods.includes(me) ? rec.pods : [...rec.pods, me],
        deadlines: rec.deadlines,
        ...(rec.owner !== me ? { takenOverFrom: rec.owner } : {}),
      };
      this.#calls.add(call);
      this.#byDialog.set(`${call.inbound.req.callId}|${call.inbound.toTag}`, { call, leg: 'inbound' });
      const inD = call.inbound.leg.dialog;
      if (inD) this.#byDialog.set(`${inD.callId}|${inD.localTag}`, { call, leg: 'inbound' });
      const outD = call.outbound?.leg.dialog;
      if (outD) this.#byDialog.set(`${outD.callId}|${outD.localTag}`, { call, leg: 'outbound' });
      // Ownership moves here (compare-and-set on the version: a pod that still writes its stale copy loses).
      if (!(await this.#replicate(call))) return 'busy';
      this.#log(call).warn({ from: rec.owner, why, state: call.state }, 'call taken over from another pod');
      this.#adoptAdmission(call);
      for (const name of ['inbound', 'outbound'] as const) this.#rearmSessionTimer(call, name);
      then?.(call, rec);
      return 'taken';
    } finally {
      await store.unlock(id, token).catch(() => {});
    }
  }

  /**
   * After a takeover: the call's admission slots (tenant calls, trunk channel) are held here from now on — reinstated
   * without a limit check, renewed by this pod, released when the call ends — so the tenant's live-call count stays
   * right after the first pod died.
   */
  #adoptAdmission(call: Call): void {
    const adopt = this.#o.admission?.adopt;
    if (!adopt) return;
    const trunk = call.outbound?.target.trunk?.id ?? call.trunk?.id;
    const req = { tenant: call.tenant.id, callId: call.inbound.req.callId, side: call.inbound.leg.side };
    void adopt
      .call(this.#o.admission, trunk === undefined ? req : { ...req, trunk })
      .then((held) => {
        if (call.state === 'ended') return void (this.#forgotten.has(call) ? held.handOff() : held.release());
        call.admission = { release: held.release, handOff: held.handOff, trunk };
      })
      .catch((err: unknown) => this.#log(call).warn({ err: String(err) }, 'admission of a taken-over call failed'));
  }

  /** After a takeover: the leg's session timer goes on from where the record left it. */
  #rearmSessionTimer(call: Call, name: LegName): void {
    const st = call.sessionTimers?.[name];
    if (!st || call.state === 'ended') return;
    const left = (st.expiresAt ?? Date.now()) - Date.now();
    if (st.weRefresh) {
      const due = Math.max(0, left - st.interval * 500);
      this.#legTimer(call, `refresh:${name}`, due, () => this.#refreshSession(call, name));
    } else {
      this.#legTimer(call, `expire:${name}`, Math.max(0, left), () => this.#sessionExpired(call, name));
    }
  }

  #poller: NodeJS.Timeout | undefined;
  #polling = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping = false;
  /** The first sweep also looks at this pod's own owner index (calls a previous run under this name left). */
  #ownChecked = false;
  /** No sweep before this (epoch ms): set when the store comes back, since no pod could heartbeat meanwhile. */
  #sweepAfter = 0;

  #orphanOptions(): { graceMs: number; sweepMs: number; batch: number; heartbeatMs: number } {
    const o = this.#o.orphans ?? {};
    const graceMs = o.graceMs ?? 10_000;
    return {
      graceMs,
      sweepMs: o.sweepMs ?? 2000,
      batch: Math.max(1, o.batch ?? 20),
      heartbeatMs: o.heartbeatMs ?? Math.max(100, Math.floor(graceMs / 4)),
    };
  }

  /**
   * Watch the shared store's deadlines: calls whose pod died get their session timers and no-answer timers here.
   * Heartbeat this pod, and sweep up the calls of pods that stopped heartbeating.
   */
  startStateTimers(): void {
    if (!this.#o.store?.shared || this.#poller) return;
    this.#o.store
      .listen?.(this.#o.podName, (msg) => this.#onPodMessage(msg))
      .catch((err: unknown) => this.#o.logger.warn({ err: String(err) }, 'pod message channel failed'));
    this.#poller = setInterval(() => void this.#pollDeadlines(), this.#o.timerPollMs ?? 500);
    this.#poller.unref();
    const o = this.#orphanOptions();
    void this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), o.heartbeatMs);
    this.#heartbeat.unref();
    this.#sweeper = setInterval(() => void this.#sweepOrphans(), o.sweepMs);
    this.#sweeper.unref();
  }

  stopStateTimers(): void {
    clearInterval(this.#poller);
    this.#poller = undefined;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /**
   * This pod goes away (after drain, or closing with calls still up): its heartbeat is marked long past so the
   * survivors adopt what it still owns — handed-over calls included — at their next sweep, not after the grace.
   */
  async leaveStore(): Promise<void> {
    this.stopStateTimers();
    const store = this.#o.store;
    if (!store?.shared || !store.healthy()) return;
    await store.leave(this.#o.podName).catch((err: unknown) => {
      this.#o.logger.warn({ err: String(err) }, 'could not mark this pod gone in the dialog store');
    });
  }

  async #beat(): Promise<void> {
    const store = this.#o.store;
    if (!store?.healthy()) return;
    await store.heartbeat(this.#o.podName).catch((err: unknown) => {
      this.#o.logger.warn({ err: String(err) }, 'heartbeat to the dialog store failed');
    });
  }

  /**
   * Adopt orphaned calls: those owned by pods whose heartbeat is older than the grace (dead, or drained and gone).
   * At most `batch` a sweep, picked at random from each gone pod's calls, so several survivors share them; the
   * per-call lock and the compare-and-set on the version make each adoption happen once. A gone pod that owns
   * nothing more is dropped from the liveness record. Never while this pod drains.
   */
  async #sweepOrphans(): Promise<void> {
    const store = this.#o.store;
    if (!store?.shared || this.#sweeping || !store.healthy() || this.#o.draining?.()) return;
    if (!this.#o.routing()) return; // no config yet: an adopted call could not be rebuilt
    if (Date.now() < this.#sweepAfter) return;
    this.#sweeping = true;
    try {
      const o = this.#orphanOptions();
      let budget = o.batch;
      const me = this.#o.podName;
      if (!this.#ownChecked) {
        // Calls owned under this pod's name that it does not hold: a previous run of it died with them.
        const mine = (await store.ownedBy(me, 1000)).filter((id) => ![...this.#calls].some((c) => c.id === id));
        for (const id of mine.slice(0, budget)) await this.#adoptOrphan(id, me);
        budget -= Math.min(budget, mine.length);
        this.#ownChecked = mine.length <= o.batch;
      }
      const gone = (await store.stalePods(o.graceMs)).filter((p) => p.pod !== me);
      for (let i = gone.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [gone[i], gone[j]] = [gone[j]!, gone[i]!];
      }
      for (const pod of gone) {
        if (budget <= 0 || this.#o.draining?.()) break;
        const ids = await store.ownedBy(pod.pod, budget);
        if (ids.length === 0) {
          if (await store.forgetPod(pod.pod, pod.seen)) {
            this.#o.logger.info({ pod: pod.pod }, 'pod gone and none of its calls left: dropped from the pod record');
          }
          continue;
        }
        budget -= ids.length;
        await Promise.all(ids.map((id) => this.#adoptOrphan(id, pod.pod)));
      }
    } catch (err) {
      this.#o.logger.warn({ err: String(err) }, 'orphaned-call sweep failed');
    } finally {
      this.#sweeping = false;
    }
  }

  async #adoptOrphan(id: string, from: string): Promise<void> {
    try {
      const why = from === this.#o.podName ? 'left by a previous run of this pod' : `pod ${from} stopped heartbeating`;
      await this.#adoptById(id, why, undefined, { orphanOf: from });
    } catch (err) {
      this.#o.logger.warn({ err: String(err), id, from }, 'adopting an orphaned call failed');
    }
  }

  async #pollDeadlines(): Promise<void> {
    const store = this.#o.store;
    if (!store || this.#polling || !store.healthy() || this.#o.draining?.()) return;
    this.#polling = true;
    try {
      const due = await store.claimDue(Date.now(), 50);
      await Promise.all(due.map((d) => this.#onDeadline(d.id, d.kind)));
    } catch (err) {
      this.#o.logger.warn({ err: String(err) }, 'deadline poll failed');
    } finally {
      this.#polling = false;
    }
  }

  /** A deadline this pod claimed: renewed meanwhile → put back; else act on it (taking the call over if need be). */
  async #onDeadline(id: string, kind: DeadlineKind): Promise<void> {
    const store = this.#o.store!;
    const grace = this.#o.timerGraceMs ?? 2000;
    const local = [...this.#calls].find((c) => c.id === id);
    if (local) {
      // Ours: the local timers act on it; keep the deadline for survivors in case we die first.
      const at = local.replica?.deadlines[kind];
      if (at !== undefined) await store.schedule(id, kind, Math.max(at, Date.now()) + grace);
      return;
    }
    const rec = await store.load(id);
    if (!rec) return;
    const at = rec.deadlines[kind];
    if (at === undefined) return;
    if (at > Date.now()) {
      await store.schedule(id, kind, at + grace); // the owner renewed it while we claimed the old one
      return;
    }
    await this.#adoptById(id, `${kind} deadline`, (call) => {
      if (kind === 'no-answer') {
        if (call.state === 'answered' || call.state === 'confirmed') return;
        if (call.outbound?.provisional) this.#sendCancel(call);
        this.#finishInbound(call, 480, 'No Answer');
        return;
      }
      // Session deadline: refresh the legs we refresh (their timers were re-armed at takeover, due now); a leg whose
      // peer should have refreshed and did not has expired — its re-armed expiry timer ends the call.
    });
  }

  /**
   * Drain with a shared store: confirmed calls are handed over (their state is in the store, any pod carries them
   * on; their deadlines stay claimable). Returns how many were handed over.
   */
  async handOver(): Promise<number> {
    const store = this.#o.store;
    if (!store?.shared || !store.healthy()) return 0;
    let n = 0;
    for (const call of [...this.#calls]) {
      if (call.state !== 'confirmed' || call.transferring) continue;
      if (call.inbound.leg.inviteInProgress || call.outbound?.leg.inviteInProgress) continue;
      if (!(await this.#replicate(call)) || call.state !== 'confirmed') continue;
      this.#log(call).info('drain: call handed over to the other pods');
      this.#forget(call);
      n++;
    }
    return n;
  }

  #idleWaiters: Array<() => void> = [];

  /** Resolves when this pod holds no call. */
  whenIdle(): Promise<void> {
    if (this.#calls.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #checkIdle(): void {
    if (this.#calls.size !== 0) return;
    for (const r of this.#idleWaiters.splice(0)) r();
  }

  /** Teams-facing OPTIONS answers carry the Contact Teams pinged (O4.5). */
  optionsHeaders(req: SipRequest, peer: Peer): RawHeader[] {
    if (!this.#fromTeams(peer)) return [];
    const host = req.uri.host.toLowerCase();
    return [{ name: 'Contact', value: `<sip:${host}:${peer.localPort ?? 5061};transport=tls>` }];
  }
}
