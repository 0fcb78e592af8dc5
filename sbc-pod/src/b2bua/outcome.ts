// What a final answer on the outbound leg means: try the next target, or relay it, and how the CDR names it.
// Pure; the B2BUA asks these questions on every outbound attempt.
import type { Disposition } from '../cdr/record.ts';

/**
 * Failover across trunks / targets (DESIGN.md §6, issue [3/10]): on timeout, 408 and 5xx, never on 486, 600, 603 or
 * any other 4xx/6xx (a rejection by the called party or network is an answer, not a fault).
 * Teams 503 + Retry-After means "this datacentre is draining, try the next" (teams-direct-routing.md T1.12).
 */
export function shouldFailover(status: number): boolean {
  return status === 408 || (status >= 500 && status < 600);
}

export function dispositionFor(status: number): Disposition {
  if (status >= 200 && status < 300) return 'answered';
  if (status === 486 || status === 600) return 'busy';
  if (status === 480 || status === 408) return 'no-answer';
  if (status === 487) return 'cancelled';
  if (status === 404 || status === 604 || status === 484) return 'not-found';
  if (status >= 500 && status < 600) return 'failed';
  return 'rejected';
}

/**
 * The status we send back to the caller for an outbound final response. Most pass through; a few are ours to
 * answer differently: 401/407 challenges of the far side are not the caller's to answer (→ 403 would leak nothing,
 * but 503 lets the caller fail over); 3xx redirects are not followed by a B2BUA for trunking (→ 480).
 */
export function relayStatus(status: number): number {
  if (status === 401 || status === 407) return 403;
  if (status >= 300 && status < 400) return 480;
  return status;
}
