// Number normalisation: Teams expects E.164 with a leading "+" in Request-URI, To and From
// (teams-direct-routing.md X7.10); carriers often want national or international-prefix forms.

export interface NumberPlan {
  /** Country calling code without "+", e.g. "1" or "44". */
  countryCode: string;
  /** Trunk prefix for national numbers, e.g. "0" in the UK; "" when the plan has none. */
  nationalPrefix?: string;
  /** Prefix for international numbers when dialled without "+", e.g. "00" or "011". */
  internationalPrefix?: string;
}

/** Strip a SIP/TEL user part down to the digits and a leading "+" (drops visual separators and `;ext=`). */
export function cleanNumber(user: string): string {
  const semi = user.indexOf(';');
  const base = semi >= 0 ? user.slice(0, semi) : user;
  let out = '';
  for (let i = 0; i < base.length; i++) {
    const c = base[i]!;
    if (c >= '0' && c <= '9') out += c;
    else if (c === '+' && out === '') out = '+';
  }
  return out;
}

/** Turn a dialled number into E.164 ("+" and digits) under a numbering plan; undefined when it cannot be. */
export function toE164(user: string, plan: NumberPlan): string | undefined {
  const n = cleanNumber(user);
  if (n.startsWith('+')) return n.length > 2 ? n : undefined;
  if (plan.internationalPrefix && n.startsWith(plan.internationalPrefix))
    return `+${n.slice(plan.internationalPrefix.length)}`;
  if (plan.nationalPrefix && n.startsWith(plan.nationalPrefix))
    return `+${plan.countryCode}${n.slice(plan.nationalPrefix.length)}`;
  if (n.startsWith(plan.countryCode) && n.length > 10) return `+${n}`;
  return n.length > 0 ? `+${plan.countryCode}${n}` : undefined;
}

export type CarrierNumberFormat = 'e164' | 'e164-no-plus' | 'national' | 'international-prefix';

/** Render an E.164 number the way a carrier wants it. */
export function fromE164(e164: string, plan: NumberPlan, format: CarrierNumberFormat): string {
  const digits = e164.startsWith('+') ? e164.slice(1) : e164;
  switch (format) {
    case 'e164':
      return `+${digits}`;
    case 'e164-no-plus':
      return digits;
    case 'national':
      return digits.startsWith(plan.countryCode)
        ? `${plan.nationalPrefix ?? ''}${digits.slice(plan.countryCode.length)}`
        : `${plan.internationalPrefix ?? '00'}${digits}`;
    case 'international-prefix':
      return `${plan.internationalPrefix ?? '00'}${digits}`;
  }
}
