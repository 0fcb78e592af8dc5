// Header name handling and raw-header lookups: compact forms (RFC 3261 §7.3.3 and later registrations) and
// case-insensitive names. Raw headers keep the name text as received; lookups compare canonical keys.
import { eqLower } from './chars.ts';
import type { RawHeader, SipMessage } from './types.ts';

/** Compact form → canonical long name (IANA "Header Fields" registry). */
export const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: 'Accept-Contact',
  b: 'Referred-By',
  c: 'Content-Type',
  d: 'Request-Disposition',
  e: 'Content-Encoding',
  f: 'From',
  i: 'Call-ID',
  j: 'Reject-Contact',
  k: 'Supported',
  l: 'Content-Length',
  m: 'Contact',
  n: 'Identity-Info',
  o: 'Event',
  r: 'Refer-To',
  s: 'Subject',
  t: 'To',
  u: 'Allow-Events',
  v: 'Via',
  x: 'Session-Expires',
  y: 'Identity',
};

const WELL_KNOWN = [
  'Accept',
  'Accept-Encoding',
  'Accept-Language',
  'Alert-Info',
  'Allow',
  'Authentication-Info',
  'Authorization',
  'Call-ID',
  'Call-Info',
  'Contact',
  'Content-Disposition',
  'Content-Encoding',
  'Content-Language',
  'Content-Length',
  'Content-Type',
  'CSeq',
  'Date',
  'Diversion',
  'Error-Info',
  'Expires',
  'From',
  'History-Info',
  'In-Reply-To',
  'Max-Forwards',
  'Min-Expires',
  'Min-SE',
  'MIME-Version',
  'Organization',
  'P-Asserted-Identity',
  'P-Preferred-Identity',
  'Priority',
  'Privacy',
  'Proxy-Authenticate',
  'Proxy-Authorization',
  'Proxy-Require',
  'RAck',
  'Reason',
  'Record-Route',
  'Refer-To',
  'Referred-By',
  'Replaces',
  'Reply-To',
  'Require',
  'Retry-After',
  'Route',
  'RSeq',
  'Server',
  'Session-Expires',
  'Subject',
  'Supported',
  'Timestamp',
  'To',
  'Unsupported',
  'User-Agent',
  'Via',
  'Warning',
  'WWW-Authenticate',
  'X-MS-SBC',
  ...Object.values(COMPACT_FORMS),
];

const CANONICAL = new Map<string, string>();
for (const n of WELL_KNOWN) CANONICAL.set(n.toLowerCase(), n);

/** Lower-case long-form key of a header name: `v`, `VIA` and `Via` all give `via`. */
export function headerKey(name: string): string {
  if (name.length === 1) {
    const long = COMPACT_FORMS[name.toLowerCase()];
    if (long !== undefined) return long.toLowerCase();
  }
  return name.toLowerCase();
}

/** Canonical spelling of a header name (`v` → `Via`, `call-id` → `Call-ID`); unknown names are returned as given. */
export function canonicalName(name: string): string {
  if (name.length === 1) {
    const long = COMPACT_FORMS[name.toLowerCase()];
    if (long !== undefined) return long;
  }
  return CANONICAL.get(name.toLowerCase()) ?? name;
}

function matches(h: RawHeader, key: string): boolean {
  const n = h.name;
  if (n.length === key.length) return eqLower(n, key);
  if (n.length === 1) {
    const long = COMPACT_FORMS[n.toLowerCase()];
    return long !== undefined && long.length === key.length && eqLower(long, key);
  }
  return false;
}

type HasHeaders = Pick<SipMessage, 'headers'>;

/** First value of the header (compact or long name, any case), or undefined. */
export function getHeader(msg: HasHeaders, name: string): string | undefined {
  const key = headerKey(name);
  for (const h of msg.headers) if (matches(h, key)) return h.value;
  return undefined;
}

/** All values (one per header line, not split on commas), in order. */
export function getHeaders(msg: HasHeaders, name: string): string[] {
  const key = headerKey(name);
  const out: string[] = [];
  for (const h of msg.headers) if (matches(h, key)) out.push(h.value);
  return out;
}

export function hasHeader(msg: HasHeaders, name: string): boolean {
  return getHeader(msg, name) !== undefined;
}

/**
 * Replace the header: the first line of that name keeps its position (and gets `name` as written here), any later
 * lines of that name are removed; appended when absent. Only the raw `headers` change: the parsed hot fields
 * (vias, from, to, …) are not re-derived — build or re-parse a message to change those.
 */
export function setHeader(msg: HasHeaders, name: string, value: string): void {
  const key = headerKey(name);
  let found = false;
  let w = 0;
  const hs = msg.headers;
  for (let r = 0; r < hs.length; r++) {
    const h = hs[r]!;
    if (matches(h, key)) {
      if (found) continue;
      found = true;
      hs[w++] = { name, value };
      continue;
    }
    hs[w++] = h;
  }
  hs.length = w;
  if (!found) hs.push({ name, value });
}

/** Append a header line at the end. */
export function addHeader(msg: HasHeaders, name: string, value: string): void {
  msg.headers.push({ name, value });
}

/** Insert a header line before every other one (e.g. a new top Via). */
export function prependHeader(msg: HasHeaders, name: string, value: string): void {
  msg.headers.unshift({ name, value });
}

/** Remove every line of the header; returns how many were removed. */
export function removeHeader(msg: HasHeaders, name: string): number {
  const key = headerKey(name);
  const hs = msg.headers;
  let w = 0;
  for (let r = 0; r < hs.length; r++) {
    const h = hs[r]!;
    if (!matches(h, key)) hs[w++] = h;
  }
  const removed = hs.length - w;
  hs.length = w;
  return removed;
}
