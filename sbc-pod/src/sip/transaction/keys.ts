// Transaction matching keys (RFC 3261 §17.1.3 for clients, §17.2.3 for servers incl. the RFC 2543 fallback).
import type { SipRequest, Via } from '../message/types.ts';
import { hasMagicCookie } from './branch.ts';

function defaultPort(transport: string): number {
  const t = transport.toUpperCase();
  return t === 'TLS' ? 5061 : t === 'WSS' ? 443 : t === 'WS' ? 80 : 5060;
}

/** The Via sent-by, normalised (host lower-cased, default port filled in). */
export function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? defaultPort(via.transport)}`;
}

export interface ServerKey {
  key: string;
  /** No magic cookie: the RFC 2543 rules apply, and the To tag must be compared separately. */
  legacy: boolean;
}

/**
 * Key of the server transaction a request belongs to. ACK maps to its INVITE; pass `method = 'INVITE'` to find the
 * INVITE a CANCEL cancels (§9.2). Undefined when the request has no Via.
 *
 * With the magic cookie: branch + sent-by + method. Without (RFC 2543): Request-URI, From tag, Call-ID, CSeq number,
 * top Via and method — the To tag is checked by the caller, because an ACK carries the tag of our response rather
 * than the INVITE's.
 */
export function serverKey(req: SipRequest, method?: string): ServerKey | undefined {
  const via = req.vias[0];
  if (!via) return undefined;
  const m = method ?? (req.method === 'ACK' ? 'INVITE' : req.method);
  if (hasMagicCookie(via.branch)) return { key: `3261\n${via.branch}\n${sentBy(via)}\n${m}`, legacy: false };
  const fromTag = req.from.params.get('tag') ?? '';
  const viaId = `${via.transport.toUpperCase()} ${sentBy(via)};branch=${via.branch ?? ''}`;
  return {
    key: `2543\n${req.uriText}\n${fromTag}\n${req.callId}\n${req.cseq.seq}\n${viaId}\n${m}`,
    legacy: true,
  };
}

/** Key of a client transaction: top Via branch + CSeq method (§17.1.3). */
export function clientKey(branch: string, method: string): string {
  return `${branch}\n${method}`;
}
