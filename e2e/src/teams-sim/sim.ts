// The simulated Microsoft Teams Direct Routing peer: three SIP proxies (sip, sip2, sip3) and an "api" listener for the
// Teams-style Contact, all TLS servers on loopback requiring a client certificate; a TLS client that calls the SBC;
// the H3.5 tenant lookup; scriptable answers; and the rule checker run on every message the SBC sends.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import {
  buildRequest,
  getHeader,
  type RawHeader,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../../sbc-pod/src/sip/message/index.ts';
import { type IssuedCertificate, issueLeaf, TEAMS_SIGNALLING_FQDNS, type TeamsPki } from '../harness/pki.ts';
import {
  type CallScript,
  DEFAULT_SCRIPT,
  type DialogOwner,
  IncomingCall,
  normaliseScript,
  OutgoingCall,
  type PlaceCallOptions,
  type SimCore,
} from './calls.ts';
import { certCoversHost, hasServerAndClientAuth, isIpHost } from './cert-match.ts';
import { SipConnection } from './connection.ts';
import { ClientTransaction } from './dialog.ts';
import { checkSbcMessage, describeMessage, formatViolation, type Violation } from './rules.ts';
import { newBranch, newCallId, newTag, TEAMS_SERVER, teamsContact, teamsResponse, teamsSdp } from './teams-style.ts';
import { lookupTenant, numberOf, type Tenant, TenantDirectory, type TenantDirectoryInit } from './tenants.ts';
import { DEFAULT_WAIT_MS, EventLog, withTimeout } from './wait.ts';

export type ProxyMode = 'normal' | 'reject503' | 'silent';
/**
 * What a listener does with an SBC whose client certificate is missing or wrong (T1.5, T1.7, C2.2):
 * `close` (default) records a violation and closes the connection right after the handshake, before any SIP;
 * `handshake` lets OpenSSL refuse it during the handshake (rejectUnauthorized); `record` only records.
 */
export type ClientCertPolicy = 'close' | 'handshake' | 'record';

export interface ListenerSpec {
  /** `sip`, `sip2`, `sip3`, … */
  name: string;
  fqdn: string;
  host: string;
  /** Default: the sim's common port. */
  port?: number;
}

export interface TeamsSimOptions {
  pki: TeamsPki;
  /** Certificate the sim presents (server and client). Default `pki.teamsCertDigicert`. */
  teamsCert?: IssuedCertificate;
  /** `fqdn → { name, numbers }` (H3.5). */
  tenants?: TenantDirectoryInit;
  /** Default: sip/sip2/sip3.pstnhub.microsoft.com on 127.0.1.1/.2/.3. */
  proxies?: ListenerSpec[];
  /** Port for every listener (default: one free port shared by all). */
  port?: number;
  /** Host name in the sim's Contact (default `api-du-b-euwe.pstnhub.microsoft.com`) and the address it maps to. */
  contactHost?: string;
  contactAddress?: string;
  /** Add `;transport=tls` to the sim's Contact (real Teams does not; default false). */
  contactTransportParam?: boolean;
  /** Carrier trunk FQDN; when set, OPTIONS must carry it in Contact (H3.3). */
  carrierFqdn?: string;
  /** Where the SBC listens for Teams (for placeCall/sendOptions). */
  sbc?: { host: string; port: number };
  /** SBC FQDN → IP, to reach the SBC's Contact/Record-Route on new connections. */
  sbcHosts?: Record<string, string>;
  clientCertPolicy?: ClientCertPolicy;
  /** Answer 403 when the Contact FQDN is an IP or not covered by the SBC certificate (C2.6). Default true. */
  enforceContactCertMatch?: boolean;
  /** Answer 403 to an OPTIONS whose Contact FQDN is not in the tenant directory (O4.6). Default true. */
  requireKnownOptionsFqdn?: boolean;
  /** Rule ids never recorded. */
  disabledRules?: string[];
  /** RFC 3261 T1/T2 for 2xx retransmission (default 500/4000 ms). */
  t1Ms?: number;
  t2Ms?: number;
  /** After 64·T1 without ACK, record M5.12 and send BYE (default true). */
  byeOnAckTimeout?: boolean;
  /** TLS server/client settings (T1.3/T1.4). Default min TLSv1.2. */
  tls?: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion; ciphers?: string };
  /** Verify the SBC's server certificate against the dialled FQDN (T1.8). Default true. */
  verifySbcCert?: boolean;
  /** Default source address of the Teams client (default: let the OS choose). */
  sourceAddress?: string;
  /** Default call script for INVITEs from the SBC (default 100, 180, 200+SDP). */
  script?: CallScript;
  /** Echo Session-Expires in 2xx to INVITEs that ask for a session timer (default true). */
  echoSessionTimer?: boolean;
  /** Smallest Session-Expires accepted on INVITEs from the SBC: below it, 422 + Min-SE (540422, M5.15). */
  minSe?: number;
}

