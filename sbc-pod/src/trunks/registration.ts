// Registration with a carrier's registrar (Trunk outbound.registration): REGISTER with the trunk's credentials,
// answer 401/407 digest challenges, refresh before the granted expiry, retry after failures. One binding per trunk.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { authorizationFor, parseChallenge } from '../auth/digest.ts';
import { buildRequest, getHeader, type RawHeader, type SipResponse } from '../sip/message/index.ts';
import type { Peer, SipStack } from '../sip/stack.ts';
import { generateBranch } from '../sip/transaction/index.ts';
import type { CredentialLookup } from './credentials.ts';

export interface RegistrationStatus {
  state: 'pending' | 'registered' | 'failed' | 'no-credentials';
  registrar: string;
  lastStatus?: number;
  expiresAt?: string;
  refreshes: number;
}

/** When to refresh a binding granted for `expiresSeconds`: well before it lapses (RFC 3261 §10.2.4). */
export function refreshDelayMs(expiresSeconds: number): number {
  if (expiresSeconds <= 0) return 0;
  return expiresSeconds > 120 ? (expiresSeconds - 60) * 1000 : expiresSeconds * 500;
}

/** The expiry the registrar granted for our Contact: its `expires` param, else the Expires header, else what we asked. */
export function grantedExpires(res: SipResponse, ourContactUri: string, asked: number): number {
  const ours = res.contacts.find((c) => c.uriText === ourContactUri) ?? res.contacts[0];
  const param = ours?.params.get('expires');
  if (param != null && /^\d+$/.test(param)) return Number(param);
  const header = getHeader(res, 'Expires');
  if (header && /^\s*\d+\s*$/.test(header)) return Number(header);
  return asked;
}

interface Binding {
  trunk: TrunkConfig;
  callId: string;
  fromTag: string;
  cseq: number;
  timer?: NodeJS.Timeout;
  status: RegistrationStatus;
}

export interface RegistrationOptions {
  stack: SipStack;
  credentials: CredentialLookup;
  resolve: (host: string) => Promise<string>;
  /** Wait this long after a failure before trying again (default 30 s). */
  retryMs?: number;
}

/** Emits 'registered' ({ trunk, expires }) and 'failed' ({ trunk, status }). */
export class TrunkRegistrations extends EventEmitter {
  #o: RegistrationOptions;
  #bindings = new Map<string, Binding>();
  #closed = false;

  constructor(options: RegistrationOptions) {
    super();
    this.#o = options;
  }

  configure(trunks: readonly TrunkConfig[]): void {
    if (this.#closed) return;
    const wanted = new Map(trunks.filter((t) => t.outbound.registration && t.outbound.auth).map((t) => [t.id, t]));
    for (const [id, b] of this.#bindings) {
      const w = wanted.get(id);
      if (!w || w.hash !== b.trunk.hash) {
        clearTimeout(b.timer);
        this.#bindings.delete(id);
      }
    }
    for (const [id, trunk] of wanted) {
      if (this.#bindings.has(id)) continue;
      const b: Binding = {
        trunk,
        callId: `${randomBytes(10).toString('hex')}@switchboard`,
        fromTag: randomBytes(6).toString('hex'),
        cseq: 0,
        status: { state: 'pending', registrar: trunk.outbound.registration!.registrar, refreshes: 0 },
      };
      this.#bindings.set(id, b);
      this.#register(b);
    }
  }

  status(): Record<string, RegistrationStatus> {
    const out: Record<string, RegistrationStatus> = {};
    for (const [id, b] of this.#bindings) out[id] = { ...b.status };
    return out;
  }

  close(): void {
    this.#closed = true;
    for (const b of this.#bindings.values()) clearTimeout(b.timer);
    this.#bindings.clear();
  }

  #live(b: Binding): boolean {
    return !this.#closed && this.#bindings.get(b.trunk.id) === b;
  }

  #later(b: Binding, ms: number): void {
    if (!this.#live(b)) return;
    clearTimeout(b.timer);
    b.timer = setTimeout(() => this.#register(b), ms);
    b.timer.unref();
  }

  #fail(b: Binding, status: number): void {
    b.status = { ...b.status, state: 'failed', lastStatus: status };
    this.emit('failed', { trunk: b.trunk.id, status });
    this.#later(b, this.#o.retryMs ?? 30_000);
  }

  #register(b: Binding): void {
    if (!this.#live(b)) return;
    const reg = b.trunk.outbound.registration!;
    const creds = this.#o.credentials.get(b.trunk.outbound.auth!.secret);
    if (!creds) {
      b.status = { ...b.status, state: 'no-credentials' };
      this.#later(b, this.#o.retryMs ?? 30_000);
      return;
    }
    // The registrar is reached like the trunk target of the same host, else on 5060 over the first target's transport.
    const t = b.trunk.targets.find((x) => x.host === reg.registrar) ?? {
      host: reg.registrar,
      port: 5060,
      transport: b.trunk.targets[0]?.transport ?? 'UDP',
    };
    this.#o
      .resolve(t.host)
      .then((address) => {
        if (!this.#live(b)) return;
        const peer: Peer = { transport: t.transport, address, port: t.port };
        const sentBy = this.#o.stack.sentBy(peer);
        const host = t.host.includes(':') ? `[${t.host}]` : t.host;
        const aor = `sip:${creds.username}@${host}`;
        const uri = `sip:${host}:${t.port}`;
        const contactUri = `sip:${creds.username}@${sentBy};transport=${t.transport.toLowerCase()}`;
        const send = (auth?: RawHeader) => {
          b.cseq++;
          const req = buildRequest({
            method: 'REGISTER',
            uri,
            vias: [`SIP/2.0/${t.transport} ${sentBy};branch=${generateBranch()};rport`],
            from: `<${aor}>;tag=${b.fromTag}`,
            to: `<${aor}>`,
            callId: b.callId,
            cseq: b.cseq,
            maxForwards: 70,
            contacts: [`<${contactUri}>`],
            headers: [{ name: 'Expires', value: String(reg.expiresSeconds) }, ...(auth ? [auth] : [])],
          });
          this.#o.stack.sendRequest(req, peer, {
            onFinal: (res) => onFinal(res, auth !== undefined),
            onTimeout: () => this.#fail(b, 408),
            onTransportError: () => this.#fail(b, 503),
          });
        };
        const onFinal = (res: SipResponse, authed: boolean) => {
          if (!this.#live(b)) return;
          if (res.status === 401 || res.status === 407) {
            const header = getHeader(res, res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate');
            const challenge = header ? parseChallenge(header) : undefined;
            // One answer per challenge; a second challenge means wrong credentials (unless the nonce went stale).
            if (!challenge || (authed && !challenge.stale)) return this.#fail(b, res.status);
            return send({
              name: res.status === 401 ? 'Authorization' : 'Proxy-Authorization',
              value: authorizationFor(challenge, creds, { method: 'REGISTER', uri }),
            });
          }
          if (res.status >= 200 && res.status < 300) {
            const granted = grantedExpires(res, contactUri, reg.expiresSeconds);
            b.status = {
              state: 'registered',
              registrar: reg.registrar,
              lastStatus: res.status,
              expiresAt: new Date(Date.now() + granted * 1000).toISOString(),
              refreshes: b.status.refreshes + (b.status.state === 'registered' ? 1 : 0),
            };
            this.emit('registered', { trunk: b.trunk.id, expires: granted });
            return this.#later(b, refreshDelayMs(granted));
          }
          this.#fail(b, res.status);
        };
        send();
      })
      .catch(() => this.#fail(b, 503));
  }
}
