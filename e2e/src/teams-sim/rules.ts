// The rule checker: every message the SBC sends to the simulated Teams peer goes through `checkSbcMessage`, and each
// broken rule becomes a Violation tagged with its id from shared/reference/teams-direct-routing.md.
import type { X509Certificate } from 'node:crypto';
import {
  getHeader,
  getHeaders,
  type NameAddr,
  type SipMessage,
  type SipUri,
} from '../../../sbc-pod/src/sip/message/index.ts';
import { certCoversHost, isIpHost } from './cert-match.ts';

export interface Violation {
  /** Rule id from the reference, e.g. `T1.2`, `H3.6`, `X7.1`. */
  rule: string;
  message: string;
  /** Short description of the offending message (`INVITE sip:+1…` or `200 (INVITE)`), or of the connection. */
  subject: string;
  /** Where it was seen: listener name (`sip`, `sip2`, `sip3`, `api`) or `client`. */
  where?: string;
  at: Date;
}

export function formatViolation(v: Violation): string {
  return `${v.rule} ${v.message} [${v.subject}${v.where !== undefined ? ' @' + v.where : ''}]`;
}

export interface CheckContext {
  /** The SBC certificate of the TLS connection the message arrived on (client cert or server cert). */
  peerCert?: X509Certificate;
  /**
   * For a response to an INVITE the sim sent (Teams → SBC): the Request-URI host the sim dialled. H3.8 requires the
   * SBC's Contact in 18x/2xx to carry this same (derived trunk) FQDN.
   */
  dialledHost?: string;
  /** For in-dialog requests from the SBC on a Teams-originated call: the FQDN the sim dialled (H3.8). */
  dialogHost?: string;
  /** The carrier trunk FQDN; when set, OPTIONS must carry it in Contact (H3.3). */
  carrierFqdn?: string;
  /**
   * Host names of the Teams side: their Record-Route entries (echoed in responses) are not the SBC's.
   * Default: anything under `pstnhub.microsoft.com`.
   */
  isTeamsHost?: (host: string) => boolean;
  /** Rule ids not to report. */
  disabledRules?: ReadonlySet<string> | readonly string[];
}

export const X_MS_SBC_PATTERN = /^[^/\r\n]+\/[^/\r\n]+\/[^/\r\n]+$/;
const E164 = /^\+[0-9]{4,15}(;.*)?$/;
/** Dialog-creating or target-refreshing requests whose Contact Teams uses (M5.4, H3.4). */
const CONTACT_REQUESTS = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY', 'UPDATE']);

export function describeMessage(msg: SipMessage): string {
  return msg.kind === 'request' ? `${msg.method} ${msg.uriText}` : `${msg.status} ${msg.reason} (${msg.cseq.method})`;
}

function isAnonymous(na: NameAddr): boolean {
  const user = (na.uri.user ?? '').toLowerCase();
  return user === 'anonymous' || na.uri.host.toLowerCase() === 'anonymous.invalid';
}

function userOf(uri: SipUri | undefined): string | undefined {
  const u = uri?.user;
  if (u === undefined) return undefined;
  const semi = u.indexOf(';');
  return semi < 0 ? u : u.slice(0, semi);
}

function sdpOf(msg: SipMessage): string | undefined {
  if (msg.body.length === 0) return undefined;
  const ct = (getHeader(msg, 'Content-Type') ?? '').toLowerCase();
  if (!ct.startsWith('application/sdp')) return undefined;
  return msg.body.toString('utf8');
}

