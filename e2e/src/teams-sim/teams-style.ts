// How the Microsoft SIP proxy writes its messages (reference §0, O4.4, M5.16, X7.2): UPPERCASE header names in its
// responses, its Allow and Server strings, its Contact shape, and Teams-like SDP.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  defaultReason,
  type RawHeader,
  type SipRequest,
  type SipResponse,
} from '../../../sbc-pod/src/sip/message/index.ts';

export const TEAMS_SERVER = 'Microsoft.PSTNHub.SIPProxy v.2020.7.31.1 i.USWE2.3';
export const TEAMS_ALLOW = 'INVITE,ACK,OPTIONS,CANCEL,BYE,NOTIFY';
export const DEFAULT_CONTACT_HOST = 'api-du-b-euwe.pstnhub.microsoft.com';

export function newTag(): string {
  return randomBytes(6).toString('hex');
}

export function newBranch(): string {
  return 'z9hG4bK' + randomBytes(8).toString('hex');
}

export function newCallId(): string {
  return randomUUID();
}

/** `<sip:api-du-b-euwe.pstnhub.microsoft.com:443;x-i=<guid>;x-c=<id>>` pointing at `host:port`. */
export function teamsContact(host: string, port: number, transportParam = false): string {
  const xc = randomBytes(4).readUInt32BE(0) % 10_000_000;
  return `<sip:${host}:${port};x-i=${randomUUID()};x-c=${xc}${transportParam ? ';transport=tls' : ''}>`;
}

function upper(name: string): string {
  return name.toUpperCase();
}

export interface TeamsResponseOptions {
  reason?: string;
  /** Added to To when the request has no tag. */
  toTag?: string;
  /** Extra headers (written after the fixed ones, names upper-cased when `uppercase`). */
  headers?: RawHeader[];
  contact?: string;
  sdp?: string;
  /** Teams style: UPPERCASE names (default true). */
  uppercase?: boolean;
  /** Add ALLOW (default: for OPTIONS and INVITE 2xx). */
  allow?: boolean;
}

/**
 * A response in the order and style of the Teams SIP proxy's OPTIONS reply:
 * FROM, TO, CSEQ, CALL-ID, VIA…, [CONTACT], CONTENT-LENGTH, [ALLOW], SERVER, [extra], [CONTENT-TYPE].
 */
export function teamsResponse(req: SipRequest, status: number, opts: TeamsResponseOptions = {}): SipResponse {
  const up = opts.uppercase ?? true;
  const n = (name: string): string => (up ? upper(name) : name);
  const get = (key: string): RawHeader[] =>
    req.headers.filter((h) => {
      const k = h.name.toLowerCase();
      return (
        k === key ||
        (key === 'via' && k === 'v') ||
        (key === 'from' && k === 'f') ||
        (key === 'to' && k === 't') ||
        (key === 'call-id' && k === 'i')
      );
    });
  const headers: RawHeader[] = [];
  for (const h of get('from')) headers.push({ name: n('From'), value: h.value });
  const toTag = opts.toTag !== undefined && !req.to.params.has('tag') ? opts.toTag : undefined;
  const toHeader = get('to')[0];
  if (toHeader !== undefined) {
    headers.push({ name: n('To'), value: toTag !== undefined ? `${toHeader.value};tag=${toTag}` : toHeader.value });
  }
  headers.push({ name: n('CSeq'), value: `${req.cseq.seq} ${req.cseq.method}` });
  headers.push({ name: n('Call-ID'), value: req.callId });
  for (const h of get('via')) headers.push({ name: n('Via'), value: h.value });
  if (opts.contact !== undefined) headers.push({ name: n('Contact'), value: opts.contact });
  const body = opts.sdp !== undefined ? Buffer.from(opts.sdp) : Buffer.alloc(0);
  headers.push({ name: n('Content-Length'), value: String(body.length) });
  const allow = opts.allow ?? (req.method === 'OPTIONS' || (req.method === 'INVITE' && status >= 200 && status < 300));
  if (allow) headers.push({ name: n('Allow'), value: TEAMS_ALLOW });
  headers.push({ name: n('Server'), value: TEAMS_SERVER });
  for (const h of opts.headers ?? []) headers.push({ name: up ? upper(h.name) : h.name, value: h.value });
  if (opts.sdp !== undefined) headers.push({ name: n('Content-Type'), value: 'application/sdp' });
  let to = req.to;
  if (toTag !== undefined) {
    const params = new Map(req.to.params);
    params.set('tag', toTag);
    to = { ...req.to, params };
  }
  return {
    kind: 'response',
    status,
    reason: opts.reason ?? defaultReason(status),
    headers,
    body,
    callId: req.callId,
    cseq: req.cseq,
    from: req.from,
    to,
    vias: req.vias,
    contentLength: body.length,
    routes: [],
    recordRoutes: [],
    contacts: [],
  };
}

export interface SdpOptions {
  address: string;
  port: number;
  /** Session version (increment on every new offer/answer of a dialog). */
  version?: number;
  sessionId?: number;
  direction?: 'sendrecv' | 'inactive';
}

/** A Teams media-processor style SDP (SRTP SDES, rtcp-mux, G.711, telephone-event, CN). */
export function teamsSdp(opts: SdpOptions): string {
  const ip = opts.address.includes(':') ? 'IP6' : 'IP4';
  const key = randomBytes(30).toString('base64');
  return [
    'v=0',
    `o=- ${opts.sessionId ?? 1} ${opts.version ?? 0} IN ${ip} ${opts.address}`,
    's=session',
    `c=IN ${ip} ${opts.address}`,
    'b=CT:10000000',
    't=0 0',
    `m=audio ${opts.port} RTP/SAVP 0 8 101 13`,
    `c=IN ${ip} ${opts.address}`,
    `a=rtcp:${opts.port}`,
    `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`,
    'a=rtcp-mux',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=rtpmap:13 CN/8000',
    'a=ptime:20',
    `a=${opts.direction ?? 'sendrecv'}`,
    '',
  ].join('\r\n');
}
