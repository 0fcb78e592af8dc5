// RFC 4028 session timers, the pure part: parsing Session-Expires/Min-SE, choosing the interval, when to refresh
// and when a session that nobody refreshed has expired. Each leg of a call negotiates its own (the B2BUA is the
// UAS on one leg and the UAC on the other).

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  interval: number;
  refresher?: Refresher;
}

export function parseSessionExpires(value: string | undefined): SessionExpires | undefined {
  if (!value) return undefined;
  const [first, ...params] = value.split(';').map((s) => s.trim());
  const interval = Number(first);
  if (!Number.isInteger(interval) || interval <= 0) return undefined;
  const r = params
    .find((p) => p.toLowerCase().startsWith('refresher='))
    ?.slice(10)
    .toLowerCase();
  return { interval, ...(r === 'uac' || r === 'uas' ? { refresher: r } : {}) };
}

export function parseMinSe(value: string | undefined): number | undefined {
  const n = Number((value ?? '').split(';')[0]?.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function formatSessionExpires(se: SessionExpires): string {
  return se.refresher ? `${se.interval};refresher=${se.refresher}` : String(se.interval);
}

/** The refresher sends its refresh at half the interval (RFC 4028 §10). */
export function refreshAfterMs(interval: number): number {
  return Math.max(1, Math.floor((interval * 1000) / 2));
}

/** The other side gives up at interval − min(32 s, interval/3) without a refresh (RFC 4028 §10). */
export function expiryAfterMs(interval: number): number {
  return Math.max(1, Math.floor((interval - Math.min(32, interval / 3)) * 1000));
}

/**
 * Our answer to an INVITE asking for a session timer (we are the UAS on that leg): 422 when below our Min-SE, else
 * the interval and the refresher — the UAC's choice (the UAC when it made none) when it supports timers, else us
 * (RFC 4028 §9: a UAC without `Supported: timer` cannot be the refresher).
 */
export function answerSessionTimer(
  asked: SessionExpires | undefined,
  minSe: number,
  uacSupportsTimer = true,
): { reject422: true } | { reject422: false; se?: SessionExpires } {
  if (!asked) return { reject422: false };
  if (asked.interval < minSe) return { reject422: true };
  const refresher: Refresher = uacSupportsTimer ? (asked.refresher ?? 'uac') : 'uas';
  return { reject422: false, se: { interval: asked.interval, refresher } };
}

/** True when a Supported (or Require) header list names the `timer` option tag. */
export function supportsTimer(values: string[]): boolean {
  return values.some((v) => v.split(',').some((t) => t.trim().toLowerCase() === 'timer'));
}
