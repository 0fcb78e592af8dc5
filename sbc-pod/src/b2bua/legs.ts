// Sending on a leg: in-dialog requests built from the leg's dialog (RFC 3261 §12.2.1.1), where they go (first
// Route, else the remote target; names resolved through SWITCHBOARD_HOSTS, then DNS), stateless sends (ACK).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { buildRequest, parseUri, type RawHeader, type SipRequest } from '../sip/message/index.ts';
import type { Peer, SipStack } from '../sip/stack.ts';
import { generateBranch } from '../sip/transaction/index.ts';
import type { Leg } from './call.ts';
import type { InDialogLines } from './dialog.ts';

export interface InDialogOptions {
  headers?: RawHeader[];
  contentType?: string;
  body?: Buffer;
  /** Write our Contact (target refreshes, and OPTIONS toward Teams). */
  contact?: boolean;
  maxForwards?: number;
}

export class LegSender {
  #stack: SipStack;
  #hosts: Map<string, string>;
  #resolver: ((host: string) => Promise<string>) | undefined;

  /** `resolver` (e.g. a TTL cache over the hosts stub and DNS, T1.11) replaces the default lookup. */
  constructor(stack: SipStack, hosts: Map<string, string>, resolver?: (host: string) => Promise<string>) {
    this.#stack = stack;
    this.#hosts = hosts;
    this.#resolver = resolver;
  }

  request(leg: Leg, method: string, lines: InDialogLines, opts: InDialogOptions = {}): SipRequest {
    const sentBy = leg.viaHost ?? this.#stack.sentBy({ transport: leg.transport, address: '127.0.0.1', port: 0 });
    return buildRequest({
      method,
      uri: lines.requestUri,
      vias: [`SIP/2.0/${leg.transport} ${sentBy};branch=${generateBranch()};rport`],
      from: lines.from,
      to: lines.to,
      callId: lines.callId,
      cseq: { seq: lines.cseq, method },
      maxForwards: opts.maxForwards ?? 70,
      routes: lines.routes,
      ...(opts.contact ? { contacts: [leg.contact] } : {}),
      headers: opts.headers ?? [],
      ...(opts.body ? { contentType: opts.contentType ?? 'application/sdp', body: opts.body } : {}),
    });
  }

  /** Where in-dialog requests for a leg go: its first Route, else its remote target (RFC 3261 §12.2.1.1). */
  async target(leg: Leg, fallback?: Peer): Promise<Peer> {
    const d = leg.dialog!;
    const first = d.routeSet[0];
    const uriText = first ? first.replace(/^[^<]*<([^>]*)>.*$/, '$1') : d.remoteTarget;
    let uri: ReturnType<typeof parseUri>;
    try {
      uri = parseUri(uriText);
    } catch {
      if (fallback) return fallback;
      throw new Error(`cannot route to ${uriText}`);
    }
    const param = uri.params.get('transport');
    const transport = (param ? param.toUpperCase() : leg.transport) as Peer['transport'];
    const host = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
    const address = await this.resolve(host);
    const port = uri.port ?? (transport === 'TLS' ? 5061 : 5060);
    const peer: Peer = { transport, address, port };
    if (transport === 'TLS' && isIP(host) === 0) peer.servername = host;
    else if (leg.servername) peer.servername = leg.servername;
    return peer;
  }

  /** Send outside a transaction (ACK of a 2xx). */
  async sendStateless(leg: Leg, req: SipRequest, fallback?: Peer): Promise<void> {
    await this.#stack.sendStateless(req, await this.target(leg, fallback));
  }

  async resolve(host: string): Promise<string> {
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    if (isIP(bare)) return bare;
    if (this.#resolver) return this.#resolver(bare);
    const mapped = this.#hosts.get(bare.toLowerCase());
    if (mapped) return mapped;
    return (await lookup(bare)).address;
  }
}
