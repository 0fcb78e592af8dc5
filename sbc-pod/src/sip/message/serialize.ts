// Serialization and message builders (RFC 3261 §7, §8.1.1, §8.2.6).
import { eqLower, quote } from './chars.ts';
import type { SipParseError } from './errors.ts';
import { canonicalName, headerKey } from './headers.ts';
import { formatNameAddr } from './name-addr.ts';
import { H_CALL_ID, H_CSEQ, H_FROM, H_OTHER, H_TO, H_VIA, hotId, parseMessage } from './parse.ts';
import type { CSeq, NameAddr, RawHeader, SipRequest, SipResponse, SipUri, Via } from './types.ts';
import { formatUri } from './uri.ts';
import { formatVia } from './via.ts';

export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK',
  202: 'Accepted',
  204: 'No Notification',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  422: 'Session Interval Too Small',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  580: 'Precondition Failure',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

export function defaultReason(status: number): string {
  return REASON_PHRASES[status] ?? (status < 200 ? 'Provisional' : status < 300 ? 'Success' : 'Failure');
}

function isContentLength(name: string): boolean {
  const n = name.length;
  if (n === 1) return name === 'l' || name === 'L';
  return n === 14 && eqLower(name, 'content-length');
}

/** Start line + headers as written (names keep their case and form) + CRLF, with Content-Length set to `bodyLength`. */
function headText(startLine: string, headers: readonly RawHeader[], bodyLength: number): string {
  let out = startLine + '\r\n';
  let clDone = false;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    if (isContentLength(h.name)) {
      if (clDone) continue;
      clDone = true;
      out += h.name + ': ' + bodyLength + '\r\n';
      continue;
    }
    out += h.name + ': ' + h.value + '\r\n';
  }
  if (!clDone) out += 'Content-Length: ' + bodyLength + '\r\n';
  return out + '\r\n';
}

/**
 * Serialize: start line (from `method`/`uriText` or `status`/`reason`), then `headers` in order with their original
 * names, then `body`. The (first) Content-Length header is rewritten to the real body length, further ones dropped,
 * and one is appended if there was none.
 */
export function serializeMessage(msg: SipRequest | SipResponse): Buffer {
  const startLine =
    msg.kind === 'request' ? msg.method + ' ' + msg.uriText + ' SIP/2.0' : 'SIP/2.0 ' + msg.status + ' ' + msg.reason;
  const head = headText(startLine, msg.headers, msg.body.length);
  const enc = msg.headerEncoding === 'latin1' ? 'latin1' : 'utf8';
  const hl = Buffer.byteLength(head, enc);
  const out = Buffer.allocUnsafe(hl + msg.body.length);
  out.write(head, 0, hl, enc);
  if (msg.body.length > 0) msg.body.copy(out, hl);
  return out;
}

export interface RequestSpec {
  method: string;
  /** Request-URI, as text or parsed. */
  uri: string | SipUri;
  /** Top-most first; at least one is required. */
  vias: Array<string | Via>;
  from: string | NameAddr;
  to: string | NameAddr;
  callId: string;
  cseq: number | CSeq;
  /** Default 70. */
  maxForwards?: number;
  contacts?: Array<string | NameAddr>;
  routes?: Array<string | NameAddr>;
  /** Any other headers, written after the ones above in the given order. */
  headers?: RawHeader[];
  contentType?: string;
  body?: Buffer | string;
}

const asNameAddr = (v: string | NameAddr): string => (typeof v === 'string' ? v : formatNameAddr(v));

/**
 * Build a request (RFC 3261 §8.1.1). It is written out and parsed back, so the result is a fully consistent,
 * validated SipRequest (throws SipParseError if the parts are malformed).
 */
export function buildRequest(spec: RequestSpec): SipRequest {
  const uriText = typeof spec.uri === 'string' ? spec.uri : formatUri(spec.uri);
  const headers: RawHeader[] = [];
  for (const v of spec.vias) headers.push({ name: 'Via', value: typeof v === 'string' ? v : formatVia(v) });
  headers.push({ name: 'Max-Forwards', value: String(spec.maxForwards ?? 70) });
  for (const r of spec.routes ?? []) headers.push({ name: 'Route', value: asNameAddr(r) });
  headers.push({ name: 'From', value: asNameAddr(spec.from) });
  headers.push({ name: 'To', value: asNameAddr(spec.to) });
  headers.push({ name: 'Call-ID', value: spec.callId });
  const cseq = typeof spec.cseq === 'number' ? { seq: spec.cseq, method: spec.method } : spec.cseq;
  headers.push({ name: 'CSeq', value: cseq.seq + ' ' + cseq.method });
  for (const c of spec.contacts ?? []) headers.push({ name: 'Contact', value: asNameAddr(c) });
  for (const h of spec.headers ?? []) headers.push(h);
  const body = spec.body === undefined ? EMPTY : typeof spec.body === 'string' ? Buffer.from(spec.body) : spec.body;
  if (spec.contentType !== undefined) headers.push({ name: 'Content-Type', value: spec.contentType });
  const head = headText(spec.method + ' ' + uriText + ' SIP/2.0', headers, body.length);
  const msg = parseMessage(Buffer.concat([Buffer.from(head), body]));
  return msg as SipRequest;
}

