// Per-call SIP trace for one tenant at a time (issue [9/10] part 8): while a tenant is traced, every SIP message of
// its calls (both legs, in and out) is logged at info with the tenant and the Call-ID. Off by default; switched on
// and off through the admin API (POST/DELETE /admin/trace). Cost when off: one `undefined` check per message; when
// on: one Map lookup per message.
//
// The B2BUA tells the trace the Call-IDs of a traced tenant's legs (`watch`); the stack's message tap asks `observe`
// for every parsed and serialised message. Call-IDs are forgotten `lingerMs` after they were last seen (so the ACK
// and the BYE's 200 after the call ended are still logged), and at most `maxCalls` are kept. SRTP keys and digest
// responses are redacted.
import type { Logger } from '../log.ts';
import { type SipRequest, type SipResponse, serializeMessage } from '../sip/message/index.ts';

export interface SipTraceOptions {
  logger: Logger;
  now?: () => number;
  /** Default 32 s (64·T1: the life of a transaction after the call). */
  lingerMs?: number;
  /** Default 10 000 Call-IDs. */
  maxCalls?: number;
}

export class SipTrace {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #linger: number;
  readonly #max: number;
  #tenant: string | undefined;
  #since: string | undefined;
  /** Call-ID → when it was last seen. */
  readonly #calls = new Map<string, number>();
  #logged = 0;

  constructor(opts: SipTraceOptions) {
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#linger = opts.lingerMs ?? 32_000;
    this.#max = opts.maxCalls ?? 10_000;
  }

  /** Trace this tenant's calls (replacing any other tenant: one at a time). */
  enable(tenant: string): void {
    if (this.#tenant !== tenant) this.#calls.clear();
    this.#tenant = tenant;
    this.#since = new Date(this.#now()).toISOString();
    this.#logger.info({ tenant }, 'SIP trace on');
  }

  disable(): void {
    if (this.#tenant) this.#logger.info({ tenant: this.#tenant }, 'SIP trace off');
    this.#tenant = undefined;
    this.#since = undefined;
    this.#calls.clear();
  }

  status(): { tenant: string | null; since: string | null; calls: number; messagesLogged: number } {
    return {
      tenant: this.#tenant ?? null,
      since: this.#since ?? null,
      calls: this.#calls.size,
      messagesLogged: this.#logged,
    };
  }

  /**
   * A leg of a call of `tenant` uses this Call-ID (called by the B2BUA before it sends or as it receives).
   * `initial`: the request that created the leg, parsed before its tenant was known — logged now.
   */
  watch(tenant: string, callId: string, initial?: SipRequest): void {
    if (tenant !== this.#tenant) return;
    if (this.#calls.size >= this.#max) {
      const oldest = this.#calls.keys().next();
      if (!oldest.done) this.#calls.delete(oldest.value);
    }
    this.#calls.set(callId, this.#now());
    if (initial) this.observe('in', initial, serializeMessage(initial));
  }

  /** The stack's message tap. */
  readonly observe = (direction: 'in' | 'out', msg: SipRequest | SipResponse, bytes?: Buffer): void => {
    const tenant = this.#tenant;
    if (tenant === undefined || this.#calls.size === 0) return;
    const seen = this.#calls.get(msg.callId);
    if (seen === undefined) return;
    const now = this.#now();
    if (now - seen > this.#linger) {
      this.#calls.delete(msg.callId);
      return;
    }
    this.#calls.set(msg.callId, now);
    this.#logged++;
    const first = msg.kind === 'request' ? `${msg.method} ${msg.uriText}` : `${msg.status} ${msg.reason}`;
    this.#logger.info(
      { tenant, callId: msg.callId, direction, sip: bytes ? redactSip(bytes.toString('utf8')) : first },
      `SIP ${direction === 'in' ? '<-' : '->'} ${first}`,
    );
  };
}

/** SRTP keys (SDES inline:) and digest responses never reach the log. */
export function redactSip(text: string): string {
  return text
    .replace(/(inline:)[A-Za-z0-9+/=]+/g, '$1[redacted]')
    .replace(/(\bresponse\s*=\s*)"?[0-9a-fA-F]+"?/g, '$1"[redacted]"');
}
