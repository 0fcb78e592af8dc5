// Who may start dialogs (DESIGN.md §6): Microsoft Teams peers (source address in the configured Teams ranges and,
// on TLS, a client certificate naming a Teams SIP proxy) and the configured inbound sources of carrier trunks.
// Everything else is 'unknown': the stack drops it (UDP) or answers cheaply (403 over an established stream), and
// reports it to SourceGuard.recordBad(source, 'unknown-source'). Lookups are a CIDR trie walk: O(32/128) whatever the
// number of trunks.
import type { TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { CidrTrie } from '../routing/cidr.ts';

export const DEFAULT_TEAMS_CERT_NAMES: readonly string[] = ['sip.pstnhub.microsoft.com', '*.pstnhub.microsoft.com'];

export type PeerClass =
  | { kind: 'teams' }
  | { kind: 'trunk'; trunks: string[] }
  | { kind: 'unknown'; why: 'address' | 'certificate' };

export interface PeerFilterConfig {
  /** Teams signalling ranges (settings.teamsSources). */
  teamsCidrs: readonly string[];
  /** Names a Teams client certificate must carry (SAN DNS / CN), '*.' wildcards allowed. */
  teamsCertNames?: readonly string[];
  trunks: readonly Pick<TrunkConfig, 'id' | 'inbound'>[];
}

function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (!p.startsWith('*.')) return p === n;
  const suffix = p.slice(1); // ".pstnhub.microsoft.com"
  return n.endsWith(suffix) && !n.slice(0, -suffix.length).includes('.') && n.length > suffix.length;
}

export class PeerFilter {
  readonly #teams = new CidrTrie<true>();
  readonly #trunks = new CidrTrie<string>();
  readonly #names: readonly string[];

  constructor(config: PeerFilterConfig) {
    for (const c of config.teamsCidrs) this.#teams.insert(c, true);
    for (const t of config.trunks) for (const c of t.inbound?.sourceCidrs ?? []) this.#trunks.insert(c, t.id);
    this.#names = config.teamsCertNames ?? DEFAULT_TEAMS_CERT_NAMES;
  }

  /**
   * Classify a peer. `tls` is given for TLS connections: a Teams-range address must then present a certificate with a
   * Teams name (mutual TLS); without `tls` (UDP/TCP) the address alone decides.
   */
  classify(address: string, tls?: { peerNames: readonly string[] }): PeerClass {
    if (this.#teams.matches(address).length > 0) {
      if (!tls || tls.peerNames.some((n) => this.#names.some((p) => nameMatches(p, n)))) return { kind: 'teams' };
      // A Teams address without a Teams certificate may still be a trunk (unlikely); otherwise refuse.
      const trunks = [...new Set(this.#trunks.matches(address))];
      return trunks.length > 0 ? { kind: 'trunk', trunks } : { kind: 'unknown', why: 'certificate' };
    }
    const trunks = [...new Set(this.#trunks.matches(address))];
    return trunks.length > 0 ? { kind: 'trunk', trunks } : { kind: 'unknown', why: 'address' };
  }

  /** For SourceGuard/ConnectionGuard `trusted`: a known Teams or trunk address. */
  isKnownAddress(address: string): boolean {
    return this.#teams.matches(address).length > 0 || this.#trunks.matches(address).length > 0;
  }
}
