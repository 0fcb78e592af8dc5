// Via header values (RFC 3261 §20.42, §25.1; RFC 3581 rport; RFC 5118 §4.5 IPv6 `received`).
import { C_TOKEN, eqLowerAt, lowerName, parseDigits, scanClass, skipWs } from './chars.ts';
import { SipParseError } from './errors.ts';
import { scanGenValue } from './name-addr.ts';
import type { Via } from './types.ts';
import { parseHostPort } from './uri.ts';

function bad(what: string): SipParseError {
  return new SipParseError('bad_via', what);
}

/** Parse a Via header value (possibly several comma-separated hops). */
export function parseVia(text: string): Via[] {
  const out: Via[] = [];
  parseViaInto(text, out);
  return out;
}

export function parseViaInto(s: string, out: Via[]): void {
  parseViaRange(s, 0, s.length, out);
}

/** Parse the Via value in `s[start, end)` into `out`. */
export function parseViaRange(s: string, start: number, end: number, out: Via[]): void {
  let p = start;
  for (;;) {
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport (SLASH = SWS "/" SWS)
    p = skipWs(s, p, end);
    const nameStart = p;
    const nameEnd = scanClass(s, p, end, C_TOKEN);
    if (nameEnd === nameStart) throw bad('Bad sent-protocol');
    const verStart = expectSlash(s, nameEnd, end);
    const verEnd = scanClass(s, verStart, end, C_TOKEN);
    if (verEnd === verStart) throw bad('Bad sent-protocol');
    p = expectSlash(s, verEnd, end);
    const q = scanClass(s, p, end, C_TOKEN);
    if (q === p) throw bad('Bad transport');
    const transport = upperTransport(s, p, q);
    p = skipWs(s, q, end);
    if (p === q) throw bad('Missing sent-by');
    // "SIP/2.0" as written (the norm) is one shared string
    const protocol =
      nameEnd - nameStart === 3 &&
      verEnd - verStart === 3 &&
      s.startsWith('SIP', nameStart) &&
      s.startsWith('2.0', verStart)
        ? 'SIP/2.0'
        : s.slice(nameStart, nameEnd) + '/' + s.slice(verStart, verEnd);
    const via: Via = { protocol, transport, host: '', params: new Map() };
    // sent-by = host [ COLON port ], COLON = SWS ":" SWS
    p = parseSentBy(s, p, end, via);
    // *( SEMI via-params )
    for (;;) {
      const r = skipWs(s, p, end);
      if (r >= end || s.charCodeAt(r) !== 59) break;
      const ns = skipWs(s, r + 1, end);
      const ne = scanClass(s, ns, end, C_TOKEN);
      if (ne === ns) throw bad('Bad Via parameter');
      const pname = lowerName(s, ns, ne);
      const e = skipWs(s, ne, end);
      let value: string | null = null;
      if (e < end && s.charCodeAt(e) === 61) {
        const vs = skipWs(s, e + 1, end);
        let ve: number;
        try {
          ve = scanGenValue(s, vs, end);
        } catch {
          throw bad('Bad Via parameter value');
        }
        if (ve <= vs) throw bad('Bad Via parameter value');
        value = s.slice(vs, ve);
        p = ve;
      } else {
        p = ne;
      }
      via.params.set(pname, value);
      if (pname === 'branch') {
        if (value === null) throw bad('Empty branch');
        via.branch = value;
      } else if (pname === 'received') {
        if (value === null) throw bad('Empty received');
        via.received = value;
      } else if (pname === 'rport') {
        if (value === null) via.rport = null;
        else {
          const port = parseDigits(value, 0, value.length, 65535);
          if (port < 0) throw bad('Bad rport');
          via.rport = port;
        }
      }
    }
    out.push(via);
    p = skipWs(s, p, end);
    if (p >= end) return;
    if (s.charCodeAt(p) !== 44) throw bad('Unexpected character in Via');
    p++;
  }
}

function expectSlash(s: string, p: number, end: number): number {
  p = skipWs(s, p, end);
  if (p >= end || s.charCodeAt(p) !== 47) throw bad('Bad sent-protocol');
  return skipWs(s, p + 1, end);
}

function parseSentBy(s: string, p: number, end: number, via: Via): number {
  // Allow SWS around the port colon: find the host first, then an optional ":" port.
  let q: number;
  try {
    q = parseHostPort(s, p, end, via);
  } catch {
    throw bad('Bad sent-by');
  }
  if (via.port === undefined) {
    const r = skipWs(s, q, end);
    if (r < end && s.charCodeAt(r) === 58) {
      const ps = skipWs(s, r + 1, end);
      let pe = ps;
      while (pe < end && s.charCodeAt(pe) >= 48 && s.charCodeAt(pe) <= 57) pe++;
      const port = parseDigits(s, ps, pe, 65535);
      if (port < 0) throw bad('Bad port');
      via.port = port;
      q = pe;
    }
  }
  return q;
}

const TRANSPORTS = ['UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP'];
const TRANSPORTS_LOWER = TRANSPORTS.map((t) => t.toLowerCase());

/** `s[p, q)` upper-cased (ASCII letters): the shared string for a known transport. */
function upperTransport(s: string, p: number, q: number): string {
  for (let i = 0; i < TRANSPORTS_LOWER.length; i++) {
    const t = TRANSPORTS_LOWER[i]!;
    if (t.length === q - p && eqLowerAt(s, p, t)) return TRANSPORTS[i]!;
  }
  const t = s.slice(p, q);
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 97 && c <= 122) return t.toUpperCase();
  }
  return t;
}

/** Format one Via hop; the `branch`/`received`/`rport` fields win over the same entries in `params`. */
export function formatVia(via: Via): string {
  let out = via.protocol + '/' + via.transport + ' ' + via.host;
  if (via.port !== undefined) out += ':' + via.port;
  const done = new Set<string>();
  for (const [k, v] of via.params) {
    let value = v;
    if (k === 'branch' && via.branch !== undefined) value = via.branch;
    else if (k === 'received' && via.received !== undefined) value = via.received;
    else if (k === 'rport' && via.rport !== undefined) value = via.rport === null ? null : String(via.rport);
    done.add(k);
    out += value === null ? ';' + k : ';' + k + '=' + value;
  }
  if (via.branch !== undefined && !done.has('branch')) out += ';branch=' + via.branch;
  if (via.received !== undefined && !done.has('received')) out += ';received=' + via.received;
  if (via.rport !== undefined && !done.has('rport')) out += via.rport === null ? ';rport' : ';rport=' + via.rport;
  return out;
}
