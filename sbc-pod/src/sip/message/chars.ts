// Character classes of the RFC 3261 §25 grammar as a 128-entry table, so scanners test one byte per char.
// Internal to the message layer.

export const C_TOKEN = 1;
/** `word` (Call-ID): token plus ( ) < > : \ " / [ ] ? { } */
export const C_WORD = 2;
/** SIP URI user: unreserved / user-unreserved (escapes handled separately). */
export const C_USER = 4;
/** SIP URI password: unreserved / & = + $ , */
export const C_PASS = 8;
/** uri-parameter paramchar: param-unreserved / unreserved. */
export const C_PARAM = 16;
/** uri header hname/hvalue: hnv-unreserved / unreserved. */
export const C_HNV = 32;
/** host name / IPv4 characters (plus `_`, seen in the wild). */
export const C_HOST = 64;
export const C_HEX = 128;

const table = new Uint8Array(128);

function mark(chars: string, flag: number): void {
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)]! |= flag;
}

const DIGITS = '0123456789';
const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ALNUM = DIGITS + ALPHA;
const MARK = "-_.!~*'()";
const UNRESERVED = ALNUM + MARK;

mark(ALNUM + "-.!%*_+`'~", C_TOKEN);
mark(ALNUM + "-.!%*_+`'~" + '()<>:\\"/[]?{}', C_WORD);
mark(UNRESERVED + '&=+$,;?/', C_USER);
mark(UNRESERVED + '&=+$,', C_PASS);
mark(UNRESERVED + '[]/:&+$', C_PARAM);
mark(UNRESERVED + '[]/?:+$', C_HNV);
mark(ALNUM + '-._', C_HOST);
mark(DIGITS + 'abcdefABCDEF', C_HEX);

/** Class flags of a UTF-16 code unit (0 for anything outside ASCII). */
export function cls(c: number): number {
  return c < 128 ? table[c]! : 0;
}

export function isWs(c: number): boolean {
  return c === 32 || c === 9;
}

/** Skip SP / HTAB from `p` (headers are already unfolded, so LWS is just SP/HT). */
export function skipWs(s: string, p: number, end: number): number {
  while (p < end) {
    const c = s.charCodeAt(p);
    if (c !== 32 && c !== 9) break;
    p++;
  }
  return p;
}

/** End of a run of characters of class `flag` starting at `p`. */
export function scanClass(s: string, p: number, end: number, flag: number): number {
  while (p < end) {
    const c = s.charCodeAt(p);
    if (c >= 128 || (table[c]! & flag) === 0) break;
    p++;
  }
  return p;
}

/** Like scanClass, but also accepts `%HH` escapes; returns -1 on a broken escape. */
export function scanEscaped(s: string, p: number, end: number, flag: number): number {
  while (p < end) {
    const c = s.charCodeAt(p);
    if (c === 37) {
      if (p + 2 >= end) return -1;
      if (!(cls(s.charCodeAt(p + 1)) & C_HEX) || !(cls(s.charCodeAt(p + 2)) & C_HEX)) return -1;
      p += 3;
      continue;
    }
    if (c >= 128 || (table[c]! & flag) === 0) break;
    p++;
  }
  return p;
}

/**
 * Scan a quoted-string starting at the opening quote `p`. Returns the index just after the closing quote, or -1 if
 * it is unterminated or holds a forbidden quoted-pair (backslash before CR/LF).
 */
export function scanQuoted(s: string, p: number, end: number): number {
  p++;
  while (p < end) {
    const c = s.charCodeAt(p);
    if (c === 34) return p + 1;
    if (c === 92) {
      if (p + 1 >= end) return -1;
      const n = s.charCodeAt(p + 1);
      if (n === 10 || n === 13) return -1;
      p += 2;
      continue;
    }
    if (c === 10 || c === 13) return -1;
    p++;
  }
  return -1;
}

/** Content of a quoted-string (between `start`+1 and `stop`-1) with quoted-pairs resolved. */
export function unquote(s: string, start: number, stop: number): string {
  const inner = s.slice(start + 1, stop - 1);
  if (inner.indexOf('\\') === -1) return inner;
  let out = '';
  let last = 0;
  for (let i = 0; i < inner.length; i++) {
    if (inner.charCodeAt(i) === 92) {
      out += inner.slice(last, i);
      last = i + 1;
      i++; // the escaped char is kept literally
    }
  }
  return out + inner.slice(last);
}

/** Quote a display name, escaping `"` and `\`. */
export function quote(text: string): string {
  let needs = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 || c === 92) {
      needs = true;
      break;
    }
  }
  if (!needs) return '"' + text + '"';
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"' || ch === '\\') out += '\\';
    out += ch;
  }
  return out + '"';
}

/** Parse a run of ASCII digits [p, q) as a non-negative integer; -1 if empty, not digits, or above `max`. */
export function parseDigits(s: string, p: number, q: number, max: number): number {
  if (q <= p) return -1;
  let v = 0;
  for (let i = p; i < q; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
    if (v > max) return -1;
  }
  return v;
}

/** Case-insensitive (ASCII letters only) compare of `s` with an all-lower-case literal. */
export function eqLower(s: string, lower: string): boolean {
  if (s.length !== lower.length) return false;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Case-insensitive compare of `s[start, start + lower.length)` with an all-lower-case ASCII literal. */
export function eqLowerAt(s: string, start: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = s.charCodeAt(start + i);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** `t` with ASCII upper-case letters lowered (`t` itself when it has none). */
export function lowerAscii(t: string): string {
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 65 && c <= 90) return t.toLowerCase();
  }
  return t;
}

// Parameter names seen in nearly every message (Via, header and URI parameters), by length: returned as these shared
// strings instead of a new lower-cased slice each time.
const COMMON_NAMES_BY_LENGTH: string[][] = [];
for (const n of [
  'q',
  'lr',
  'ob',
  'tag',
  'ttl',
  'user',
  'rport',
  'maddr',
  'alias',
  'branch',
  'method',
  'expires',
  'received',
  'transport',
  'refresher',
]) {
  const same = COMMON_NAMES_BY_LENGTH[n.length];
  if (same === undefined) COMMON_NAMES_BY_LENGTH[n.length] = [n];
  else same.push(n);
}

/** `s[start, end)` with ASCII letters lowered (a parameter name): {@link lowerAscii} of the slice, shared when common. */
export function lowerName(s: string, start: number, end: number): string {
  const common = COMMON_NAMES_BY_LENGTH[end - start];
  if (common !== undefined) {
    for (let i = 0; i < common.length; i++) {
      const n = common[i]!;
      if (eqLowerAt(s, start, n)) return n;
    }
  }
  return lowerAscii(s.slice(start, end));
}
