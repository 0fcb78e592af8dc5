// Server transactions: INVITE (RFC 3261 §17.2.1 as updated by RFC 6026) and non-INVITE (§17.2.2).
import type { SipRequest, SipResponse } from '../message/types.ts';
import { TransactionBase } from './base.ts';
import { createResponse } from './messages.ts';
import type { TransactionEnv } from './types.ts';

/** Optional TU callbacks of a server transaction; set `txn.handlers` in `onRequest`. */
export interface ServerTransactionHandlers<T = unknown> {
  /** INVITE: Timer H fired (no ACK for a non-2xx final). Non-INVITE: the TU never sent a final response. */
  onTimeout?(txn: ServerTransaction<T>): void;
  /** A response could not be sent, even to the §18.2.2 fallback target; the transaction is terminated (except in
   * the INVITE Accepted state, where 2xx delivery is the TU's business and the transaction stays). */
  onTransportError?(err: unknown, txn: ServerTransaction<T>): void;
  onTerminated?(txn: ServerTransaction<T>): void;
}

export type ServerInviteState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';
export type ServerNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** What happened to an ACK that matched a server INVITE transaction. */
export type AckDisposition = 'confirmed' | 'absorbed' | 'to-tu';

abstract class ServerTransactionBase<T> extends TransactionBase<T> {
  readonly side = 'server' as const;
  readonly request: SipRequest;
  /** Where the request came from. */
  readonly source: T;
  readonly reliable: boolean;
  /** True when the request's branch lacked the magic cookie and matching uses the RFC 2543 rules. */
  readonly legacy: boolean;
  handlers: ServerTransactionHandlers<T> = {};
  #target: T;
  #fallbackTried = false;
  #lastResponse: SipResponse | undefined;
  #lastData: Buffer | undefined;

  constructor(env: TransactionEnv<T>, key: string, request: SipRequest, source: T, legacy: boolean) {
    super(env, key);
    this.request = request;
    this.source = source;
    this.#target = source;
    this.legacy = legacy;
    this.reliable = env.transport.reliable(source);
  }

  /** The most recent response passed to the transport. */
  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  /** Where responses currently go (the source, or the §18.2.2 fallback after a transport error). */
  get responseTarget(): T {
    return this.#target;
  }

  protected get self(): ServerTransaction<T> {
    return this as unknown as ServerTransaction<T>;
  }

  /** Sends (and remembers) a response; the promise settles when the send, or its error handling, is over. */
  protected sendResponse(res: SipResponse): Promise<void> {
    const data = this.env.serialize(res);
    this.#lastResponse = res;
    this.#lastData = data;
    return this.#send(data);
  }

  protected resendLast(): void {
    if (this.#lastData) void this.#send(this.#lastData);
  }

  #send(data: Buffer): Promise<void> {
    return this.transmit(this.#target, data, (err) => this.#failed(err, data));
  }

  /** RFC 3261 §17.2.4: retry once via §18.2.2 (e.g. a new connection to the Via sent-by), then report. */
  #failed(err: unknown, data: Buffer): Promise<void> | undefined {
    if (!this.#fallbackTried) {
      this.#fallbackTried = true;
      const fallback = this.env.responseFallback?.(this.request, this.source);
      if (fallback !== undefined) {
        this.#target = fallback;
        return this.#send(data);
      }
    }
    this.transportFailed(err);
    return undefined;
  }

  protected transportFailed(err: unknown): void {
    this.terminate(() => this.handlers.onTransportError?.(err, this.self));
  }

  protected terminate(report?: () => void): void {
    if (!this.finish()) return;
    if (report) this.env.callTu('server outcome', report);
    const onTerminated = this.handlers.onTerminated;
    if (onTerminated) this.env.callTu('onTerminated', () => onTerminated(this.self));
  }

  /** Validates a TU response before the state machine looks at it. */
  protected checkResponse(res: SipResponse): void {
    if (!Number.isInteger(res.status) || res.status < 100 || res.status > 699) {
      throw new RangeError(`invalid response status ${res.status}`);
    }
  }
}

export class ServerInviteTransaction<T> extends ServerTransactionBase<T> {
  readonly kind = 'server-invite' as const;
  #state: ServerInviteState = 'proceeding';
  #intervalG = 0;

  get state(): ServerInviteState {
    return this.terminated ? 'terminated' : this.#state;
  }

