// Cross-object checks over a whole world of (individually valid) objects: references resolve, tenants only use
// trunks dedicated to them or shared with them, FQDNs are unique, number blocks do not overlap between tenants.
// Shared by offline validation (`switchboard validate`, local mode) and the renderer (the operator).
import type { LabelSelector } from '../api/common.ts';
import { blocksOverlap, type NumberBlock, parseNumberBlock } from '../api/numbers.ts';
import type { RouteAction, RoutePolicy } from '../api/route-policy.ts';
import type { Tenant } from '../api/tenant.ts';
import type { Trunk } from '../api/trunk.ts';
import { joinPath } from './problems.ts';
import type { ObjectProblem } from './validate-object.ts';

export interface NamespaceInfo {
  name: string;
  labels?: Record<string, string>;
}

/** Everything the renderer and the reference checks look at. Objects are assumed schema-valid. */
export interface World {
  tenants: readonly Tenant[];
  trunks: readonly Trunk[];
  routePolicies: readonly RoutePolicy[];
  /** Namespace labels for allowedTenants selectors. Unknown namespaces only carry kubernetes.io/metadata.name. */
  namespaces?: readonly NamespaceInfo[];
}

export interface ReferenceOptions {
  /** When set, every tenant FQDN must be exactly one label under it (the Teams hosting model, wildcard SAN). */
  baseDomain?: string;
  /** Ids (`Kind/namespace/name`) of objects that exist but failed validation, for better "not found" messages. */
  invalid?: ReadonlySet<string>;
}

/** A problem on an object; `tenant` narrows a RoutePolicy problem to the one tenant it concerns. */
export type ReferenceProblem = ObjectProblem & { tenant?: string };

export function namespaceOf(obj: { metadata: { namespace?: string } }): string {
  return obj.metadata.namespace ?? 'default';
}

export function idOf(obj: { metadata: { namespace?: string; name: string } }): string {
  return `${namespaceOf(obj)}/${obj.metadata.name}`;
}

export function namespaceLabels(world: World, namespace: string): Record<string, string> {
  const info = world.namespaces?.find((n) => n.name === namespace);
  return { ...(info?.labels ?? {}), 'kubernetes.io/metadata.name': namespace };
}

export function matchesLabelSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, expr.key);
    const value = labels[expr.key];
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!has || !values.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** May `tenant` route calls to `trunk`? With the reason when not. */
export function trunkAllowsTenant(world: World, trunk: Trunk, tenant: Tenant): { allowed: boolean; reason: string } {
  const sharing = trunk.spec.sharing;
  const tenantId = idOf(tenant);
  const trunkId = idOf(trunk);
  if (sharing.mode === 'Dedicated') {
    const owner = sharing.tenantRef ? `${sharing.tenantRef.namespace}/${sharing.tenantRef.name}` : '(none)';
    return owner === tenantId
      ? { allowed: true, reason: '' }
      : {
          allowed: false,
          reason: `Trunk ${trunkId} is Dedicated to Tenant ${owner}; Tenant ${tenantId} may not use it`,
        };
  }
  const from = sharing.allowedTenants?.namespaces?.from ?? 'Same';
  const ns = namespaceOf(tenant);
  if (from === 'All') return { allowed: true, reason: '' };
  if (from === 'Same') {
    return ns === namespaceOf(trunk)
      ? { allowed: true, reason: '' }
      : {
          allowed: false,
          reason: `Trunk ${trunkId} is Shared only with tenants in namespace ${namespaceOf(trunk)}; Tenant ${tenantId} may not use it`,
        };
  }
  const selector = sharing.allowedTenants?.namespaces?.selector ?? {};
  return matchesLabelSelector(selector, namespaceLabels(world, ns))
    ? { allowed: true, reason: '' }
    : {
        allowed: false,
        reason: `Trunk ${trunkId} is Shared with namespaces selected by ${JSON.stringify(selector)}; namespace ${ns} of Tenant ${tenantId} does not match`,
      };
}

