// Protection before parsing (DESIGN.md §6): what the transport asks about every inbound message before the SIP parser
// spends anything on it. Pure and synchronous, clock injected, memory bounded whatever the traffic.
//
//   check(source, { userAgent? }) →
//     'block'  the source is on the block list (or just got there: a scanner User-Agent). Drop silently.
//     'drop'   over its message rate (token bucket per source). Drop silently; every `floodDrops` drops in a row
//              count as one bad event, so a source that keeps flooding ends up blocked.
//     'allow'  parse and process.
//   recordBad(source, reason) — the stack/B2BUA reports malformed messages, requests from unknown sources, and every
//     401/403 it answered; `badThreshold` of them within `badWindowMs` put the source on the block list for `blockMs`.
//
// Memory: per-source state (bucket + recent bad events) lives in an LRU map of at most `maxSources` entries — a flood
// of distinct (spoofed) sources evicts the least recently seen, it never grows the heap; blocks are a second map
// capped at `maxBlocks` (oldest block evicted first). Blocks expire lazily (on check/list).
//
// Trusted sources (Teams ranges, configured trunk addresses: the `trusted` predicate) get their own, larger rate and
// are never blocked automatically (an operator can still block one by hand through the admin endpoint).
//
// `source` is the peer IP address as the transport reports it (no port: one attacker, many ports).

export type Verdict = 'allow' | 'drop' | 'block';

export type BadReason =
  | 'malformed'
  | 'unknown-source'
  | 'unauthorised'
  | 'auth-failed'
  | 'forbidden'
  | 'scanner'
  | 'flood'
  | 'manual';

export interface Rate {
  perSecond: number;
  burst: number;
}

export interface SourceGuardOptions {
  now?: () => number;
  /** Per untrusted source. Default 20 messages/s, burst 40. */
  rate?: Rate;
  /** Per trusted source. Default 2000/s, burst 4000. */
  trustedRate?: Rate;
  trusted?: (source: string) => boolean;
  /** Sources with rate/bad-event state kept (LRU). Default 20 000. */
  maxSources?: number;
  /** Default 10 bad events … */
  badThreshold?: number;
  /** … within 60 s … */
  badWindowMs?: number;
  /** … block for 15 min. */
  blockMs?: number;
  /** A scanner User-Agent blocks for 24 h. */
  scannerBlockMs?: number;
  /** Default 10 000. */
  maxBlocks?: number;
  /** Consecutive rate drops that count as one bad event ('flood'). Default 100. */
  floodDrops?: number;
  /** Case-insensitive substrings (or regular expressions) of scanner User-Agents. */
  scannerPatterns?: readonly (string | RegExp)[];
}

export const DEFAULT_SCANNER_PATTERNS: readonly string[] = [
  'friendly-scanner',
  'sipvicious',
  'sipcli',
  'vaxsipuseragent',
  'pplsip',
  'sundayddr',
  'sip-scan',
  'sipscan',
  'iwar',
  'sivus',
  'smap',
  'siparmyknife',
  'sipptk',
  'sip auditor',
];

export interface BlockEntry {
  source: string;
  reason: BadReason;
  /** Epoch ms. */
  since: number;
  until: number;
  /** Messages dropped because of this block. */
  hits: number;
}

export interface SourceGuardStats {
  allowed: number;
  dropped: number;
  blockedMessages: number;
  blocksAdded: Partial<Record<BadReason, number>>;
  badEvents: Partial<Record<BadReason, number>>;
  evictions: number;
  sources: number;
  blocks: number;
}

interface SourceState {
  tokens: number;
  last: number;
  /** Times of the most recent bad events, oldest first, at most badThreshold. */
  bad: number[];
  drops: number;
}

