// SIP status ⇄ Q.850 cause across the B2BUA (teams-direct-routing.md M5.13, M5.14, X7.6): Direct Routing maps
// 486 → cause 17 (ND1017), not RFC 4497's 34. Toward carriers a final failure carries `Reason: Q.850;cause=N` (the
// cause Teams gave when it gave one, e.g. 63 for Location-Based Routing); from carriers a Q.850 cause picks the SIP
// status Teams gets. Pure.
import { q850ForSipStatus } from '../cdr/record.ts';

/** The Q.850 cause in a Reason header value, if any. */
export function q850Of(reason: string | undefined): number | undefined {
  if (!reason) return undefined;
  for (const part of reason.split(/,(?=\s*[A-Za-z0-9.-]+\s*;)/)) {
    if (!/^\s*Q\.850\s*;/i.test(part)) continue;
    const n = Number(/;\s*cause\s*=\s*(\d+)/i.exec(part)?.[1]);
    if (Number.isInteger(n)) return n;
  }
  return undefined;
}

/** The Q.850 cause for a SIP failure status, Direct Routing style (486 → 17, 603 → 21, 404 → 1, 480 → 18 …). */
export function q850ForStatus(status: number): number {
  if (status === 486 || status === 600) return 17;
  if (status === 603) return 21;
  return q850ForSipStatus(status) ?? 31;
}

/** `Reason: Q.850;cause=N` for a failure relayed toward a carrier; Teams' own cause wins when it sent one. */
export function reasonTowardCarrier(status: number, teamsReason: string | undefined): string {
  const given = q850Of(teamsReason);
  if (given !== undefined && teamsReason) return teamsReason.trim();
  return `Q.850;cause=${q850ForStatus(status)}`;
}

const CAUSE_TO_STATUS: Record<number, number> = {
  1: 404,
  3: 404,
  16: 480,
  17: 486,
  18: 408,
  19: 480,
  20: 480,
  21: 603,
  22: 410,
  27: 502,
  28: 484,
  29: 403,
  31: 480,
  34: 503,
  38: 503,
  41: 503,
  42: 503,
  47: 503,
  55: 403,
  57: 403,
  58: 503,
  63: 403,
  65: 488,
  79: 501,
  88: 488,
  102: 504,
  127: 500,
};

/**
 * The status Teams gets for a carrier's final failure: the Q.850 cause decides when the carrier gave one that maps
 * (a generic 500 with cause 17 is busy); otherwise the status stands.
 */
export function statusFromCarrier(status: number, reason: string | undefined): number {
  const cause = q850Of(reason);
  if (cause === undefined) return status;
  return CAUSE_TO_STATUS[cause] ?? status;
}
