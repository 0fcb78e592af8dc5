// What the SBC does with a request before any call logic runs: pure, table-tested (RFC 3261 §8.2, §16.3).
import { getHeader, getHeaders, type SipRequest } from '../sip/message/index.ts';

/** Methods the B2BUA handles; in-dialog ones need a dialog, INVITE and OPTIONS may start outside one. */
export const ALLOWED_METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'INFO',
  'UPDATE',
  'PRACK',
  'REFER',
  'NOTIFY',
];
/** Methods we know but refuse (405 with Allow): a B2BUA for trunking neither registers users nor hosts presence. */
const KNOWN_NOT_ALLOWED = new Set(['REGISTER', 'SUBSCRIBE', 'PUBLISH', 'MESSAGE']);
/** Option tags we understand in Require (RFC 3262 100rel, RFC 4028 timer, RFC 3891 replaces, RFC 5589/3515 norefersub). */
export const SUPPORTED_OPTIONS = ['replaces', 'timer', '100rel', 'norefersub'];

export type RequestAction =
  | { kind: 'respond'; status: number; reason: string; headers: Array<{ name: string; value: string }> }
  | { kind: 'options' }
  | { kind: 'invite' }
  | { kind: 'cancel' }
  | { kind: 'ack' }
  | { kind: 'in-dialog' };

function respond(status: number, reason: string, headers: Array<{ name: string; value: string }> = []): RequestAction {
  return { kind: 'respond', status, reason, headers };
}

export function classifyRequest(req: SipRequest): RequestAction {
  const method = req.method;
  if (method === 'ACK') return { kind: 'ack' };
  if (method === 'CANCEL') return { kind: 'cancel' };
  if (!ALLOWED_METHODS.includes(method)) {
    return KNOWN_NOT_ALLOWED.has(method)
      ? respond(405, 'Method Not Allowed', [{ name: 'Allow', value: ALLOWED_METHODS.join(', ') }])
      : respond(501, 'Not Implemented', [{ name: 'Allow', value: ALLOWED_METHODS.join(', ') }]);
  }
  // §8.2.2.3: an option tag in Require that we do not support → 420 listing it in Unsupported.
  const required = getHeaders(req, 'Require')
    .flatMap((v) => v.split(','))
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
  const unsupported = required.filter((t) => !SUPPORTED_OPTIONS.includes(t));
  if (unsupported.length > 0)
    return respond(420, 'Bad Extension', [{ name: 'Unsupported', value: unsupported.join(', ') }]);
  const inDialog = req.to.params.get('tag') !== undefined;
  if (method === 'OPTIONS' && !inDialog) return { kind: 'options' };
  // §16.3 step 3 applies to what we forward: a request that cannot travel further ends here.
  if (req.maxForwards !== undefined && req.maxForwards <= 0) return respond(483, 'Too Many Hops');
  if (inDialog) return { kind: 'in-dialog' };
  if (method === 'INVITE') return { kind: 'invite' };
  // BYE, UPDATE, INFO, PRACK, REFER, NOTIFY outside a dialog (§12.2.2, §15.1.2).
  return respond(481, 'Call/Transaction Does Not Exist');
}

/** Headers of our 200 to an out-of-dialog OPTIONS (RFC 3261 §11.2). */
export function optionsCapabilityHeaders(): Array<{ name: string; value: string }> {
  return [
    { name: 'Allow', value: ALLOWED_METHODS.join(', ') },
    { name: 'Accept', value: 'application/sdp' },
    { name: 'Supported', value: SUPPORTED_OPTIONS.join(', ') },
  ];
}

/** True when a request says it accepts a body type (absent Accept means application/sdp, §11.2). */
export function acceptsSdp(req: SipRequest): boolean {
  const accept = getHeader(req, 'Accept');
  return accept === undefined || /application\/sdp|\*\/\*|application\/\*/i.test(accept);
}