/** Check one message the SBC sent to Teams; returns the broken rules (empty when clean). */
export function checkSbcMessage(msg: SipMessage, ctx: CheckContext = {}): Violation[] {
  const out: Violation[] = [];
  const subject = describeMessage(msg);
  const disabled = new Set(ctx.disabledRules ?? []);
  const add = (rule: string, message: string): void => {
    if (!disabled.has(rule)) out.push({ rule, message, subject, at: new Date() });
  };
  const isReq = msg.kind === 'request';
  const method = isReq ? msg.method : msg.cseq.method;
  const status = isReq ? 0 : msg.status;

  // T1.2: no sips: anywhere Teams looks.
  if (isReq && msg.uri.scheme === 'sips') add('T1.2', 'sips: URI in Request-URI');
  const named: Array<[string, NameAddr[]]> = [
    ['Contact', msg.contacts],
    ['Record-Route', msg.recordRoutes],
    ['Route', msg.routes],
    ['From', [msg.from]],
    ['To', [msg.to]],
  ];
  for (const [name, list] of named) {
    if (list.some((na) => na.uri.scheme === 'sips')) add('T1.2', `sips: URI in ${name}`);
  }

  // X7.1: X-MS-SBC on every request and response.
  const xms = getHeader(msg, 'X-MS-SBC');
  if (xms === undefined || !X_MS_SBC_PATTERN.test(xms.trim())) {
    add('X7.1', xms === undefined ? 'X-MS-SBC missing' : `X-MS-SBC not Vendor/Model/Version: "${xms}"`);
  }

  // M5.6: no Replaces toward Teams (header or URI header).
  if (getHeader(msg, 'Replaces') !== undefined) add('M5.6', 'Replaces header sent to Teams');
  const uris = [...(isReq ? [msg.uri] : []), ...msg.contacts.map((c) => c.uri)];
  const referTo = getHeader(msg, 'Refer-To');
  if (
    uris.some((u) => [...u.headers.keys()].some((k) => k.toLowerCase() === 'replaces')) ||
    (referTo !== undefined && /[?&]replaces=/i.test(referTo))
  ) {
    add('M5.6', 'Replaces URI header sent to Teams');
  }

  // M5.20: no 100rel / UPDATE / PRACK toward Teams.
  for (const req of getHeaders(msg, 'Require')) {
    if (/(^|[\s,])100rel($|[\s,])/i.test(req)) add('M5.20', 'Require: 100rel sent to Teams');
  }
  if (getHeader(msg, 'RSeq') !== undefined) add('M5.20', 'RSeq (reliable provisional) sent to Teams');
  if (isReq && (msg.method === 'UPDATE' || msg.method === 'PRACK')) add('M5.20', `${msg.method} sent to Teams`);

  // Contact rules (H3.6, C2.6, M5.4/O4.2/H3.8).
  const contactRule = method === 'OPTIONS' && isReq ? 'O4.2' : isReq ? 'M5.4' : 'H3.8';
  const needsContact =
    (isReq && (method === 'OPTIONS' || CONTACT_REQUESTS.has(method))) ||
    (!isReq && method === 'INVITE' && status > 100 && status < 300);
  if (msg.contacts.length > 1) add('H3.6', `more than one Contact (${msg.contacts.length})`);
  const contact = msg.contacts[0];
  if (contact === undefined) {
    if (needsContact) add(contactRule, `${isReq ? method : status + ' ' + method} without Contact`);
  } else if (needsContact || msg.contacts.length > 0) {
    const host = contact.uri.host;
    if (isIpHost(host)) add('C2.6', `Contact host is an IP (${host})`);
    else if (ctx.peerCert !== undefined && !certCoversHost(ctx.peerCert, host)) {
      add('C2.6', `Contact FQDN ${host} not covered by the SBC certificate`);
    }
    if (needsContact) {
      const lacks: string[] = [];
      if (contact.uri.port === undefined) lacks.push('port');
      if ((contact.uri.params.get('transport') ?? '').toLowerCase() !== 'tls') lacks.push('transport=tls');
      if (lacks.length > 0) add(contactRule, `Contact lacks ${lacks.join(' and ')}`);
    }
    if (isReq && method === 'OPTIONS' && ctx.carrierFqdn !== undefined) {
      if (host.toLowerCase() !== ctx.carrierFqdn.toLowerCase()) {
        add('H3.3', `OPTIONS Contact host ${host} is not the carrier trunk FQDN ${ctx.carrierFqdn}`);
      }
    }
    const expected = !isReq && method === 'INVITE' ? ctx.dialledHost : isReq ? ctx.dialogHost : undefined;
    if (expected !== undefined && needsContact && host.toLowerCase() !== expected.toLowerCase()) {
      add('H3.8', `Contact host ${host} differs from the dialled trunk FQDN ${expected}`);
    }
  }

  // M5.7 / O4.7: the SBC's (top-most non-Teams) Record-Route, if any, carries the same SBC FQDN as Contact.
  const isTeams = ctx.isTeamsHost ?? ((h: string) => /(^|\.)pstnhub\.microsoft\.com$/i.test(h));
  const rr = msg.recordRoutes.find((na) => !isTeams(na.uri.host));
  if (rr !== undefined) {
    const rule = method === 'OPTIONS' ? 'O4.7' : 'M5.7';
    if (isIpHost(rr.uri.host)) add('C2.6', `Record-Route host is an IP (${rr.uri.host})`);
    else if (ctx.peerCert !== undefined && !certCoversHost(ctx.peerCert, rr.uri.host)) {
      add('C2.6', `Record-Route FQDN ${rr.uri.host} not covered by the SBC certificate`);
    }
    if (contact !== undefined && rr.uri.host.toLowerCase() !== contact.uri.host.toLowerCase()) {
      add(rule, `top Record-Route host ${rr.uri.host} differs from Contact host ${contact.uri.host}`);
    }
  }

  // Initial INVITE toward Teams (PSTN → Teams): number formats.
  const initialInvite = isReq && msg.method === 'INVITE' && !msg.to.params.has('tag');
  if (initialInvite) {
    const ruser = msg.uri.user ?? '';
    if (!E164.test(ruser)) add('M5.1', `Request-URI user not E.164 with + ("${ruser}")`);
    const toUser = userOf(msg.to.uri);
    const rUser = userOf(msg.uri);
    if (toUser !== undefined && toUser !== rUser)
      add('M5.2', `To user ${toUser} differs from Request-URI user ${rUser}`);
    if (!isAnonymous(msg.from) && !E164.test(msg.from.uri.user ?? '')) {
      add('M5.3', `From user not E.164 with + ("${msg.from.uri.user ?? ''}")`);
    }
  }

  // SDP rules.
  const sdp = sdpOf(msg);
  if (isReq && msg.method === 'INVITE' && sdp === undefined) add('M5.5', 'INVITE without SDP (delayed offer)');
  if (sdp !== undefined) {
    if (/^a=(sendonly|recvonly)\s*$/m.test(sdp)) add('M5.22', 'SDP uses a=sendonly/a=recvonly (only a=inactive)');
    if (/^c=IN IP4 0\.0\.0\.0\s*$/m.test(sdp)) add('M5.22', 'SDP uses c=0.0.0.0 hold');
    for (const m of sdp.matchAll(/^m=audio \d+ (\S+)/gm)) {
      if (!/SAVP/.test(m[1]!)) add('D6.1', `audio m-line profile ${m[1]} is not SRTP (RTP/SAVP)`);
    }
  }
  return out;
}
