// Name resolution for the Teams FQDNs (teams-direct-routing.md T1.10, T1.11): always by name, never a pinned IP, and
// looked up again at least every 15 minutes. A small cache with a TTL in front of the static hosts stub
// (SWITCHBOARD_HOSTS) and then DNS; a lookup that fails keeps serving the last good address (stale-if-error).
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Microsoft: "DNS resolution should occur every 15 minutes or more often". */
export const MAX_TTL_MS = 15 * 60_000;

export interface ResolverOptions {
  /** Static name → address map tried before DNS (read at every lookup, so a changed entry is seen on expiry). */
  hosts?: Map<string, string>;
  /** Cache lifetime (capped at 15 minutes). */
  ttlMs: number;
  now?: () => number;
  lookup?: (host: string) => Promise<string>;
}

interface Entry {
  address: string;
  expires: number;
}

export class CachingResolver {
  #o: ResolverOptions;
  #cache = new Map<string, Entry>();
  #ttl: number;
  readonly counters = { lookups: 0, hits: 0, staleServed: 0 };

  constructor(options: ResolverOptions) {
    this.#o = options;
    this.#ttl = Math.min(Math.max(0, options.ttlMs), MAX_TTL_MS);
  }

  get ttlMs(): number {
    return this.#ttl;
  }

  async resolve(host: string): Promise<string> {
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    if (isIP(bare)) return bare;
    const name = bare.toLowerCase();
    const now = this.#o.now?.() ?? Date.now();
    const hit = this.#cache.get(name);
    if (hit && hit.expires > now) {
      this.counters.hits++;
      return hit.address;
    }
    this.counters.lookups++;
    try {
      const address =
        this.#o.hosts?.get(name) ?? (await (this.#o.lookup ?? (async (h) => (await dnsLookup(h)).address))(name));
      this.#cache.set(name, { address, expires: now + this.#ttl });
      return address;
    } catch (err) {
      if (hit) {
        this.counters.staleServed++;
        return hit.address;
      }
      throw err;
    }
  }

  /** Forget everything (e.g. after a target failed: look it up again on the next try). */
  forget(host?: string): void {
    if (host === undefined) this.#cache.clear();
    else this.#cache.delete(host.toLowerCase());
  }
}
