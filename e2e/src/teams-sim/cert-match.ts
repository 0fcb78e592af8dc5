// Certificate name matching as the Teams SIP proxy applies it to the SBC (reference §2 C2.1, C2.5, C2.6) and
// certificate purpose checks (T1.5, C2.3). Deliberately independent of Node's `checkHost`:
// - a wildcard is a whole leftmost label `*` and matches exactly one label (RFC 2818 §3.1 / RFC 6125 §6.4.3):
//   `*.contoso.com` matches `sbc.contoso.com`, not `contoso.com` nor `a.sbc.contoso.com`;
// - partial-label wildcards (`sbc*.contoso.com`) and wildcards over a single label (`*.com`) never match;
// - wildcards count only in a subjectAltName dNSName entry; the CN is compared exactly, never as a wildcard;
// - an IP address never matches a DNS name.

import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

function normalise(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** True when `host` is an IPv4/IPv6 literal (brackets allowed). */
export function isIpHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(h) !== 0;
}

/** RFC 2818 single-label wildcard match of one certificate DNS name `pattern` against `host`. */
export function dnsNameMatches(pattern: string, host: string): boolean {
  const p = normalise(pattern);
  const h = normalise(host);
  if (p === '' || h === '' || isIpHost(h)) return false;
  if (!p.includes('*')) return p === h;
  if (!p.startsWith('*.')) return false; // partial-label or non-leftmost wildcard
  const suffix = p.slice(2);
  if (suffix.includes('*') || !suffix.includes('.')) return false; // `*.*.x` or `*.com`
  const dot = h.indexOf('.');
  if (dot <= 0) return false;
  return h.slice(dot + 1) === suffix;
}

export interface CertNames {
  dnsNames: string[];
  ipAddresses: string[];
  commonName?: string;
}

/** Split Node's `subjectAltName` text (`DNS:a, DNS:"b,c", IP Address:1.2.3.4`). */
function splitAltNames(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

function unquote(v: string): string {
  if (v.startsWith('"') && v.endsWith('"')) {
    try {
      return JSON.parse(v) as string;
    } catch {
      return v.slice(1, -1);
    }
  }
  return v;
}

/** DNS/IP subjectAltNames and the subject CN of a certificate. */
export function certNames(cert: X509Certificate): CertNames {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of splitAltNames(cert.subjectAltName ?? '')) {
    const colon = entry.indexOf(':');
    if (colon < 0) continue;
    const type = entry.slice(0, colon);
    const value = unquote(entry.slice(colon + 1));
    if (type === 'DNS') dnsNames.push(value);
    else if (type === 'IP Address') ipAddresses.push(value);
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return { dnsNames, ipAddresses, ...(cn !== undefined ? { commonName: cn } : {}) };
}

/**
 * Whether the certificate names cover `host` the way Teams checks a Contact/Record-Route FQDN (C2.1/C2.6): a SAN
 * dNSName (wildcards as above) or an exact, non-wildcard CN. IP hosts are never covered (C2.6: IP → 403).
 */
export function namesCoverHost(names: CertNames, host: string): boolean {
  if (isIpHost(host)) return false;
  if (names.dnsNames.some((n) => dnsNameMatches(n, host))) return true;
  const cn = names.commonName;
  return cn !== undefined && !cn.includes('*') && normalise(cn) === normalise(host);
}

export function certCoversHost(cert: X509Certificate, host: string): boolean {
  return namesCoverHost(certNames(cert), host);
}

/** Extended key usage OIDs of a certificate ([] when the extension is absent). */
export function ekuOf(cert: X509Certificate): string[] {
  return cert.keyUsage ?? [];
}

/** Teams needs both serverAuth and clientAuth on the SBC certificate (T1.5, C2.3). */
export function hasServerAndClientAuth(cert: X509Certificate): boolean {
  const eku = ekuOf(cert);
  return eku.includes(EKU_SERVER_AUTH) && eku.includes(EKU_CLIENT_AUTH);
}
