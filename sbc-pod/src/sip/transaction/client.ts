// Client transactions: INVITE (RFC 3261 §17.1.1 as updated by RFC 6026) and non-INVITE (§17.1.2).
import type { SipRequest, SipResponse } from '../message/types.ts';
import { TransactionBase } from './base.ts';
import { buildNon2xxAck } from './messages.ts';
import type { TransactionEnv } from './types.ts';

/**
 * TU callbacks of a client transaction. Exactly one *outcome* is reported per transaction: the first `onFinal`, or
 * `onTimeout` (Timer B/F), or `onTransportError` (§17.1.4 — treat it like a 503 for failover purposes). After the
 * first 2xx to an INVITE, `onFinal` is called again for every further 2xx (retransmissions and forked answers) while
 * the transaction is in the RFC 6026 Accepted state, so the TU can (re-)ACK them.
 */
export interface ClientTransactionHandlers<T = unknown> {
  onProvisional?(res: SipResponse, txn: ClientTransaction<T>): void;
  onFinal(res: SipResponse, txn: ClientTransaction<T>): void;
  onTimeout(txn: ClientTransaction<T>): void;
  onTransportError(err: unknown, txn: ClientTransaction<T>): void;
  /** Called when the transaction reaches Terminated, whatever the reason. */
  onTerminated?(txn: ClientTransaction<T>): void;
}

export type ClientInviteState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
export type ClientNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

abstract class ClientTransactionBase<T> extends TransactionBase<T> {
  readonly side = 'client' as const;
  readonly request: SipRequest;
  readonly target: T;
  readonly branch: string;
  readonly reliable: boolean;
  protected readonly handlers: ClientTransactionHandlers<T>;
  protected readonly requestData: Buffer;

  constructor(
    env: TransactionEnv<T>,
    key: string,
    request: SipRequest,
    target: T,
    handlers: ClientTransactionHandlers<T>,
  ) {
    super(env, key);
    this.request = request;
    this.target = target;
    this.handlers = handlers;
    this.branch = request.vias[0]?.branch ?? '';
    this.reliable = env.transport.reliable(target);
    this.requestData = env.serialize(request);
  }

  protected get self(): ClientTransaction<T> {
    return this as unknown as ClientTransaction<T>;
  }

  protected sendRequest(): void {
    void this.transmit(this.target, this.requestData, (err) => this.transportError(err));
  }

  protected abstract transportError(err: unknown): void;

  /** Terminates and, when the TU is still waiting for an outcome, reports it. */
  protected terminate(report?: () => void): void {
    if (!this.finish()) return;
    if (report) this.env.callTu('client outcome', report);
    const onTerminated = this.handlers.onTerminated;
    if (onTerminated) this.env.callTu('onTerminated', () => onTerminated(this.self));
  }

  /** Abandons the transaction (e.g. the TU gave up on a Proceeding INVITE after CANCEL); no outcome is reported. */
  abandon(): void {
    this.terminate();
  }

  abstract receiveResponse(res: SipResponse): void;
}

export class ClientInviteTransaction<T> extends ClientTransactionBase<T> {
  readonly kind = 'client-invite' as const;
  #state: ClientInviteState = 'calling';
  #intervalA = 0;
  #ackData: Buffer | undefined;
  #ack: SipRequest | undefined;

  get state(): ClientInviteState {
    return this.terminated ? 'terminated' : this.#state;
  }

  /** The ACK the transaction generated for a non-2xx final response, once there is one. */
  get ack(): SipRequest | undefined {
    return this.#ack;
  }