/** Every trunk reference of a policy, with its field path and resolved namespace/name. */
export function policyTrunkRefs(policy: RoutePolicy): { path: string; id: string }[] {
  const out: { path: string; id: string }[] = [];
  const add = (action: RouteAction | undefined, base: string) => {
    action?.trunks?.forEach((ref, i) => {
      out.push({
        path: joinPath(joinPath(base, 'trunks'), i),
        id: `${ref.namespace ?? namespaceOf(policy)}/${ref.name}`,
      });
    });
  };
  policy.spec.routes?.forEach((route, i) => {
    add(route.action, `spec.routes[${i}].action`);
  });
  add(policy.spec.defaultAction, 'spec.defaultAction');
  return out;
}

export function checkReferences(world: World, opts: ReferenceOptions = {}): ReferenceProblem[] {
  const problems: ReferenceProblem[] = [];
  const on = (kind: string, obj: Tenant | Trunk | RoutePolicy) => ({
    kind,
    namespace: namespaceOf(obj),
    name: obj.metadata.name,
  });
  const missing = (kind: string, id: string) =>
    opts.invalid?.has(`${kind}/${id}`) ? `${kind} ${id} is invalid` : `${kind} ${id} not found`;

  const tenants = new Map(world.tenants.map((t) => [idOf(t), t]));
  const trunks = new Map(world.trunks.map((t) => [idOf(t), t]));
  const policies = new Map(world.routePolicies.map((p) => [idOf(p), p]));

  // Tenants: policy exists, FQDN unique and under the base domain.
  const fqdns = new Map<string, string>();
  const base = opts.baseDomain?.toLowerCase().replace(/\.$/, '');
  for (const tenant of [...world.tenants].sort(byId)) {
    const id = idOf(tenant);
    const policyId = `${namespaceOf(tenant)}/${tenant.spec.routePolicyRef.name}`;
    if (!policies.has(policyId)) {
      problems.push({
        severity: 'error',
        ...on('Tenant', tenant),
        path: 'spec.routePolicyRef.name',
        message: missing('RoutePolicy', policyId),
      });
    }
    const fqdn = tenant.spec.fqdn.toLowerCase();
    const owner = fqdns.get(fqdn);
    if (owner) {
      problems.push({
        severity: 'error',
        ...on('Tenant', tenant),
        path: 'spec.fqdn',
        message: `${fqdn} is already used by Tenant ${owner}`,
      });
    } else fqdns.set(fqdn, id);
    if (base && !(fqdn.endsWith(`.${base}`) && !fqdn.slice(0, -base.length - 1).includes('.'))) {
      problems.push({
        severity: 'error',
        ...on('Tenant', tenant),
        path: 'spec.fqdn',
        message: `${fqdn} must be exactly one label under the base domain ${base}`,
      });
    }
  }

  problems.push(...checkNumberOverlaps(world));

  // Trunks: the dedicated owner and reserved tenants exist and are allowed.
  for (const trunk of world.trunks) {
    const sharing = trunk.spec.sharing;
    if (sharing.mode === 'Dedicated' && sharing.tenantRef) {
      const ownerId = `${sharing.tenantRef.namespace}/${sharing.tenantRef.name}`;
      if (!tenants.has(ownerId)) {
        problems.push({
          severity: 'error',
          ...on('Trunk', trunk),
          path: 'spec.sharing.tenantRef',
          message: missing('Tenant', ownerId),
        });
      }
    }
    sharing.reservations?.forEach((r, i) => {
      const rid = `${r.tenantRef.namespace}/${r.tenantRef.name}`;
      const path = `spec.sharing.reservations[${i}].tenantRef`;
      const tenant = tenants.get(rid);
      if (!tenant) problems.push({ severity: 'error', ...on('Trunk', trunk), path, message: missing('Tenant', rid) });
      else {
        const access = trunkAllowsTenant(world, trunk, tenant);
        if (!access.allowed)
          problems.push({
            severity: 'error',
            ...on('Trunk', trunk),
            path,
            message: `reservation for a tenant that may not use this trunk: ${access.reason}`,
          });
      }
    });
  }

  // Route policies: trunks exist and every tenant using the policy may use them.
  const users = new Map<string, Tenant[]>();
  for (const tenant of world.tenants) {
    const key = `${namespaceOf(tenant)}/${tenant.spec.routePolicyRef.name}`;
    users.set(key, [...(users.get(key) ?? []), tenant]);
  }
  for (const policy of world.routePolicies) {
    const pid = idOf(policy);
    const using = (users.get(pid) ?? []).sort(byId);
    if (using.length === 0) {
      problems.push({ severity: 'warning', ...on('RoutePolicy', policy), path: '', message: 'not used by any Tenant' });
    }
    for (const ref of policyTrunkRefs(policy)) {
      const trunk = trunks.get(ref.id);
      if (!trunk) {
        problems.push({
          severity: 'error',
          ...on('RoutePolicy', policy),
          path: ref.path,
          message: missing('Trunk', ref.id),
        });
        continue;
      }
      for (const tenant of using) {
        const access = trunkAllowsTenant(world, trunk, tenant);
        if (!access.allowed) {
          problems.push({
            severity: 'error',
            ...on('RoutePolicy', policy),
            path: ref.path,
            message: access.reason,
            tenant: idOf(tenant),
          });
        }
      }
    }
  }
  return problems;
}

