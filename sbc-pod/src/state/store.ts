// The dialog store (DESIGN.md §8): what a surviving pod needs to carry on a call another pod set up — both legs'
// dialogs, the tenant and trunk, session-timer and no-answer deadlines, the CDR so far — as one JSON record per call,
// plus an index from each leg's (Call-ID, our tag) to the call, a per-call lock, an exactly-once end marker and the
// timer deadlines any pod may claim. Two implementations: Redis (shared by every pod) and memory (local mode).

import type { DialogState } from '../b2bua/dialog.ts';
import type { CallDirection, Disposition } from '../cdr/record.ts';

export type StoredSide = 'teams' | 'carrier';
export type StoredTransport = 'UDP' | 'TCP' | 'TLS';

export interface StoredLeg {
  side: StoredSide;
  dialog?: DialogState;
  contact: string;
  viaHost?: string;
  transport: StoredTransport;
  servername?: string;
  /** Base64 of the last SDP we sent on the leg (session refreshes resend it). */
  lastSdp?: string;
  /**
   * A 2xx offer (to a re-INVITE without SDP) we ACK on this leg once the other leg's ACK brings the answer: the CSeq
   * and where the ACK goes. Stored so the pod that receives that ACK can relay it even if it did not relay the 2xx.
   */
  pendingAck?: { cseq: number; target: StoredPeer };
}

export interface StoredPeer {
  transport: StoredTransport;
  address: string;
  port: number;
  servername?: string;
}

export interface StoredSessionTimer {
  interval: number;
  weRefresh: boolean;
  /** When the leg's session expires without a refresh (epoch ms). */
  expiresAt: number;
}

export type DeadlineKind = 'session' | 'no-answer';

/** One call as any pod can resume it. `v` is bumped on every write (compare-and-set); `owner` acts on the call. */
export interface StoredCall {
  v: number;
  id: string;
  owner: string;
  /** Every sbc-pod that handled the call, in order (CDR `pods`). */
  pods: string[];
  tenant: string;
  direction: CallDirection;
  state: 'routing' | 'proceeding' | 'early' | 'answered' | 'confirmed';
  caller: string;
  callee: string;
  trunk?: string;
  routeDestination: string;
  privacy?: boolean;
  attempt: number;
  disposition?: Disposition;
  times: { setup: number; ring?: number; answer?: number };
  inbound: {
    /** The INVITE as received, without its body (the CDR's ids and any response we still owe come from it). */
    invite: string;
    /** Its Call-ID and From tag: a CANCEL (which has no To tag) finds the call by them. */
    callId?: string;
    fromTag?: string;
    toTag: string;
    peer: StoredPeer;
    leg: StoredLeg;
  };
  outbound?: {
    /** The INVITE we sent (without body): CANCEL and the CDR's outbound Call-ID come from it. */
    invite: string;
    attemptNo: number;
    target: { side: StoredSide; host: string; port: number; transport: StoredTransport; trunk?: string };
    peer: StoredPeer;
    leg: StoredLeg;
    provisional: boolean;
  };
  sessionTimers?: Partial<Record<'inbound' | 'outbound', StoredSessionTimer>>;
  /** Deadlines (epoch ms) the owner renews; survivors act when one passes unrenewed. */
  deadlines: Partial<Record<DeadlineKind, number>>;
  /** The media pod session ref (the call id by convention). */
  mediaRef: string;
}

export type SaveResult = 'ok' | 'conflict' | 'ended';

/** A message to the pod that owns a call (shared stores): CANCEL of a call whose INVITE reached that pod. */
export interface PodMessage {
  kind: 'cancel';
  id: string;
}

/** The index tag under which a call is found by its inbound (Call-ID, From tag): what a CANCEL carries. */
export const cancelTag = (fromTag: string): string => `~${fromTag}`;

