// The local-mode stand-in for cert-manager (DESIGN.md §5, §9): a CA persisted under the state directory that issues
// the SBC's TLS certificates — the base-domain wildcard (`*.base` + `base`, the default for absent/unknown SNI) and one
// certificate per tenant FQDN the wildcard does not cover. Leaves carry EKU serverAuth AND clientAuth (Teams presents
// and checks both: reference C2.3/T1.5), RSA 2048 (Teams negotiates ECDHE-RSA suites only).
//
// Layout (keys 0600, directories 0700):
//   <stateDir>/ca/ca.crt, ca.key                 the CA (10 years); trust ca.crt on the Teams side (simulator)
//   <stateDir>/certs/<hash of SANs>/tls.crt, tls.key, sans.txt
// Issued certificates are cached by SAN set and reused across restarts while they chain to this CA, match their key
// and are not within the renewal window; otherwise they are reissued.
import { createHash, createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RenderedConfig } from '../../../crds/src/render/config-types.ts';
import type { CertificateEntry } from '../sip/transport/tls-certificates.ts';
import { loadX509, type X509 } from './x509.ts';

const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;
const DAY_MS = 86_400_000;
/** Backdating against clock skew between the SBC and its peers. */
const SKEW_MS = 60 * 60 * 1000;

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface LocalCaOptions {
  /** Subject CN of a newly created CA. */
  commonName?: string;
  /** Clock (tests). */
  now?: () => Date;
}

export interface IssueOptions {
  /** DNS SANs; the first is also the subject CN. */
  dnsNames: string[];
  /** Default 90. */
  validityDays?: number;
}

export interface IssuedServerCertificate {
  /** The leaf (the CA is a root, so the chain a TLS endpoint sends is the leaf alone). */
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  dnsNames: string[];
  notAfter: Date;
}

export interface CertificatesForOptions {
  validityDays?: number;
  /** Reissue when less than this remains (default: a third of validityDays). */
  renewBeforeDays?: number;
}

export class LocalCa {
  /** `<stateDir>/ca`. */
  readonly dir: string;
  readonly stateDir: string;
  readonly certPem: string;
  /** SHA-256 fingerprint of the CA certificate (`AA:BB:…`). */
  readonly fingerprint: string;
  readonly certificate: X509Certificate;
  #x509: X509;
  #caCert: InstanceType<X509['X509Certificate']>;
  #caKey: webcrypto.CryptoKey;
  #now: () => Date;
  #cache = new Map<string, { entry: CertificateEntry; notAfter: number }>();

  private constructor(stateDir: string, x509: X509, certPem: string, caKey: webcrypto.CryptoKey, now: () => Date) {
    this.stateDir = stateDir;
    this.dir = join(stateDir, 'ca');
    this.#x509 = x509;
    this.certPem = certPem;
    this.certificate = new X509Certificate(certPem);
    this.fingerprint = this.certificate.fingerprint256;
    this.#caCert = new x509.X509Certificate(certPem);
    this.#caKey = caKey;
    this.#now = now;
  }

