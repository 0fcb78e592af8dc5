// Message construction the transaction layer needs on its own (RFC 3261 §17.1.1.3 ACK for non-2xx, §8.2.6 the
// 100 Trying) and a few raw-header helpers. Raw headers are the source of truth on serialize, so every message built
// here keeps its `headers` list and its parsed fields consistent.
import type { NameAddr, RawHeader, SipRequest, SipResponse, Via } from '../message/types.ts';

const COMPACT: Record<string, string> = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  l: 'content-length',
  m: 'contact',
  c: 'content-type',
  e: 'content-encoding',
  k: 'supported',
  s: 'subject',
  o: 'event',
  r: 'refer-to',
  b: 'referred-by',
  u: 'allow-events',
  x: 'session-expires',
};

/** Lower-case long form of a header name (`v` → `via`, `Call-ID` → `call-id`). */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}

/** Raw header lines whose canonical name is `name` (lower-case long form), in order. */
export function rawHeaders(headers: readonly RawHeader[], name: string): RawHeader[] {
  return headers.filter((h) => canonicalHeaderName(h.name) === name);
}

/** Index of the first comma that separates list elements (outside quoted strings and `<…>`), or -1. */
export function firstListComma(value: string): number {
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c) {
        i++; // quoted-pair: skip the escaped character
      } else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
    else if (c === 0x2c && !angle) return i;
  }
  return -1;
}

/** The text of the top-most Via value as received (first element of the first Via line). */
export function topViaText(headers: readonly RawHeader[]): string | undefined {
  const line = headers.find((h) => canonicalHeaderName(h.name) === 'via');
  if (!line) return undefined;
  const comma = firstListComma(line.value);
  return (comma < 0 ? line.value : line.value.slice(0, comma)).trim();
}

export function formatParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [name, value] of params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

/** Serializes one Via value; `branch`, `received` and `rport` are written even if `params` lacks them. */
export function formatVia(via: Via): string {
  let out = `${via.protocol}/${via.transport} ${via.host}${via.port !== undefined ? `:${via.port}` : ''}`;
  out += formatParams(via.params);
  if (via.branch !== undefined && !via.params.has('branch')) out += `;branch=${via.branch}`;
  if (via.received !== undefined && !via.params.has('received')) out += `;received=${via.received}`;
  if (via.rport !== undefined && !via.params.has('rport')) out += via.rport === null ? ';rport' : `;rport=${via.rport}`;
  return out;
}

/** Serializes a name-addr (always with angle brackets, which is valid for every name-addr header). */
export function formatNameAddr(addr: NameAddr): string {
  if (addr.wildcard) return '*';
  const name =
    addr.displayName !== undefined && addr.displayName !== ''
      ? `"${addr.displayName.replace(/(["\\])/g, '\\$1')}" `
      : '';
  return `${name}<${addr.uriText}>${formatParams(addr.params)}`;
}

/** The `tag` parameter of a From/To value, if present. */
export function tagOf(addr: NameAddr | undefined): string | undefined {
  const tag = addr?.params.get('tag');
  return typeof tag === 'string' ? tag : undefined;
}

function headerValue(headers: readonly RawHeader[], name: string): string | undefined {
  return headers.find((h) => canonicalHeaderName(h.name) === name)?.value;
}

/**
 * Returns a copy of `req` whose top Via carries `branch` (replacing any branch it had), in both the raw header and
 * the parsed Via. The original request is not modified.
 */
