// Media session state kept outside the pod so another pod can re-anchor a call when this one dies. The record holds
// what is needed to rebuild the call (tenant, leg profiles, each side's last SDP) and never SRTP key material:
// crypto lines are stripped, and re-anchoring negotiates fresh keys with both sides.
import type { LegProfile } from '../relay/leg.ts';

export interface StoredLeg {
  profile: LegProfile;
  /** The remote side's last SDP, without a=crypto lines; null before it sent one. */
  remoteSdp: string | null;
}

export interface SessionRecord {
  callId: string;
  tenant: string;
  podId: string;
  podUrl: string;
  transcode: boolean;
  /** Leg that made the last offer, and the leg it was made to. */
  offerer: string | null;
  answerer: string | null;
  legs: Record<string, StoredLeg>;
  updatedAt: number;
}

/** A media pod's heartbeat (`switchboard:media:pod:<podId>`): how the sbc-pods find it (SWITCHBOARD_MEDIA_DISCOVERY=redis). */
export interface PodRecord {
  podId: string;
  /** Its control API URL as other pods reach it (SWITCHBOARD_MEDIA_API_ADVERTISED_URL). */
  url: string;
  /** Its media pool (SWITCHBOARD_MEDIA_POOL; a Tenant's mediaPool). Records of older pods have none: `default`. */
  pool?: string;
  at: number;
}

export interface SessionStore {
  save(r: SessionRecord): Promise<void>;
  load(callId: string): Promise<SessionRecord | null>;
  remove(callId: string, podId: string): Promise<void>;
  /** Calls last anchored on a pod (for the sbc-pod, to find what to move when the pod is gone). */
  sessionsOfPod(podId: string): Promise<string[]>;
  heartbeat(p: PodRecord, ttlMs: number): Promise<void>;
  alivePods(): Promise<PodRecord[]>;
  close(): Promise<void>;
}

export function stripCrypto(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((l) => !l.startsWith('a=crypto:'))
    .join('\r\n');
}

/** In-memory store: local mode without SWITCHBOARD_REDIS_URL, and tests. */
export class MemorySessionStore implements SessionStore {
  readonly sessions = new Map<string, SessionRecord>();
  readonly pods = new Map<string, { p: PodRecord; until: number }>();

  async save(r: SessionRecord): Promise<void> {
    this.sessions.set(r.callId, structuredClone(r));
  }
  async load(callId: string): Promise<SessionRecord | null> {
    const r = this.sessions.get(callId);
    return r ? structuredClone(r) : null;
  }
  async remove(callId: string, podId: string): Promise<void> {
    if (this.sessions.get(callId)?.podId === podId) this.sessions.delete(callId);
  }
  async sessionsOfPod(podId: string): Promise<string[]> {
    return [...this.sessions.values()].filter((r) => r.podId === podId).map((r) => r.callId);
  }
  async heartbeat(p: PodRecord, ttlMs: number): Promise<void> {
    this.pods.set(p.podId, { p, until: Date.now() + ttlMs });
  }
  async alivePods(): Promise<PodRecord[]> {
    const now = Date.now();
    return [...this.pods.values()].filter((x) => x.until > now).map((x) => x.p);
  }
  async close(): Promise<void> {}
}
