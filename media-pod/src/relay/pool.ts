// Per-tenant UDP port pools. Each pool hands out even ports (RTP; RTP+1 is the RTCP port) from a FIFO, so a freed
// port goes to the back of the queue and is not reused at once (late packets of an old call do not reach a new one).

export interface PortPoolConfig {
  name: string;
  low: number;
  high: number;
  /** Tenants allowed to use this pool; omitted: the shared pool for tenants without a dedicated one. */
  tenants?: string[];
}

export class PortPool {
  readonly name: string;
  readonly low: number;
  readonly high: number;
  readonly tenants: ReadonlySet<string> | null;
  readonly #free: number[] = [];
  #head = 0;
  readonly #inUse = new Set<number>();

  constructor(c: PortPoolConfig) {
    if (!(c.low > 0 && c.high <= 65_535 && c.low < c.high)) throw new Error(`port pool ${c.name}: bad range`);
    this.name = c.name;
    this.low = c.low;
    this.high = c.high;
    this.tenants = c.tenants ? new Set(c.tenants) : null;
    for (let p = c.low + (c.low % 2); p + 1 <= c.high; p += 2) this.#free.push(p);
  }

  get available(): number {
    return this.#free.length - this.#head;
  }

  get used(): number {
    return this.#inUse.size;
  }

  /** The next free even port, or null when the pool is exhausted. */
  take(): number | null {
    if (this.#head >= this.#free.length) return null;
    const p = this.#free[this.#head++]!;
    if (this.#head > 1024 && this.#head * 2 > this.#free.length) {
      this.#free.splice(0, this.#head);
      this.#head = 0;
    }
    this.#inUse.add(p);
    return p;
  }

  release(port: number): void {
    if (this.#inUse.delete(port)) this.#free.push(port);
  }

  contains(port: number): boolean {
    return port >= this.low && port + 1 <= this.high;
  }
}

/** Parse `LOW-HIGH` (SWITCHBOARD_MEDIA_PORTS). */
export function parsePortRange(s: string): { low: number; high: number } {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(s);
  if (!m) throw new Error(`bad port range: ${s} (want LOW-HIGH)`);
  return { low: Number(m[1]), high: Number(m[2]) };
}

export class PoolSet {
  readonly pools: PortPool[];

  constructor(configs: PortPoolConfig[]) {
    this.pools = configs.map((c) => new PortPool(c));
    for (let i = 0; i < this.pools.length; i++) {
      for (let j = i + 1; j < this.pools.length; j++) {
        const a = this.pools[i]!;
        const b = this.pools[j]!;
        if (a.low <= b.high && b.low <= a.high) throw new Error(`port pools ${a.name} and ${b.name} overlap`);
      }
    }
  }

  /** The tenant's dedicated pool, else the shared pool (one without a tenant list), else null. */
  forTenant(tenant: string): PortPool | null {
    return this.pools.find((p) => p.tenants?.has(tenant)) ?? this.pools.find((p) => p.tenants === null) ?? null;
  }
}
