// The protection layer of one signalling pod, assembled: SourceGuard (per-source message rate, scanner User-Agents,
// bad-traffic blocking) consulted by the SIP stack before parsing, ConnectionGuard on accept of TCP/TLS connections,
// and PeerFilter deciding which sources are known (Teams ranges, trunk inbound sources, trunk and Teams targets).
//
// Hot path per inbound message: one Map lookup for "is this source trusted" (cached CIDR answer), the SourceGuard
// check (Map lookups and a token bucket). Only messages from untrusted sources pay for the User-Agent scan.
import type { TrunkConfig } from '../../../crds/src/render/config-types.ts';
import type { BlockedSource, BlockedSourcesProvider } from '../admin/server.ts';
import type { InboundGuard } from '../sip/stack.ts';
import type { ConnectionGate } from '../sip/transport/transport-layer.ts';
import type { InboundMessage } from '../sip/transport/types.ts';
import { ConnectionGuard } from './connection-guard.ts';
import { PeerFilter } from './peer-filter.ts';
import { type BadReason, extractUserAgent, SourceGuard, type SourceGuardOptions } from './source-guard.ts';

export interface PodProtectionOptions {
  /** Teams signalling ranges (SWITCHBOARD_TEAMS_SOURCES). */
  teamsSources: readonly string[];
  /** Addresses always trusted besides the ranges (resolved Teams targets, …). */
  trustedAddresses?: readonly string[];
  /** Messages per second per untrusted source (burst twice that); trusted sources get 100 times as much. */
  sourceRate?: number;
  badThreshold?: number;
  blockMs?: number;
  scannerBlockMs?: number;
  now?: () => number;
  guard?: Partial<SourceGuardOptions>;
}

const MAX_TRUST_CACHE = 50_000;

export class PodProtection {
  readonly guard: SourceGuard;
  readonly connections: ConnectionGuard;
  readonly #teamsSources: readonly string[];
  readonly #fixed: Set<string>;
  #extra = new Set<string>();
  #filter: PeerFilter;
  readonly #trust = new Map<string, boolean>();

  constructor(opts: PodProtectionOptions) {
    this.#teamsSources = opts.teamsSources;
    this.#fixed = new Set(opts.trustedAddresses ?? []);
    this.#filter = new PeerFilter({ teamsCidrs: opts.teamsSources, trunks: [] });
    const rate = opts.sourceRate ?? 20;
    const trusted = (ip: string) => this.trusted(ip);
    this.guard = new SourceGuard({
      ...(opts.now ? { now: opts.now } : {}),
      rate: { perSecond: rate, burst: Math.max(1, 2 * rate) },
      trustedRate: { perSecond: 100 * rate, burst: 200 * rate },
      trusted,
      ...(opts.badThreshold !== undefined ? { badThreshold: opts.badThreshold } : {}),
      ...(opts.blockMs !== undefined ? { blockMs: opts.blockMs } : {}),
      ...(opts.scannerBlockMs !== undefined ? { scannerBlockMs: opts.scannerBlockMs } : {}),
      ...opts.guard,
    });
    this.connections = new ConnectionGuard({
      ...(opts.now ? { now: opts.now } : {}),
      trusted,
      sourceGuard: this.guard,
    });
  }

  /** A new config: trunk inbound sources and IP-literal trunk targets become known sources. */
  configure(trunks: readonly Pick<TrunkConfig, 'id' | 'inbound' | 'targets'>[]): void {
    this.#filter = new PeerFilter({ teamsCidrs: this.#teamsSources, trunks });
    const extra = new Set<string>();
    for (const t of trunks) for (const target of t.targets) if (/^[\d.]+$|:/.test(target.host)) extra.add(target.host);
    this.#extra = extra;
    this.#trust.clear();
  }

  /** Teams range, trunk source or target, or a fixed trusted address (cached per address). */
  trusted(ip: string): boolean {
    let known = this.#trust.get(ip);
    if (known === undefined) {
      known = this.#fixed.has(ip) || this.#extra.has(ip) || this.#filter.isKnownAddress(ip);
      if (this.#trust.size >= MAX_TRUST_CACHE) this.#trust.clear();
      this.#trust.set(ip, known);
    }
    return known;
  }

  /** For the SIP stack: the pre-parse check, and malformed input counted against its source. */
  readonly inbound: InboundGuard = {
    admit: (m: InboundMessage) => {
      const ip = m.source.address;
      if (this.trusted(ip)) return this.guard.check(ip) === 'allow';
      const userAgent = extractUserAgent(m.data);
      const verdict = this.guard.check(ip, userAgent === undefined ? {} : { userAgent });
      return verdict === 'allow';
    },
    malformed: (m: InboundMessage) => {
      this.guard.recordBad(m.source.address, 'malformed');
    },
  };

  /** For the transport: connection limits and handshake rate per source, blocked sources refused on accept. */
  readonly gate: ConnectionGate = {
    open: (ip) => this.connections.open(ip),
    closed: (ip) => this.connections.closed(ip),
  };

  recordBad(source: string, reason: BadReason): boolean {
    return this.guard.recordBad(source, reason);
  }

  /** The admin server's blocked-sources provider. */
  readonly blockedSources: BlockedSourcesProvider = {
    list: (): BlockedSource[] =>
      this.guard.list().map((b) => ({
        source: b.source,
        reason: b.reason,
        until: new Date(b.until).toISOString(),
        hits: b.hits,
      })),
    clear: (source?: string) => this.guard.clear(source),
  };

  stats(): { sources: ReturnType<SourceGuard['stats']>; connections: ReturnType<ConnectionGuard['stats']> } {
    return { sources: this.guard.stats(), connections: this.connections.stats() };
  }
}
