// The compiled view of a RenderedConfig: the lookups the B2BUA makes on every call, built once per snapshot so their
// cost depends on the length of a number or address, not on how many tenants, routes or trunks exist. Pure: no I/O.
//
// - tenantByFqdn: calls from Teams name the tenant in the Request-URI host (reference H3.7).
// - tenantForNumber: calls from carriers are mapped to a tenant by the called number (Tenant.spec.numbers). Ranges
//   are decomposed into decimal prefixes (like CIDR aggregation in base 10), so every block is a trie key and the
//   longest key wins; a range piece only matches numbers of the range's length.
// - trunksForSource: a binary trie over inbound.sourceCidrs.
// - route: RoutePolicy routes are ORDERED (first match wins). Routes that only match a destination prefix go into a
//   trie that stores their index; a lookup takes the lowest index among matching prefixes, then checks the routes with
//   other conditions (pattern, source, time of day) that come before it, in order.
import type {
  ActionConfig,
  RenderedConfig,
  RouteConfig,
  TenantConfig,
  TimeOfDayConfig,
  TrunkConfig,
  Weekday,
} from '../../../crds/src/render/config-types.ts';
import { CidrTrie } from '../routing/cidr.ts';
import { PrefixTrie } from '../routing/prefix-trie.ts';

/** A route action with its trunks resolved to their documents (failover order kept). */
export type ResolvedAction =
  | {
      type: 'Route';
      trunks: TrunkConfig[];
      translate: { stripPrefix: string; addPrefix: string } | null;
    }
  | { type: 'Block'; sipCode: number; reason: string };

export interface RouteDecision {
  /** The matching route's name; null when the policy's defaultAction applied. */
  routeName: string | null;
  /** Position of the route in the policy; -1 for the default action. */
  routeIndex: number;
  action: ResolvedAction;
}

export interface RouteOptions {
  /** Calling number (E.164), for routes with match.sourcePrefix. Routes with a sourcePrefix never match without it. */
  source?: string;
  /** The time for timeOfDay routes (default: now). */
  now?: Date | number;
}

interface NumberEntry {
  tenant: TenantConfig;
  /** Range pieces only match numbers of exactly this length; prefix blocks match any length (0). */
  length: number;
  /** Length of the trie key. */
  keyLength: number;
}

interface ConditionalRoute {
  index: number;
  route: RouteConfig;
  prefix: string | null;
  pattern: RegExp | null;
  sourcePrefix: string | null;
  timeOfDay: CompiledTimeOfDay | null;
}

interface CompiledTenantRouting {
  /** Prefix-only routes: value = route index. */
  prefixes: PrefixTrie<number>;
  /** Routes with other conditions, in policy order. */
  conditional: ConditionalRoute[];
  routes: RouteConfig[];
  resolved: ResolvedAction[];
  defaultAction: ResolvedAction;
}

export class CompiledConfig {
  readonly version: string;
  readonly generatedAt: string;
  readonly baseDomain: string | null;
  readonly config: RenderedConfig;
  #tenantsById = new Map<string, TenantConfig>();
  #tenantsByFqdn = new Map<string, TenantConfig>();
  #trunksById = new Map<string, TrunkConfig>();
  #numbers = new PrefixTrie<NumberEntry>();
  #sources = new CidrTrie<TrunkConfig>();
  /** trunk id → the tenant ids allowed to use it ('All' for any). */
  #trunkAllowed = new Map<string, 'All' | Set<string>>();
  #routing = new Map<string, CompiledTenantRouting>();

  constructor(config: RenderedConfig) {
    this.config = config;
    this.version = config.version;
    this.generatedAt = config.generatedAt;
    this.baseDomain = config.baseDomain;
    for (const trunk of config.trunks) {
      this.#trunksById.set(trunk.id, trunk);
      const allowed = trunk.sharing.allowedTenants;
      this.#trunkAllowed.set(trunk.id, allowed === 'All' ? 'All' : new Set(allowed));
      const seen = new Set<string>();
      for (const cidr of trunk.inbound?.sourceCidrs ?? []) {
        if (seen.has(cidr)) continue;
        seen.add(cidr);
        this.#sources.insert(cidr, trunk);
      }
    }
    for (const tenant of config.tenants) {
      this.#tenantsById.set(tenant.id, tenant);
      this.#tenantsByFqdn.set(normaliseHost(tenant.fqdn), tenant);
      for (const block of tenant.numbers) {
        if (block.type === 'prefix')
          this.#numbers.insert(block.prefix, { tenant, length: 0, keyLength: block.prefix.length });
        else {
          for (const prefix of decomposeRange(block.first, block.last)) {
            this.#numbers.insert(prefix, { tenant, length: block.first.length, keyLength: prefix.length });
          }
        }
      }
      this.#routing.set(tenant.id, this.#compileRouting(tenant));
    }
  }

