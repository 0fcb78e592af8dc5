// Microsoft's tenant lookup for calls the SBC sends to Teams (reference §3 H3.5), over a configured directory.
//   1. the SBC certificate must cover the Contact FQDN (checked by the caller, which owns the TLS connection);
//   2. the tenant that registered the full Contact FQDN;
//   3. else the tenant of the parent domain (leftmost label stripped); else the call fails: 403 / 510532;
//   4. the Request-URI number (E.164 with +, M5.1) reverse-looked-up in that tenant; else 404 / 511404.

export interface TenantInit {
  name: string;
  numbers?: Iterable<string>;
}

export interface Tenant {
  name: string;
  /** The domain the tenant was found under (the Contact FQDN or its parent). */
  numbers: Set<string>;
}

/** `fqdn → tenant`. Several FQDNs may point at one tenant by using the same `name`. */
export type TenantDirectoryInit = Record<string, TenantInit>;

export class TenantDirectory {
  private readonly byDomain = new Map<string, Tenant>();

  constructor(init: TenantDirectoryInit = {}) {
    for (const [fqdn, t] of Object.entries(init)) this.add(fqdn, t);
  }

  /** Register (or replace) the tenant for `fqdn`. */
  add(fqdn: string, tenant: TenantInit): Tenant {
    const entry: Tenant = { name: tenant.name, numbers: new Set(tenant.numbers ?? []) };
    this.byDomain.set(fqdn.toLowerCase(), entry);
    return entry;
  }

  remove(fqdn: string): void {
    this.byDomain.delete(fqdn.toLowerCase());
  }

  get(fqdn: string): Tenant | undefined {
    return this.byDomain.get(fqdn.toLowerCase());
  }

  domains(): string[] {
    return [...this.byDomain.keys()];
  }

  /** Steps 2–3: full FQDN, else the parent domain. */
  findTenant(contactFqdn: string): { tenant: Tenant; domain: string; viaParent: boolean } | undefined {
    const fqdn = contactFqdn.toLowerCase().replace(/\.$/, '');
    const full = this.byDomain.get(fqdn);
    if (full !== undefined) return { tenant: full, domain: fqdn, viaParent: false };
    const dot = fqdn.indexOf('.');
    if (dot < 0) return undefined;
    const parent = fqdn.slice(dot + 1);
    const viaParent = this.byDomain.get(parent);
    return viaParent !== undefined ? { tenant: viaParent, domain: parent, viaParent: true } : undefined;
  }
}

export type TenantLookupResult =
  | { ok: true; tenant: Tenant; domain: string; number: string }
  | { ok: false; status: 403 | 404; msCode: string; text: string };

export const NO_TRUNK = { status: 403, msCode: '510532', text: 'No trunk config was found' } as const;
export const NO_USER = {
  status: 404,
  msCode: '511404',
  text: 'Getting user info by number from RuntimeAPI failed',
} as const;

/** The Request-URI user part without user parameters (`+1555;ext=1` → `+1555`). */
export function numberOf(user: string | undefined): string {
  const u = user ?? '';
  const semi = u.indexOf(';');
  return semi < 0 ? u : u.slice(0, semi);
}

/** Steps 2–4 of H3.5 for a Contact FQDN and a Request-URI user part. */
export function lookupTenant(
  dir: TenantDirectory,
  contactFqdn: string,
  requestUriUser: string | undefined,
): TenantLookupResult {
  const found = dir.findTenant(contactFqdn);
  if (found === undefined) return { ok: false, ...NO_TRUNK };
  const number = numberOf(requestUriUser);
  if (!/^\+[0-9]+$/.test(number) || !found.tenant.numbers.has(number)) return { ok: false, ...NO_USER };
  return { ok: true, tenant: found.tenant, domain: found.domain, number };
}