interface IndexedBlock {
  tenant: Tenant;
  entry: number;
  block: NumberBlock;
}

/**
 * Number blocks of different tenants must not overlap (an inbound carrier call must have one owner); overlaps within
 * one tenant are redundant (warning). A sweep per number length (a prefix stands for every length it can reach), so
 * 10,000 tenants with a handful of blocks each stay fast.
 */
export function checkNumberOverlaps(world: World): ReferenceProblem[] {
  const byLength = new Map<number, { lo: string; hi: string; b: IndexedBlock }[]>();
  const add = (len: number, lo: string, hi: string, b: IndexedBlock) => {
    const list = byLength.get(len) ?? [];
    list.push({ lo, hi, b });
    byLength.set(len, list);
  };
  for (const tenant of [...world.tenants].sort(byId)) {
    tenant.spec.numbers?.forEach((text, entry) => {
      const block = parseNumberBlock(text);
      if (!block) return;
      const b = { tenant, entry, block };
      if (block.type === 'range') add(block.first.length, block.first, block.last, b);
      else
        for (let len = Math.max(block.prefix.length, 3); len <= 16; len++)
          add(len, block.prefix.padEnd(len, '0'), block.prefix.padEnd(len, '9'), b);
    });
  }
  const problems: ReferenceProblem[] = [];
  const reported = new Set<IndexedBlock>();
  for (const len of [...byLength.keys()].sort((a, b) => a - b)) {
    const items = byLength.get(len)!;
    items.sort((x, y) => (x.lo < y.lo ? -1 : x.lo > y.lo ? 1 : x.hi < y.hi ? -1 : x.hi > y.hi ? 1 : 0));
    let active: typeof items = [];
    for (const item of items) {
      active = active.filter((a) => a.hi >= item.lo);
      for (const a of active) {
        if (a.b === item.b || !blocksOverlap(a.b.block, item.b.block)) continue;
        // Report once per later block (by tenant id, then entry).
        const [first, later] = order(a.b, item.b);
        if (reported.has(later)) continue;
        reported.add(later);
        const same = first.tenant === later.tenant;
        problems.push({
          severity: same ? 'warning' : 'error',
          kind: 'Tenant',
          namespace: namespaceOf(later.tenant),
          name: later.tenant.metadata.name,
          path: `spec.numbers[${later.entry}]`,
          message: same
            ? `${later.tenant.spec.numbers![later.entry]} overlaps spec.numbers[${first.entry}] ${first.tenant.spec.numbers![first.entry]}`
            : `${later.tenant.spec.numbers![later.entry]} overlaps ${first.tenant.spec.numbers![first.entry]} of Tenant ${idOf(first.tenant)}`,
        });
      }
      active.push(item);
    }
  }
  return problems;
}

function order(a: IndexedBlock, b: IndexedBlock): [IndexedBlock, IndexedBlock] {
  const c = byId(a.tenant, b.tenant);
  if (c < 0 || (c === 0 && a.entry < b.entry)) return [a, b];
  return [b, a];
}

function byId(
  a: { metadata: { namespace?: string; name: string } },
  b: { metadata: { namespace?: string; name: string } },
): number {
  const x = idOf(a);
  const y = idOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