export interface ConnectionEvent {
  type: 'open' | 'close' | 'refused' | 'handshake-error';
  listener: string;
  id?: number;
  remote: string;
  servername?: string | false;
  protocol?: string | null;
  reason?: string;
}

export interface ReceivedMessage {
  msg: SipMessage;
  conn: SipConnection;
  listener: string;
  at: Date;
}

export interface SimTarget {
  name: string;
  fqdn: string;
  host: string;
  port: number;
  /** `host:port`. */
  address: string;
  /** `sip:<fqdn>:<port>;transport=tls`. */
  uri: string;
}

const DEFAULT_PROXIES: ListenerSpec[] = [
  { name: 'sip', fqdn: TEAMS_SIGNALLING_FQDNS[0], host: '127.0.1.1' },
  { name: 'sip2', fqdn: TEAMS_SIGNALLING_FQDNS[1], host: '127.0.1.2' },
  { name: 'sip3', fqdn: TEAMS_SIGNALLING_FQDNS[2], host: '127.0.1.3' },
];

/** One TLS listener of the sim (a Teams SIP proxy, or the `api` Contact host). */
export class TeamsListener {
  readonly name: string;
  readonly fqdn: string;
  readonly host: string;
  port: number;
  /** INVITE handling: answer, `503 + Retry-After`, or say nothing at all. */
  mode: ProxyMode = 'normal';
  retryAfter = 1;
  /** OPTIONS handling: answer or ignore. */
  optionsMode: 'answer' | 'silent' = 'answer';
  readonly connections = new Set<SipConnection>();
  private server: tls.Server | undefined;
  /** Every TCP socket accepted (including ones still in the TLS handshake), so stop() can drop them all. */
  private readonly sockets = new Set<Socket>();
  private readonly sim: TeamsSim;

  constructor(sim: TeamsSim, spec: ListenerSpec, port: number) {
    this.sim = sim;
    this.name = spec.name;
    this.fqdn = spec.fqdn;
    this.host = spec.host;
    this.port = port;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  get target(): SimTarget {
    return {
      name: this.name,
      fqdn: this.fqdn,
      host: this.host,
      port: this.port,
      address: this.address,
      uri: `sip:${this.fqdn}:${this.port};transport=tls`,
    };
  }

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const server = this.sim.createTlsServer(this);
    server.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and drop every connection (the proxy is "down"). */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.close();
    for (const sock of this.sockets) sock.destroy();
    await closed;
  }
}

export class TeamsSim implements SimCore {
  readonly pki: TeamsPki;
  readonly teamsCert: IssuedCertificate;
  readonly tenants: TenantDirectory;
  readonly proxies: TeamsListener[] = [];
  /** The listener behind the sim's Contact host. */
  api!: TeamsListener;
  readonly contactHost: string;
  readonly violations = new EventLog<Violation>(formatViolation);
  readonly connections = new EventLog<ConnectionEvent>((e) => `${e.type} ${e.listener} ${e.remote} ${e.reason ?? ''}`);
  /** Every message received from the SBC, on any connection. */
  readonly received = new EventLog<ReceivedMessage>((r) => `${r.listener}: ${describeMessage(r.msg)}`);
  /** Every INVITE (without To tag) the SBC sent to Teams, including rejected ones. */
  readonly inboundCalls = new EventLog<IncomingCall>((c) => `${c.listener}: ${c.invite.uriText} → ${c.state}`);
  readonly outboundCalls: OutgoingCall[] = [];
  sbc: { host: string; port: number } | undefined;
  sbcHosts: Record<string, string>;
  clientCertPolicy: ClientCertPolicy;
  enforceContactCertMatch: boolean;
  requireKnownOptionsFqdn: boolean;
  carrierFqdn: string | undefined;
  disabledRules: Set<string>;
  readonly t1Ms: number;
  readonly t2Ms: number;
  readonly byeOnAckTimeout: boolean;
  echoSessionTimer: boolean;
  minSe: number | undefined;
  verifySbcCert: boolean;
  sourceAddress: string | undefined;
  private readonly options: TeamsSimOptions;
  private apiCert: IssuedCertificate | undefined;
  private readonly clientTx = new Map<string, ClientTransaction>();
  private readonly inviteTx = new Map<string, IncomingCall>();
  private readonly dialogs = new Map<string, DialogOwner>();
  private readonly pool = new Map<string, Promise<SipConnection>>();
  private readonly clientConns = new Set<SipConnection>();
  private readonly scripts: Array<{ match: ScriptMatch; script: CallScript }> = [];
  private defaultScript: CallScript;
  private mediaPort = 40_000;

