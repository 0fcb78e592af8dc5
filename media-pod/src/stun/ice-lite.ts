// ICE-lite responder (RFC 8445 §2.5, §7.3): answers Binding requests authenticated with our short-term credentials
// (USERNAME "<our ufrag>:<their ufrag>", MESSAGE-INTEGRITY keyed with our password). It never sends checks itself.
// Any remote ufrag is accepted, so forked Teams endpoints can all check us (D6.11).
import { randomBytes } from 'node:crypto';
import {
  Attr,
  decodeStun,
  encodeStun,
  encodeXorAddress,
  getAttribute,
  METHOD_BINDING,
  StunClass,
  type TransportAddress,
  unknownRequired,
  verifyFingerprint,
  verifyMessageIntegrity,
} from './message.ts';

export interface IceCredentials {
  ufrag: string;
  pwd: string;
}

const ICE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function iceString(length: number): string {
  const b = randomBytes(length);
  let s = '';
  for (let i = 0; i < length; i++) s += ICE_CHARS[b[i]! & 63];
  return s;
}

/** Fresh credentials: 8-character ufrag, 24-character password (≥ 4 and ≥ 22 per RFC 8839). */
export function generateIceCredentials(): IceCredentials {
  return { ufrag: iceString(8), pwd: iceString(24) };
}

const KNOWN = [
  Attr.Username,
  Attr.MessageIntegrity,
  Attr.Priority,
  Attr.UseCandidate,
  Attr.Fingerprint,
  Attr.IceControlled,
  Attr.IceControlling,
  Attr.Software,
];

export type BindingOutcome =
  | {
      kind: 'success';
      response: Buffer;
      useCandidate: boolean;
      remoteUfrag: string;
      priority: number | undefined;
    }
  /** Answered with an error response (400, 401, 420); the source is not authenticated. */
  | { kind: 'error'; response: Buffer; code: number; reason: string }
  /** Dropped silently: malformed, bad fingerprint, not a Binding request. */
  | { kind: 'drop'; reason: string };

function errorResponse(tid: Buffer, code: number, reason: string, extra: { type: number; value: Buffer }[] = []) {
  const v = Buffer.alloc(4 + Buffer.byteLength(reason));
  v[2] = Math.floor(code / 100);
  v[3] = code % 100;
  v.write(reason, 4);
  return encodeStun({
    method: METHOD_BINDING,
    class: StunClass.Error,
    transactionId: tid,
    attributes: [{ type: Attr.ErrorCode, value: v }, ...extra],
    fingerprint: true,
  });
}

/** Process one datagram that looks like STUN, received from `from`, against our credentials. */
export function answerBindingRequest(raw: Buffer, from: TransportAddress, local: IceCredentials): BindingOutcome {
  const m = decodeStun(raw);
  if (!m) return { kind: 'drop', reason: 'malformed' };
  if (m.method !== METHOD_BINDING || m.class !== StunClass.Request) return { kind: 'drop', reason: 'not a request' };
  const fp = getAttribute(m, Attr.Fingerprint);
  if (fp && !verifyFingerprint(m)) return { kind: 'drop', reason: 'bad fingerprint' };
  const tid = m.transactionId;
  const unknown = unknownRequired(m, KNOWN);
  if (unknown.length) {
    const v = Buffer.alloc(unknown.length * 2);
    for (const [i, t] of unknown.entries()) v.writeUInt16BE(t, i * 2);
    return {
      kind: 'error',
      code: 420,
      reason: 'unknown attribute',
      response: errorResponse(tid, 420, 'Unknown Attribute', [{ type: Attr.UnknownAttributes, value: v }]),
    };
  }
  const user = getAttribute(m, Attr.Username);
  if (!user || !getAttribute(m, Attr.MessageIntegrity)) {
    return { kind: 'error', code: 400, reason: 'no credentials', response: errorResponse(tid, 400, 'Bad Request') };
  }
  const username = user.value.toString('utf8');
  const colon = username.indexOf(':');
  if (colon < 0 || username.slice(0, colon) !== local.ufrag || !verifyMessageIntegrity(m, local.pwd)) {
    return { kind: 'error', code: 401, reason: 'unauthorized', response: errorResponse(tid, 401, 'Unauthorized') };
  }
  const prio = getAttribute(m, Attr.Priority);
  const response = encodeStun({
    method: METHOD_BINDING,
    class: StunClass.Success,
    transactionId: tid,
    attributes: [{ type: Attr.XorMappedAddress, value: encodeXorAddress(from, tid) }],
    integrityKey: local.pwd,
    fingerprint: true,
  });
  return {
    kind: 'success',
    response,
    useCandidate: getAttribute(m, Attr.UseCandidate) !== undefined,
    remoteUfrag: username.slice(colon + 1),
    priority: prio && prio.value.length === 4 ? prio.value.readUInt32BE(0) : undefined,
  };
}

/** Build a Binding request as a full ICE agent (Teams) would: used by tests and the benchmark. */
export function buildBindingRequest(o: {
  localUfrag: string;
  remoteUfrag: string;
  remotePwd: string;
  priority?: number;
  useCandidate?: boolean;
  tieBreaker?: bigint;
  extra?: { type: number; value: Buffer }[];
  transactionId?: Buffer;
}): Buffer {
  const prio = Buffer.alloc(4);
  prio.writeUInt32BE(o.priority ?? 0x6e0001ff, 0);
  const tb = Buffer.alloc(8);
  tb.writeBigUInt64BE(o.tieBreaker ?? 0x932ff9b151263b36n, 0);
  const attributes = [
    { type: Attr.Username, value: Buffer.from(`${o.remoteUfrag}:${o.localUfrag}`) },
    { type: Attr.Priority, value: prio },
    { type: Attr.IceControlling, value: tb },
    ...(o.useCandidate ? [{ type: Attr.UseCandidate, value: Buffer.alloc(0) }] : []),
    ...(o.extra ?? []),
  ];
  return encodeStun({
    method: METHOD_BINDING,
    class: StunClass.Request,
    transactionId: o.transactionId ?? randomBytes(12),
    attributes,
    integrityKey: o.remotePwd,
    fingerprint: true,
  });
}
