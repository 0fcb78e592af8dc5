// SIP / SIPS / TEL URI parsing and formatting (RFC 3261 §19.1 and §25.1, RFC 3966, RFC 5118 for IPv6 references).
import {
  C_HEX,
  C_HNV,
  C_HOST,
  C_PARAM,
  C_PASS,
  C_USER,
  cls,
  eqLowerAt,
  parseDigits,
  scanClass,
  scanEscaped,
} from './chars.ts';
import { SipParseError } from './errors.ts';
import type { SipUri } from './types.ts';

function bad(what: string): SipParseError {
  return new SipParseError('bad_uri', what);
}

/** Parse a URI. Throws SipParseError `bad_uri` on a malformed SIP/SIPS/TEL URI. Unknown schemes give `scheme: 'other'`. */
export function parseUri(text: string): SipUri {
  return parseUriRange(text, 0, text.length);
}

/** Parse the URI in `s[start, end)` (no copy of the surrounding text). */
export function parseUriRange(s: string, start: number, end: number): SipUri {
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  let p = start;
  const c0 = s.charCodeAt(p) | 0x20;
  if (p >= end || c0 < 97 || c0 > 122) throw bad('Bad URI scheme');
  p++;
  while (p < end) {
    const c = s.charCodeAt(p);
    if ((c | 0x20) >= 97 && (c | 0x20) <= 122) p++;
    else if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) p++;
    else break;
  }
  if (p >= end || s.charCodeAt(p) !== 58) throw bad('Bad URI scheme');
  const schemeLen = p - start;
  p++; // ':'
  if (schemeLen === 3 && eqLowerAt(s, start, 'sip')) return parseSip(s, p, end, 'sip');
  if (schemeLen === 4 && eqLowerAt(s, start, 'sips')) return parseSip(s, p, end, 'sips');
  if (schemeLen === 3 && eqLowerAt(s, start, 'tel')) return parseTel(s, p, end);
  // absoluteURI: anything visible, no LWS, no quotes or angle brackets.
  if (p >= end) throw bad('Empty URI');
  for (let i = p; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 34 || c === 60 || c === 62 || c === 127) throw bad('Bad URI');
  }
  return {
    scheme: 'other',
    otherScheme: s.slice(start, p - 1).toLowerCase(),
    opaque: s.slice(p, end),
    host: '',
    params: new Map(),
    headers: new Map(),
  };
}

function parseSip(s: string, p: number, end: number, scheme: 'sip' | 'sips'): SipUri {
  const uri: SipUri = { scheme, host: '', params: new Map(), headers: new Map() };
  // userinfo: the first '@' (neither params nor headers may hold a raw '@').
  let at = p;
  while (at < end && s.charCodeAt(at) !== 64) at++;
  if (at < end) {
    const ue = scanEscaped(s, p, at, C_USER);
    if (ue === -1) throw bad('Bad escape in URI user');
    if (ue === p) throw bad('Empty URI user');
    uri.user = s.slice(p, ue);
    if (ue < at) {
      if (s.charCodeAt(ue) !== 58) throw bad('Bad URI user');
      const pe = scanEscaped(s, ue + 1, at, C_PASS);
      if (pe !== at) throw bad('Bad URI password');
      uri.password = s.slice(ue + 1, at);
    }
    p = at + 1;
  }
  p = parseHostPort(s, p, end, uri);
  p = parseParams(s, p, end, uri.params);
  if (p < end && s.charCodeAt(p) === 63) p = parseHeaders(s, p + 1, end, uri.headers);
  if (p !== end) throw bad('Bad character in URI');
  return uri;
}

