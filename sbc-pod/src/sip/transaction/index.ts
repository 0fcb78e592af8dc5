// RFC 3261 §17 transaction layer (+ RFC 6026).
export { generateBranch, hasMagicCookie, MAGIC_COOKIE } from './branch.ts';
export {
  type ClientInviteState,
  ClientInviteTransaction,
  type ClientNonInviteState,
  ClientNonInviteTransaction,
  type ClientTransaction,
  type ClientTransactionHandlers,
} from './client.ts';
export { clientKey, type ServerKey, sentBy, serverKey } from './keys.ts';
export {
  type RequestDisposition,
  type ResponseDisposition,
  TransactionLayer,
  type TransactionLayerOptions,
  type TransactionUser,
} from './layer.ts';
export {
  buildNon2xxAck,
  type CreateResponseOptions,
  createResponse,
  formatNameAddr,
  formatVia,
  tagOf,
  withTopViaBranch,
} from './messages.ts';
export {
  type AckDisposition,
  type ServerInviteState,
  ServerInviteTransaction,
  type ServerNonInviteState,
  ServerNonInviteTransaction,
  type ServerTransaction,
  type ServerTransactionHandlers,
} from './server.ts';
export { ManualTimers, realTimers, type TimerHandle, type Timers } from './timers.ts';
export {
  DEFAULT_CONFIG,
  resolveConfig,
  type Target,
  type TransactionConfig,
  type TransactionTransport,
} from './types.ts';
