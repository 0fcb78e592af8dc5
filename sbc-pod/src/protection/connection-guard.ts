// Connection-level protection for the stream transports (TCP/TLS), consulted on `connection` before any TLS work:
// at most `maxPerSource` open connections per source address, and a handshake rate per source (token bucket), so one
// address cannot exhaust sockets or burn CPU on TLS handshakes. A blocked source (SourceGuard) is refused at once.
// Pure, clock injected; handshake buckets live in an LRU map bounded by `maxSources`, connection counts only exist
// while connections are open.
import type { Rate, SourceGuard } from './source-guard.ts';

export interface ConnectionGuardOptions {
  now?: () => number;
  /** Default 32 concurrent connections per untrusted source. */
  maxPerSource?: number;
  /** Default 256 for trusted sources (Teams, trunks). */
  maxPerTrustedSource?: number;
  /** New connections (TLS handshakes) per source. Default 5/s, burst 20. */
  handshakeRate?: Rate;
  trusted?: (source: string) => boolean;
  /** Default 20 000. */
  maxSources?: number;
  /** Consulted for blocks; a refused connection is not reported to it (only a flood of them, as 'flood'). */
  sourceGuard?: SourceGuard;
}

export type ConnectionVerdict = 'allow' | 'too-many-connections' | 'handshake-rate' | 'blocked';

export class ConnectionGuard {
  readonly #now: () => number;
  readonly #max: number;
  readonly #maxTrusted: number;
  readonly #rate: Rate;
  readonly #trusted: (source: string) => boolean;
  readonly #maxSources: number;
  readonly #guard: SourceGuard | undefined;
  readonly #open = new Map<string, number>();
  readonly #buckets = new Map<string, { tokens: number; last: number }>();
  readonly #refused: Record<Exclude<ConnectionVerdict, 'allow'>, number> = {
    'too-many-connections': 0,
    'handshake-rate': 0,
    blocked: 0,
  };

  constructor(options: ConnectionGuardOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#max = options.maxPerSource ?? 32;
    this.#maxTrusted = options.maxPerTrustedSource ?? 256;
    this.#rate = options.handshakeRate ?? { perSecond: 5, burst: 20 };
    this.#trusted = options.trusted ?? (() => false);
    this.#maxSources = options.maxSources ?? 20_000;
    this.#guard = options.sourceGuard;
  }

  /** A new connection from `source`: 'allow' counts it open (call `closed` when it ends); otherwise destroy it. */
  open(source: string): ConnectionVerdict {
    const verdict = this.#decide(source);
    if (verdict === 'allow') this.#open.set(source, (this.#open.get(source) ?? 0) + 1);
    else this.#refused[verdict]++;
    return verdict;
  }

  closed(source: string): void {
    const n = (this.#open.get(source) ?? 0) - 1;
    if (n <= 0) this.#open.delete(source);
    else this.#open.set(source, n);
  }

  openConnections(source: string): number {
    return this.#open.get(source) ?? 0;
  }

  stats(): { sources: number; openConnections: number; refused: Record<string, number>; trackedBuckets: number } {
    let total = 0;
    for (const n of this.#open.values()) total += n;
    return {
      sources: this.#open.size,
      openConnections: total,
      refused: { ...this.#refused },
      trackedBuckets: this.#buckets.size,
    };
  }

  #decide(source: string): ConnectionVerdict {
    if (this.#guard?.isBlocked(source)) return 'blocked';
    const trusted = this.#trusted(source);
    if ((this.#open.get(source) ?? 0) >= (trusted ? this.#maxTrusted : this.#max)) return 'too-many-connections';
    if (trusted) return 'allow';
    const now = this.#now();
    let bucket = this.#buckets.get(source);
    if (bucket) this.#buckets.delete(source);
    else {
      bucket = { tokens: this.#rate.burst, last: now };
      if (this.#buckets.size >= this.#maxSources) {
        const lru = this.#buckets.keys().next();
        if (!lru.done) this.#buckets.delete(lru.value);
      }
    }
    this.#buckets.set(source, bucket);
    bucket.tokens = Math.min(this.#rate.burst, bucket.tokens + ((now - bucket.last) * this.#rate.perSecond) / 1000);
    bucket.last = now;
    if (bucket.tokens < 1) return 'handshake-rate';
    bucket.tokens -= 1;
    return 'allow';
  }
}