export class SourceGuard {
  readonly #now: () => number;
  readonly #rate: Rate;
  readonly #trustedRate: Rate;
  readonly #trusted: (source: string) => boolean;
  readonly #maxSources: number;
  readonly #badThreshold: number;
  readonly #badWindowMs: number;
  readonly #blockMs: number;
  readonly #scannerBlockMs: number;
  readonly #maxBlocks: number;
  readonly #floodDrops: number;
  readonly #scanners: readonly (string | RegExp)[];
  readonly #sources = new Map<string, SourceState>();
  readonly #blocks = new Map<string, BlockEntry>();
  readonly #stats = {
    allowed: 0,
    dropped: 0,
    blockedMessages: 0,
    evictions: 0,
    blocksAdded: {} as Partial<Record<BadReason, number>>,
    badEvents: {} as Partial<Record<BadReason, number>>,
  };

  constructor(options: SourceGuardOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#rate = options.rate ?? { perSecond: 20, burst: 40 };
    this.#trustedRate = options.trustedRate ?? { perSecond: 2000, burst: 4000 };
    this.#trusted = options.trusted ?? (() => false);
    this.#maxSources = options.maxSources ?? 20_000;
    this.#badThreshold = Math.max(1, options.badThreshold ?? 10);
    this.#badWindowMs = options.badWindowMs ?? 60_000;
    this.#blockMs = options.blockMs ?? 15 * 60_000;
    this.#scannerBlockMs = options.scannerBlockMs ?? 24 * 3_600_000;
    this.#maxBlocks = options.maxBlocks ?? 10_000;
    this.#floodDrops = options.floodDrops ?? 100;
    this.#scanners = (options.scannerPatterns ?? DEFAULT_SCANNER_PATTERNS).map((p) =>
      typeof p === 'string' ? p.toLowerCase() : p,
    );
  }

  /** The per-message decision. O(1) (plus the scanner patterns when a User-Agent is given). */
  check(source: string, info: { userAgent?: string } = {}): Verdict {
    const now = this.#now();
    if (this.#isBlocked(source, now)) return 'block';
    if (info.userAgent !== undefined && this.isScanner(info.userAgent) && !this.#trusted(source)) {
      this.#count('badEvents', 'scanner');
      this.block(source, 'scanner', this.#scannerBlockMs);
      this.#blocks.get(source)!.hits++;
      this.#stats.blockedMessages++;
      return 'block';
    }
    const state = this.#state(source, now);
    const rate = this.#trusted(source) ? this.#trustedRate : this.#rate;
    state.tokens = Math.min(rate.burst, state.tokens + ((now - state.last) * rate.perSecond) / 1000);
    state.last = now;
    if (state.tokens < 1) {
      this.#stats.dropped++;
      state.drops++;
      if (state.drops % this.#floodDrops === 0) {
        if (this.recordBad(source, 'flood')) return 'block';
      }
      return 'drop';
    }
    state.tokens -= 1;
    state.drops = 0;
    this.#stats.allowed++;
    return 'allow';
  }

  /** Report bad or unauthorised traffic from a source. True when this event put it on the block list. */
  recordBad(source: string, reason: BadReason): boolean {
    const now = this.#now();
    this.#count('badEvents', reason);
    if (this.#isBlocked(source, now)) return false;
    if (reason === 'scanner') {
      if (this.#trusted(source)) return false;
      this.block(source, reason, this.#scannerBlockMs);
      return true;
    }
    const state = this.#state(source, now);
    state.bad.push(now);
    if (state.bad.length > this.#badThreshold) state.bad.shift();
    if (this.#trusted(source)) return false;
    if (state.bad.length >= this.#badThreshold && now - state.bad[0]! <= this.#badWindowMs) {
      this.block(source, reason);
      return true;
    }
    return false;
  }

  /** Put a source on the block list (replacing an existing block). */
  block(source: string, reason: BadReason = 'manual', durationMs = this.#blockMs): void {
    const now = this.#now();
    this.#blocks.delete(source);
    while (this.#blocks.size >= this.#maxBlocks) {
      const oldest = this.#blocks.keys().next();
      if (oldest.done) break;
      this.#blocks.delete(oldest.value);
      this.#stats.evictions++;
    }
    this.#blocks.set(source, { source, reason, since: now, until: now + durationMs, hits: 0 });
    const state = this.#sources.get(source);
    if (state) state.bad = [];
    this.#count('blocksAdded', reason);
  }

  isScanner(userAgent: string): boolean {
    const ua = userAgent.toLowerCase();
    for (const p of this.#scanners) if (typeof p === 'string' ? ua.includes(p) : p.test(userAgent)) return true;
    return false;
  }

  isBlocked(source: string): boolean {
    return this.#isBlocked(source, this.#now());
  }

  /** Current (unexpired) blocks, oldest first. */
  list(): BlockEntry[] {
    const now = this.#now();
    const out: BlockEntry[] = [];
    for (const [source, entry] of this.#blocks) {
      if (entry.until <= now) this.#blocks.delete(source);
      else out.push({ ...entry });
    }
    return out;
  }

  /** Lift one block (and forget its bad history), or all blocks. Returns how many were lifted. */
  clear(source?: string): number {
    if (source === undefined) {
      const n = this.list().length;
      this.#blocks.clear();
      for (const state of this.#sources.values()) state.bad = [];
      return n;
    }
    const active = this.#isBlocked(source, this.#now());
    this.#blocks.delete(source);
    const state = this.#sources.get(source);
    if (state) state.bad = [];
    return active ? 1 : 0;
  }

  stats(): SourceGuardStats {
    return {
      allowed: this.#stats.allowed,
      dropped: this.#stats.dropped,
      blockedMessages: this.#stats.blockedMessages,
      blocksAdded: { ...this.#stats.blocksAdded },
      badEvents: { ...this.#stats.badEvents },
      evictions: this.#stats.evictions,
      sources: this.#sources.size,
      blocks: this.#blocks.size,
    };
  }

  #isBlocked(source: string, now: number): boolean {
    const entry = this.#blocks.get(source);
    if (!entry) return false;
    if (entry.until <= now) {
      this.#blocks.delete(source);
      return false;
    }
    entry.hits++;
    this.#stats.blockedMessages++;
    return true;
  }

  /** The source's state, moved to the most-recently-used end; the least recently used is evicted when full. */
  #state(source: string, now: number): SourceState {
    let state = this.#sources.get(source);
    if (state) {
      this.#sources.delete(source);
    } else {
      const rate = this.#trusted(source) ? this.#trustedRate : this.#rate;
      state = { tokens: rate.burst, last: now, bad: [], drops: 0 };
      if (this.#sources.size >= this.#maxSources) {
        const lru = this.#sources.keys().next();
        if (!lru.done) {
          this.#sources.delete(lru.value);
          this.#stats.evictions++;
        }
      }
    }
    this.#sources.set(source, state);
    return state;
  }

  #count(what: 'blocksAdded' | 'badEvents', reason: BadReason): void {
    const m = this.#stats[what];
    m[reason] = (m[reason] ?? 0) + 1;
  }
}

/**
 * The User-Agent of a raw SIP message without parsing it: a case-insensitive search of at most `maxScan` bytes of
 * the header section. Undefined when absent (or beyond the scanned part).
 */
export function extractUserAgent(data: Buffer | string, maxScan = 4096): string | undefined {
  const text =
    typeof data === 'string' ? data.slice(0, maxScan) : data.toString('latin1', 0, Math.min(maxScan, data.length));
  const end = text.indexOf('\r\n\r\n');
  const head = (end >= 0 ? text.slice(0, end) : text).toLowerCase();
  const at = head.search(/\nuser-agent[ \t]*:/);
  if (at < 0) return undefined;
  const colon = head.indexOf(':', at);
  let stop = head.indexOf('\n', colon);
  if (stop < 0) stop = head.length;
  return text.slice(colon + 1, stop).trim();
}