  constructor(options: TeamsSimOptions) {
    this.options = options;
    this.pki = options.pki;
    this.teamsCert = options.teamsCert ?? options.pki.teamsCertDigicert;
    this.tenants = new TenantDirectory(options.tenants ?? {});
    this.contactHost = options.contactHost ?? 'api-du-b-euwe.pstnhub.microsoft.com';
    this.sbc = options.sbc;
    this.sbcHosts = { ...(options.sbcHosts ?? {}) };
    this.clientCertPolicy = options.clientCertPolicy ?? 'close';
    this.enforceContactCertMatch = options.enforceContactCertMatch ?? true;
    this.requireKnownOptionsFqdn = options.requireKnownOptionsFqdn ?? true;
    this.carrierFqdn = options.carrierFqdn;
    this.disabledRules = new Set(options.disabledRules ?? []);
    this.t1Ms = options.t1Ms ?? 500;
    this.t2Ms = options.t2Ms ?? 4000;
    this.byeOnAckTimeout = options.byeOnAckTimeout ?? true;
    this.echoSessionTimer = options.echoSessionTimer ?? true;
    this.minSe = options.minSe;
    this.verifySbcCert = options.verifySbcCert ?? true;
    this.sourceAddress = options.sourceAddress;
    this.defaultScript = options.script ?? DEFAULT_SCRIPT;
  }

  /** Create and start a sim. */
  static async start(options: TeamsSimOptions): Promise<TeamsSim> {
    const sim = new TeamsSim(options);
    await sim.start();
    return sim;
  }