  get tenants(): readonly TenantConfig[] {
    return this.config.tenants;
  }

  get trunks(): readonly TrunkConfig[] {
    return this.config.trunks;
  }

  /** The tenant whose derived-trunk FQDN is `host` (case-insensitive, trailing dot ignored). */
  tenantByFqdn(host: string): TenantConfig | undefined {
    return this.#tenantsByFqdn.get(normaliseHost(host));
  }

  tenantById(id: string): TenantConfig | undefined {
    return this.#tenantsById.get(id);
  }

  /** The tenant owning a called number (E.164 with "+"): the most specific block that contains it. */
  tenantForNumber(e164: string): TenantConfig | undefined {
    // matches() yields the longest keys first; among entries of the longest acceptable key, a length-pinned range
    // piece beats an open prefix block. (Overlapping blocks across tenants are refused by the validator anyway.)
    let best: NumberEntry | undefined;
    for (const entry of this.#numbers.matches(e164)) {
      if (entry.length !== 0 && entry.length !== e164.length) continue;
      if (!best) best = entry;
      else if (entry.keyLength < best.keyLength) break;
      else if (best.length === 0 && entry.length !== 0) best = entry;
    }
    return best?.tenant;
  }

  trunkById(id: string): TrunkConfig | undefined {
    return this.#trunksById.get(id);
  }

