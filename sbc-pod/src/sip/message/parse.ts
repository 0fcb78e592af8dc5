// SIP message parser (RFC 3261 §7, §18.3, §25). One pass over the header section, hot headers parsed eagerly,
// everything else kept as raw strings. No regular expressions: charCode scanning loops only, so hostile input
// costs linear time.
import { isAscii, isUtf8 } from 'node:buffer';
import { C_TOKEN, C_WORD, eqLower, eqLowerAt, parseDigits, scanClass, skipWs } from './chars.ts';
import { SipParseError, type SipParseErrorCode } from './errors.ts';
import { parseNameAddrRange, parseNameAddrsRange } from './name-addr.ts';
import type { CSeq, NameAddr, RawHeader, SipMessage, SipRequest, SipResponse, SipUri, Via } from './types.ts';
import { checkUriRange, LazySipUri, URI_HAS_HEADERS, URI_OTHER } from './uri.ts';
import { parseViaRange } from './via.ts';

export interface ParseLimits {
  /** Whole message, bytes (default 64 KiB). */
  maxMessageSize?: number;
  /** Header lines (default 200). */
  maxHeaders?: number;
  /** One physical line of the start line or header section, bytes (default 8 KiB). */
  maxLineLength?: number;
  /**
   * Stream transport (TCP/TLS/WS framing already done by the caller): Content-Length is mandatory and a body shorter
   * than it is an error. Default false (datagram, RFC 3261 §18.3: missing Content-Length means "to the end of the
   * datagram"; bytes beyond Content-Length are discarded; fewer bytes is an error).
   */
  stream?: boolean;
}

export const DEFAULT_LIMITS: Readonly<Required<ParseLimits>> = {
  maxMessageSize: 64 * 1024,
  maxHeaders: 200,
  maxLineLength: 8 * 1024,
  stream: false,
};

export const H_OTHER = 0;
export const H_VIA = 1;
export const H_FROM = 2;
export const H_TO = 3;
export const H_CALL_ID = 4;
export const H_CSEQ = 5;
const H_MAX_FORWARDS = 6;
const H_CONTENT_LENGTH = 7;
const H_ROUTE = 8;
const H_RECORD_ROUTE = 9;
const H_CONTACT = 10;

const HOT_NAMES = [
  '',
  'Via',
  'From',
  'To',
  'Call-ID',
  'CSeq',
  'Max-Forwards',
  'Content-Length',
  'Route',
  'Record-Route',
  'Contact',
];