  async start(): Promise<void> {
    const teamsX509 = new X509Certificate(this.teamsCert.certPem);
    if (!certCoversHost(teamsX509, this.contactHost)) {
      // The SBC will dial the Contact host over TLS and verify it: give that listener a certificate covering it.
      const issuer = this.teamsCert.issuer ?? this.pki.digicertIssuing;
      this.apiCert = await issueLeaf(issuer, {
        commonName: this.contactHost,
        dnsNames: [this.contactHost, ...TEAMS_SIGNALLING_FQDNS],
        organization: 'Microsoft Corporation (test)',
      });
    }
    const specs: ListenerSpec[] = [
      ...(this.options.proxies ?? DEFAULT_PROXIES),
      { name: 'api', fqdn: this.contactHost, host: this.options.contactAddress ?? '127.0.1.10' },
    ];
    for (let attempt = 0; ; attempt++) {
      const listeners = specs.map((s) => new TeamsListener(this, s, s.port ?? this.options.port ?? 0));
      try {
        const first = listeners[0]!;
        await first.start();
        for (const l of listeners.slice(1)) {
          if ((specs.find((s) => s.name === l.name)?.port ?? this.options.port) === undefined) l.port = first.port;
          await l.start();
        }
        this.proxies.push(...listeners.filter((l) => l.name !== 'api'));
        this.api = listeners.find((l) => l.name === 'api')!;
        return;
      } catch (err) {
        await Promise.all(listeners.map((l) => l.stop()));
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10 || this.options.port !== undefined) {
          throw err;
        }
      }
    }
  }

  async close(): Promise<void> {
    for (const c of this.clientConns) c.close();
    await Promise.all([...this.proxies, this.api].filter((l) => l !== undefined).map((l) => l.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------- wiring for tests

  proxy(name: string): TeamsListener {
    const p = [...this.proxies, this.api].find((l) => l.name === name || l.fqdn === name);
    if (p === undefined) throw new Error(`no Teams listener named ${name}`);
    return p;
  }

  /** The Microsoft proxies in failover order (T1.10), with their real addresses. */
  get targets(): SimTarget[] {
    return this.proxies.map((p) => p.target);
  }

  /** Static DNS stub `{ hostname → ip }`: the three proxy FQDNs and the Contact host. Hand it to the SBC. */
  get dnsStub(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const l of [...this.proxies, this.api]) out[l.fqdn] = l.host;
    return out;
  }

  /** The DNS stub as a `SWITCHBOARD_HOSTS`-style string: `name=ip,name=ip`. */
  get hostsEnv(): string {
    return Object.entries(this.dnsStub)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }

  /** PEM trust anchors the SBC needs to verify the sim (both Microsoft roots, T1.6). */
  get trustPem(): string[] {
    return this.pki.microsoftRootsPem;
  }

  /** Default script for INVITEs from the SBC, or one for a called number / tenant name. */
  setScript(script: CallScript, match?: ScriptMatch): void {
    if (match === undefined) this.defaultScript = script;
    else this.scripts.unshift({ match, script });
  }

  clearScripts(): void {
    this.scripts.length = 0;
    this.defaultScript = this.options.script ?? DEFAULT_SCRIPT;
  }

  private scriptFor(number: string, tenant: Tenant | undefined): CallScript {
    for (const { match, script } of this.scripts) {
      if (match.number !== undefined && match.number !== number) continue;
      if (match.tenant !== undefined && match.tenant !== tenant?.name) continue;
      return script;
    }
    return this.defaultScript;
  }

  // ---------------------------------------------------------------------------------------------- violations

  record(rule: string, message: string, subject: string, where?: string): void {
    if (this.disabledRules.has(rule)) return;
    this.violations.push({ rule, message, subject, ...(where !== undefined ? { where } : {}), at: new Date() });
  }

  assertNoViolations(opts: { ignore?: string[] } = {}): void {
    const ignore = new Set(opts.ignore ?? []);
    const found = this.violations.items.filter((v) => !ignore.has(v.rule));
    assert.equal(
      found.length,
      0,
      `the SBC broke Teams Direct Routing rules:\n  ${found.map(formatViolation).join('\n  ')}`,
    );
  }

  clearViolations(): void {
    this.violations.items.length = 0;
  }

  waitForRequest(
    method: string,
    opts: { listener?: string; timeoutMs?: number; from?: number } = {},
  ): Promise<ReceivedMessage> {
    return this.received.waitFor(
      (r) =>
        r.msg.kind === 'request' &&
        r.msg.method === method &&
        (opts.listener === undefined || r.listener === opts.listener),
      `${method} from the SBC${opts.listener !== undefined ? ' on ' + opts.listener : ''}`,
      opts.timeoutMs,
      opts.from,
    );
  }

  waitForInboundCall(
    pred: (c: IncomingCall) => boolean = () => true,
    timeoutMs: number = DEFAULT_WAIT_MS,
  ): Promise<IncomingCall> {
    return this.inboundCalls.waitFor(pred, 'an INVITE from the SBC', timeoutMs);
  }

  // ---------------------------------------------------------------------------------------------- TLS server side

  /** Build the TLS server of a listener (called by TeamsListener.start). */
  createTlsServer(listener: TeamsListener): tls.Server {
    const cert = listener.name === 'api' && this.apiCert !== undefined ? this.apiCert : this.teamsCert;
    const t = this.options.tls ?? {};
    const server = tls.createServer(
      {
        key: cert.keyPem,
        cert: cert.chainPem,
        ca: this.pki.publicRootsPem,
        requestCert: true,
        rejectUnauthorized: this.clientCertPolicy === 'handshake',
        minVersion: t.minVersion ?? 'TLSv1.2',
        ...(t.maxVersion !== undefined ? { maxVersion: t.maxVersion } : {}),
        ...(t.ciphers !== undefined ? { ciphers: t.ciphers } : {}),
      },
      (socket) => this.accept(listener, socket),
    );
    server.on('tlsClientError', (err, socket) => {
      const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      const rule = /certificate|verify|unknown ca/i.test(err.message)
        ? 'T1.5'
        : /version|protocol/i.test(err.message)
          ? 'T1.3'
          : 'T1.5';
      this.record(rule, `TLS handshake failed: ${err.message}`, `TLS from ${remote}`, listener.name);
      this.connections.push({ type: 'handshake-error', listener: listener.name, remote, reason: err.message });
    });
    return server;
  }

  private accept(listener: TeamsListener, socket: tls.TLSSocket): void {
    if (!listener.running) {
      socket.destroy();
      return;
    }
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const problems = clientCertProblems(socket);
    for (const p of problems) this.record(p.rule, p.message, `TLS from ${remote}`, listener.name);
    if (problems.length > 0 && this.clientCertPolicy !== 'record') {
      this.connections.push({
        type: 'refused',
        listener: listener.name,
        remote,
        reason: problems.map((p) => `${p.rule} ${p.message}`).join('; '),
      });
      socket.destroy();
      return;
    }
    const conn = new SipConnection(socket, 'server', listener.name, this.handlers);
    listener.connections.add(conn);
    conn.closedPromise.then(() => listener.connections.delete(conn));
    this.connections.push({
      type: 'open',
      listener: listener.name,
      id: conn.id,
      remote,
      servername: conn.servername,
      protocol: conn.protocol,
    });
  }

  private readonly handlers = {
    message: (conn: SipConnection, msg: SipMessage) => this.onMessage(conn, msg),
    malformed: (conn: SipConnection, reason: string) =>
      this.record('X7.0', `malformed message from the SBC: ${reason}`, conn.describe, conn.listener),
    closed: (conn: SipConnection) => {
      this.clientConns.delete(conn);
      this.connections.push({
        type: 'close',
        listener: conn.listener,
        id: conn.id,
        remote: `${conn.remoteAddress}:${conn.remotePort}`,
      });
    },
  };

  private listenerOf(conn: SipConnection): TeamsListener | undefined {
    return [...this.proxies, this.api].find((l) => l.name === conn.listener);
  }

  // ---------------------------------------------------------------------------------------------- dispatch

  private onMessage(conn: SipConnection, msg: SipMessage): void {
    this.received.push({ msg, conn, listener: conn.listener, at: new Date() });
    let tx: ClientTransaction | undefined;
    let owner: DialogOwner | undefined;
    if (msg.kind === 'response') tx = this.clientTx.get(`${msg.vias[0]?.branch ?? ''}|${msg.cseq.method}`);
    else if (msg.to.params.has('tag')) owner = this.dialogs.get(`${msg.callId}|${msg.to.params.get('tag')}`);
    const dialledHost = tx?.dialledHost;
    const dialogHost = owner?.dialledHost;
    for (const v of checkSbcMessage(msg, {
      ...(conn.peerCert !== undefined ? { peerCert: conn.peerCert } : {}),
      ...(dialledHost !== undefined ? { dialledHost } : {}),
      ...(dialogHost !== undefined ? { dialogHost } : {}),
      ...(this.carrierFqdn !== undefined ? { carrierFqdn: this.carrierFqdn } : {}),
      disabledRules: this.disabledRules,
      isTeamsHost: (h) => this.isOwnHost(h) || /(^|\.)pstnhub\.microsoft\.com$/i.test(h),
    })) {
      this.violations.push({ ...v, where: conn.listener });
    }
    if (msg.kind === 'response') {
      if (tx === undefined) return;
      tx.responses.push(msg);
      tx.onResponse?.(msg);
      if (tx.request.method === 'INVITE' && msg.status >= 300) this.ackNon2xx(tx, msg);
      return;
    }
    this.onRequest(conn, msg, owner);
  }

  private onRequest(conn: SipConnection, req: SipRequest, owner: DialogOwner | undefined): void {
    const branch = req.vias[0]?.branch ?? '';
    if (req.method === 'ACK') {
      if (owner !== undefined) owner.onRequest(req, conn);
      else this.inviteTx.get(branch)?.onAck(req);
      return;
    }
    if (req.method === 'CANCEL') {
      const call = this.inviteTx.get(branch);
      if (call !== undefined) call.onCancel(req, conn);
      else this.respond(conn, teamsResponse(req, 481));
      return;
    }
    if (req.to.params.has('tag')) {
      if (owner !== undefined) owner.onRequest(req, conn);
      else this.respond(conn, teamsResponse(req, 481));
      return;
    }
    const listener = this.listenerOf(conn);
    if (req.method === 'OPTIONS') {
      if (listener?.optionsMode === 'silent') return;
      this.answerOptions(conn, req);
      return;
    }
    if (req.method === 'INVITE') {
      this.onInvite(conn, req, listener);
      return;
    }
    this.respond(conn, teamsResponse(req, 405, { allow: true }));
  }

  /** C2.6 / O4.2: the Contact FQDN Teams uses to find the SBC: present, not an IP, covered by the certificate. */
  private contactProblem(conn: SipConnection, req: SipRequest): string | undefined {
    const contact = req.recordRoutes[0] ?? req.contacts[0];
    if (contact === undefined) return 'No Contact header';
    const host = contact.uri.host;
    if (!this.enforceContactCertMatch) return undefined;
    if (isIpHost(host)) return `Contact host ${host} is an IP address`;
    if (conn.peerCert !== undefined && !certCoversHost(conn.peerCert, host)) {
      return `Contact FQDN ${host} does not match the SBC certificate`;
    }
    return undefined;
  }

  private answerOptions(conn: SipConnection, req: SipRequest): void {
    const problem = this.contactProblem(conn, req);
    if (problem !== undefined) {
      this.respond(conn, teamsResponse(req, 403, { headers: [reasonHeader(21, '510532', problem)] }));
      return;
    }
    const host = (req.recordRoutes[0] ?? req.contacts[0])!.uri.host;
    if (this.requireKnownOptionsFqdn && this.tenants.findTenant(host) === undefined) {
      this.record(
        'O4.6',
        `OPTIONS Contact FQDN ${host} is not registered in any tenant`,
        describeMessage(req),
        conn.listener,
      );
      this.respond(
        conn,
        teamsResponse(req, 403, { headers: [reasonHeader(21, '510532', 'No trunk config was found')] }),
      );
      return;
    }
    this.respond(conn, teamsResponse(req, 200, { toTag: newTag() }));
  }

  private onInvite(conn: SipConnection, req: SipRequest, listener: TeamsListener | undefined): void {
    const branch = req.vias[0]?.branch ?? '';
    const existing = this.inviteTx.get(branch);
    if (existing !== undefined) {
      existing.resendLast();
      return;
    }
    const call = new IncomingCall(this, req, conn, conn.listener);
    this.inviteTx.set(branch, call);
    // H3.5 step 1: the certificate must match the Contact FQDN; steps 2–4: tenant and number.
    const problem = this.contactProblem(conn, req);
    const contactHost = (req.recordRoutes[0] ?? req.contacts[0])?.uri.host ?? '';
    const lookup = problem === undefined ? lookupTenant(this.tenants, contactHost, req.uri.user) : undefined;
    const number = numberOf(req.uri.user);
    const tenant = lookup?.ok === true ? lookup.tenant : this.tenants.findTenant(contactHost)?.tenant;
    if (lookup?.ok === true) {
      call.tenant = lookup.tenant;
      call.tenantDomain = lookup.domain;
      call.number = lookup.number;
    }
    if (listener?.mode === 'silent') {
      call.state = 'ignored';
      call.states.push('ignored');
    }
    this.inboundCalls.push(call);
    if (listener?.mode === 'silent') return;
    if (listener?.mode === 'reject503') {
      call.respond(503, { retryAfter: listener.retryAfter });
      return;
    }
    const script = normaliseScript(this.scriptFor(number, tenant));
    if (script.trying) call.respond(100);
    if (problem !== undefined) {
      call.respond(403, { headers: [reasonHeader(21, '510532', problem)] });
      return;
    }
    if (lookup !== undefined && !lookup.ok) {
      if (lookup.status === 403) {
        this.record(
          'H3.5',
          `no tenant for Contact FQDN ${contactHost} (403 510532)`,
          describeMessage(req),
          conn.listener,
        );
      }
      call.respond(lookup.status, {
        headers: [reasonHeader(lookup.status === 403 ? 21 : 1, lookup.msCode, lookup.text)],
      });
      return;
    }
    if (req.body.length === 0) {
      call.respond(488, { headers: [reasonHeader(88, '531000', 'Delayed offer is not supported')] });
      return;
    }
    const se = Number((getHeader(req, 'Session-Expires') ?? '').split(';')[0]);
    if (this.minSe !== undefined && se > 0 && se < this.minSe) {
      call.respond(422, {
        reason: 'Session Interval Too Small',
        headers: [
          { name: 'Min-SE', value: String(this.minSe) },
          reasonHeader(127, '540422', 'Session Interval Too Small'),
        ],
      });
      return;
    }
    void call.play(script.steps);
  }

  private ackNon2xx(tx: ClientTransaction, res: SipResponse): void {
    const inv = tx.request;
    const ack = buildRequest({
      method: 'ACK',
      uri: inv.uriText,
      vias: [inv.headers.find((h) => /^(via|v)$/i.test(h.name))?.value ?? ''],
      from: inv.headers.find((h) => /^(from|f)$/i.test(h.name))?.value ?? '',
      to: res.headers.find((h) => /^(to|t)$/i.test(h.name))?.value ?? '',
      callId: inv.callId,
      cseq: { seq: inv.cseq.seq, method: 'ACK' },
      routes: inv.routes.map((r) => `<${r.uriText}>`),
    });
    tx.conn.send(ack);
  }

  // ---------------------------------------------------------------------------------------------- SimCore

  respond(conn: SipConnection, res: SipResponse): void {
    conn.send(res);
  }

  registerDialog(callId: string, localTag: string, owner: DialogOwner): void {
    this.dialogs.set(`${callId}|${localTag}`, owner);
  }

  sdp(version: number): string {
    this.mediaPort += 2;
    return teamsSdp({ address: this.proxies[0]?.host ?? '127.0.1.1', port: this.mediaPort, version });
  }

  contact(): string {
    return teamsContact(this.contactHost, this.api.port, this.options.contactTransportParam ?? false);
  }

  isOwnHost(host: string): boolean {
    const h = host.toLowerCase();
    return [...this.proxies, this.api].some((l) => l.fqdn.toLowerCase() === h);
  }

  via(conn: SipConnection): string {
    return `${conn.localAddress}:${conn.localPort}`;
  }

  uppercase(req: SipRequest): SipRequest {
    return { ...req, headers: req.headers.map((h) => ({ name: h.name.toUpperCase(), value: h.value })) };
  }

  /** Send a request: on `route.conn` unless a new connection is asked for (or it closed); registers the transaction. */
  async send(
    req: SipRequest,
    route: { conn?: SipConnection; nextHop: string; newConnection?: boolean; localAddress?: string },
  ): Promise<ClientTransaction> {
    let conn = route.conn;
    if (conn === undefined || conn.closed || route.newConnection === true) {
      const hop = parseHop(route.nextHop);
      const ip = this.resolveSbcHost(hop.host);
      conn = await this.connectToSbc({
        host: ip,
        port: hop.port ?? this.sbc?.port ?? 5061,
        servername: hop.host,
        ...(route.localAddress !== undefined ? { localAddress: route.localAddress } : {}),
        newConnection: route.newConnection === true,
      });
    }
    const branch = req.vias[0]?.branch ?? '';
    const tx = new ClientTransaction(branch, req, conn);
    if (req.method !== 'ACK') this.clientTx.set(`${branch}|${req.cseq.method}`, tx);
    if (!conn.send(req)) throw new Error(`cannot send ${req.method}: connection ${conn.describe} is closed`);
    return tx;
  }

  /** IP of an SBC host name: the `sbcHosts` map, an IP literal, else the configured SBC address. */
  resolveSbcHost(host: string): string {
    const mapped = this.sbcHosts[host.toLowerCase()] ?? this.sbcHosts[host];
    if (mapped !== undefined) return mapped;
    if (isIpHost(host)) return host.replace(/^\[|\]$/g, '');
    if (this.sbc !== undefined) return this.sbc.host;
    throw new Error(`cannot resolve SBC host ${host}: add it to sbcHosts or set sbc`);
  }

  // ---------------------------------------------------------------------------------------------- Teams → SBC

  /**
   * A TLS connection from "Teams" to the SBC (mutual TLS with the Teams certificate, SNI = servername, the SBC
   * certificate verified against servername, T1.6/T1.8/T1.9). Pooled per address/SNI/source unless `newConnection`.
   */
  async connectToSbc(opts: {
    host: string;
    port: number;
    servername: string;
    localAddress?: string;
    newConnection?: boolean;
    sni?: boolean;
    cert?: IssuedCertificate;
    timeoutMs?: number;
  }): Promise<SipConnection> {
    const localAddress = opts.localAddress ?? this.sourceAddress;
    const key = `${opts.host}:${opts.port}|${opts.servername}|${localAddress ?? ''}|${opts.sni ?? true}`;
    if (opts.newConnection !== true) {
      const pooled = this.pool.get(key);
      if (pooled !== undefined) {
        const c = await pooled.catch(() => undefined);
        if (c !== undefined && !c.closed) return c;
      }
    }
    const p = this.dial({ ...opts, ...(localAddress !== undefined ? { localAddress } : {}) });
    this.pool.set(key, p);
    p.catch(() => this.pool.delete(key));
    return p;
  }

  private dial(opts: {
    host: string;
    port: number;
    servername: string;
    localAddress?: string;
    sni?: boolean;
    cert?: IssuedCertificate;
    timeoutMs?: number;
  }): Promise<SipConnection> {
    const cert = opts.cert ?? this.teamsCert;
    const t = this.options.tls ?? {};
    const sendSni = opts.sni !== false && !isIpHost(opts.servername);
    const what = `TLS to SBC ${opts.host}:${opts.port} as ${opts.servername}`;
    const attempt = new Promise<SipConnection>((resolve, reject) => {
      const socket = tls.connect({
        host: opts.host,
        port: opts.port,
        ...(sendSni ? { servername: opts.servername } : {}),
        ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
        key: cert.keyPem,
        cert: cert.chainPem,
        ca: this.pki.publicRootsPem,
        minVersion: t.minVersion ?? 'TLSv1.2',
        ...(t.maxVersion !== undefined ? { maxVersion: t.maxVersion } : {}),
        ...(t.ciphers !== undefined ? { ciphers: t.ciphers } : {}),
        rejectUnauthorized: this.verifySbcCert,
        checkServerIdentity: (_host, peer) => tls.checkServerIdentity(opts.servername, peer),
      });
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        const conn = new SipConnection(socket, 'client', 'client', this.handlers, sendSni ? opts.servername : false);
        this.clientConns.add(conn);
        this.connections.push({
          type: 'open',
          listener: 'client',
          id: conn.id,
          remote: `${conn.remoteAddress}:${conn.remotePort}`,
          servername: conn.servername,
          protocol: conn.protocol,
        });
        resolve(conn);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.destroy();
        if (/CERT|certificate|SELF_SIGNED|Hostname/i.test(`${err.code ?? ''} ${err.message}`)) {
          this.record('T1.8', `SBC certificate not valid for ${opts.servername}: ${err.message}`, what, 'client');
        }
        reject(new Error(`${what} failed: ${err.code ?? ''} ${err.message}`));
      });
    });
    return withTimeout(attempt, what, opts.timeoutMs ?? DEFAULT_WAIT_MS);
  }

  private sbcAddress(override?: { host: string; port: number }): { host: string; port: number } {
    const sbc = override ?? this.sbc;
    if (sbc === undefined) throw new Error('no SBC address: pass `sbc` to the sim or to the call');
    return sbc;
  }

  /** Teams places a call to the SBC (H3.7): returns once the INVITE is on the wire. */
  async placeCall(opts: PlaceCallOptions): Promise<OutgoingCall> {
    const sbc = this.sbcAddress(opts.sbc);
    const conn = await this.connectToSbc({
      host: sbc.host,
      port: sbc.port,
      servername: opts.tenantFqdn,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
      ...(opts.newConnection !== undefined ? { newConnection: opts.newConnection } : {}),
      ...(opts.sni !== undefined ? { sni: opts.sni } : {}),
      ...(opts.cert !== undefined ? { cert: opts.cert, newConnection: true } : {}),
    });
    const ruriPort = opts.requestUriPort ?? sbc.port;
    const branch = newBranch();
    const sip = this.proxies[0]!;
    const contact = this.contact();
    const headers: RawHeader[] = [];
    if (opts.recordRoute === true) {
      headers.push({ name: 'Record-Route', value: `<sip:${sip.fqdn}:${sip.port};transport=tls;lr>` });
    }
    headers.push({ name: 'Allow', value: 'INVITE,ACK,OPTIONS,CANCEL,BYE,NOTIFY' });
    const se = opts.sessionExpires ?? '1800;refresher=uac';
    if (se !== false) headers.push({ name: 'Session-Expires', value: se }, { name: 'Supported', value: 'timer' });
    headers.push({ name: 'User-Agent', value: TEAMS_SERVER });
    headers.push(...(opts.headers ?? []));
    let invite = buildRequest({
      method: 'INVITE',
      uri: `sip:${opts.to}@${opts.tenantFqdn}:${ruriPort};user=phone;transport=tls`,
      vias: [`SIP/2.0/TLS ${this.via(conn)};branch=${branch}`],
      from: `<sip:${opts.from}@${sip.fqdn}:${sip.port};user=phone>;tag=${newTag()}`,
      to: `<sip:${opts.to}@${opts.tenantFqdn}:${ruriPort};user=phone>`,
      callId: newCallId(),
      cseq: 1,
      contacts: [contact],
      headers,
      contentType: 'application/sdp',
      body: opts.sdp ?? this.sdp(0),
    });
    if (opts.uppercase === true) invite = this.uppercase(invite);
    const tx = new ClientTransaction(branch, invite, conn);
    tx.dialledHost = opts.tenantFqdn;
    this.clientTx.set(`${branch}|INVITE`, tx);
    const call = new OutgoingCall(this, tx, { dialledHost: opts.tenantFqdn, autoAck: opts.autoAck ?? true, contact });
    this.outboundCalls.push(call);
    if (!conn.send(invite)) throw new Error(`connection ${conn.describe} closed before the INVITE could be sent`);
    return call;
  }

  /** Teams' own OPTIONS to the SBC FQDN (O4.5); resolves with the SBC's final response. */
  async sendOptions(
    toFqdn: string,
    opts: {
      sbc?: { host: string; port: number };
      localAddress?: string;
      newConnection?: boolean;
      uppercase?: boolean;
      timeoutMs?: number;
    } = {},
  ): Promise<SipResponse> {
    const sbc = this.sbcAddress(opts.sbc);
    const conn = await this.connectToSbc({
      host: sbc.host,
      port: sbc.port,
      servername: toFqdn,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
      ...(opts.newConnection !== undefined ? { newConnection: opts.newConnection } : {}),
    });
    const sip = this.proxies[0]!;
    const branch = newBranch();
    let req = buildRequest({
      method: 'OPTIONS',
      uri: `sip:${toFqdn}:${sbc.port};transport=tls`,
      vias: [`SIP/2.0/TLS ${this.via(conn)};branch=${branch}`],
      from: `<sip:${sip.fqdn}:${sip.port}>;tag=${newTag()}`,
      to: `<sip:${toFqdn}:${sbc.port}>`,
      callId: newCallId(),
      cseq: 1,
      contacts: [`<sip:${sip.fqdn}:${sip.port};transport=tls>`],
      headers: [{ name: 'User-Agent', value: TEAMS_SERVER }],
    });
    if (opts.uppercase === true) req = this.uppercase(req);
    const tx = await this.send(req, { conn, nextHop: req.uriText });
    return tx.final(opts.timeoutMs);
  }
}