  /** Load the CA from `<stateDir>/ca`, creating it on first run. A certificate without its key is an error. */
  static async load(stateDir: string, opts: LocalCaOptions = {}): Promise<LocalCa> {
    const x509 = await loadX509();
    const now = opts.now ?? (() => new Date());
    const dir = join(stateDir, 'ca');
    const certFile = join(dir, 'ca.crt');
    const keyFile = join(dir, 'ca.key');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const [certPem, keyPem] = await Promise.all([readOptional(certFile), readOptional(keyFile)]);
    if (certPem !== undefined || keyPem !== undefined) {
      if (certPem === undefined || keyPem === undefined) {
        throw new Error(
          `local CA in ${dir} is incomplete (ca.crt and ca.key are both needed); remove ${dir} to recreate it`,
        );
      }
      const cert = new X509Certificate(certPem);
      if (!cert.ca || !cert.checkPrivateKey(createPrivateKey(keyPem))) {
        throw new Error(`local CA in ${dir}: ca.crt is not a CA certificate matching ca.key`);
      }
      if ((await stat(keyFile)).mode & 0o077) await chmod(keyFile, 0o600);
      return new LocalCa(stateDir, x509, certPem, await importKey(x509, keyPem), now);
    }

    const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const t = now().getTime();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${escapeDn(opts.commonName ?? 'Switchboard Local CA')}, O=Switchboard local mode`,
      notBefore: new Date(t - SKEW_MS),
      notAfter: new Date(t + 3650 * DAY_MS),
      signingAlgorithm: RSA,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const newCertPem = pemOf(cert);
    // Key first: a crash in between leaves "key without cert", which load() reports rather than silently replacing.
    await writeAtomic(keyFile, await exportKey(x509, keys.privateKey), 0o600);
    await writeAtomic(certFile, newCertPem, 0o644);
    return new LocalCa(stateDir, x509, newCertPem, keys.privateKey, now);
  }

  /** Issue a server certificate (EKU serverAuth + clientAuth) with a fresh RSA 2048 key. */
  async issueServerCertificate(opts: IssueOptions): Promise<IssuedServerCertificate> {
    const x509 = this.#x509;
    const dnsNames = opts.dnsNames.map((n) => n.toLowerCase().replace(/\.$/, ''));
    if (dnsNames.length === 0) throw new Error('issueServerCertificate: at least one DNS name is needed');
    const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const t = this.#now().getTime();
    const notAfter = new Date(t + (opts.validityDays ?? 90) * DAY_MS);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${escapeDn(dnsNames[0]!)}`,
      issuer: this.#caCert.subject,
      notBefore: new Date(t - SKEW_MS),
      notAfter,
      signingAlgorithm: RSA,
      publicKey: keys.publicKey,
      signingKey: this.#caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        new x509.SubjectAlternativeNameExtension(
          dnsNames.map((value) => ({ type: 'dns' as const, value })),
          false,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.#caCert),
      ],
    });
    return { certPem: pemOf(cert), keyPem: await exportKey(x509, keys.privateKey), dnsNames, notAfter };
  }

  /**
   * The SNI table for a config: the base-domain wildcard (default entry) plus one certificate per tenant FQDN the
   * wildcard does not cover. The base domain is config.baseDomain, else the parent domain most tenant FQDNs share,
   * else `localhost`.
   */
  async certificatesFor(config: RenderedConfig, opts: CertificatesForOptions = {}): Promise<CertificateEntry[]> {
    const base = config.baseDomain ?? inferBaseDomain(config.tenants.map((t) => t.fqdn)) ?? 'localhost';
    const wildcard = [`*.${base}`, base];
    const out: CertificateEntry[] = [{ ...(await this.#cached(wildcard, opts)), default: true }];
    const seen = new Set<string>();
    for (const tenant of config.tenants) {
      const fqdn = tenant.fqdn.toLowerCase().replace(/\.$/, '');
      if (seen.has(fqdn) || coveredBy(base, fqdn)) continue;
      seen.add(fqdn);
      out.push(await this.#cached([fqdn], opts));
    }
    return out;
  }

  async #cached(dnsNames: string[], opts: CertificatesForOptions): Promise<CertificateEntry> {
    const validityDays = opts.validityDays ?? 90;
    const renewMs = (opts.renewBeforeDays ?? validityDays / 3) * DAY_MS;
    const sans = [...new Set(dnsNames.map((n) => n.toLowerCase()))].sort();
    const key = createHash('sha256').update(sans.join('\n')).digest('hex').slice(0, 24);
    const now = this.#now().getTime();
    const hit = this.#cache.get(key);
    if (hit && hit.notAfter - now > renewMs) return hit.entry;

    const dir = join(this.stateDir, 'certs', key);
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    const [certPem, keyPem] = await Promise.all([readOptional(certFile), readOptional(keyFile)]);
    if (certPem !== undefined && keyPem !== undefined) {
      const notAfter = this.#usable(certPem, keyPem, sans, now + renewMs);
      if (notAfter !== undefined) {
        const entry: CertificateEntry = { hostnames: dnsNames, certPem, keyPem };
        this.#cache.set(key, { entry, notAfter });
        return entry;
      }
    }
    const issued = await this.issueServerCertificate({ dnsNames, validityDays });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(keyFile, issued.keyPem, 0o600);
    await writeAtomic(certFile, issued.certPem, 0o644);
    await writeAtomic(join(dir, 'sans.txt'), `${sans.join('\n')}\n`, 0o644);
    const entry: CertificateEntry = { hostnames: dnsNames, certPem: issued.certPem, keyPem: issued.keyPem };
    this.#cache.set(key, { entry, notAfter: issued.notAfter.getTime() });
    return entry;
  }

  /** notAfter (ms) when a cached certificate may be reused: our CA signed it, key matches, SANs equal, not expiring. */
  #usable(certPem: string, keyPem: string, sans: string[], mustOutlive: number): number | undefined {
    try {
      const cert = new X509Certificate(certPem);
      if (!cert.checkIssued(this.certificate) || !cert.verify(this.certificate.publicKey)) return undefined;
      if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
      const notAfter = Date.parse(cert.validTo);
      if (!(notAfter > mustOutlive)) return undefined;
      const dns = (cert.subjectAltName ?? '')
        .split(/,\s*/)
        .filter((s) => s.startsWith('DNS:'))
        .map((s) => s.slice(4).toLowerCase())
        .sort();
      return dns.join('\n') === sans.join('\n') ? notAfter : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Does `*.base` (or base itself) cover this name? RFC 6125: the wildcard matches exactly one label. */
export function coveredBy(base: string, fqdn: string): boolean {
  if (fqdn === base) return true;
  const dot = fqdn.indexOf('.');
  return dot > 0 && fqdn.slice(dot + 1) === base;
}

/** The parent domain shared by most FQDNs (ties: the shorter, then alphabetical); undefined without any. */
export function inferBaseDomain(fqdns: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const f of fqdns) {
    const dot = f.indexOf('.');
    if (dot <= 0 || f.indexOf('.', dot + 1) < 0) continue;
    const parent = f.slice(dot + 1).toLowerCase();
    counts.set(parent, (counts.get(parent) ?? 0) + 1);
  }
  let best: string | undefined;
  let bestCount = 0;
  for (const [parent, n] of counts) {
    if (
      n > bestCount ||
      (n === bestCount &&
        best !== undefined &&
        (parent.length < best.length || (parent.length === best.length && parent < best)))
    ) {
      best = parent;
      bestCount = n;
    }
  }
  return best;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write to a temp file with the final mode, then rename: readers never see a partial file or a loose key. */
async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

async function importKey(x509: X509, pem: string): Promise<webcrypto.CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return webcrypto.subtle.importKey('pkcs8', der, RSA, true, ['sign']);
}

async function exportKey(x509: X509, key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY').trim()}\n`;
}

function pemOf(cert: { toString(format: 'pem'): string }): string {
  return `${cert.toString('pem').trim()}\n`;
}

function serial(): string {
  // Positive, 16 bytes, random: unique across restarts without a counter on disk.
  return `01${randomBytes(15).toString('hex')}`;
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}
