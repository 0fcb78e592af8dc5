// Public types of the transaction layer: the transport it needs, its configuration, and the TU callbacks.
import type { SipMessage, SipRequest } from '../message/types.ts';
import type { Timers } from './timers.ts';

/** Default shape of a network destination/source; the layer is generic, so any target type works. */
export interface Target {
  /** UDP, TCP, TLS, WS, WSS (upper-case). */
  transport: string;
  host: string;
  port: number;
}

/** What the transaction layer needs from the transport layer. */
export interface TransactionTransport<T = Target> {
  /** Sends bytes; the promise rejects on a transport error (ICMP unreachable, connection refused/reset, TLS failure). */
  send(target: T, data: Buffer): Promise<void>;
  /** True for TCP/TLS/WS/SCTP (no retransmissions, zero D/I/J/K timers). */
  reliable(target: T): boolean;
}

export interface TransactionConfig {
  /** RTT estimate, ms (RFC 3261 default 500). */
  t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, ms (default 4000). */
  t2: number;
  /** Maximum time a message stays in the network, ms (default 5000). */
  t4: number;
  /** Timer D on unreliable transports, ms (RFC 3261: at least 32000). */
  timerD: number;
  /**
   * Delay before a server INVITE transaction sends 100 Trying by itself, ms (RFC 3261 §17.2.1: within 200 ms unless
   * the TU sends a provisional first). 0 = as soon as the current call stack ends, so a TU answering synchronously
   * suppresses it. `null` disables the automatic 100.
   */
  tryingDelay: number | null;
  /**
   * Safety net, not in RFC 3261: a server non-INVITE transaction whose TU gives no final response within this many
   * ms is terminated and reported through `onTimeout` (the client gave up at its Timer F long ago). `null` disables.
   * Default 64·T1.
   */
  serverNonInviteTimeout: number | null;
}

export const DEFAULT_CONFIG: Readonly<Omit<TransactionConfig, 'serverNonInviteTimeout'>> = {
  t1: 500,
  t2: 4000,
  t4: 5000,
  timerD: 32_000,
  tryingDelay: 0,
};

export function resolveConfig(partial: Partial<TransactionConfig> = {}): TransactionConfig {
  const cfg: TransactionConfig = {
    ...DEFAULT_CONFIG,
    serverNonInviteTimeout: 64 * (partial.t1 ?? DEFAULT_CONFIG.t1),
    ...partial,
  };
  for (const k of ['t1', 't2', 't4'] as const) {
    if (!(cfg[k] > 0) || !Number.isFinite(cfg[k])) throw new RangeError(`transaction config ${k} must be > 0`);
  }
  if (!(cfg.timerD >= 0)) throw new RangeError('transaction config timerD must be >= 0');
  if (cfg.tryingDelay !== null && !(cfg.tryingDelay >= 0)) throw new RangeError('tryingDelay must be >= 0 or null');
  return cfg;
}

/** Internal environment shared by all transactions of one layer (I/O and scheduling are injected here). */
export interface TransactionEnv<T> {
  readonly config: TransactionConfig;
  readonly timers: Timers;
  readonly transport: TransactionTransport<T>;
  serialize(msg: SipMessage): Buffer;
  /** Where a server transaction retries a response after a transport error (RFC 3261 §18.2.2), if anywhere. */
  responseFallback?(request: SipRequest, source: T): T | undefined;
  /** Runs a TU callback, containing anything it throws. */
  callTu(where: string, fn: () => void): void;
  /** Called once by each transaction when it reaches Terminated. */
  terminated(txn: { readonly key: string; readonly side: 'client' | 'server' }): void;
}
