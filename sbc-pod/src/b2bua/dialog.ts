// Dialog state of one B2BUA leg (RFC 3261 §12), as plain JSON so it can be stored in Redis and resumed by any pod.
// Pure functions: create from the dialog-forming request/response, build in-dialog request lines, update CSeqs.
import type { NameAddr, SipRequest, SipResponse } from '../sip/message/types.ts';

/** Where a leg's peer is reached: the transport and address to send to, and a connection to prefer. */
export interface PeerHint {
  transport: 'UDP' | 'TCP' | 'TLS';
  address: string;
  port: number;
  connectionId?: string;
  /** TLS server name (SNI and certificate check) when we open a connection. */
  servername?: string;
}

export interface DialogState {
  callId: string;
  localTag: string;
  /** Empty until the peer has answered with a tag (early dialogs of a UAC leg). */
  remoteTag: string;
  /** From (our side) and To (their side) as they appear on requests we send, without tags. */
  localUri: string;
  remoteUri: string;
  /** Display-name/URI texts ready to write into From/To. */
  localNameAddr: string;
  remoteNameAddr: string;
  localSeq: number;
  /** Highest CSeq seen from the peer; -1 before any. */
  remoteSeq: number;
  /** Contact URI of the peer: the Request-URI of our in-dialog requests. */
  remoteTarget: string;
  /** Route set as header values, in the order we write them into Route. */
  routeSet: string[];
  secure: boolean;
}

export function formatNameAddr(na: Pick<NameAddr, 'displayName' | 'uriText' | 'params'>, skip: string[] = []): string {
  let out = na.displayName ? `"${na.displayName.replace(/(["\\])/g, '\\$1')}" <${na.uriText}>` : `<${na.uriText}>`;
  for (const [k, v] of na.params) {
    if (skip.includes(k)) continue;
    out += v === null ? `;${k}` : `;${k}=${v}`;
  }
  return out;
}

/** A UAS dialog from the INVITE we received (RFC 3261 §12.1.1). */
export function uasDialog(invite: SipRequest, localTag: string, secure: boolean): DialogState {
  const contact = invite.contacts[0];
  return {
    callId: invite.callId,
    localTag,
    remoteTag: invite.from.params.get('tag') ?? '',
    localUri: invite.to.uriText,
    remoteUri: invite.from.uriText,
    localNameAddr: formatNameAddr(invite.to, ['tag']),
    remoteNameAddr: formatNameAddr(invite.from, ['tag']),
    localSeq: 0,
    remoteSeq: invite.cseq.seq,
    remoteTarget: contact?.uriText ?? invite.from.uriText,
    routeSet: invite.recordRoutes.map((r) => formatNameAddr(r)),
    secure,
  };
}

/** A UAC dialog from a response with a To tag to the INVITE we sent (RFC 3261 §12.1.2). */
export function uacDialog(sent: SipRequest, response: SipResponse, secure: boolean): DialogState {
  const contact = response.contacts[0];
  return {
    callId: sent.callId,
    localTag: sent.from.params.get('tag') ?? '',
    remoteTag: response.to.params.get('tag') ?? '',
    localUri: sent.from.uriText,
    remoteUri: sent.to.uriText,
    localNameAddr: formatNameAddr(sent.from, ['tag']),
    remoteNameAddr: formatNameAddr(sent.to, ['tag']),
    localSeq: sent.cseq.seq,
    remoteSeq: -1,
    remoteTarget: contact?.uriText ?? sent.uriText,
    routeSet: [...response.recordRoutes].reverse().map((r) => formatNameAddr(r)),
    secure,
  };
}

export interface InDialogLines {
  requestUri: string;
  routes: string[];
  from: string;
  to: string;
  callId: string;
  cseq: number;
}

/**
 * Request-URI, Route, From, To, Call-ID and CSeq of an in-dialog request (RFC 3261 §12.2.1.1).
 * ACK and CANCEL reuse the CSeq number of the INVITE (`cseq` then must be given); other methods take the next one.
 */
export function nextRequest(
  d: DialogState,
  method: string,
  cseq?: number,
): { dialog: DialogState; lines: InDialogLines } {
  const seq = method === 'ACK' || method === 'CANCEL' ? (cseq ?? d.localSeq) : d.localSeq + 1;
  const dialog = method === 'ACK' || method === 'CANCEL' ? d : { ...d, localSeq: seq };
  let requestUri = d.remoteTarget;
  let routes = d.routeSet;
  const first = d.routeSet[0];
  if (first !== undefined && !/;lr(?=[;>]|$)/i.test(first)) {
    // Strict router (RFC 2543): the first route becomes the Request-URI, the remote target goes last.
    requestUri = first.replace(/^[^<]*<([^>]*)>.*$/, '$1');
    routes = [...d.routeSet.slice(1), `<${d.remoteTarget}>`];
  }
  return {
    dialog,
    lines: {
      requestUri,
      routes,
      from: `${d.localNameAddr};tag=${d.localTag}`,
      to: d.remoteTag ? `${d.remoteNameAddr};tag=${d.remoteTag}` : d.remoteNameAddr,
      callId: d.callId,
      cseq: seq,
    },
  };
}

export type RemoteCSeqCheck = 'ok' | 'retransmission-or-old';

/** RFC 3261 §12.2.2: a request with a lower CSeq than the last is out of order (answer 500); update otherwise. */
export function acceptRemoteCSeq(d: DialogState, req: SipRequest): { dialog: DialogState; check: RemoteCSeqCheck } {
  if (req.method === 'ACK' || req.method === 'CANCEL') return { dialog: d, check: 'ok' };
  if (d.remoteSeq >= 0 && req.cseq.seq <= d.remoteSeq) return { dialog: d, check: 'retransmission-or-old' };
  const contact = req.method === 'INVITE' || req.method === 'UPDATE' ? req.contacts[0] : undefined;
  return {
    dialog: { ...d, remoteSeq: req.cseq.seq, remoteTarget: contact?.uriText ?? d.remoteTarget },
    check: 'ok',
  };
}

/** True when the request belongs to this dialog as seen from our side (Call-ID and both tags). */
export function matchesDialog(d: DialogState, req: SipRequest): boolean {
  return (
    req.callId === d.callId &&
    req.to.params.get('tag') === d.localTag &&
    (req.from.params.get('tag') ?? '') === d.remoteTag
  );
}
