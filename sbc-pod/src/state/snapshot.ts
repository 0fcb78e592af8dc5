// A Call as a StoredCall (what goes to the dialog store) and back (what a surviving pod rebuilds to carry on).
// The rebuilt call has no live transactions: its inbound "transaction" answers statelessly toward the caller's
// source (so a call orphaned while ringing can still be refused), its outbound one only remembers where it went.
import type { TenantConfig, TrunkConfig } from '../../../crds/src/render/config-types.ts';
import type { Call, Leg, LegName } from '../b2bua/call.ts';
import {
  parseMessage,
  type RequestSpec,
  type SipRequest,
  type SipResponse,
  serializeMessage,
} from '../sip/message/index.ts';
import type { Peer } from '../sip/stack.ts';
import type { ClientTransaction, ServerTransaction } from '../sip/transaction/index.ts';
import type { DeadlineKind, StoredCall, StoredLeg, StoredPeer } from './store.ts';

/** What the B2BUA keeps per call about its replica in the store. */
export interface CallReplica {
  /** Version of the record last written (or loaded) by this pod. */
  v: number;
  pods: string[];
  deadlines: Partial<Record<DeadlineKind, number>>;
  /** The pod that set the call up, when this pod took it over. */
  takenOverFrom?: string;
  /** A write is in flight / another is wanted after it. */
  saving?: Promise<void>;
  dirty?: boolean;
  /** Admitted while the store was down (policy admit): not replicated until the store is back. */
  unreplicated?: boolean;
  /** Ownership was just confirmed in the store (a local timer may act). */
  checked?: boolean;
}

function stripBody(req: SipRequest): string {
  return serializeMessage({ ...req, body: Buffer.alloc(0) }).toString('latin1');
}

function storedLeg(leg: Leg): StoredLeg {
  return {
    side: leg.side,
    ...(leg.dialog ? { dialog: leg.dialog } : {}),
    contact: leg.contact,
    ...(leg.viaHost ? { viaHost: leg.viaHost } : {}),
    transport: leg.transport,
    ...(leg.servername ? { servername: leg.servername } : {}),
    ...(leg.lastSdp?.length ? { lastSdp: leg.lastSdp.toString('base64') } : {}),
    ...(leg.pendingAck ? { pendingAck: { cseq: leg.pendingAck.cseq, target: storedPeer(leg.pendingAck.target) } } : {}),
  };
}

function legFrom(s: StoredLeg): Leg {
  return {
    side: s.side,
    ...(s.dialog ? { dialog: s.dialog } : {}),
    contact: s.contact,
    ...(s.viaHost ? { viaHost: s.viaHost } : {}),
    transport: s.transport,
    ...(s.servername ? { servername: s.servername } : {}),
    ...(s.lastSdp ? { lastSdp: Buffer.from(s.lastSdp, 'base64') } : {}),
    ...(s.pendingAck ? { pendingAck: { cseq: s.pendingAck.cseq, target: { ...s.pendingAck.target } } } : {}),
  };
}

function storedPeer(p: Peer): StoredPeer {
  return {
    transport: p.transport,
    address: p.sourceAddress ?? p.address,
    port: p.sourcePort ?? p.port,
    ...(p.servername ? { servername: p.servername } : {}),
  };
}