  start(): void {
    const delay = this.env.config.tryingDelay;
    if (delay !== null) this.startTimer('trying', delay, () => this.#sendTrying());
  }

  #sendTrying(): void {
    this.stopTimer('trying');
    if (this.#state === 'proceeding' && !this.lastResponse) {
      void this.sendResponse(createResponse(this.request, 100, 'Trying'));
    }
  }

  /**
   * Sends a response from the TU. 1xx keeps Proceeding; 2xx moves to Accepted (Timer L; the TU retransmits the 2xx
   * itself, through this method, until its ACK arrives); 300–699 moves to Completed (Timers G, H).
   * Returns false when the state machine discards the response (already final, or terminated).
   */
  respond(res: SipResponse): boolean {
    this.checkResponse(res);
    const state = this.state;
    if (state === 'proceeding') {
      this.stopTimer('trying');
      void this.sendResponse(res);
      if (res.status < 200) return true;
      const { t1 } = this.env.config;
      if (res.status < 300) {
        this.#state = 'accepted';
        this.startTimer('L', 64 * t1, () => this.terminate());
      } else {
        this.#state = 'completed';
        if (!this.reliable) {
          this.#intervalG = t1;
          this.startTimer('G', t1, () => this.#timerG());
        }
        this.startTimer('H', 64 * t1, () => this.#timerH());
      }
      return true;
    }
    if (state === 'accepted' && res.status >= 200 && res.status < 300) {
      void this.sendResponse(res);
      return true;
    }
    return false;
  }

  #timerG(): void {
    if (this.#state !== 'completed') return;
    this.resendLast();
    this.#intervalG = Math.min(2 * this.#intervalG, this.env.config.t2);
    this.startTimer('G', this.#intervalG, () => this.#timerG());
  }

  #timerH(): void {
    if (this.#state !== 'completed') return;
    this.terminate(() => this.handlers.onTimeout?.(this.self));
  }

  /** A retransmission of the INVITE: resend the last response (or a 100 Trying if none went yet). */
  receiveRetransmission(_req: SipRequest): void {
    const state = this.state;
    if (state === 'proceeding') {
      if (this.lastResponse) this.resendLast();
      else this.#sendTrying();
    } else if (state === 'completed') {
      this.resendLast();
    }
    // Confirmed and Accepted absorb it.
  }

  receiveAck(_ack: SipRequest): AckDisposition {
    const state = this.state;
    if (state === 'completed') {
      this.stopTimer('G');
      this.stopTimer('H');
      this.#state = 'confirmed';
      const { t4 } = this.env.config;
      if (this.reliable) this.terminate();
      else this.startTimer('I', t4, () => this.terminate());
      return 'confirmed';
    }
    if (state === 'accepted') return 'to-tu';
    return 'absorbed';
  }

  protected override transportFailed(err: unknown): void {
    if (this.#state === 'accepted') {
      this.env.callTu('server outcome', () => this.handlers.onTransportError?.(err, this.self));
      return;
    }
    super.transportFailed(err);
  }
}

export class ServerNonInviteTransaction<T> extends ServerTransactionBase<T> {
  readonly kind = 'server-non-invite' as const;
  #state: ServerNonInviteState = 'trying';

  get state(): ServerNonInviteState {
    return this.terminated ? 'terminated' : this.#state;
  }

  start(): void {
    const guard = this.env.config.serverNonInviteTimeout;
    if (guard !== null) {
      this.startTimer('guard', guard, () => this.terminate(() => this.handlers.onTimeout?.(this.self)));
    }
  }

  /** Sends a response from the TU; returns false when discarded (a final was already sent, or terminated). */
  respond(res: SipResponse): boolean {
    this.checkResponse(res);
    const state = this.state;
    if (state !== 'trying' && state !== 'proceeding') return false;
    const sent = this.sendResponse(res);
    if (res.status < 200) {
      this.#state = 'proceeding';
      return true;
    }
    this.stopTimer('guard');
    this.#state = 'completed';
    // Timer J is zero on reliable transports; terminate once the send settled so a failure is still reported.
    if (this.reliable) void sent.then(() => this.terminate());
    else this.startTimer('J', 64 * this.env.config.t1, () => this.terminate());
    return true;
  }

  /** A retransmission of the request: absorbed in Trying, answered with the last response afterwards. */
  receiveRetransmission(_req: SipRequest): void {
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast();
  }
}

export type ServerTransaction<T> = ServerInviteTransaction<T> | ServerNonInviteTransaction<T>;
