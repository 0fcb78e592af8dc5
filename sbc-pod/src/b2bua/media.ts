// The seam where media anchoring plugs in (issue [5/10]): every SDP that crosses the B2BUA passes through it.
// Until the media pod is wired, `passthroughMedia` relays SDP unchanged.

export interface MediaCallRef {
  callId: string;
  tenant: string;
  /** The side the SDP came from: the leg that called us (`inbound`) or the leg we called (`outbound`). */
  from: 'inbound' | 'outbound';
  /** What each leg is: Teams legs get SRTP, ICE-lite and RTCP-mux; carrier legs what their trunk says. */
  sides: { inbound: 'teams' | 'carrier'; outbound: 'teams' | 'carrier' };
  /** The carrier trunk wants SRTP (Trunk media.srtp Required). */
  carrierSrtp?: boolean;
  /** The tenant's media pool (`Tenant.spec.mediaPool`): its calls are anchored only on that pool's media pods. */
  pool?: string;
}

/** Per-leg media figures for the CDR (packets, loss, jitter…), as the anchor reports them at release. */
export type MediaStats = Record<string, unknown>;

export interface MediaAnchor {
  /** An SDP offer from one leg; returns the offer to send on the other leg. */
  offer(ref: MediaCallRef, sdp: Buffer): Promise<Buffer>;
  /** An SDP answer from one leg; returns the answer to send on the other leg. */
  answer(ref: MediaCallRef, sdp: Buffer): Promise<Buffer>;
  /** The call ended: free whatever was allocated and return the final figures. Idempotent. */
  release(callId: string): Promise<MediaStats | undefined>;
  /**
   * Optional (media pools): tell `listener` the calls whose media pod stopped answering; the B2BUA re-anchors each
   * (`reanchor`, then a re-INVITE of both legs with the fresh offers and `reanchorAnswer` with each answer).
   */
  onCallsLost?(listener: (callIds: string[]) => void): void;
  /**
   * Optional: tell `listener` the calls whose media stopped (no RTP on a leg for the media pod's no-media timeout,
   * legs on hold excepted). The B2BUA ends each call it holds with BYEs on both legs (CDR reason "Media Timeout").
   * Reports may repeat; calls this pod does not hold are ignored (the pod holding them gets the same report).
   */
  onNoMedia?(listener: (callIds: string[]) => void): void;
  /** Move a call to a healthy media pod: a fresh SDP offer per leg (new ports, and new keys toward SRTP legs). */
  reanchor?(callId: string): Promise<Record<'inbound' | 'outbound', Buffer>>;
  /** The answer a leg gave to its re-anchoring offer. */
  reanchorAnswer?(callId: string, leg: 'inbound' | 'outbound', sdp: Buffer): Promise<void>;
}

export const passthroughMedia: MediaAnchor = {
  offer: async (_ref, sdp) => sdp,
  answer: async (_ref, sdp) => sdp,
  release: async () => undefined,
};
