// The transaction user at the top of the stack: applies the request policy, answers OPTIONS itself and hands
// calls to a CallHandler (the B2BUA). Without a CallHandler the element still answers OPTIONS and refuses calls.
import { buildResponse, type SipRequest, type SipResponse } from '../sip/message/index.ts';
import type { Peer, SipStack, StackUser } from '../sip/stack.ts';
import type { ServerTransaction } from '../sip/transaction/index.ts';
import { classifyRequest, optionsCapabilityHeaders } from './request-policy.ts';

export interface CallHandler {
  onInvite(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): void;
  /** In-dialog request (To tag present). Return false when no dialog matches, and the core answers 481. */
  onInDialog(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): boolean;
  onCancel(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): void;
  /** ACK outside a transaction: the ACK of a 2xx (RFC 3261 §13.2.2.4). */
  onAck(ack: SipRequest, peer: Peer): void;
  onStrayResponse?(res: SipResponse, peer: Peer): void;
  /** Extra headers for our OPTIONS answer (e.g. a Teams-facing Contact), by the request and the peer. */
  optionsHeaders?(req: SipRequest, peer: Peer): Array<{ name: string; value: string }>;
}

export interface CoreCounters {
  optionsAnswered: number;
  rejectedByPolicy: number;
}

export class SbcCore implements StackUser {
  readonly counters: CoreCounters = { optionsAnswered: 0, rejectedByPolicy: 0 };
  #calls: CallHandler | undefined;
  #stack: SipStack;

  constructor(stack: SipStack, calls?: CallHandler) {
    this.#stack = stack;
    this.#calls = calls;
    stack.setUser(this);
  }

  setCallHandler(calls: CallHandler): void {
    this.#calls = calls;
  }

  onRequest(txn: ServerTransaction<Peer>, req: SipRequest, peer: Peer): void {
    const action = classifyRequest(req);
    switch (action.kind) {
      case 'respond':
        this.counters.rejectedByPolicy++;
        txn.respond(buildResponse(req, action.status, action.reason, { toTag: 'sb-policy', headers: action.headers }));
        return;
      case 'options': {
        this.counters.optionsAnswered++;
        const extra = this.#calls?.optionsHeaders?.(req, peer) ?? [];
        txn.respond(
          buildResponse(req, 200, 'OK', { toTag: 'sb-options', headers: [...optionsCapabilityHeaders(), ...extra] }),
        );
        return;
      }
      case 'invite':
        if (this.#calls) this.#calls.onInvite(txn, req, peer);
        else txn.respond(buildResponse(req, 503, 'No Call Routing Configured', { toTag: 'sb-core' }));
        return;
      case 'in-dialog':
        if (!this.#calls?.onInDialog(txn, req, peer)) {
          txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
        }
        return;
      case 'cancel':
        if (this.#calls) this.#calls.onCancel(txn, req, peer);
        else txn.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
        return;
      case 'ack':
        return; // an ACK always matches a transaction or arrives as a stray ACK
    }
  }

  onStrayAck(ack: SipRequest, peer: Peer): void {
    this.#calls?.onAck(ack, peer);
  }

  onStrayResponse(res: SipResponse, peer: Peer): void {
    this.#calls?.onStrayResponse?.(res, peer);
  }

  get stack(): SipStack {
    return this.#stack;
  }
}
