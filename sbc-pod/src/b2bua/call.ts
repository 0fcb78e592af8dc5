// One call through the B2BUA: two legs with their own dialogs, the attempt in progress, and the CDR so far.
// Plain data plus small helpers; the orchestration lives in b2bua.ts.
import type { TenantConfig, TrunkConfig } from '../../../crds/src/render/config-types.ts';
import type { CallDirection, Disposition } from '../cdr/record.ts';
import type { RequestSpec, SipRequest, SipResponse } from '../sip/message/index.ts';
import type { Peer } from '../sip/stack.ts';
import type { ClientTransaction, ServerTransaction } from '../sip/transaction/index.ts';
import type { CallReplica } from '../state/snapshot.ts';
import type { CallSpan, CallStep } from '../telemetry/tracing.ts';
import type { DialogState } from './dialog.ts';

export type Side = 'teams' | 'carrier';
export type LegName = 'inbound' | 'outbound';

/** Where an outbound attempt goes: a trunk target or a Teams SIP proxy. */
export interface AttemptTarget {
  side: Side;
  host: string;
  port: number;
  transport: 'UDP' | 'TCP' | 'TLS';
  trunk?: TrunkConfig;
}

export interface Leg {
  side: Side;
  /** Confirmed or early dialog; undefined for an outbound leg before any answer with a tag. */
  dialog?: DialogState;
  /** Our Contact header value on this leg. */
  contact: string;
  /** Host we write in Via sent-by on this leg (tenant FQDN toward Teams). */
  viaHost?: string;
  transport: 'UDP' | 'TCP' | 'TLS';
  /** TLS server name to verify when we open a connection toward this leg. */
  servername?: string;
  /** Connection the peer used (inbound leg): preferred for requests back when it still exists. */
  connectionId?: string;
  /** A re-INVITE we sent on this leg and have not seen a final answer for (glare → 491). */
  inviteInProgress?: boolean;
  /** The last SDP we sent on this leg (session refreshes resend it; Teams' hold rewrite keeps its address). */
  lastSdp?: Buffer;
  /** A 2xx offer (answer to a re-INVITE without SDP) we relayed: its ACK, with the answer, goes to this leg. */
  pendingAck?: { cseq: number; target: Peer };
}

/** RFC 4028 state of one leg: the negotiated interval and whether we are its refresher. */
export interface LegSessionTimer {
  interval: number;
  weRefresh: boolean;
  /** When the session expires without a refresh (epoch ms; the dialog store's deadline). */
  expiresAt?: number;
}

export type CallState = 'routing' | 'proceeding' | 'early' | 'answered' | 'confirmed' | 'ended';

export interface Call {
  id: string;
  tenant: TenantConfig;
  direction: CallDirection;
  state: CallState;
  caller: string;
  callee: string;
  inbound: {
    req: SipRequest;
    txn: ServerTransaction<Peer>;
    peer: Peer;
    toTag: string;
    leg: Leg;
    /** The 2xx we sent, retransmitted until the ACK arrives. */
    final2xx?: SipResponse;
  };
  outbound?: {
    req: SipRequest;
    /** How `req` was built: a digest-authenticated retry rebuilds it with a new branch, CSeq and credentials. */
    spec: RequestSpec;
    /** Which attempt (1-based) this is; timers of an attempt check it so a retried INVITE keeps them. */
    attemptNo: number;
    /** We already answered a 401/407 on this attempt (a second challenge is a failure). */
    authTried?: boolean;
    /** We already retried this attempt after a 422 (RFC 4028 §7.4: once, at the larger Min-SE). */
    seRetried?: boolean;
    txn: ClientTransaction<Peer>;
    target: AttemptTarget;
    leg: Leg;
    provisional: boolean;
    cancelWhenProvisional?: boolean;
  };
  targets: AttemptTarget[];
  attempt: number;
  trunk?: TrunkConfig;
  /** Translated destination for outbound attempts. */
  routeDestination: string;
  times: { setup: number; ring?: number; answer?: number; end?: number };
  timers: Set<NodeJS.Timeout>;
  cancelled: boolean;
  /** The codec the callee's answer settled on (for the CDR). */
  codec?: string;
  /** Set when the reason is more specific than the SIP status says (e.g. a route policy block). */
  disposition?: Disposition;
  lastStatus?: { status: number; reason: string; reasonHeader?: string | undefined };
  /** Session timers per leg (RFC 4028), and their refresh/expiry timers (kept apart from the call's setup timers). */
  sessionTimers?: Partial<Record<LegName, LegSessionTimer>>;
  legTimers?: Map<string, NodeJS.Timeout>;
  /** The caller asked for privacy (Privacy: id). */
  privacy?: boolean;
  /** Provisional responses relayed on the inbound leg (the first-18x-only policy toward carriers). */
  provisionalsRelayed?: number;
  /** A REFER from Teams is being carried out (M5.25). */
  transferring?: boolean;
  /** Its media is being moved to another media pod (both legs re-INVITEd): offers from the legs get 491 meanwhile. */
  reanchoring?: boolean;
  /** How many times its media was moved to another media pod (the CDR's media.reanchored). */
  reanchored?: number;
  /** In-dialog sends (NOTIFYs) on a leg keep their order. */
  sendChain?: Promise<void>;
  /** Its replica in the dialog store (version, pods that handled it, deadlines); absent without a store. */
  replica?: CallReplica;
  /**
   * Admission held for this call (released exactly once when it ends) and the trunk it was taken for; `handOff`
   * (when present) stops holding the slots here without giving them back: another pod carries the call on.
   */
  admission?: { release(): Promise<void>; handOff?(): Promise<void>; trunk: string | undefined };
  /** Why admission control refused the call (CDR admissionReason). */
  admissionReason?: string;
  /** The call's trace span, and the step of the outbound attempt in progress. */
  span?: CallSpan;
  attemptStep?: CallStep;
  /** The call attempt has been counted in the metrics. */
  counted?: boolean;
}

export function otherLeg(name: LegName): LegName {
  return name === 'inbound' ? 'outbound' : 'inbound';
}

export function legOf(call: Call, name: LegName): Leg | undefined {
  return name === 'inbound' ? call.inbound.leg : call.outbound?.leg;
}