export interface DialogStore {
  /** True when other pods see this store (Redis); false for the in-memory store of local mode. */
  readonly shared: boolean;
  /** False while the backing store is unreachable. */
  healthy(): boolean;
  /** Called with true/false when health changes (Redis reconnects / disconnects). */
  onHealth(fn: (up: boolean) => void): void;
  /**
   * Write the record (and its dialog index keys) if the stored version is `expect` (undefined: whatever it is); when
   * the owner changes (a new call, a takeover) the call moves to the new owner's index.
   * The record's `v` must already be the new version. 'conflict' = someone else wrote it; 'ended' = it is over.
   */
  save(call: StoredCall, opts: { ttlMs: number; expect?: number | undefined }): Promise<SaveResult>;
  load(id: string): Promise<StoredCall | undefined>;
  /** The call a leg's (Call-ID, our tag) belongs to. */
  lookup(callId: string, tag: string): Promise<string | undefined>;
  /** Exactly once per call: true for the one caller that ends it (record, index, timers and owner entry are removed). */
  finish(call: Pick<StoredCall, 'id'> & { dialogs: Array<{ callId: string; tag: string }> }): Promise<boolean>;
  /** A per-call lock (serialises a takeover across pods): a token when taken, undefined when someone holds it. */
  lock(id: string, ttlMs: number): Promise<string | undefined>;
  unlock(id: string, token: string): Promise<void>;
  /** Set (or move) a call's deadline of this kind; `at` undefined removes it. */
  schedule(id: string, kind: DeadlineKind, at: number | undefined): Promise<void>;
  /** Atomically take up to `limit` deadlines due by `now`: each is handed to exactly one caller. */
  claimDue(now: number, limit: number): Promise<Array<{ id: string; kind: DeadlineKind }>>;
  // Pod liveness and the calls each pod owns (kept by save and finish): a survivor adopts the calls of a pod that
  // stopped heartbeating — quiet calls that no request or deadline would bring to another pod.
  /** This pod is alive (the store's clock stamps it). */
  heartbeat(pod: string): Promise<void>;
  /** This pod is going away: its heartbeat is marked long past, so survivors adopt what it still owns at once. */
  leave(pod: string): Promise<void>;
  /** Pods whose last heartbeat is more than `graceMs` old (by the store's clock), with that heartbeat. */
  stalePods(graceMs: number): Promise<Array<{ pod: string; seen: number }>>;
  /** Up to `limit` ids of calls `pod` owns, picked at random (survivors sweeping one dead pod share its calls). */
  ownedBy(pod: string, limit: number): Promise<string[]>;
  /** A wrong owner-index entry: the call is no longer `from`'s; it is indexed under `to` (its owner now) if given. */
  reindex(id: string, from: string, to: string | undefined): Promise<void>;
  /** Drop a gone pod's liveness entry once it owns nothing — only if its heartbeat is still `seen`. */
  forgetPod(pod: string, seen: number): Promise<boolean>;
  /** Shared stores: send a message to a pod; resolves with how many pods listened (0: that pod is gone). */
  notify?(pod: string, msg: PodMessage): Promise<number>;
  /** Shared stores: receive this pod's messages. */
  listen?(pod: string, fn: (msg: PodMessage) => void): Promise<void>;
  close(): Promise<void>;
}

export function dialogKeys(s: StoredCall): Array<{ callId: string; tag: string }> {
  const out: Array<{ callId: string; tag: string }> = [];
  const inD = s.inbound.leg.dialog;
  out.push({ callId: inD?.callId ?? '', tag: s.inbound.toTag });
  if (inD && inD.localTag !== s.inbound.toTag) out.push({ callId: inD.callId, tag: inD.localTag });
  const outD = s.outbound?.leg.dialog;
  if (outD) out.push({ callId: outD.callId, tag: outD.localTag });
  if (s.inbound.callId && s.inbound.fromTag) out.push({ callId: s.inbound.callId, tag: cancelTag(s.inbound.fromTag) });
  return out.filter((k) => k.callId !== '' && k.tag !== '');
}
