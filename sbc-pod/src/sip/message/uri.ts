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
  lowerName,
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

/** Parse the URI in `s[start, end)` (no copy of the surrounding text) into a plain object. */
export function parseUriRange(s: string, start: number, end: number): SipUri {
  const uri: SipUri = { scheme: 'sip', host: '', params: new Map(), headers: new Map() };
  scanUri(s, start, end, uri);
  return uri;
}

// What `checkUriRange` reports: the scheme in the low two bits, plus a flag for `?headers`.
export const URI_SIP = 0;
export const URI_SIPS = 1;
export const URI_TEL = 2;
export const URI_OTHER = 3;
export const URI_HAS_HEADERS = 4;
const SCHEMES = ['sip', 'sips', 'tel', 'other'] as const;

/**
 * Validate the URI in `s[start, end)` exactly as {@link parseUriRange} would (same errors), without building
 * anything. Returns the scheme (`URI_SIP`…`URI_OTHER`) or'ed with `URI_HAS_HEADERS` when it has `?headers`.
 */
export function checkUriRange(s: string, start: number, end: number): number {
  return scanUri(s, start, end, undefined);
}

/** The scanner behind parse and check: fills `uri` when given, else only validates. */
function scanUri(s: string, start: number, end: number, uri: SipUri | undefined): number {
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
  if (schemeLen === 3 && eqLowerAt(s, start, 'sip')) return scanSip(s, p, end, URI_SIP, uri);
  if (schemeLen === 4 && eqLowerAt(s, start, 'sips')) return scanSip(s, p, end, URI_SIPS, uri);
  if (schemeLen === 3 && eqLowerAt(s, start, 'tel')) return scanTel(s, p, end, uri);
  // absoluteURI: anything visible, no LWS, no quotes or angle brackets.
  if (p >= end) throw bad('Empty URI');
  for (let i = p; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 34 || c === 60 || c === 62 || c === 127) throw bad('Bad URI');
  }
  if (uri !== undefined) {
    uri.scheme = 'other';
    uri.otherScheme = s.slice(start, p - 1).toLowerCase();
    uri.opaque = s.slice(p, end);
  }
  return URI_OTHER;
}

function scanSip(s: string, p: number, end: number, kind: number, uri: SipUri | undefined): number {
  if (uri !== undefined) uri.scheme = kind === URI_SIPS ? 'sips' : 'sip';
  // userinfo: one scan over user chars. It ends at the '@' of a userinfo, or at the ':' of a password or a port. An
  // '@' that is not reached this way can be nothing else in a SIP URI, so the host/param scans below refuse it.
  const ue = scanEscaped(s, p, end, C_USER);
  if (ue === -1) throw bad('Bad escape in URI user');
  if (ue < end) {
    const c = s.charCodeAt(ue);
    if (c === 64) {
      if (ue === p) throw bad('Empty URI user');
      if (uri !== undefined) uri.user = s.slice(p, ue);
      p = ue + 1;
    } else if (c === 58) {
      const pe = scanEscaped(s, ue + 1, end, C_PASS);
      if (pe === -1) throw bad('Bad URI password');
      if (pe < end && s.charCodeAt(pe) === 64) {
        if (ue === p) throw bad('Empty URI user');
        if (uri !== undefined) {
          uri.user = s.slice(p, ue);
          uri.password = s.slice(ue + 1, pe);
        }
        p = pe + 1;
      }
    }
  }
  p = parseHostPort(s, p, end, uri);
  p = parseParams(s, p, end, uri?.params);
  if (p < end && s.charCodeAt(p) === 63) {
    p = parseHeaders(s, p + 1, end, uri?.headers);
    kind |= URI_HAS_HEADERS;
  }
  if (p !== end) throw bad('Bad character in URI');
  return kind;
}

/** host [":" port]; returns the position after it (filling `into` when given). Also used by Via (sent-by). */
export function parseHostPort(
  s: string,
  p: number,
  end: number,
  into: { host: string; port?: number } | undefined,
): number {
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
  if (into !== undefined) into.host = s.slice(hs, p);
  if (p < end && s.charCodeAt(p) === 58) {
    let q = p + 1;
    while (q < end) {
      const c = s.charCodeAt(q);
      if (c < 48 || c > 57) break;
      q++;
    }
    const port = parseDigits(s, p + 1, q, 65535);
    if (port < 0) throw bad('Bad port');
    if (into !== undefined) into.port = port;
    p = q;
  }
  return p;
}