/** Identify a hot header by name (validated token chars), compact or long form, any case; no allocation. */
export function hotId(name: string): number {
  const n = name.length;
  const c = name.charCodeAt(0) | 0x20;
  if (n === 1) {
    switch (c) {
      case 118:
        return H_VIA;
      case 102:
        return H_FROM;
      case 116:
        return H_TO;
      case 105:
        return H_CALL_ID;
      case 108:
        return H_CONTENT_LENGTH;
      case 109:
        return H_CONTACT;
      default:
        return H_OTHER;
    }
  }
  switch (c) {
    case 118: // v
      return n === 3 && eqLower(name, 'via') ? H_VIA : H_OTHER;
    case 102: // f
      return n === 4 && eqLower(name, 'from') ? H_FROM : H_OTHER;
    case 116: // t
      return n === 2 && eqLower(name, 'to') ? H_TO : H_OTHER;
    case 99: // c
      if (n === 4) return eqLower(name, 'cseq') ? H_CSEQ : H_OTHER;
      if (n === 7) {
        if (eqLower(name, 'call-id')) return H_CALL_ID;
        return eqLower(name, 'contact') ? H_CONTACT : H_OTHER;
      }
      return n === 14 && eqLower(name, 'content-length') ? H_CONTENT_LENGTH : H_OTHER;
    case 109: // m
      return n === 12 && eqLower(name, 'max-forwards') ? H_MAX_FORWARDS : H_OTHER;
    case 114: // r
      if (n === 5) return eqLower(name, 'route') ? H_ROUTE : H_OTHER;
      return n === 12 && eqLower(name, 'record-route') ? H_RECORD_ROUTE : H_OTHER;
    default:
      return H_OTHER;
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');
/** The body of every message with `Content-Length: 0` (most of them): one shared empty buffer, not a new view each. */
const EMPTY_BODY: Buffer = Buffer.alloc(0);

/** Where the header section ends: `headerEnd` just after the last header line's LF, `bodyStart` after the blank line. */
export function findHeaderEnd(buf: Buffer, start: number): { headerEnd: number; bodyStart: number } | undefined {
  const crlf = buf.indexOf(CRLFCRLF, start);
  // A bare-LF blank line ("\n\n", or "\r\n\n") before any CRLFCRLF ends the headers too (lenient, RFC 3261 §7.5
  // allows CRLF only, but LF-only senders exist).
  const lfScope = crlf === -1 ? buf : buf.subarray(0, crlf + 2);
  const lf = lfScope.indexOf(LFLF, start);
  if (lf !== -1) return { headerEnd: lf + 1, bodyStart: lf + 2 };
  if (crlf !== -1) return { headerEnd: crlf + 2, bodyStart: crlf + 4 };
  return undefined;
}

/** What has been read so far (for the error of a message that fails), and the first deferred error. */
interface PartialInfo {
  isRequest: boolean;
  method: string | undefined;
  status: number | undefined;
  callId: string | undefined;
  cseq: CSeq | undefined;
  from: NameAddr | undefined;
  to: NameAddr | undefined;
  vias: Via[];
  headers: RawHeader[];
  firstError: SipParseError | undefined;
}

function decorate(err: SipParseError, part: PartialInfo): SipParseError {
  err.isRequest = part.isRequest;
  if (part.method !== undefined) err.method = part.method;
  if (part.status !== undefined) err.status = part.status;
  if (part.callId !== undefined) err.callId = part.callId;
  if (part.cseq !== undefined) err.cseq = part.cseq;
  if (part.from !== undefined) err.from = part.from;
  if (part.to !== undefined) err.to = part.to;
  err.vias = part.vias;
  err.headers = part.headers;
  return err;
}

/** Note an error but read on (the first one is thrown once the header section has been read). */
function defer(part: PartialInfo, code: SipParseErrorCode, reason: string, header?: string): void {
  if (part.firstError === undefined) part.firstError = new SipParseError(code, reason, header);
}

/** Throw the first deferred error, else `err`, with what has been read. */
function fail(part: PartialInfo, err: SipParseError): never {
  throw decorate(part.firstError ?? err, part);
}

/**
 * Parse one complete SIP message. Throws {@link SipParseError} (and nothing else) on malformed input; the error
 * carries whatever could be read (start line, Via, From, To, Call-ID, CSeq, raw headers) so a request can still be
 * answered. The returned `body` is a view into `buf` (no copy), or a shared empty buffer when the body is empty.
 */
export function parseMessage(buf: Buffer, limits?: ParseLimits): SipMessage {
  const maxSize = limits?.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize;
  const maxHeaders = limits?.maxHeaders ?? DEFAULT_LIMITS.maxHeaders;
  const maxLine = limits?.maxLineLength ?? DEFAULT_LIMITS.maxLineLength;
  const stream = limits?.stream ?? false;

  const size = buf.length;
  if (size > maxSize) throw new SipParseError('too_large', 'Message Too Large');
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  let start = 0;
  while (start < size && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start === size) throw new SipParseError('empty', 'Empty Message');

  // Fast path (the norm): the first CRLFCRLF ends an ASCII header section that has no bare-LF blank line earlier.
  let headerEnd = -1;
  let bodyStart = -1;
  let latin1 = false;
  let s = '';
  const crlf = buf.indexOf(CRLFCRLF, start);
  // An all-ASCII buffer (the norm, SDP bodies included) is checked without allocating a view of the header section.
  if (crlf !== -1 && (isAscii(buf) || isAscii(buf.subarray(start, crlf + 2)))) {
    s = buf.toString('latin1', start, crlf + 2);
    if (s.indexOf('\n\n') === -1) {
      headerEnd = crlf + 2;
      bodyStart = crlf + 4;
    }
  }
  if (headerEnd === -1) {
    const framing = findHeaderEnd(buf, start);
    if (framing === undefined) {
      // Tell an overlong line from a missing blank line, for a useful error.
      const nl = buf.indexOf(10, start);
      if ((nl === -1 ? size : nl) - start > maxLine) throw new SipParseError('line_too_long', 'Line Too Long');
      throw new SipParseError('incomplete_headers', 'Incomplete Header Section');
    }
    headerEnd = framing.headerEnd;
    bodyStart = framing.bodyStart;
    // Decode the header section once: ASCII (the norm) and UTF-8 as text; anything else byte-for-byte.
    const section = buf.subarray(start, headerEnd);
    if (isAscii(section)) s = buf.toString('latin1', start, headerEnd);
    else if (isUtf8(section)) s = buf.toString('utf8', start, headerEnd);
    else {
      latin1 = true;
      s = buf.toString('latin1', start, headerEnd);
    }
  }
  const end = s.length;

  // Every field initialised here: one object shape, no property added later.
  const part: PartialInfo = {
    isRequest: true,
    method: undefined,
    status: undefined,
    callId: undefined,
    cseq: undefined,
    from: undefined,
    to: undefined,
    vias: [],
    headers: [],
    firstError: undefined,
  };

  // ---- start line
  let lineEnd = s.indexOf('\n');
  let contentEnd = lineEnd > 0 && s.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
  if (contentEnd > maxLine) fail(part, new SipParseError('line_too_long', 'Line Too Long'));
  let method = '';
  let uriText = '';
  let uri: SipUri | undefined;
  let status = 0;
  let reason = '';
  const isResponse = contentEnd >= 4 && s.charCodeAt(3) === 47 && eqLowerAt(s, 0, 'sip');
  part.isRequest = !isResponse;
  if (isResponse) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const sp = s.indexOf(' ', 0);
    if (sp === -1 || sp > contentEnd) defer(part, 'bad_start_line', 'Bad Status Line');
    else {
      if (!isVersion20(s, 0, sp)) defer(part, 'bad_version', 'Version Not Supported');
      let q = sp + 1;
      while (q < contentEnd && s.charCodeAt(q) >= 48 && s.charCodeAt(q) <= 57) q++;
      const code = q - (sp + 1) === 3 ? parseDigits(s, sp + 1, q, 699) : -1;
      if (code < 100) defer(part, 'bad_status', 'Bad Status Code');
      else status = code;
      if (q < contentEnd && s.charCodeAt(q) !== 32) defer(part, 'bad_status', 'Bad Status Code');
      reason = q < contentEnd ? s.slice(q + 1, contentEnd) : '';
      part.status = status;
    }
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version (exactly one SP each; RFC 4475 §3.1.2.7-10)
    const sp1 = s.indexOf(' ');
    const sp2 = sp1 === -1 ? -1 : s.indexOf(' ', sp1 + 1);
    const sp3 = sp2 === -1 ? -1 : s.indexOf(' ', sp2 + 1);
    if (sp1 <= 0 || sp2 === -1 || sp2 > contentEnd || (sp3 !== -1 && sp3 < contentEnd)) {
      defer(part, 'bad_start_line', 'Bad Request Line');
      if (sp1 > 0 && sp1 < contentEnd && scanClass(s, 0, sp1, C_TOKEN) === sp1) part.method = s.slice(0, sp1);
    } else if (scanClass(s, 0, sp1, C_TOKEN) !== sp1) {
      defer(part, 'bad_start_line', 'Bad Method');
    } else {
      method = s.slice(0, sp1);
      part.method = method;
      uriText = s.slice(sp1 + 1, sp2);
      if (!isVersion20(s, sp2 + 1, contentEnd)) {
        defer(
          part,
          isVersionLike(s, sp2 + 1, contentEnd) ? 'bad_version' : 'bad_start_line',
          isVersionLike(s, sp2 + 1, contentEnd) ? 'Version Not Supported' : 'Bad Request Line',
        );
      }
      try {
        const kind = checkUriRange(s, sp1 + 1, sp2);
        uri = new LazySipUri(uriText, kind);
        if ((kind & 3) === URI_OTHER) defer(part, 'unsupported_uri_scheme', 'Unsupported URI Scheme');
        else if (kind & URI_HAS_HEADERS) defer(part, 'bad_uri', 'Headers Not Allowed In Request-URI');
      } catch {
        defer(part, 'bad_uri', 'Bad Request-URI');
      }
    }
  }

  // ---- headers
  const headers = part.headers;
  let callId: string | undefined;
  let cseq: CSeq | undefined;
  let from: NameAddr | undefined;
  let to: NameAddr | undefined;
  let maxForwards: number | undefined;
  let contentLength: number | undefined;
  const vias = part.vias;
  const routes: NameAddr[] = [];
  const recordRoutes: NameAddr[] = [];
  const contacts: NameAddr[] = [];

  let pos = lineEnd + 1;
  while (pos < end) {
    // One header: its first line, then any continuation lines (starting with SP/HT), scanned by the same loop. The
    // value is the first line's text after the colon, each continuation unfolded to one SP.
    let name = '';
    let value: string;
    // Hot headers are parsed from `vsrc[vstart, vend)`: the range in the (flat) section string, or the unfolded copy.
    let vsrc = s;
    let vstart = 0;
    let vend = 0;
    let folded: string | undefined;
    let line = pos;
    for (;;) {
      lineEnd = s.indexOf('\n', line);
      if (lineEnd === -1) lineEnd = end;
      contentEnd = lineEnd > line && s.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
      if (contentEnd - line > maxLine) fail(part, new SipParseError('line_too_long', 'Line Too Long'));
      let vs: number;
      if (line === pos) {
        const c0 = s.charCodeAt(pos);
        if (c0 === 32 || c0 === 9) {
          // continuation without a header to continue (folding right after the start line)
          fail(part, new SipParseError('bad_header', 'Bad Header Folding'));
        }
        if (headers.length >= maxHeaders) fail(part, new SipParseError('too_many_headers', 'Too Many Headers'));
        // field-name
        const nameEnd = scanClass(s, pos, contentEnd, C_TOKEN);
        const colon = skipWs(s, nameEnd, contentEnd);
        if (nameEnd === pos || colon >= contentEnd || s.charCodeAt(colon) !== 58) {
          fail(part, new SipParseError('bad_header', 'Bad Header Line'));
        }
        name = s.slice(pos, nameEnd);
        vs = skipWs(s, colon + 1, contentEnd);
      } else {
        vs = skipWs(s, line, contentEnd);
      }
      let ve = contentEnd;
      while (ve > vs && (s.charCodeAt(ve - 1) === 32 || s.charCodeAt(ve - 1) === 9)) ve--;
      if (line === pos) {
        vstart = vs;
        vend = ve;
      } else {
        if (folded === undefined) folded = s.slice(vstart, vend);
        if (ve > vs) folded = folded.length === 0 ? s.slice(vs, ve) : folded + ' ' + s.slice(vs, ve);
      }
      line = lineEnd + 1;
      if (line >= end) break;
      const c = s.charCodeAt(line);
      if (c !== 32 && c !== 9) break;
    }
    if (folded === undefined) value = s.slice(vstart, vend);
    else {
      value = vsrc = folded;
      vstart = 0;
      vend = folded.length;
    }
    // A bare CR inside a line is not a line end for us but may be for the next hop: refuse it (no smuggling).
    if (value.indexOf('\r') !== -1) fail(part, new SipParseError('bad_header', 'Bad Header Line'));
    headers.push({ name, value });
    pos = lineEnd + 1;

    const id = hotId(name);
    if (id === H_OTHER) continue;
    const hot = HOT_NAMES[id]!;
    switch (id) {
      case H_VIA:
        try {
          parseViaRange(vsrc, vstart, vend, vias);
        } catch (e) {
          if (!(e instanceof SipParseError)) throw e;
          defer(part, 'bad_via', 'Bad Via Header', hot);
        }
        break;
      case H_FROM:
      case H_TO: {
        if ((id === H_FROM ? from : to) !== undefined) {
          defer(part, 'duplicate_header', 'Duplicate ' + hot + ' Header', hot);
          break;
        }
        let one: NameAddr;
        try {
          one = parseNameAddrRange(vsrc, vstart, vend);
        } catch (e) {
          if (!(e instanceof SipParseError)) throw e;
          defer(part, 'bad_name_addr', 'Bad ' + hot + ' Header', hot);
          break;
        }
        if (id === H_FROM) part.from = from = one;
        else part.to = to = one;
        break;
      }
      case H_CALL_ID:
        if (callId !== undefined) defer(part, 'duplicate_header', 'Duplicate Call-ID Header', hot);
        else if (!isCallId(value)) {
          defer(part, 'bad_call_id', 'Bad Call-ID Header', hot);
        } else part.callId = callId = value;
        break;
      case H_CSEQ: {
        if (cseq !== undefined) {
          defer(part, 'duplicate_header', 'Duplicate CSeq Header', hot);
          break;
        }
        const vl = value.length;
        let q = 0;
        while (q < vl && value.charCodeAt(q) >= 48 && value.charCodeAt(q) <= 57) q++;
        // RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31.
        const seq = parseDigits(value, 0, q, 0x7fffffff);
        const ms = skipWs(value, q, vl);
        const me = scanClass(value, ms, vl, C_TOKEN);
        if (seq < 0 || ms === q || me === ms || me !== vl) defer(part, 'bad_cseq', 'Bad CSeq Header', hot);
        else part.cseq = cseq = { seq, method: value.slice(ms, me) };
        break;
      }
      case H_MAX_FORWARDS: {
        if (maxForwards !== undefined) {
          defer(part, 'duplicate_header', 'Duplicate Max-Forwards Header', hot);
          break;
        }
        const mf = parseDigits(value, 0, value.length, 255);
        if (mf < 0) defer(part, 'bad_max_forwards', 'Bad Max-Forwards Header', hot);
        else maxForwards = mf;
        break;
      }
      case H_CONTENT_LENGTH: {
        if (contentLength !== undefined) {
          defer(part, 'duplicate_header', 'Duplicate Content-Length Header', hot);
          break;
        }
        const cl = parseDigits(value, 0, value.length, 0x7fffffff);
        if (cl < 0) defer(part, 'bad_content_length', 'Bad Content-Length Header', hot);
        else contentLength = cl;
        break;
      }
      case H_ROUTE:
      case H_RECORD_ROUTE:
      case H_CONTACT:
        try {
          parseNameAddrsRange(
            vsrc,
            vstart,
            vend,
            id === H_ROUTE ? routes : id === H_CONTACT ? contacts : recordRoutes,
            true,
            id === H_CONTACT,
          );
        } catch (e) {
          if (!(e instanceof SipParseError)) throw e;
          defer(part, 'bad_name_addr', 'Bad ' + hot + ' Header', hot);
        }
        break;
    }
  }

  if (part.firstError !== undefined) fail(part, part.firstError);
  // mandatory headers (RFC 3261 §8.1.1; Max-Forwards tolerated missing, RFC 4475 §3.4.1)
  if (to === undefined) fail(part, new SipParseError('missing_header', 'Missing To Header', 'To'));
  if (from === undefined) fail(part, new SipParseError('missing_header', 'Missing From Header', 'From'));
  if (callId === undefined) fail(part, new SipParseError('missing_header', 'Missing Call-ID Header', 'Call-ID'));
  if (cseq === undefined) fail(part, new SipParseError('missing_header', 'Missing CSeq Header', 'CSeq'));
  if (vias.length === 0) fail(part, new SipParseError('missing_header', 'Missing Via Header', 'Via'));
  if (!isResponse && cseq!.method !== method) {
    fail(part, new SipParseError('cseq_method_mismatch', 'CSeq Method Does Not Match', 'CSeq'));
  }

  // ---- body (RFC 3261 §18.3)
  let body: Buffer;
  const avail = size - bodyStart;
  if (contentLength === undefined) {
    if (stream)
      fail(part, new SipParseError('missing_content_length', 'Missing Content-Length Header', 'Content-Length'));
    body = buf.subarray(bodyStart, size);
  } else if (avail < contentLength) {
    fail(part, new SipParseError('body_truncated', 'Body Shorter Than Content-Length', 'Content-Length'));
    body = buf; // unreachable
  } else {
    body = contentLength === 0 ? EMPTY_BODY : buf.subarray(bodyStart, bodyStart + contentLength);
  }

  let msg: SipMessage;
  if (isResponse) {
    const r: SipResponse = {
      kind: 'response',
      status,
      reason,
      headers,
      body,
      callId: callId!,
      cseq: cseq!,
      from: from!,
      to: to!,
      vias,
      maxForwards,
      contentLength,
      routes,
      recordRoutes,
      contacts,
    };
    msg = r;
  } else {
    const r: SipRequest = {
      kind: 'request',
      method,
      uriText,
      uri: uri!,
      headers,
      body,
      callId: callId!,
      cseq: cseq!,
      from: from!,
      to: to!,
      vias,
      maxForwards,
      contentLength,
      routes,
      recordRoutes,
      contacts,
    };
    msg = r;
  }
  if (latin1) msg.headerEncoding = 'latin1';
  return msg;
}

/** callid = word [ "@" word ] */
function isCallId(v: string): boolean {
  const n = v.length;
  let q = scanClass(v, 0, n, C_WORD);
  if (q === 0) return false;
  if (q < n && v.charCodeAt(q) === 64) {
    const r = scanClass(v, q + 1, n, C_WORD);
    if (r === q + 1) return false;
    q = r;
  }
  return q === n;
}

function isVersion20(s: string, p: number, q: number): boolean {
  return (
    q - p === 7 &&
    (s.charCodeAt(p) | 0x20) === 115 &&
    (s.charCodeAt(p + 1) | 0x20) === 105 &&
    (s.charCodeAt(p + 2) | 0x20) === 112 &&
    s.charCodeAt(p + 3) === 47 &&
    s.charCodeAt(p + 4) === 50 &&
    s.charCodeAt(p + 5) === 46 &&
    s.charCodeAt(p + 6) === 48
  );
}

/** "SIP/" 1*DIGIT "." 1*DIGIT */
function isVersionLike(s: string, p: number, q: number): boolean {
  if (q - p < 7 || !eqLowerAt(s, p, 'sip') || s.charCodeAt(p + 3) !== 47) return false;
  let dot = false;
  for (let i = p + 4; i < q; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 && !dot && i > p + 4 && i < q - 1) dot = true;
    else if (c < 48 || c > 57) return false;
  }
  return dot;
}