const EMPTY: Buffer = Buffer.alloc(0);

export interface ResponseOptions {
  /** Added to To when it has no tag yet (required for every response but 100 that creates a dialog, §8.2.6.2). */
  toTag?: string;
  /** Extra headers after the copied ones. */
  headers?: RawHeader[];
  contentType?: string;
  body?: Buffer | string;
}

/**
 * Build a response to `request` (RFC 3261 §8.2.6): Via lines (all, in order, as received), From, To (+ `toTag` when
 * it has none), Call-ID and CSeq are copied; `100 Trying` also copies Timestamp (§8.2.6.1). The 4th argument is
 * either the extra headers or {@link ResponseOptions}.
 */
export function buildResponse(
  request: SipRequest,
  status: number,
  reason?: string,
  extra?: RawHeader[] | ResponseOptions,
): SipResponse {
  const opts: ResponseOptions = Array.isArray(extra) ? { headers: extra } : (extra ?? {});
  const headers: RawHeader[] = [];
  let toValue: string | undefined;
  let to = request.to;
  const addTag = opts.toTag !== undefined && !request.to.params.has('tag');
  const hs = request.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    // hotId, not headerKey: no lower-cased copy of every header name
    switch (hotId(h.name)) {
      case H_VIA:
      case H_FROM:
      case H_CALL_ID:
      case H_CSEQ:
        headers.push(h);
        break;
      case H_TO:
        if (toValue !== undefined) break;
        toValue = addTag ? h.value + ';tag=' + opts.toTag : h.value;
        headers.push(addTag ? { name: h.name, value: toValue } : h);
        break;
      case H_OTHER:
        if (status === 100 && h.name.length === 9 && eqLower(h.name, 'timestamp')) headers.push(h);
        break;
    }
  }
  if (addTag) {
    const params = new Map(request.to.params);
    params.set('tag', opts.toTag!);
    to = { ...request.to, params };
  }
  for (const h of opts.headers ?? []) headers.push(h);
  let body: Buffer = EMPTY;
  if (opts.body !== undefined) body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  if (opts.contentType !== undefined) headers.push({ name: 'Content-Type', value: opts.contentType });
  headers.push({ name: 'Content-Length', value: String(body.length) });
  return {
    kind: 'response',
    status,
    reason: reason ?? defaultReason(status),
    headers,
    body,
    callId: request.callId,
    cseq: request.cseq,
    from: request.from,
    to,
    vias: request.vias,
    contentLength: body.length,
    routes: [],
    recordRoutes: [],
    contacts: [],
  };
}

/**
 * Bytes of an answer to a request that failed to parse, from what the parser could read (Via, From, To, Call-ID,
 * CSeq lines). Undefined when there is nothing to answer: a response, or no Via could be read (RFC 3261 §18.2.2
 * needs one to route the answer). A missing To/From/Call-ID/CSeq is left out rather than invented.
 */
export function buildErrorResponse(
  err: SipParseError,
  status: number,
  reason?: string,
  toTag?: string,
): Buffer | undefined {
  if (err.isRequest !== true || err.vias === undefined || err.vias.length === 0 || err.headers === undefined) {
    return undefined;
  }
  let out = 'SIP/2.0 ' + status + ' ' + sanitizePhrase(reason ?? err.reason) + '\r\n';
  let toDone = false;
  for (const h of err.headers) {
    const key = headerKey(h.name);
    if (key === 'via' || key === 'from' || key === 'call-id' || key === 'cseq') {
      out += canonicalName(h.name) + ': ' + h.value + '\r\n';
    } else if (key === 'to' && !toDone) {
      toDone = true;
      const tag = toTag !== undefined && err.to !== undefined && !err.to.params.has('tag') ? ';tag=' + toTag : '';
      out += 'To: ' + h.value + tag + '\r\n';
    }
  }
  out += 'Content-Length: 0\r\n\r\n';
  return Buffer.from(out, 'utf8');
}

function sanitizePhrase(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    out += c < 32 || c === 127 ? ' ' : p[i];
  }
  return out;
}

/** A display name as it would appear in a header (quoted, escaped). */
export function formatDisplayName(name: string): string {
  return quote(name);
}