  start(): void {
    const { t1 } = this.env.config;
    this.sendRequest();
    if (!this.reliable) {
      this.#intervalA = t1;
      this.startTimer('A', t1, () => this.#timerA());
    }
    this.startTimer('B', 64 * t1, () => this.#timerB());
  }

  #timerA(): void {
    if (this.#state !== 'calling') return;
    this.sendRequest();
    this.#intervalA *= 2;
    this.startTimer('A', this.#intervalA, () => this.#timerA());
  }

  #timerB(): void {
    if (this.#state !== 'calling') return;
    this.terminate(() => this.handlers.onTimeout(this.self));
  }

  receiveResponse(res: SipResponse): void {
    const state = this.state;
    if (state === 'calling' || state === 'proceeding') {
      if (res.status < 200) {
        this.stopTimer('A');
        this.stopTimer('B');
        this.#state = 'proceeding';
        const onProvisional = this.handlers.onProvisional;
        if (onProvisional) this.env.callTu('onProvisional', () => onProvisional(res, this.self));
      } else if (res.status < 300) {
        this.stopTimer('A');
        this.stopTimer('B');
        this.#state = 'accepted';
        this.startTimer('M', 64 * this.env.config.t1, () => this.terminate());
        this.env.callTu('onFinal', () => this.handlers.onFinal(res, this.self));
      } else {
        this.stopTimer('A');
        this.stopTimer('B');
        this.#state = 'completed';
        this.#ack = buildNon2xxAck(this.request, res);
        this.#ackData = this.env.serialize(this.#ack);
        this.#sendAck();
        this.env.callTu('onFinal', () => this.handlers.onFinal(res, this.self));
        if (this.reliable || this.env.config.timerD === 0) this.terminate();
        else if (!this.terminated) this.startTimer('D', this.env.config.timerD, () => this.terminate());
      }
    } else if (state === 'accepted') {
      // RFC 6026 §7.2: every 2xx goes to the TU (it ACKs); anything else is absorbed.
      if (res.status >= 200 && res.status < 300) {
        this.env.callTu('onFinal', () => this.handlers.onFinal(res, this.self));
      }
    } else if (state === 'completed') {
      if (res.status >= 300) this.#sendAck();
    }
  }

  #sendAck(): void {
    if (this.#ackData) void this.transmit(this.target, this.#ackData, (err) => this.transportError(err));
  }

  protected transportError(err: unknown): void {
    if (this.#state === 'calling' || this.#state === 'proceeding') {
      this.terminate(() => this.handlers.onTransportError(err, this.self));
    } else {
      // The TU already has its final response; a failed ACK just ends the transaction.
      this.terminate();
    }
  }
}

export class ClientNonInviteTransaction<T> extends ClientTransactionBase<T> {
  readonly kind = 'client-non-invite' as const;
  #state: ClientNonInviteState = 'trying';
  #intervalE = 0;

  get state(): ClientNonInviteState {
    return this.terminated ? 'terminated' : this.#state;
  }

  start(): void {
    const { t1 } = this.env.config;
    this.sendRequest();
    if (!this.reliable) {
      this.#intervalE = t1;
      this.startTimer('E', t1, () => this.#timerE());
    }
    this.startTimer('F', 64 * t1, () => this.#timerF());
  }

  #timerE(): void {
    if (this.#state !== 'trying' && this.#state !== 'proceeding') return;
    this.sendRequest();
    const { t2 } = this.env.config;
    this.#intervalE = this.#state === 'proceeding' ? t2 : Math.min(2 * this.#intervalE, t2);
    this.startTimer('E', this.#intervalE, () => this.#timerE());
  }

  #timerF(): void {
    if (this.#state !== 'trying' && this.#state !== 'proceeding') return;
    this.terminate(() => this.handlers.onTimeout(this.self));
  }

  receiveResponse(res: SipResponse): void {
    const state = this.state;
    if (state !== 'trying' && state !== 'proceeding') return; // Completed absorbs retransmissions.
    if (res.status < 200) {
      this.#state = 'proceeding';
      const onProvisional = this.handlers.onProvisional;
      if (onProvisional) this.env.callTu('onProvisional', () => onProvisional(res, this.self));
      return;
    }
    this.stopTimer('E');
    this.stopTimer('F');
    this.#state = 'completed';
    this.env.callTu('onFinal', () => this.handlers.onFinal(res, this.self));
    if (this.reliable) this.terminate();
    else if (!this.terminated) this.startTimer('K', this.env.config.t4, () => this.terminate());
  }

  protected transportError(err: unknown): void {
    if (this.#state === 'trying' || this.#state === 'proceeding') {
      this.terminate(() => this.handlers.onTransportError(err, this.self));
    } else {
      this.terminate();
    }
  }
}

export type ClientTransaction<T> = ClientInviteTransaction<T> | ClientNonInviteTransaction<T>;
