// How each side of a call wants its messages: Teams (TLS, tenant FQDN in Contact, E.164 + user=phone, X-MS-SBC,
// no UPDATE/PRACK — teams-direct-routing.md H3.4, M5.1–M5.8, M5.20, X7.1) or a carrier trunk (its transport,
// its number format). Pure builders of header values; the B2BUA assembles them into messages.
import type { TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { type CarrierNumberFormat, fromE164, type NumberPlan } from '../numbers/e164.ts';

export const PRODUCT = 'Switchboard';
export const VERSION = '0.1.0';
/** X-MS-SBC: Vendor/Model/Version (X7.1). */
export const X_MS_SBC = `${PRODUCT}/${PRODUCT} SBC/${VERSION}`;

/** Methods we accept from Teams; REFER and NOTIFY listed so Teams transfers by REFER (M5.8). */
export const TEAMS_ALLOW = 'INVITE, ACK, OPTIONS, CANCEL, BYE, INFO, REFER, NOTIFY';
export const CARRIER_ALLOW = 'INVITE, ACK, OPTIONS, CANCEL, BYE, INFO, UPDATE, PRACK, REFER, NOTIFY';

/** Headers copied across the B2BUA (everything else stays on its side: topology hiding). */
export const PASS_THROUGH_HEADERS = new Set(['reason', 'privacy', 'accept', 'content-disposition']);

export function teamsContact(user: string, tenantFqdn: string, tlsPort: number): string {
  return `<sip:${user}@${tenantFqdn}:${tlsPort};transport=tls>`;
}

export function carrierContact(user: string, sentBy: string, transport: string): string {
  return `<sip:${user || 'sbc'}@${sentBy};transport=${transport.toLowerCase()}>`;
}

export function trunkPlan(trunk: TrunkConfig): NumberPlan {
  const n = trunk.numberNormalisation;
  return {
    countryCode: n.countryCode ?? '1',
    nationalPrefix: n.nationalPrefix,
    internationalPrefix: n.internationalPrefix,
  };
}

const FORMAT: Record<TrunkConfig['numberNormalisation']['outboundFormat'], CarrierNumberFormat> = {
  E164: 'e164',
  E164NoPlus: 'e164-no-plus',
  National: 'national',
};

/** Apply the trunk's prefix rules for a direction to a number (first matching rule wins). */
export function applyTrunkRules(trunk: TrunkConfig, direction: 'Inbound' | 'Outbound', number: string): string {
  for (const r of trunk.numberNormalisation.rules) {
    if (r.direction !== direction) continue;
    if (r.matchPrefix !== null && !number.startsWith(r.matchPrefix)) continue;
    const stripped = r.stripPrefix && number.startsWith(r.stripPrefix) ? number.slice(r.stripPrefix.length) : number;
    return r.addPrefix + stripped;
  }
  return number;
}

/** An E.164 number written the way this trunk wants it on the wire. */
export function carrierNumber(trunk: TrunkConfig, e164: string): string {
  if (!e164.startsWith('+')) return e164; // "anonymous" and friends pass as they are
  const formatted = fromE164(e164, trunkPlan(trunk), FORMAT[trunk.numberNormalisation.outboundFormat]);
  return applyTrunkRules(trunk, 'Outbound', formatted);
}

/** A route's translation (strip then add a prefix) applied to the dialled E.164 number. */
export function translate(e164: string, t: { stripPrefix: string; addPrefix: string } | null): string {
  if (!t) return e164;
  const stripped = t.stripPrefix && e164.startsWith(t.stripPrefix) ? e164.slice(t.stripPrefix.length) : e164;
  return t.addPrefix + stripped;
}
