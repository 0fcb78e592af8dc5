// The transaction layer: owns the client and server transaction tables, routes incoming messages to them, and
// hands new requests and stray messages to the transaction user (the B2BUA / dialog layer).
import type { SipMessage, SipRequest, SipResponse } from '../message/types.ts';
import { generateBranch as defaultGenerateBranch, hasMagicCookie } from './branch.ts';
import {
  ClientInviteTransaction,
  ClientNonInviteTransaction,
  type ClientTransaction,
  type ClientTransactionHandlers,
} from './client.ts';
import { clientKey, serverKey } from './keys.ts';
import { tagOf, withTopViaBranch } from './messages.ts';
import { ServerInviteTransaction, ServerNonInviteTransaction, type ServerTransaction } from './server.ts';
import { realTimers, type Timers } from './timers.ts';
import {
  resolveConfig,
  type Target,
  type TransactionConfig,
  type TransactionEnv,
  type TransactionTransport,
} from './types.ts';

/** The transaction user: the layer above (dialogs / B2BUA). */
export interface TransactionUser<T = Target> {
  /** A new request (not ACK) created a server transaction; answer it with `txn.respond()`. */
  onRequest(txn: ServerTransaction<T>, req: SipRequest, source: T): void;
  /**
   * A response matching no client transaction — typically a 2xx retransmission after the INVITE transaction ended
   * (the dialog layer re-ACKs it), or garbage. Responses whose Via sent-by is not ours should be dropped by the
   * transport (§18.1.2) before they get here.
   */
  onStrayResponse?(res: SipResponse, source: T): void;
  /**
   * An ACK the transaction layer does not absorb: the ACK for a 2xx (its own transaction, §17.1.1.1), or an ACK
   * matching a server INVITE transaction in the RFC 6026 Accepted state (then `txn` is that transaction).
   */
  onStrayAck?(ack: SipRequest, source: T, txn?: ServerInviteTransaction<T>): void;
}

export interface TransactionLayerOptions<T = Target> {
  transport: TransactionTransport<T>;
  /** Message → wire bytes (the parser module's serializer). Called once per distinct message; retransmissions reuse
   * the bytes. */
  serialize(msg: SipMessage): Buffer;
  /** May be set later through `layer.tu` (the TU usually needs the layer to be built first). */
  tu?: TransactionUser<T>;
  timers?: Timers;
  config?: Partial<TransactionConfig>;
  /** RFC 3261 §18.2.2 backup destination for a response whose send to the request's source failed (e.g. a new
   * connection to the Via sent-by / received / rport address). */
  responseFallback?(request: SipRequest, source: T): T | undefined;
  generateBranch?(): string;
  /** Receives exceptions thrown by TU callbacks (they never escape into timers or the transport). Default: console. */
  onCallbackError?(err: unknown, where: string): void;
}

/** What `receiveRequest` did with a request. */
export type RequestDisposition =
  | 'new' // created a server transaction and called tu.onRequest
  | 'retransmission' // matched a server transaction (absorbed / last response resent)
  | 'ack-absorbed' // ACK for a non-2xx, absorbed by its INVITE transaction
  | 'stray-ack' // ACK passed to tu.onStrayAck
  | 'dropped'; // unusable (no Via)

export type ResponseDisposition = 'matched' | 'stray';

const NO_TU: TransactionUser<never> = {
  onRequest() {
    throw new Error('TransactionLayer: no transaction user set');
  },
};

export class TransactionLayer<T = Target> {
  tu: TransactionUser<T>;
  readonly config: TransactionConfig;
  readonly timers: Timers;
  readonly #transport: TransactionTransport<T>;
  readonly #serialize: (msg: SipMessage) => Buffer;
  readonly #generateBranch: () => string;
  readonly #client = new Map<string, ClientTransaction<T>>();
  readonly #server = new Map<string, ServerTransaction<T>>();
  readonly #env: TransactionEnv<T>;

