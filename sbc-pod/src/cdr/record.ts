// The call detail record: one per call attempt, written when the attempt ends (DESIGN.md §8).
// Fields that a later stage fills (media stats, charge) are optional so early CDRs stay valid.
import { createHash } from 'node:crypto';

export const CDR_SCHEMA_VERSION = 'switchboard.dev/cdr-v1';

export type CallDirection = 'teams-to-carrier' | 'carrier-to-teams' | 'teams-to-teams';

/** Why an attempt ended, in words a billing system can group by. */
export type Disposition =
  | 'answered'
  | 'busy'
  | 'no-answer'
  | 'cancelled'
  | 'rejected'
  | 'blocked'
  | 'not-found'
  | 'admission-rejected'
  | 'failed';

export interface Cdr {
  schema: typeof CDR_SCHEMA_VERSION;
  /** Deterministic: the same attempt always gets the same id, so sinks can drop replays. */
  id: string;
  tenant: string;
  account?: string;
  direction: CallDirection;
  /** Call-ID of the leg that came in, and of the leg we originated. */
  inboundCallId: string;
  outboundCallId?: string;
  caller: string;
  callee: string;
  trunk?: string;
  setupTime: string;
  ringTime?: string;
  answerTime?: string;
  endTime: string;
  /** Whole call, setup to end, milliseconds. */
  durationMs: number;
  /** Answer to end, milliseconds; 0 when not answered. */
  talkMs: number;
  disposition: Disposition;
  sipCode: number;
  sipReason?: string;
  q850Cause?: number;
  /** Which side ended the call: caller, callee, sbc (timer, limit, error). */
  endedBy?: 'caller' | 'callee' | 'sbc';
  /**
   * Why an answered call ended, when known: the SBC's reason (`Media Timeout`, `Session Expired`…) or the Reason
   * header of the BYE that ended it (RFC 3326). Unanswered attempts say it in sipCode/sipReason.
   */
  endReason?: string;
  /** Outbound attempts made before the final answer (failover across trunks or Teams targets). */
  attempts?: number;
  failover?: boolean;
  /** Why admission control refused the call (disposition `admission-rejected`), e.g. `tenant-cps`. */
  admissionReason?: string;
  pods?: string[];
  /** The pod that ended the call after taking it over from the pod that set it up (a failover of the pod). */
  takenOverBy?: string;
  codec?: string;
  /** Per-leg media figures; see CdrMediaLeg for the documented keys (schema: cdr/schema/cdr-v1.schema.json). */
  media?: Record<string, unknown>;
  billableSeconds?: number;
  charge?: { amount: string; currency: string };
  /** The destination prefix whose rate applied (billing/rate.ts), when one did. */
  ratedPrefix?: string;
}

/** The documented shape of `Cdr.media.inbound` / `Cdr.media.outbound` (all optional). */
export interface CdrMediaLeg {
  packetsReceived?: number;
  packetsSent?: number;
  packetsLost?: number;
  jitterMs?: number;
  bytesReceived?: number;
  bytesSent?: number;
}

/** A CDR id from what identifies an attempt: the tenant, the inbound Call-ID and its From tag, the attempt number. */
export function cdrId(tenant: string, inboundCallId: string, fromTag: string, attempt = 0): string {
  return createHash('sha256')
    .update(`${tenant}\n${inboundCallId}\n${fromTag}\n${attempt}`)
    .digest('base64url')
    .slice(0, 26);
}

/** Q.850 cause for a final SIP status (RFC 3398 §7.2.4.1 mapping, the common part). */
export function q850ForSipStatus(status: number): number | undefined {
  if (status >= 200 && status < 300) return 16;
  const table: Record<number, number> = {
    400: 41,
    401: 21,
    402: 21,
    403: 21,
    404: 1,
    405: 63,
    406: 79,
    407: 21,
    408: 102,
    410: 22,
    413: 127,
    414: 127,
    415: 79,
    416: 127,
    420: 127,
    421: 127,
    423: 127,
    480: 18,
    481: 41,
    482: 25,
    483: 25,
    484: 28,
    485: 1,
    486: 17,
    487: 127,
    488: 65,
    500: 41,
    501: 79,
    502: 38,
    503: 41,
    504: 102,
    505: 127,
    513: 127,
    600: 17,
    603: 21,
    604: 1,
    606: 65,
  };
  return table[status];
}