function parseParams(s: string, p: number, end: number, params: Map<string, string | null> | undefined): number {
  while (p < end && s.charCodeAt(p) === 59) {
    const ns = p + 1;
    const ne = scanEscaped(s, ns, end, C_PARAM);
    if (ne <= ns) throw bad('Bad URI parameter');
    // '=' is not a paramchar, so the name stops there.
    if (ne < end && s.charCodeAt(ne) === 61) {
      const ve = scanEscaped(s, ne + 1, end, C_PARAM);
      if (ve <= ne + 1) throw bad('Bad URI parameter');
      if (params !== undefined) params.set(lowerName(s, ns, ne), s.slice(ne + 1, ve));
      p = ve;
    } else {
      if (params !== undefined) params.set(lowerName(s, ns, ne), null);
      p = ne;
    }
  }
  return p;
}

function parseHeaders(s: string, p: number, end: number, headers: Map<string, string> | undefined): number {
  for (;;) {
    const ne = scanEscaped(s, p, end, C_HNV);
    if (ne <= p || ne >= end || s.charCodeAt(ne) !== 61) throw bad('Bad URI header');
    const ve = scanEscaped(s, ne + 1, end, C_HNV);
    if (ve === -1) throw bad('Bad URI header');
    if (headers !== undefined) headers.set(s.slice(p, ne), s.slice(ne + 1, ve));
    p = ve;
    if (p < end && s.charCodeAt(p) === 38) {
      p++;
      continue;
    }
    return p;
  }
}

function scanTel(s: string, p: number, end: number, uri: SipUri | undefined): number {
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
  if (uri !== undefined) {
    uri.scheme = 'tel';
    uri.user = s.slice(ns, p);
  }
  p = parseParams(s, p, end, uri?.params);
  if (p !== end) throw bad('Bad character in tel URI');
  return URI_TEL;
}

/**
 * A URI the parser has validated but not yet taken apart: the fields are built on first access (most messages never
 * look at most of their URIs). Reads and writes behave like those of a plain {@link SipUri}; `text` is the URI as
 * received (re-formatted when a field is assigned), so two of them compare deep-equal when their texts are equal.
 * Only build one from text that {@link checkUriRange} accepted.
 */
export class LazySipUri implements SipUri {
  text: string;
  #kind: number;
  #uri: SipUri | undefined;

  constructor(text: string, kind: number) {
    this.text = text;
    this.#kind = kind & 3;
  }

  #get(): SipUri {
    let u = this.#uri;
    if (u === undefined) {
      const text = this.text;
      u = { scheme: SCHEMES[this.#kind]!, host: '', params: new Map(), headers: new Map() };
      scanUri(text, 0, text.length, u);
      this.#uri = u;
    }
    return u;
  }

  #changed(): void {
    this.text = formatUri(this.#uri!);
  }

  get scheme(): SipUri['scheme'] {
    return this.#uri === undefined ? SCHEMES[this.#kind]! : this.#uri.scheme;
  }
  set scheme(v: SipUri['scheme']) {
    this.#get().scheme = v;
    this.#changed();
  }
  get otherScheme(): string | undefined {
    return this.#kind === URI_OTHER ? this.#get().otherScheme : this.#uri?.otherScheme;
  }
  set otherScheme(v: string | undefined) {
    this.#get().otherScheme = v;
    this.#changed();
  }
  get opaque(): string | undefined {
    return this.#kind === URI_OTHER ? this.#get().opaque : this.#uri?.opaque;
  }
  set opaque(v: string | undefined) {
    this.#get().opaque = v;
    this.#changed();
  }
  get user(): string | undefined {
    return this.#get().user;
  }
  set user(v: string | undefined) {
    this.#get().user = v;
    this.#changed();
  }
  get password(): string | undefined {
    return this.#get().password;
  }
  set password(v: string | undefined) {
    this.#get().password = v;
    this.#changed();
  }
  get host(): string {
    return this.#get().host;
  }
  set host(v: string) {
    this.#get().host = v;
    this.#changed();
  }
  get port(): number | undefined {
    return this.#get().port;
  }
  set port(v: number | undefined) {
    this.#get().port = v;
    this.#changed();
  }
  get params(): Map<string, string | null> {
    return this.#get().params;
  }
  set params(v: Map<string, string | null>) {
    this.#get().params = v;
    this.#changed();
  }
  get headers(): Map<string, string> {
    return this.#get().headers;
  }
  set headers(v: Map<string, string>) {
    this.#get().headers = v;
    this.#changed();
  }

  /** JSON and loggers see the parsed fields, as for a plain SipUri. */
  toJSON(): SipUri {
    return { ...this.#get() };
  }
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
