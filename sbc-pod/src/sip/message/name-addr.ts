// name-addr / addr-spec header values (RFC 3261 §20.10, §20.20, §20.34, §20.30, §20.39, §25.1):
// From, To, Contact, Route, Record-Route, Refer-To, P-Asserted-Identity, …
import { C_TOKEN, cls, lowerName, quote, scanClass, scanQuoted, skipWs, unquote } from './chars.ts';
import { SipParseError } from './errors.ts';
import type { NameAddr, SipUri } from './types.ts';
import { checkUriRange, formatUri, LazySipUri, URI_HAS_HEADERS } from './uri.ts';

function bad(what: string): SipParseError {
  return new SipParseError('bad_name_addr', what);
}

/** Parse a single name-addr / addr-spec with header parameters (From, To, Refer-To…). */
export function parseNameAddr(text: string): NameAddr {
  const out: NameAddr[] = [];
  parseNameAddrs(text, out, false, false);
  return out[0]!;
}

// Receives the value of parseNameAddrRange: reused (pop leaves its backing store), so no list array per From/To.
const SINGLE: NameAddr[] = [];

/** {@link parseNameAddr} on `s[start, end)` (the parser's From and To). */
export function parseNameAddrRange(s: string, start: number, end: number): NameAddr {
  try {
    parseNameAddrsRange(s, start, end, SINGLE, false, false);
  } catch (e) {
    SINGLE.length = 0;
    throw e;
  }
  return SINGLE.pop()!;
}

/** Parse a comma-separated list (Contact, Route, Record-Route, P-Asserted-Identity). `*` only when `allowWildcard`. */
export function parseNameAddrList(text: string, allowWildcard = false): NameAddr[] {
  const out: NameAddr[] = [];
  parseNameAddrs(text, out, true, allowWildcard);
  return out;
}

/**
 * Append the values in `s` to `out`. With `multi`, commas separate values (commas inside quotes or `<…>` do not);
 * without it a comma outside those is an error.
 */
export function parseNameAddrs(s: string, out: NameAddr[], multi: boolean, allowWildcard: boolean): void {
  parseNameAddrsRange(s, 0, s.length, out, multi, allowWildcard);
}

/** {@link parseNameAddrs} on `s[start, end)` (the parser passes ranges of the header section: no copies). */
export function parseNameAddrsRange(
  s: string,
  start: number,
  end: number,
  out: NameAddr[],
  multi: boolean,
  allowWildcard: boolean,
): void {
  let p = skipWs(s, start, end);
  if (p >= end) throw bad('Empty value');
  for (;;) {
    p = parseOne(s, p, end, out, multi, allowWildcard);
    p = skipWs(s, p, end);
    if (p >= end) return;
    if (multi && s.charCodeAt(p) === 44) {
      p = skipWs(s, p + 1, end);
      if (p >= end) throw bad('Empty list element');
      continue;
    }
    throw bad('Unexpected character');
  }
}

const WILDCARD_URI: () => SipUri = () => ({ scheme: 'sip', host: '*', params: new Map(), headers: new Map() });