  /** Trunks whose inbound.sourceCidrs contain `ip` (IPv4, IPv6, IPv4-mapped IPv6), most specific block first. */
  trunksForSource(ip: string): TrunkConfig[] {
    const out: TrunkConfig[] = [];
    for (const trunk of this.#sources.matches(ip)) if (!out.includes(trunk)) out.push(trunk);
    return out;
  }

  /** Is the trunk Dedicated to this tenant, or Shared with it? */
  tenantMayUseTrunk(tenantId: string, trunkId: string): boolean {
    const allowed = this.#trunkAllowed.get(trunkId);
    if (!allowed || !this.#tenantsById.has(tenantId)) return false;
    return allowed === 'All' || allowed.has(tenantId);
  }

  /**
   * Route a call of `tenantId` to `destination` (E.164): the first matching route in policy order, else the default
   * action. undefined when the tenant is unknown.
   */
  route(tenantId: string, destination: string, opts: RouteOptions = {}): RouteDecision | undefined {
    const r = this.#routing.get(tenantId);
    if (!r) return undefined;
    let best = Number.POSITIVE_INFINITY;
    for (const index of r.prefixes.matches(destination)) if (index < best) best = index;
    let localTime: LocalTime | undefined;
    for (const c of r.conditional) {
      if (c.index > best) break;
      if (c.prefix !== null && !destination.startsWith(c.prefix)) continue;
      if (c.pattern && !c.pattern.test(destination)) continue;
      if (c.sourcePrefix !== null && (opts.source === undefined || !opts.source.startsWith(c.sourcePrefix))) continue;
      if (c.timeOfDay) {
        localTime = c.timeOfDay.zone === localTime?.zone ? localTime : localTimeIn(c.timeOfDay.zone, opts.now);
        if (!timeOfDayMatches(c.timeOfDay, localTime)) continue;
      }
      return { routeName: c.route.name, routeIndex: c.index, action: r.resolved[c.index]! };
    }
    if (best !== Number.POSITIVE_INFINITY) {
      return { routeName: r.routes[best]!.name, routeIndex: best, action: r.resolved[best]! };
    }
    return { routeName: null, routeIndex: -1, action: r.defaultAction };
  }

  #compileRouting(tenant: TenantConfig): CompiledTenantRouting {
    const prefixes = new PrefixTrie<number>();
    const conditional: ConditionalRoute[] = [];
    const routes = tenant.routing.routes;
    routes.forEach((route, index) => {
      const m = route.match;
      if (m.destinationPattern === null && m.sourcePrefix === null && m.timeOfDay === null) {
        prefixes.insert(m.destinationPrefix ?? '', index);
        return;
      }
      conditional.push({
        index,
        route,
        prefix: m.destinationPrefix,
        pattern: m.destinationPattern === null ? null : compilePattern(m.destinationPattern),
        sourcePrefix: m.sourcePrefix,
        timeOfDay: m.timeOfDay ? compileTimeOfDay(m.timeOfDay) : null,
      });
    });
    return {
      prefixes,
      conditional,
      routes,
      resolved: routes.map((r) => this.#resolve(r.action)),
      defaultAction: this.#resolve(tenant.routing.defaultAction),
    };
  }

  #resolve(action: ActionConfig): ResolvedAction {
    if (action.type === 'Block') return { type: 'Block', sipCode: action.sipCode, reason: action.reason };
    const trunks: TrunkConfig[] = [];
    for (const id of action.trunks) {
      const trunk = this.#trunksById.get(id);
      // validateRenderedConfig guarantees presence; a missing trunk is skipped rather than crashing a call.
      if (trunk) trunks.push(trunk);
    }
    return { type: 'Route', trunks, translate: action.translate };
  }
}

/** Build the lookup view of a rendered config. */
export function compileConfig(config: RenderedConfig): CompiledConfig {
  return new CompiledConfig(config);
}

function normaliseHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * The decimal prefixes that together cover exactly [first, last] among numbers of that length (both the same length,
 * first <= last, digits after an optional "+"). At most ~18 per digit position.
 */
export function decomposeRange(first: string, last: string): string[] {
  const out: string[] = [];
  const cover = (prefix: string, lo: string, hi: string): void => {
    if (lo.length === 0 || (/^0*$/.test(lo) && /^9*$/.test(hi))) {
      out.push(prefix);
      return;
    }
    const a = lo.charCodeAt(0) - 48;
    const b = hi.charCodeAt(0) - 48;
    const rest = lo.length - 1;
    if (a === b) {
      cover(prefix + lo[0], lo.slice(1), hi.slice(1));
      return;
    }
    cover(prefix + lo[0], lo.slice(1), '9'.repeat(rest));
    for (let d = a + 1; d < b; d++) out.push(prefix + String(d));
    cover(prefix + hi[0], '0'.repeat(rest), hi.slice(1));
  };
  let i = 0;
  while (i < first.length && first[i] === last[i]) i++;
  cover(first.slice(0, i), first.slice(i), last.slice(i));
  return out;
}

function compilePattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`, 'u');
}

const WEEKDAYS: Weekday[] = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

interface CompiledTimeOfDay {
  zone: string;
  /** Bit d set when WEEKDAYS[d] is in the window's days. */
  days: number;
  start: number;
  end: number;
}

interface LocalTime {
  zone: string;
  /** 0 = Sunday. */
  day: number;
  minute: number;
}

function compileTimeOfDay(t: TimeOfDayConfig): CompiledTimeOfDay {
  let days = 0;
  for (const d of t.days) days |= 1 << WEEKDAYS.indexOf(d);
  return { zone: t.timeZone, days, start: minutes(t.start), end: minutes(t.end) };
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/**
 * The window [start, end) on each listed day; when end < start it wraps past midnight, and the part after midnight
 * belongs to the day the window started on (Fri 22:00–06:00 covers Saturday 03:00).
 */
export function timeOfDayMatches(t: CompiledTimeOfDay, local: LocalTime): boolean {
  const on = (day: number) => (t.days & (1 << day)) !== 0;
  if (t.start < t.end) return on(local.day) && local.minute >= t.start && local.minute < t.end;
  if (local.minute >= t.start) return on(local.day);
  if (local.minute < t.end) return on((local.day + 6) % 7);
  return false;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localTimeIn(zone: string, now: Date | number | undefined): LocalTime {
  let fmt = formatters.get(zone);
  if (!fmt) {
    try {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        weekday: 'short',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      });
    } catch {
      // An unknown zone (validated upstream, but tzdata differs between hosts): fall back to UTC, never throw.
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: 'UTC',
        weekday: 'short',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      });
    }
    formatters.set(zone, fmt);
  }
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const part of fmt.formatToParts(now ?? Date.now())) {
    if (part.type === 'weekday') day = WEEKDAYS.indexOf(part.value as Weekday);
    else if (part.type === 'hour') hour = Number(part.value) % 24;
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return { zone, day, minute: hour * 60 + minute };
}