/** host [":" port]; returns the position after it. Also used by Via (sent-by). */
export function parseHostPort(s: string, p: number, end: number, into: { host: string; port?: number }): number {
  const hs = p;
  if (p < end && s.charCodeAt(p) === 91) {
    // IPv6reference: "[" IPv6address "]" (hex, ':' and '.' for an embedded IPv4 tail)
    let colons = 0;
    p++;
    while (p < end) {
      const c = s.charCodeAt(p);
      if (c === 58) colons++;
      else if (c !== 46 && !(cls(c) & C_HEX)) break;
      p++;
    }
    if (p >= end || s.charCodeAt(p) !== 93 || colons < 2) throw bad('Bad IPv6 reference');
    p++;
  } else {
    p = scanClass(s, p, end, C_HOST);
    if (p === hs) throw bad('Missing host');
  }
  into.host = s.slice(hs, p);
  if (p < end && s.charCodeAt(p) === 58) {
    let q = p + 1;
    while (q < end) {
      const c = s.charCodeAt(q);
      if (c < 48 || c > 57) break;
      q++;
    }
    const port = parseDigits(s, p + 1, q, 65535);
    if (port < 0) throw bad('Bad port');
    into.port = port;
    p = q;
  }
  return p;
}

function parseParams(s: string, p: number, end: number, params: Map<string, string | null>): number {
  while (p < end && s.charCodeAt(p) === 59) {
    const ns = p + 1;
    const ne = scanEscaped(s, ns, end, C_PARAM);
    if (ne <= ns) throw bad('Bad URI parameter');
    // '=' is not a paramchar, so the name stops there.
    const name = lower(s.slice(ns, ne));
    if (ne < end && s.charCodeAt(ne) === 61) {
      const ve = scanEscaped(s, ne + 1, end, C_PARAM);
      if (ve <= ne + 1) throw bad('Bad URI parameter');
      params.set(name, s.slice(ne + 1, ve));
      p = ve;
    } else {
      params.set(name, null);
      p = ne;
    }
  }
  return p;
}

function parseHeaders(s: string, p: number, end: number, headers: Map<string, string>): number {
  for (;;) {
    const ne = scanEscaped(s, p, end, C_HNV);
    if (ne <= p || ne >= end || s.charCodeAt(ne) !== 61) throw bad('Bad URI header');
    const ve = scanEscaped(s, ne + 1, end, C_HNV);
    if (ve === -1) throw bad('Bad URI header');
    headers.set(s.slice(p, ne), s.slice(ne + 1, ve));
    p = ve;
    if (p < end && s.charCodeAt(p) === 38) {
      p++;
      continue;
    }
    return p;
  }
}

function parseTel(s: string, p: number, end: number): SipUri {
  // telephone-subscriber: global-number-digits / local-number-digits (+ visual separators, *, #, hex, p/w pauses)
  const ns = p;
  while (p < end) {
    const c = s.charCodeAt(p);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46 || c === 40 || c === 41 || c === 42 || c === 35) p++;
    else if (cls(c) & C_HEX) p++;
    else if ((c | 0x20) === 112 || (c | 0x20) === 119) p++;
    else break;
  }
  if (p === ns) throw bad('Bad telephone number');
  const uri: SipUri = { scheme: 'tel', user: s.slice(ns, p), host: '', params: new Map(), headers: new Map() };
  p = parseParams(s, p, end, uri.params);
  if (p !== end) throw bad('Bad character in tel URI');
  return uri;
}

function lower(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return name.toLowerCase();
  }
  return name;
}

/** Write a URI back to text (`;name=value` parameters in Map order, then `?name=value&…` headers). */
export function formatUri(uri: SipUri): string {
  if (uri.scheme === 'other') return (uri.otherScheme ?? 'x') + ':' + (uri.opaque ?? '');
  let out = uri.scheme + ':';
  if (uri.scheme === 'tel') {
    out += uri.user ?? '';
  } else {
    if (uri.user !== undefined) {
      out += uri.user;
      if (uri.password !== undefined) out += ':' + uri.password;
      out += '@';
    }
    out += uri.host;
    if (uri.port !== undefined) out += ':' + uri.port;
  }
  for (const [k, v] of uri.params) out += v === null ? ';' + k : ';' + k + '=' + v;
  let first = true;
  for (const [k, v] of uri.headers) {
    out += (first ? '?' : '&') + k + '=' + v;
    first = false;
  }
  return out;
}

/** Resolve `%HH` escapes (e.g. of `uri.user`); invalid UTF-8 sequences are kept as escapes. */
export function unescapeUriText(text: string): string {
  if (text.indexOf('%') === -1) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/%([0-9a-fA-F]{2})/g, (m, h: string) => {
      const code = Number.parseInt(h, 16);
      return code < 128 ? String.fromCharCode(code) : m;
    });
  }
}
