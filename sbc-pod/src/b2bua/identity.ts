// Caller identity across the B2BUA (teams-direct-routing.md M5.3, M5.17, M5.18, H3.11; RFC 3325, RFC 7044, RFC 5806):
// which number is the caller, what Privacy asks for, History-Info ⇄ Diversion, and per-tenant caller-ID screening.
// Pure functions over header values.
import { cleanNumber } from '../numbers/e164.ts';

export const ANONYMOUS_FROM_USER = 'anonymous';

/** The user part of a name-addr or URI header value (sip:, sips: or tel:), or ''. */
export function userOf(value: string | undefined): string {
  if (!value) return '';
  const uri = /<([^>]*)>/.exec(value)?.[1] ?? value.split(';')[0] ?? '';
  const tel = /^tel:([^;>]+)/i.exec(uri.trim());
  if (tel) return tel[1] ?? '';
  const sip = /^sips?:([^@;>]+)@/i.exec(uri.trim());
  return sip?.[1] ?? '';
}

export function isAnonymous(user: string): boolean {
  const u = user.toLowerCase();
  return u === '' || u === 'anonymous' || u === 'restricted' || u === 'unavailable';
}

/** Privacy: id (or header/user) — the caller's identity must not reach untrusted parties (RFC 3323/3325). */
export function privacyRequested(privacy: string | undefined): boolean {
  if (!privacy) return false;
  return privacy
    .split(';')
    .map((t) => t.trim().toLowerCase())
    .some((t) => t === 'id' || t === 'user' || t === 'header');
}

/**
 * The caller's number from a request: the P-Asserted-Identity when present (Teams with ForwardPai: the billed user;
 * a carrier: the network-asserted CLI), else the From user. PAI values can be several (tel and sip): the first with a
 * number wins.
 */
export function callerNumber(from: string | undefined, pais: string[]): string {
  for (const p of pais) {
    for (const part of p.split(/,(?=\s*(?:<|"|tel:|sips?:))/)) {
      const n = cleanNumber(userOf(part));
      if (n && !isAnonymous(n)) return n;
    }
  }
  const f = cleanNumber(userOf(from));
  return f || ANONYMOUS_FROM_USER;
}

// ---- History-Info (RFC 7044) ⇄ Diversion (RFC 5806) ---------------------------------------------------------------

const CAUSE_TO_DIVERSION: Record<number, string> = {
  302: 'unconditional',
  486: 'user-busy',
  408: 'no-answer',
  480: 'no-answer',
  487: 'no-answer',
  503: 'unavailable',
  404: 'unknown',
  410: 'unknown',
};
const DIVERSION_TO_CAUSE: Record<string, number> = {
  unconditional: 302,
  'user-busy': 486,
  'no-answer': 408,
  unavailable: 503,
  'time-of-day': 302,
  'do-not-disturb': 480,
  deflection: 480,
  'follow-me': 302,
  'out-of-service': 503,
  away: 480,
  unknown: 404,
};

export interface HistoryEntry {
  uri: string;
  index: string;
  cause?: number;
}

/** Split History-Info values into entries (comma-separated name-addrs, escaped Reason in the URI headers). */
export function parseHistoryInfo(values: string[]): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const v of values) {
    for (const m of v.matchAll(/<([^>]*)>([^,]*)/g)) {
      const uri = m[1] ?? '';
      const index = /;\s*index=([\d.]+)/i.exec(m[2] ?? '')?.[1] ?? String(out.length + 1);
      const reason = /[?&]Reason=([^&]*)/i.exec(uri)?.[1];
      const cause = reason ? Number(/cause%3D(\d+)|cause=(\d+)/i.exec(reason)?.slice(1).find(Boolean)) : undefined;
      out.push({ uri: uri.split('?')[0] ?? uri, index, ...(cause ? { cause } : {}) });
    }
  }
  return out;
}

/**
 * Diversion for a carrier from Teams' History-Info (a forwarded call): every entry that carries a Reason cause is
 * a diverting party, most recent first (RFC 5806 order), with the cause mapped to a Diversion reason.
 */
export function historyInfoToDiversion(values: string[], format: (number: string) => string): string | undefined {
  const entries = parseHistoryInfo(values).filter((e) => e.cause !== undefined);
  if (entries.length === 0) return undefined;
  return entries
    .reverse()
    .map((e) => {
      const n = cleanNumber(userOf(`<${e.uri}>`));
      const reason = CAUSE_TO_DIVERSION[e.cause!] ?? 'unknown';
      return `<sip:${format(n)}@${e.uri.replace(/^sips?:[^@]*@/i, '').split(';')[0]}>;reason=${reason}`;
    })
    .join(', ');
}

/**
 * History-Info for Teams from a carrier's Diversion: the diverting numbers oldest first (index 1, 1.1, …), each with
 * the escaped Reason Teams uses, then the current target.
 */
export function diversionToHistoryInfo(values: string[], host: string, target: string): string | undefined {
  const divs: Array<{ number: string; cause: number }> = [];
  for (const v of values) {
    for (const m of v.matchAll(/<([^>]*)>([^,]*)/g)) {
      const number = cleanNumber(userOf(`<${m[1]}>`));
      const reason = /;\s*reason=("?)([\w-]+)\1/i.exec(m[2] ?? '')?.[2]?.toLowerCase() ?? 'unknown';
      if (number) divs.push({ number, cause: DIVERSION_TO_CAUSE[reason] ?? 302 });
    }
  }
  if (divs.length === 0) return undefined;
  divs.reverse(); // Diversion lists the most recent first; History-Info is chronological
  const entries = divs.map((d, i) => {
    const index = ['1', ...Array(i).fill('1')].join('.');
    return `<sip:${d.number}@${host};user=phone?Reason=SIP%3Bcause%3D${d.cause}>;index=${index}`;
  });
  entries.push(`<sip:${target}@${host};user=phone>;index=${['1', ...Array(divs.length).fill('1')].join('.')}`);
  return entries.join(',');
}

// ---- caller-ID screening (H3.11) -----------------------------------------------------------------------------------

export type ScreeningMode = 'Pass' | 'Replace' | 'Reject';

export type ScreeningResult = { kind: 'pass'; caller: string } | { kind: 'reject' };

/**
 * A Teams user's caller ID checked against the numbers of its tenant. Pass: as is. Replace: a number the tenant does
 * not own becomes its default caller ID (rejected when it has none). Reject: a number it does not own is refused.
 * Anonymous callers present no number and pass.
 */
export function screenCallerId(
  caller: string,
  mode: ScreeningMode,
  owns: (e164: string) => boolean,
  defaultCallerId: string | null,
): ScreeningResult {
  if (mode === 'Pass' || isAnonymous(caller) || owns(caller)) return { kind: 'pass', caller };
  if (mode === 'Replace' && defaultCallerId) return { kind: 'pass', caller: defaultCallerId };
  return { kind: 'reject' };
}