/** The record of a live call. `owner` is the pod writing it; the replica carries version, pods and deadlines. */
export function callToStored(call: Call, owner: string, replica: CallReplica): StoredCall {
  if (call.state === 'ended') throw new Error('an ended call is not stored');
  const out = call.outbound;
  const timers: StoredCall['sessionTimers'] = {};
  for (const name of ['inbound', 'outbound'] as const) {
    const st = call.sessionTimers?.[name];
    if (st) timers[name] = { interval: st.interval, weRefresh: st.weRefresh, expiresAt: st.expiresAt ?? 0 };
  }
  return {
    v: replica.v,
    id: call.id,
    owner,
    pods: replica.pods,
    tenant: call.tenant.id,
    direction: call.direction,
    state: call.state,
    caller: call.caller,
    callee: call.callee,
    ...(call.trunk ? { trunk: call.trunk.id } : {}),
    routeDestination: call.routeDestination,
    ...(call.privacy ? { privacy: true } : {}),
    attempt: call.attempt,
    ...(call.disposition ? { disposition: call.disposition } : {}),
    times: {
      setup: call.times.setup,
      ...(call.times.ring ? { ring: call.times.ring } : {}),
      ...(call.times.answer ? { answer: call.times.answer } : {}),
    },
    inbound: {
      invite: stripBody(call.inbound.req),
      callId: call.inbound.req.callId,
      ...(call.inbound.req.from.params.get('tag') ? { fromTag: call.inbound.req.from.params.get('tag')! } : {}),
      toTag: call.inbound.toTag,
      peer: storedPeer(call.inbound.peer),
      leg: storedLeg(call.inbound.leg),
    },
    ...(out
      ? {
          outbound: {
            invite: stripBody(out.req),
            attemptNo: out.attemptNo,
            target: {
              side: out.target.side,
              host: out.target.host,
              port: out.target.port,
              transport: out.target.transport,
              ...(out.target.trunk ? { trunk: out.target.trunk.id } : {}),
            },
            peer: storedPeer(out.txn.target),
            leg: storedLeg(out.leg),
            provisional: out.provisional,
          },
        }
      : {}),
    ...(Object.keys(timers).length ? { sessionTimers: timers } : {}),
    deadlines: replica.deadlines,
    mediaRef: call.id,
  };
}

export interface RebuildContext {
  tenantById(id: string): TenantConfig | undefined;
  trunkById(id: string): TrunkConfig | undefined;
  /** Send a response outside any transaction (toward the caller of a call rebuilt while ringing). */
  sendStateless(res: SipResponse, to: Peer): void;
}

/** Rebuild a call from its record; undefined when the tenant is no longer configured. */
export function storedToCall(s: StoredCall, ctx: RebuildContext): Call | undefined {
  const tenant = ctx.tenantById(s.tenant);
  if (!tenant) return undefined;
  const trunk = s.trunk ? ctx.trunkById(s.trunk) : undefined;
  const inReq = parseMessage(Buffer.from(s.inbound.invite, 'latin1')) as SipRequest;
  const inPeer: Peer = { ...s.inbound.peer };
  // No transaction survived the pod: a response we still owe the caller goes out statelessly to where it came from.
  const inTxn = {
    request: inReq,
    respond: (res: SipResponse) => {
      ctx.sendStateless(res, inPeer);
      return true;
    },
  } as unknown as ServerTransaction<Peer>;
  const call: Call = {
    id: s.id,
    tenant,
    direction: s.direction,
    state: s.state === 'answered' ? 'confirmed' : s.state,
    caller: s.caller,
    callee: s.callee,
    inbound: { req: inReq, txn: inTxn, peer: inPeer, toTag: s.inbound.toTag, leg: legFrom(s.inbound.leg) },
    targets: [],
    attempt: s.attempt,
    ...(trunk ? { trunk } : {}),
    routeDestination: s.routeDestination,
    times: { ...s.times },
    timers: new Set(),
    cancelled: false,
    ...(s.privacy ? { privacy: true } : {}),
    ...(s.disposition ? { disposition: s.disposition } : {}),
  };
  const o = s.outbound;
  if (o) {
    const outReq = parseMessage(Buffer.from(o.invite, 'latin1')) as SipRequest;
    const outTrunk = o.target.trunk ? ctx.trunkById(o.target.trunk) : undefined;
    const txn = { request: outReq, target: { ...o.peer } } as unknown as ClientTransaction<Peer>;
    call.outbound = {
      req: outReq,
      spec: {} as RequestSpec,
      attemptNo: o.attemptNo,
      txn,
      target: {
        side: o.target.side,
        host: o.target.host,
        port: o.target.port,
        transport: o.target.transport,
        ...(outTrunk ? { trunk: outTrunk } : {}),
      },
      leg: legFrom(o.leg),
      provisional: o.provisional,
    };
  }
  if (s.sessionTimers) {
    call.sessionTimers = {};
    for (const name of ['inbound', 'outbound'] as LegName[]) {
      const st = s.sessionTimers[name];
      if (st) call.sessionTimers[name] = { interval: st.interval, weRefresh: st.weRefresh, expiresAt: st.expiresAt };
    }
  }
  return call;
}