  constructor(options: TransactionLayerOptions<T>) {
    this.tu = options.tu ?? (NO_TU as TransactionUser<T>);
    this.config = resolveConfig(options.config);
    this.timers = options.timers ?? realTimers;
    this.#transport = options.transport;
    this.#serialize = options.serialize;
    this.#generateBranch = options.generateBranch ?? defaultGenerateBranch;
    const onCallbackError =
      options.onCallbackError ??
      ((err: unknown, where: string) => console.error(`transaction layer: TU callback ${where} threw`, err));
    const client = this.#client;
    const server = this.#server;
    const responseFallback = options.responseFallback;
    this.#env = {
      config: this.config,
      timers: this.timers,
      transport: this.#transport,
      serialize: this.#serialize,
      ...(responseFallback ? { responseFallback } : {}),
      callTu(where, fn) {
        try {
          fn();
        } catch (err) {
          onCallbackError(err, where);
        }
      },
      terminated(txn) {
        const table: Map<string, unknown> = txn.side === 'client' ? client : server;
        if (table.get(txn.key) === txn) table.delete(txn.key);
      },
    };
  }

  /** Routes an incoming request (RFC 3261 §17.2.3). */
  receiveRequest(req: SipRequest, source: T): RequestDisposition {
    const sk = serverKey(req);
    if (!sk) return 'dropped';
    const found = this.#server.get(sk.key);
    if (req.method === 'ACK') {
      if (found?.kind === 'server-invite' && (!sk.legacy || tagOf(req.to) === tagOf(found.lastResponse?.to))) {
        const d = found.receiveAck(req);
        if (d !== 'to-tu') return 'ack-absorbed';
        this.#env.callTu('onStrayAck', () => this.tu.onStrayAck?.(req, source, found));
        return 'stray-ack';
      }
      this.#env.callTu('onStrayAck', () => this.tu.onStrayAck?.(req, source));
      return 'stray-ack';
    }
    if (found && (!sk.legacy || tagOf(req.to) === tagOf(found.request.to))) {
      found.receiveRetransmission(req);
      return 'retransmission';
    }
    const txn =
      req.method === 'INVITE'
        ? new ServerInviteTransaction<T>(this.#env, sk.key, req, source, sk.legacy)
        : new ServerNonInviteTransaction<T>(this.#env, sk.key, req, source, sk.legacy);
    this.#server.set(sk.key, txn);
    txn.start();
    this.#env.callTu('onRequest', () => this.tu.onRequest(txn, req, source));
    return 'new';
  }

  /** Routes an incoming response (RFC 3261 §17.1.3). */
  receiveResponse(res: SipResponse, source: T): ResponseDisposition {
    const branch = res.vias[0]?.branch;
    const txn = branch === undefined ? undefined : this.#client.get(clientKey(branch, res.cseq.method));
    if (!txn) {
      this.#env.callTu('onStrayResponse', () => this.tu.onStrayResponse?.(res, source));
      return 'stray';
    }
    txn.receiveResponse(res);
    return 'matched';
  }

  /**
   * Starts a client transaction. The request must carry our top Via; a branch with the magic cookie is generated if
   * it lacks one (the transaction's `request` then is a copy with the new branch — build CANCELs from that).
   * ACK is not sent through a transaction: use {@link TransactionLayer.sendStateless}.
   */
  sendRequest(req: SipRequest, target: T, handlers: ClientTransactionHandlers<T>): ClientTransaction<T> {
    if (req.method === 'ACK') throw new Error('ACK has no client transaction; use sendStateless()');
    if (req.cseq.method !== req.method) throw new Error(`CSeq method ${req.cseq.method} != ${req.method}`);
    const top = req.vias[0];
    if (!top) throw new Error('request has no Via header');
    const request = hasMagicCookie(top.branch) ? req : withTopViaBranch(req, this.#generateBranch());
    const branch = request.vias[0]!.branch!;
    const key = clientKey(branch, request.method);
    if (this.#client.has(key)) throw new Error(`client transaction ${branch} ${request.method} already exists`);
    const txn =
      request.method === 'INVITE'
        ? new ClientInviteTransaction<T>(this.#env, key, request, target, handlers)
        : new ClientNonInviteTransaction<T>(this.#env, key, request, target, handlers);
    this.#client.set(key, txn);
    txn.start();
    return txn;
  }

  /** Sends a message outside any transaction (ACK for 2xx, 2xx retransmissions by the dialog layer). */
  sendStateless(msg: SipMessage, target: T): Promise<void> {
    try {
      return this.#transport.send(target, this.#serialize(msg));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The server INVITE transaction a CANCEL refers to (RFC 3261 §9.2), if it is still there. */
  findInviteForCancel(cancel: SipRequest): ServerInviteTransaction<T> | undefined {
    const sk = serverKey(cancel, 'INVITE');
    if (!sk) return undefined;
    const found = this.#server.get(sk.key);
    if (found?.kind !== 'server-invite') return undefined;
    if (sk.legacy && tagOf(cancel.to) !== tagOf(found.request.to)) return undefined;
    return found;
  }

  /** The client transaction with this branch and method, if any. */
  findClientTransaction(branch: string, method: string): ClientTransaction<T> | undefined {
    return this.#client.get(clientKey(branch, method));
  }

  /** Number of live transactions (client + server). */
  size(): number {
    return this.#client.size + this.#server.size;
  }

  sizes(): { client: number; server: number } {
    return { client: this.#client.size, server: this.#server.size };
  }

  /** Terminates every transaction silently and cancels its timers. */
  shutdown(): void {
    for (const txn of [...this.#client.values(), ...this.#server.values()]) txn.dispose();
  }
}
