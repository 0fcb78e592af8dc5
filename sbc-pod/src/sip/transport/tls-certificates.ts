// The TLS certificate table: SNI selection (exact and one-label wildcard), a default for absent/unknown SNI, hot swap
// by replacing the table, and helpers to inspect peer certificates.

import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';

/** The four ECDHE-RSA suites Teams Direct Routing negotiates (reference T1.4), as an OpenSSL cipher list. */
export const TEAMS_CIPHERS = [
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-RSA-AES128-SHA256',
].join(':');

export interface CertificateEntry {
  /** Names this certificate serves (exact, or wildcard `*.example.net`). Default: the DNS SANs of the leaf. */
  hostnames?: string[];
  /** Leaf followed by intermediates, PEM. */
  certPem: string;
  keyPem: string;
  /** Use for handshakes without SNI or with an unknown name. Default: the first entry. */
  default?: boolean;
}

export interface SecureContextSettings {
  minVersion: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
  /** Roots to verify the peer's certificate (clients of our server, or servers we dial). */
  ca?: string[];
}

export interface LoadedCertificate {
  entry: CertificateEntry;
  hostnames: string[];
  context: tls.SecureContext;
  leaf: X509Certificate;
  /** `X509Certificate.fingerprint256` of the leaf. */
  fingerprint: string;
}

/** RFC 6125 style matching: exact (case-insensitive) or `*.` wildcard covering exactly one left-most label. */
export function matchHostname(pattern: string, hostname: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (p === h) return true;
  if (!p.startsWith('*.')) return false;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

/** Split Node's `subjectAltName` string ("DNS:a, DNS:b, IP Address:1.2.3.4") into DNS names and IPs. */
export function parseSubjectAltName(san: string | undefined): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  if (!san) return { dns, ip };
  // Node may JSON-quote entries with unusual characters: DNS:"a,b".
  const re = /(DNS|IP Address):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;
  for (let m = re.exec(san); m; m = re.exec(san)) {
    let value = m[2]!.trim();
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    if (m[1] === 'DNS') dns.push(value.toLowerCase());
    else ip.push(value.toLowerCase());
    if (m.index === re.lastIndex) re.lastIndex++;
  }
  return { dns, ip };
}

/** Split a PEM bundle into its certificates. */
export function splitPemChain(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The table the TLS server consults in its SNICallback; `replace` swaps it atomically. */
export class CertificateStore {
  private settings: SecureContextSettings;
  private exact = new Map<string, LoadedCertificate>();
  private wildcard = new Map<string, LoadedCertificate>();
  private all: LoadedCertificate[] = [];
  private fallback: LoadedCertificate | undefined;

  constructor(entries: CertificateEntry[], settings: SecureContextSettings) {
    this.settings = settings;
    this.replace(entries);
  }

  /** Build new contexts for every entry and swap them in (in-flight handshakes keep the old ones). */
  replace(entries: CertificateEntry[], settings: SecureContextSettings = this.settings): void {
    const exact = new Map<string, LoadedCertificate>();
    const wildcard = new Map<string, LoadedCertificate>();
    const all: LoadedCertificate[] = [];
    let fallback: LoadedCertificate | undefined;
    for (const entry of entries) {
      const leafPem = splitPemChain(entry.certPem)[0];
      if (!leafPem) throw new TypeError('certificate entry has no PEM certificate');
      const leaf = new X509Certificate(leafPem);
      const hostnames = (entry.hostnames ?? parseSubjectAltName(leaf.subjectAltName).dns).map((h) => h.toLowerCase());
      const context = tls.createSecureContext({
        cert: entry.certPem,
        key: entry.keyPem,
        minVersion: settings.minVersion,
        ...(settings.maxVersion ? { maxVersion: settings.maxVersion } : {}),
        ...(settings.ciphers ? { ciphers: settings.ciphers } : {}),
        ...(settings.ca ? { ca: settings.ca } : {}),
      });
      const loaded: LoadedCertificate = { entry, hostnames, context, leaf, fingerprint: leaf.fingerprint256 };
      all.push(loaded);
      for (const h of hostnames) {
        const map = h.startsWith('*.') ? wildcard : exact;
        const key = h.startsWith('*.') ? h.slice(2) : h;
        if (!map.has(key)) map.set(key, loaded);
      }
      if (entry.default && !fallback) fallback = loaded;
    }
    this.settings = settings;
    this.exact = exact;
    this.wildcard = wildcard;
    this.all = all;
    this.fallback = fallback ?? all[0];
  }

  get entries(): readonly LoadedCertificate[] {
    return this.all;
  }

  get defaultCertificate(): LoadedCertificate | undefined {
    return this.fallback;
  }

  get contextSettings(): SecureContextSettings {
    return this.settings;
  }

  /** The certificate for an SNI name: exact match, then wildcard for the parent domain, then undefined. */
  find(servername: string | undefined | false): LoadedCertificate | undefined {
    if (!servername) return undefined;
    const name = servername.toLowerCase().replace(/\.$/, '');
    const hit = this.exact.get(name);
    if (hit) return hit;
    const dot = name.indexOf('.');
    return dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
  }

  /** `find`, falling back to the default certificate. */
  select(servername: string | undefined | false): LoadedCertificate | undefined {
    return this.find(servername) ?? this.fallback;
  }

  hasFingerprint(fingerprint: string): boolean {
    return this.all.some((c) => c.fingerprint === fingerprint);
  }
}