export function withTopViaBranch(req: SipRequest, branch: string): SipRequest {
  const top = req.vias[0];
  if (!top) throw new Error('request has no Via header');
  const params = new Map(top.params);
  if (params.has('branch')) params.set('branch', branch);
  const via: Via = { ...top, branch, params };
  const headers = req.headers.slice();
  const idx = headers.findIndex((h) => canonicalHeaderName(h.name) === 'via');
  if (idx < 0) {
    headers.unshift({ name: 'Via', value: formatVia(via) });
  } else {
    const line = headers[idx]!;
    const comma = firstListComma(line.value);
    const first = comma < 0 ? line.value : line.value.slice(0, comma);
    const rest = comma < 0 ? '' : line.value.slice(comma);
    const stripped = first.replace(/;\s*branch\s*=\s*[^;,\s]*/gi, '').trimEnd();
    headers[idx] = { name: line.name, value: `${stripped};branch=${branch}${rest}` };
  }
  return { ...req, headers, vias: [via, ...req.vias.slice(1)] };
}

/**
 * The ACK a client INVITE transaction sends for a 300–699 response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID,
 * From and CSeq number as the INVITE, To from the response (with its tag), a single Via equal to the INVITE's top
 * Via (same branch), the INVITE's Route headers, and no body.
 */
export function buildNon2xxAck(invite: SipRequest, response: SipResponse): SipRequest {
  const top = invite.vias[0];
  if (!top) throw new Error('INVITE has no Via header');
  const headers: RawHeader[] = [{ name: 'Via', value: topViaText(invite.headers) ?? formatVia(top) }];
  for (const route of rawHeaders(invite.headers, 'route')) headers.push({ name: 'Route', value: route.value });
  if (rawHeaders(invite.headers, 'route').length === 0) {
    for (const route of invite.routes) headers.push({ name: 'Route', value: formatNameAddr(route) });
  }
  headers.push(
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: headerValue(invite.headers, 'from') ?? formatNameAddr(invite.from) },
    { name: 'To', value: headerValue(response.headers, 'to') ?? formatNameAddr(response.to) },
    { name: 'Call-ID', value: invite.callId },
    { name: 'CSeq', value: `${invite.cseq.seq} ACK` },
    { name: 'Content-Length', value: '0' },
  );
  return {
    kind: 'request',
    method: 'ACK',
    uriText: invite.uriText,
    uri: invite.uri,
    headers,
    body: Buffer.alloc(0),
    callId: invite.callId,
    cseq: { seq: invite.cseq.seq, method: 'ACK' },
    from: invite.from,
    to: response.to,
    vias: [top],
    maxForwards: 70,
    contentLength: 0,
    routes: invite.routes,
    recordRoutes: [],
    contacts: [],
  };
}

export interface CreateResponseOptions {
  /** Tag to add to To when the request's To has none (RFC 3261 §8.2.6.2; omit for 100 Trying). */
  toTag?: string;
  /** Extra headers appended before Content-Length. */
  headers?: RawHeader[];
}

/**
 * A body-less response to `req` (RFC 3261 §8.2.6): Via lines, From, To, Call-ID and CSeq copied as received
 * (Timestamp too, for a 100), plus `Content-Length: 0`.
 */
export function createResponse(
  req: SipRequest,
  status: number,
  reason: string,
  options: CreateResponseOptions = {},
): SipResponse {
  const headers: RawHeader[] = [];
  let to = req.to;
  for (const h of req.headers) {
    const name = canonicalHeaderName(h.name);
    if (name === 'via' || name === 'from' || name === 'call-id' || name === 'cseq') headers.push(h);
    else if (name === 'timestamp' && status === 100) headers.push(h);
    else if (name === 'to') {
      if (options.toTag !== undefined && tagOf(req.to) === undefined) {
        headers.push({ name: h.name, value: `${h.value};tag=${options.toTag}` });
        to = { ...req.to, params: new Map(req.to.params).set('tag', options.toTag) };
      } else headers.push(h);
    }
  }
  if (options.headers) headers.push(...options.headers);
  headers.push({ name: 'Content-Length', value: '0' });
  return {
    kind: 'response',
    status,
    reason,
    headers,
    body: Buffer.alloc(0),
    callId: req.callId,
    cseq: req.cseq,
    from: req.from,
    to,
    vias: req.vias,
    contentLength: 0,
    routes: [],
    recordRoutes: [],
    contacts: [],
  };
}