export interface ScriptMatch {
  /** E.164 called number (Request-URI user). */
  number?: string;
  /** Tenant name from the directory. */
  tenant?: string;
}

function reasonHeader(cause: number, msCode: string, text: string): RawHeader {
  return { name: 'Reason', value: `Q.850;cause=${cause};text="${msCode};${text.replace(/"/g, "'")}"` };
}

function parseHop(uriText: string): { host: string; port?: number } {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;?>]+)(?::(\d+))?/i.exec(uriText.replace(/^<|>$/g, ''));
  if (m === null) throw new Error(`cannot route to ${uriText}`);
  return { host: m[1]!, ...(m[2] !== undefined ? { port: Number(m[2]) } : {}) };
}

/** What is wrong with the SBC's client certificate on an accepted connection (T1.5, T1.7, C2.2). */
export function clientCertProblems(socket: tls.TLSSocket): Array<{ rule: string; message: string }> {
  const out: Array<{ rule: string; message: string }> = [];
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return [{ rule: 'T1.5', message: 'SBC presented no client certificate' }];
  const ekuBad = !hasServerAndClientAuth(cert);
  if (ekuBad) {
    out.push({
      rule: 'T1.5',
      message: `SBC certificate EKU lacks serverAuth+clientAuth (has: ${(cert.keyUsage ?? []).join(', ') || 'none'})`,
    });
  }
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? 'unknown');
    if (/SELF_SIGNED/.test(code)) out.push({ rule: 'C2.2', message: `SBC certificate is self-signed (${code})` });
    else if (/EXPIRED|NOT_YET_VALID/.test(code))
      out.push({ rule: 'C2.2', message: `SBC certificate not valid now (${code})` });
    else if (/ISSUER|LEAF_SIGNATURE|CHAIN/.test(code)) {
      out.push({
        rule: 'T1.7',
        message: `SBC chain does not verify to a trusted public root: missing intermediate or unknown CA (${code})`,
      });
    } else if (!(ekuBad && /PURPOSE/.test(code))) {
      out.push({ rule: 'C2.2', message: `SBC certificate rejected (${code})` });
    }
  }
  return out;
}