function parseOne(s: string, p: number, end: number, out: NameAddr[], multi: boolean, wildcard: boolean): number {
  let c = s.charCodeAt(p);
  let displayName: string | undefined;
  if (c === 42 && wildcard) {
    const q = skipWs(s, p + 1, end);
    if (q >= end || (multi && s.charCodeAt(q) === 44)) {
      out.push({ uriText: '*', uri: WILDCARD_URI(), params: new Map(), wildcard: true });
      return p + 1;
    }
  }
  if (c === 34) {
    const q = scanQuoted(s, p, end);
    if (q === -1) throw bad('Unterminated quoted string');
    displayName = unquote(s, p, q);
    p = skipWs(s, q, end);
    if (p >= end || s.charCodeAt(p) !== 60) throw bad('Expected <');
  } else if (c !== 60) {
    const q = scanClass(s, p, end, C_TOKEN);
    if (q > p && q < end && s.charCodeAt(q) === 58) {
      return parseAddrSpec(s, p, end, out, multi);
    }
    // *(token LWS) then "<"
    let last = p;
    let i = p;
    while (i < end) {
      c = s.charCodeAt(i);
      if (c === 60) break;
      if (c === 32 || c === 9) {
        i++;
        continue;
      }
      if (!(cls(c) & C_TOKEN)) throw bad('Bad display name');
      i++;
      last = i;
    }
    if (i >= end || last === p) throw bad('Expected <');
    displayName = s.slice(p, last);
    p = i;
  }
  // p at '<'
  const close = s.indexOf('>', p + 1);
  if (close === -1 || close >= end) throw bad('Missing >');
  const kind = checkUriRange(s, p + 1, close);
  const uriText = s.slice(p + 1, close);
  const na: NameAddr = { uriText, uri: new LazySipUri(uriText, kind), params: new Map() };
  if (displayName !== undefined) na.displayName = displayName;
  p = parseHeaderParams(s, close + 1, end, na.params);
  out.push(na);
  return p;
}

function parseAddrSpec(s: string, p: number, end: number, out: NameAddr[], multi: boolean): number {
  // addr-spec: the URI stops at LWS, ';' (header params) and, in a list, ','.
  let q = p;
  while (q < end) {
    const c = s.charCodeAt(q);
    if (c === 59 || c === 32 || c === 9 || (multi && c === 44)) break;
    q++;
  }
  const kind = checkUriRange(s, p, q);
  if (kind & URI_HAS_HEADERS) throw bad('URI with headers must be in <>');
  const uriText = s.slice(p, q);
  const na: NameAddr = { uriText, uri: new LazySipUri(uriText, kind), params: new Map() };
  const r = parseHeaderParams(s, q, end, na.params);
  out.push(na);
  return r;
}

/**
 * `*( SEMI generic-param )` with SWS around `;` and `=`; gen-value = token / host / quoted-string (kept with its
 * quotes). Names are lower-cased. Returns the position after the last parameter (trailing SWS not consumed).
 */
export function parseHeaderParams(s: string, p: number, end: number, params: Map<string, string | null>): number {
  for (;;) {
    const q = skipWs(s, p, end);
    if (q >= end || s.charCodeAt(q) !== 59) return p;
    const ns = skipWs(s, q + 1, end);
    const ne = scanClass(s, ns, end, C_TOKEN);
    if (ne === ns) throw bad('Bad parameter');
    const name = lowerName(s, ns, ne);
    const e = skipWs(s, ne, end);
    if (e < end && s.charCodeAt(e) === 61) {
      const vs = skipWs(s, e + 1, end);
      const ve = scanGenValue(s, vs, end);
      if (ve <= vs) throw bad('Bad parameter value');
      params.set(name, s.slice(vs, ve));
      p = ve;
    } else {
      params.set(name, null);
      p = ne;
    }
  }
}

/** gen-value: token, host (incl. `[v6]`), or quoted-string. Returns the end (or `vs` when nothing valid). */
export function scanGenValue(s: string, vs: number, end: number): number {
  if (vs >= end) return vs;
  if (s.charCodeAt(vs) === 34) {
    const q = scanQuoted(s, vs, end);
    if (q === -1) throw bad('Unterminated quoted string');
    return q;
  }
  let p = vs;
  while (p < end) {
    const c = s.charCodeAt(p);
    if (cls(c) & C_TOKEN || c === 91 || c === 93 || c === 58) p++;
    else break;
  }
  return p;
}

/** Format as `"Display" <uri>;param=value` from the parsed fields (`uri`, not `uriText`); always the name-addr form. */
export function formatNameAddr(na: NameAddr): string {
  if (na.wildcard) return '*';
  let out = na.displayName !== undefined ? quote(na.displayName) + ' <' : '<';
  out += formatUri(na.uri);
  out += '>';
  for (const [k, v] of na.params) out += v === null ? ';' + k : ';' + k + '=' + v;
  return out;
}
