// validateRenderedConfig: what a pod runs on a snapshot before swapping it in (and keeps the last good one when
// this fails). Checks the shape of every field, internal consistency (unique ids and FQDNs, every route's trunks
// present, allowed tenants present) and integrity (every document hash and the version recomputed), so a truncated,
// hand-edited or mixed-up ConfigMap is refused with a precise reason.
import { type NumberBlock, parseNumberBlock } from '../api/numbers.ts';
import {
  type ActionConfig,
  CONFIG_API_VERSION,
  CONFIG_KIND,
  type RenderedConfig,
  type TenantConfig,
  type TrunkConfig,
} from './config-types.ts';
import { contentHash } from './hash.ts';
import { snapshotVersion } from './render.ts';

export type ConfigValidation = { ok: true; config: RenderedConfig } | { ok: false; errors: string[] };

type Obj = Record<string, unknown>;

class Checker {
  errors: string[] = [];
  fail(path: string, message: string): void {
    if (this.errors.length < 100) this.errors.push(`${path}: ${message}`);
  }
  obj(v: unknown, path: string): v is Obj {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return true;
    this.fail(path, 'must be an object');
    return false;
  }
  arr(v: unknown, path: string): v is unknown[] {
    if (Array.isArray(v)) return true;
    this.fail(path, 'must be an array');
    return false;
  }
  str(v: unknown, path: string, opts: { nullable?: boolean; nonEmpty?: boolean; re?: RegExp } = {}): void {
    if (v === null && opts.nullable) return;
    if (typeof v !== 'string') {
      this.fail(path, `must be a string${opts.nullable ? ' or null' : ''}`);
      return;
    }
    if (opts.nonEmpty && v.length === 0) this.fail(path, 'must not be empty');
    if (opts.re && !opts.re.test(v)) this.fail(path, `${JSON.stringify(v)} does not match ${opts.re}`);
  }
  int(v: unknown, path: string, opts: { nullable?: boolean; min?: number; max?: number } = {}): void {
    if (v === null && opts.nullable) return;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.fail(path, 'must be an integer');
      return;
    }
    if (opts.min !== undefined && v < opts.min) this.fail(path, `must be >= ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(path, `must be <= ${opts.max}`);
  }
  bool(v: unknown, path: string): void {
    if (typeof v !== 'boolean') this.fail(path, 'must be a boolean');
  }
  oneOf(v: unknown, path: string, values: readonly unknown[]): void {
    if (!values.includes(v)) this.fail(path, `must be one of ${values.join(', ')} (got ${JSON.stringify(v)})`);
  }
  secret(v: unknown, path: string): void {
    if (!this.obj(v, path)) return;
    this.str(v.namespace, `${path}.namespace`, { nonEmpty: true });
    this.str(v.name, `${path}.name`, { nonEmpty: true });
  }
}

const ID = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const HASH = /^[0-9a-f]{16}$/;
const DIGITS = /^\+?[0-9]*$/;

export function validateRenderedConfig(doc: unknown): ConfigValidation {
  const c = new Checker();
  if (!c.obj(doc, '$')) return { ok: false, errors: c.errors };
  c.oneOf(doc.apiVersion, 'apiVersion', [CONFIG_API_VERSION]);
  c.oneOf(doc.kind, 'kind', [CONFIG_KIND]);
  if (c.errors.length) return { ok: false, errors: c.errors };
  c.str(doc.version, 'version', { re: HASH });
  c.str(doc.generatedAt, 'generatedAt', { nonEmpty: true });
  if (typeof doc.generatedAt === 'string' && Number.isNaN(Date.parse(doc.generatedAt))) {
    c.fail('generatedAt', 'must be an ISO 8601 time');
  }
  c.str(doc.baseDomain, 'baseDomain', { nullable: true, nonEmpty: true });
  c.secret(doc.wildcardCertificate, 'wildcardCertificate');

  const trunkIds = new Set<string>();
  if (c.arr(doc.trunks, 'trunks')) {
    doc.trunks.forEach((t, i) => {
      const id = checkTrunk(c, t, `trunks[${i}]`);
      if (id && trunkIds.has(id)) c.fail(`trunks[${i}].id`, `duplicate id ${id}`);
      if (id) trunkIds.add(id);
    });
  }
  const tenantIds = new Set<string>();
  const fqdns = new Set<string>();
  if (c.arr(doc.tenants, 'tenants')) {
    doc.tenants.forEach((t, i) => {
      const got = checkTenant(c, t, `tenants[${i}]`, trunkIds);
      if (!got) return;
      if (tenantIds.has(got.id)) c.fail(`tenants[${i}].id`, `duplicate id ${got.id}`);
      if (fqdns.has(got.fqdn)) c.fail(`tenants[${i}].fqdn`, `duplicate fqdn ${got.fqdn}`);
      tenantIds.add(got.id);
      fqdns.add(got.fqdn);
    });
  }
  if (Array.isArray(doc.trunks)) {
    doc.trunks.forEach((t, i) => {
      const sharing = (t as Obj | null)?.sharing as Obj | undefined;
      if (Array.isArray(sharing?.allowedTenants)) {
        sharing.allowedTenants.forEach((id, j) => {
          if (typeof id === 'string' && !tenantIds.has(id))
            c.fail(`trunks[${i}].sharing.allowedTenants[${j}]`, `unknown tenant ${id}`);
        });
      }
      if (Array.isArray(sharing?.reservations)) {
        sharing.reservations.forEach((r, j) => {
          const id = (r as Obj | null)?.tenant;
          if (typeof id === 'string' && !tenantIds.has(id))
            c.fail(`trunks[${i}].sharing.reservations[${j}].tenant`, `unknown tenant ${id}`);
        });
      }
    });
  }
  if (c.errors.length === 0 && doc.version !== snapshotVersion(doc as unknown as RenderedConfig)) {
    c.fail('version', 'does not match the content (corrupted or edited snapshot)');
  }
  return c.errors.length ? { ok: false, errors: c.errors } : { ok: true, config: doc as unknown as RenderedConfig };
}

function checkHash(c: Checker, doc: Obj, path: string): void {
  c.str(doc.hash, `${path}.hash`, { re: HASH });
  const { hash, ...rest } = doc;
  if (typeof hash === 'string' && HASH.test(hash) && contentHash(rest) !== hash) {
    c.fail(`${path}.hash`, 'does not match the document');
  }
}

function checkTenant(c: Checker, t: unknown, p: string, trunkIds: Set<string>): { id: string; fqdn: string } | null {
  if (!c.obj(t, p)) return null;
  const before = c.errors.length;
  c.str(t.id, `${p}.id`, { re: ID });
  c.str(t.namespace, `${p}.namespace`, { nonEmpty: true });
  c.str(t.name, `${p}.name`, { nonEmpty: true });
  if (t.id !== `${String(t.namespace)}/${String(t.name)}`) c.fail(`${p}.id`, 'must be namespace/name');
  c.str(t.displayName, `${p}.displayName`);
  c.str(t.fqdn, `${p}.fqdn`, { re: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/ });
  if (c.obj(t.certificate, `${p}.certificate`)) {
    c.oneOf(t.certificate.mode, `${p}.certificate.mode`, ['Wildcard', 'Dedicated', 'Provided']);
    c.secret(t.certificate.secret, `${p}.certificate.secret`);
    if (t.certificate.issuer !== null && c.obj(t.certificate.issuer, `${p}.certificate.issuer`)) {
      c.str(t.certificate.issuer.name, `${p}.certificate.issuer.name`, { nonEmpty: true });
      c.oneOf(t.certificate.issuer.kind, `${p}.certificate.issuer.kind`, ['Issuer', 'ClusterIssuer']);
      c.str(t.certificate.issuer.group, `${p}.certificate.issuer.group`);
    }
  }
  if (c.arr(t.numbers, `${p}.numbers`))
    t.numbers.forEach((n, i) => {
      checkNumberBlock(c, n, `${p}.numbers[${i}]`);
    });
  if (c.obj(t.limits, `${p}.limits`)) {
    c.int(t.limits.callsPerSecond, `${p}.limits.callsPerSecond`, { min: 1 });
    c.int(t.limits.maxConcurrentCalls, `${p}.limits.maxConcurrentCalls`, { min: 1 });
  }
  c.oneOf(t.callerIdScreening, `${p}.callerIdScreening`, ['Pass', 'Replace', 'Reject']);
  c.str(t.defaultCallerId, `${p}.defaultCallerId`, { nullable: true, re: /^\+[1-9][0-9]{1,14}$/ });
  if (t.callerIdScreening === 'Replace' && t.defaultCallerId === null)
    c.fail(`${p}.defaultCallerId`, 'required for Replace');
  c.str(t.signallingPool, `${p}.signallingPool`, { nonEmpty: true });
  c.str(t.mediaPool, `${p}.mediaPool`, { nonEmpty: true });
  if (c.obj(t.routing, `${p}.routing`)) {
    c.str(t.routing.policy, `${p}.routing.policy`, { re: ID });
    if (c.arr(t.routing.routes, `${p}.routing.routes`)) {
      t.routing.routes.forEach((r, i) => {
        const rp = `${p}.routing.routes[${i}]`;
        if (!c.obj(r, rp)) return;
        c.str(r.name, `${rp}.name`, { nonEmpty: true });
        if (c.obj(r.match, `${rp}.match`)) {
          const m = r.match;
          c.str(m.destinationPrefix, `${rp}.match.destinationPrefix`, { nullable: true, re: DIGITS });
          c.str(m.destinationPattern, `${rp}.match.destinationPattern`, { nullable: true });
          if ((m.destinationPrefix === null) === (m.destinationPattern === null)) {
            c.fail(`${rp}.match`, 'exactly one of destinationPrefix or destinationPattern');
          }
          if (typeof m.destinationPattern === 'string') {
            try {
              new RegExp(m.destinationPattern, 'u');
            } catch {
              c.fail(`${rp}.match.destinationPattern`, 'invalid regular expression');
            }
          }
          c.str(m.sourcePrefix, `${rp}.match.sourcePrefix`, { nullable: true, re: DIGITS });
          if (m.timeOfDay !== null && c.obj(m.timeOfDay, `${rp}.match.timeOfDay`)) {
            c.str(m.timeOfDay.timeZone, `${rp}.match.timeOfDay.timeZone`, { nonEmpty: true });
            if (c.arr(m.timeOfDay.days, `${rp}.match.timeOfDay.days`)) {
              m.timeOfDay.days.forEach((d, j) => {
                c.oneOf(d, `${rp}.match.timeOfDay.days[${j}]`, ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']);
              });
            }
            c.str(m.timeOfDay.start, `${rp}.match.timeOfDay.start`, { re: /^([01][0-9]|2[0-3]):[0-5][0-9]$/ });
            c.str(m.timeOfDay.end, `${rp}.match.timeOfDay.end`, { re: /^([01][0-9]|2[0-3]):[0-5][0-9]$/ });
          }
        }
        checkAction(c, r.action, `${rp}.action`, trunkIds);
      });
    }
    checkAction(c, t.routing.defaultAction, `${p}.routing.defaultAction`, trunkIds);
  }
  c.bool(t.suspended, `${p}.suspended`);
  if (c.obj(t.billing, `${p}.billing`)) {
    c.str(t.billing.accountId, `${p}.billing.accountId`, { nonEmpty: true });
    c.str(t.billing.currency, `${p}.billing.currency`, { re: /^[A-Z]{3}$/ });
    c.oneOf(t.billing.model, `${p}.billing.model`, ['PerMinute', 'PerCall', 'Flat']);
    c.str(t.billing.ratePlan, `${p}.billing.ratePlan`, { nullable: true });
  }
  if (c.errors.length === before) checkHash(c, t, p);
  return typeof t.id === 'string' && typeof t.fqdn === 'string' ? { id: t.id, fqdn: t.fqdn } : null;
}

function checkAction(c: Checker, a: unknown, p: string, trunkIds: Set<string>): void {
  if (!c.obj(a, p)) return;
  const action = a as Partial<ActionConfig> & Obj;
  if (action.type === 'Route') {
    if (c.arr(action.trunks, `${p}.trunks`)) {
      if (action.trunks.length === 0) c.fail(`${p}.trunks`, 'must not be empty');
      action.trunks.forEach((id, i) => {
        c.str(id, `${p}.trunks[${i}]`, { re: ID });
        if (typeof id === 'string' && !trunkIds.has(id)) c.fail(`${p}.trunks[${i}]`, `unknown trunk ${id}`);
      });
    }
    if (action.translate !== null) {
      if (c.obj(action.translate, `${p}.translate`)) {
        c.str(action.translate.stripPrefix, `${p}.translate.stripPrefix`, { re: DIGITS });
        c.str(action.translate.addPrefix, `${p}.translate.addPrefix`, { re: DIGITS });
      }
    }
  } else if (action.type === 'Block') {
    c.int(action.sipCode, `${p}.sipCode`, { min: 400, max: 699 });
    c.str(action.reason, `${p}.reason`);
  } else {
    c.fail(`${p}.type`, `must be Route or Block (got ${JSON.stringify(action.type)})`);
  }
}

function checkNumberBlock(c: Checker, n: unknown, p: string): void {
  if (!c.obj(n, p)) return;
  const b = n as Partial<NumberBlock> & Obj;
  const text =
    b.type === 'prefix'
      ? `${String(b.prefix)}*`
      : b.type === 'range'
        ? b.first === b.last
          ? String(b.first)
          : `${String(b.first)}-${String(b.last)}`
        : '';
  const parsed = parseNumberBlock(text);
  if (!parsed || JSON.stringify(parsed) !== JSON.stringify(n))
    c.fail(p, `not a normalised number block: ${JSON.stringify(n)}`);
}

function checkTrunk(c: Checker, t: unknown, p: string): string | null {
  if (!c.obj(t, p)) return null;
  const before = c.errors.length;
  c.str(t.id, `${p}.id`, { re: ID });
  if (t.id !== `${String(t.namespace)}/${String(t.name)}`) c.fail(`${p}.id`, 'must be namespace/name');
  c.str(t.description, `${p}.description`, { nullable: true });
  if (c.arr(t.targets, `${p}.targets`)) {
    if (t.targets.length === 0) c.fail(`${p}.targets`, 'must not be empty');
    t.targets.forEach((x, i) => {
      const tp = `${p}.targets[${i}]`;
      if (!c.obj(x, tp)) return;
      c.str(x.host, `${tp}.host`, { nonEmpty: true });
      c.int(x.port, `${tp}.port`, { min: 1, max: 65535 });
      c.oneOf(x.transport, `${tp}.transport`, ['UDP', 'TCP', 'TLS']);
      c.int(x.priority, `${tp}.priority`, { min: 0 });
      c.int(x.weight, `${tp}.weight`, { min: 0 });
    });
  }
  if (t.inbound !== null && c.obj(t.inbound, `${p}.inbound`)) {
    if (c.arr(t.inbound.sourceCidrs, `${p}.inbound.sourceCidrs`)) {
      t.inbound.sourceCidrs.forEach((x, i) => {
        c.str(x, `${p}.inbound.sourceCidrs[${i}]`, { re: /^[0-9a-fA-F:.]+\/[0-9]{1,3}$/ });
      });
    }
    if (t.inbound.digest !== null && c.obj(t.inbound.digest, `${p}.inbound.digest`)) {
      c.secret(t.inbound.digest.secret, `${p}.inbound.digest.secret`);
      c.str(t.inbound.digest.realm, `${p}.inbound.digest.realm`, { nullable: true });
    }
  }
  if (c.obj(t.outbound, `${p}.outbound`)) {
    if (t.outbound.auth !== null && c.obj(t.outbound.auth, `${p}.outbound.auth`)) {
      c.secret(t.outbound.auth.secret, `${p}.outbound.auth.secret`);
    }
    if (t.outbound.registration !== null && c.obj(t.outbound.registration, `${p}.outbound.registration`)) {
      c.str(t.outbound.registration.registrar, `${p}.outbound.registration.registrar`, { nonEmpty: true });
      c.int(t.outbound.registration.expiresSeconds, `${p}.outbound.registration.expiresSeconds`, { min: 60 });
    }
  }
  if (c.obj(t.healthCheck, `${p}.healthCheck`)) {
    c.bool(t.healthCheck.enabled, `${p}.healthCheck.enabled`);
    c.int(t.healthCheck.optionsIntervalSeconds, `${p}.healthCheck.optionsIntervalSeconds`, { min: 1 });
    c.int(t.healthCheck.failureThreshold, `${p}.healthCheck.failureThreshold`, { min: 1 });
  }
  if (c.obj(t.capacity, `${p}.capacity`)) {
    c.int(t.capacity.channels, `${p}.capacity.channels`, { nullable: true, min: 1 });
    c.int(t.capacity.callsPerSecond, `${p}.capacity.callsPerSecond`, { nullable: true, min: 1 });
  }
  if (c.obj(t.sharing, `${p}.sharing`)) {
    c.oneOf(t.sharing.mode, `${p}.sharing.mode`, ['Dedicated', 'Shared']);
    if (t.sharing.allowedTenants !== 'All' && c.arr(t.sharing.allowedTenants, `${p}.sharing.allowedTenants`)) {
      t.sharing.allowedTenants.forEach((x, i) => {
        c.str(x, `${p}.sharing.allowedTenants[${i}]`, { re: ID });
      });
    }
    if (c.arr(t.sharing.reservations, `${p}.sharing.reservations`)) {
      t.sharing.reservations.forEach((r, i) => {
        const rp = `${p}.sharing.reservations[${i}]`;
        if (!c.obj(r, rp)) return;
        c.str(r.tenant, `${rp}.tenant`, { re: ID });
        c.int(r.channels, `${rp}.channels`, { min: 1 });
        c.int(r.priority, `${rp}.priority`, { min: 0 });
      });
    }
  }
  if (c.obj(t.numberNormalisation, `${p}.numberNormalisation`)) {
    const n = t.numberNormalisation;
    const np = `${p}.numberNormalisation`;
    c.str(n.countryCode, `${np}.countryCode`, { nullable: true, re: /^[1-9][0-9]{0,2}$/ });
    c.str(n.nationalPrefix, `${np}.nationalPrefix`, { re: /^[0-9]*$/ });
    c.str(n.internationalPrefix, `${np}.internationalPrefix`, { re: /^[0-9]*$/ });
    c.oneOf(n.outboundFormat, `${np}.outboundFormat`, ['E164', 'E164NoPlus', 'National']);
    if (c.arr(n.rules, `${np}.rules`)) {
      n.rules.forEach((r, i) => {
        if (!c.obj(r, `${np}.rules[${i}]`)) return;
        c.oneOf(r.direction, `${np}.rules[${i}].direction`, ['Inbound', 'Outbound']);
        c.str(r.matchPrefix, `${np}.rules[${i}].matchPrefix`, { nullable: true, re: DIGITS });
        c.str(r.stripPrefix, `${np}.rules[${i}].stripPrefix`, { re: DIGITS });
        c.str(r.addPrefix, `${np}.rules[${i}].addPrefix`, { re: DIGITS });
      });
    }
  }
  if (c.obj(t.media, `${p}.media`)) {
    c.oneOf(t.media.srtp, `${p}.media.srtp`, ['Required', 'Optional', 'Disabled']);
    if (c.arr(t.media.codecs, `${p}.media.codecs`)) {
      t.media.codecs.forEach((x, i) => {
        c.oneOf(x, `${p}.media.codecs[${i}]`, ['PCMU', 'PCMA', 'G722', 'G729', 'opus']);
      });
    }
  }
  if (c.errors.length === before) checkHash(c, t, p);
  return typeof t.id === 'string' ? t.id : null;
}

export type { TenantConfig, TrunkConfig };
