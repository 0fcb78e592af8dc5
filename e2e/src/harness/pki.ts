// Test PKI for the e2e harness and transport tests: root and intermediate CAs, leaf certificates with chosen SANs and
// EKUs, and the negative variants Teams interop tests need (expired, self-signed, wrong SAN, serverAuth-only, missing
// intermediate). Everything stays in memory as PEM strings. Keys are RSA 2048 (Teams only negotiates ECDHE_RSA suites).
//
// See shared/reference/teams-direct-routing.md §0 (harness PKI) and §1 T1.5–T1.9.

import { webcrypto } from 'node:crypto';
import type * as x509t from '@peculiar/x509';
import { loadX509 } from '../../../sbc-pod/src/tls/x509.ts';

// The product's loader: @peculiar/x509 on Node's webcrypto, with the Reflect metadata it needs at load time.
const x509 = await loadX509();

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const RSA_ALGORITHM = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;

const DAY_MS = 24 * 60 * 60 * 1000;

export type KeyPurpose = 'serverAuth' | 'clientAuth';

/** A CA (root or intermediate). `chainPem` is this CA's certificate followed by its non-root ancestors. */
export interface CertificateAuthority {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** This CA and every intermediate above it, leaf-most first; excludes the root unless this CA is the root. */
  readonly chainPem: string;
  /** PEM of the self-signed root at the top of this CA's hierarchy (use as a trust anchor). */
  readonly rootPem: string;
  readonly isRoot: boolean;
  readonly parent?: CertificateAuthority;
  readonly cert: x509t.X509Certificate;
  readonly keys: CryptoKeyPair;
}

/** A leaf certificate and its private key. */
export interface IssuedCertificate {
  /** The leaf only. */
  readonly certPem: string;
  /** PKCS#8 PEM ("PRIVATE KEY"). */
  readonly keyPem: string;
  /** Leaf followed by the intermediates (never the root): what a TLS endpoint must send. */
  readonly chainPem: string;
  /** The trust anchor that validates this leaf (equal to certPem for self-signed leaves). */
  readonly rootPem: string;
  readonly cert: x509t.X509Certificate;
  readonly issuer?: CertificateAuthority;
}

export interface CreateCaOptions {
  /** Issue as an intermediate under this CA; without it the CA is a self-signed root. */
  parent?: CertificateAuthority;
  notBefore?: Date;
  notAfter?: Date;
  /** basicConstraints pathLenConstraint. */
  pathLength?: number;
  /** Extra RDNs, e.g. `O=Test Org`; the CN is always the CA name. */
  organization?: string;
  /** Reuse an existing key pair (saves RSA key generation time in tests). */
  keys?: CryptoKeyPair;
}

export interface IssueLeafOptions {
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Extended key usages; default both serverAuth and clientAuth. An empty list omits the EKU extension. */
  eku?: KeyPurpose[];
  notBefore?: Date;
  notAfter?: Date;
  /** Shorthand for a validity window: `notAfter = notBefore + validityDays`. Ignored when notAfter is given. */
  validityDays?: number;
  organization?: string;
  keys?: CryptoKeyPair;
}

/** Generate an RSA 2048 key pair usable for signing certificates (RSASSA-PKCS1-v1_5 / SHA-256). */
export async function generateRsaKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(RSA_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

let serialCounter = 0;
function nextSerial(): string {
  serialCounter += 1;
  // Positive (leading 0x01), unique within the process, with randomness so two runs never share serials.
  const random = Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex');
  return `01${random}${serialCounter.toString(16).padStart(4, '0')}`;
}

function dn(commonName: string, organization?: string): string {
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return organization ? `CN=${esc(commonName)}, O=${esc(organization)}` : `CN=${esc(commonName)}`;
}

function defaultWindow(notBefore?: Date, notAfter?: Date, validityDays = 365): { notBefore: Date; notAfter: Date } {
  const nb = notBefore ?? new Date(Date.now() - DAY_MS);
  const na = notAfter ?? new Date(nb.getTime() + validityDays * DAY_MS);
  return { notBefore: nb, notAfter: na };
}

function pemOf(cert: x509t.X509Certificate): string {
  return cert.toString('pem').trim() + '\n';
}

/** Create a root CA (no parent) or an intermediate CA (with `parent`). */
export async function createCa(name: string, options: CreateCaOptions = {}): Promise<CertificateAuthority> {
  const keys = options.keys ?? (await generateRsaKeyPair());
  const { notBefore, notAfter } = defaultWindow(options.notBefore, options.notAfter, 3650);
  const subject = dn(name, options.organization);
  const parent = options.parent;
  const extensions: x509t.Extension[] = [
    new x509.BasicConstraintsExtension(true, options.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  let cert: x509t.X509Certificate;
  if (parent) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(parent.cert));
    cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(),
      subject,
      issuer: parent.cert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: RSA_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: parent.keys.privateKey,
      extensions,
    });
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: nextSerial(),
      name: subject,
      notBefore,
      notAfter,
      signingAlgorithm: RSA_ALGORITHM,
      keys,
      extensions,
    });
  }
  const certPem = pemOf(cert);
  const chainPem = parent && !parent.isRoot ? certPem + parent.chainPem : certPem;
  return {
    name,
    certPem,
    keyPem: await privateKeyPem(keys),
    chainPem,
    rootPem: parent ? parent.rootPem : certPem,
    isRoot: !parent,
    ...(parent ? { parent } : {}),
    cert,
    keys,
  };
}

function leafExtensions(options: IssueLeafOptions): x509t.Extension[] {
  const extensions: x509t.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
  ];
  const eku = options.eku ?? ['serverAuth', 'clientAuth'];
  if (eku.length > 0) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension(
        eku.map((p) => (p === 'serverAuth' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth)),
        false,
      ),
    );
  }
  const names: x509t.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  return extensions;
}

/** Issue a leaf certificate from `ca`. Defaults: EKU serverAuth+clientAuth, valid from yesterday for 365 days. */
export async function issueLeaf(ca: CertificateAuthority, options: IssueLeafOptions): Promise<IssuedCertificate> {
  const keys = options.keys ?? (await generateRsaKeyPair());
  const { notBefore, notAfter } = defaultWindow(options.notBefore, options.notAfter, options.validityDays);
  const extensions = leafExtensions(options);
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(ca.cert));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: dn(options.commonName, options.organization),
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: RSA_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  const certPem = pemOf(cert);
  return {
    certPem,
    keyPem: await privateKeyPem(keys),
    chainPem: ca.isRoot ? certPem : certPem + ca.chainPem,
    rootPem: ca.rootPem,
    cert,
    issuer: ca,
  };
}

/** A self-signed leaf (negative variant: no CA will validate it unless it is itself trusted). */
export async function createSelfSignedLeaf(options: IssueLeafOptions): Promise<IssuedCertificate> {
  const keys = options.keys ?? (await generateRsaKeyPair());
  const { notBefore, notAfter } = defaultWindow(options.notBefore, options.notAfter, options.validityDays);
  const extensions = leafExtensions(options);
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: dn(options.commonName, options.organization),
    notBefore,
    notAfter,
    signingAlgorithm: RSA_ALGORITHM,
    keys,
    extensions,
  });
  const certPem = pemOf(cert);
  return { certPem, keyPem: await privateKeyPem(keys), chainPem: certPem, rootPem: certPem, cert };
}

/** Validity window that ended before now (for "expired" variants). */
export function expiredWindow(now = Date.now()): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - 30 * DAY_MS), notAfter: new Date(now - DAY_MS) };
}

/** Validity window that starts in the future (for "not yet valid" variants). */
export function futureWindow(now = Date.now()): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now + DAY_MS), notAfter: new Date(now + 30 * DAY_MS) };
}

/** The Microsoft signalling FQDNs every Teams test certificate carries (T1.10). */
export const TEAMS_SIGNALLING_FQDNS = [
  'sip.pstnhub.microsoft.com',
  'sip2.pstnhub.microsoft.com',
  'sip3.pstnhub.microsoft.com',
] as const;

export interface TeamsPki {
  /** "Baltimore CyberTrust Root (test)": the old Microsoft root (T1.6). */
  baltimoreRoot: CertificateAuthority;
  /** "DigiCert Global Root G2 (test)": the new Microsoft root. */
  digicertRoot: CertificateAuthority;
  /** Issuing CAs below each Microsoft root (intermediates, like "Microsoft Azure TLS Issuing CA 01"). */
  baltimoreIssuing: CertificateAuthority;
  digicertIssuing: CertificateAuthority;
  /** Teams server/client certificates (SAN sip, sip2, sip3 .pstnhub.microsoft.com), one per Microsoft root. */
  teamsCertBaltimore: IssuedCertificate;
  teamsCertDigicert: IssuedCertificate;
  /** The public CA that issues SBC certificates, and its issuing intermediate. */
  publicRoot: CertificateAuthority;
  publicIntermediate: CertificateAuthority;
  /** Trust anchors an SBC needs to verify Teams (both Microsoft roots). */
  microsoftRootsPem: string[];
  /** Trust anchor Teams (the simulator) uses to verify SBCs. */
  publicRootsPem: string[];
  /** Issue an SBC certificate from the public intermediate (EKU serverAuth+clientAuth unless told otherwise). */
  issueSbcCert(options: IssueLeafOptions): Promise<IssuedCertificate>;
}

export interface TeamsPkiOptions {
  /** Extra DNS SANs on the Teams certificates (e.g. `*.pstnhub.microsoft.com`). */
  extraTeamsDnsNames?: string[];
  /** IP SANs on the Teams certificates, handy when the simulator is dialled by IP (127.0.1.1 …). */
  teamsIpAddresses?: string[];
}

/** The Teams Direct Routing test PKI from reference §0: two Microsoft roots and one public CA hierarchy. */
export async function createTeamsPki(options: TeamsPkiOptions = {}): Promise<TeamsPki> {
  const [baltimoreRoot, digicertRoot, publicRoot] = await Promise.all([
    createCa('Baltimore CyberTrust Root (test)', { organization: 'Baltimore (test)' }),
    createCa('DigiCert Global Root G2 (test)', { organization: 'DigiCert Inc (test)' }),
    createCa('Switchboard Public Root CA (test)', { organization: 'Public CA (test)' }),
  ]);
  const [baltimoreIssuing, digicertIssuing, publicIntermediate] = await Promise.all([
    createCa('Microsoft RSA TLS CA 01 (test)', {
      parent: baltimoreRoot,
      pathLength: 0,
      organization: 'Microsoft (test)',
    }),
    createCa('Microsoft Azure TLS Issuing CA 01 (test)', {
      parent: digicertRoot,
      pathLength: 0,
      organization: 'Microsoft (test)',
    }),
    createCa('Switchboard Public Issuing CA (test)', {
      parent: publicRoot,
      pathLength: 0,
      organization: 'Public CA (test)',
    }),
  ]);
  const teamsLeaf: IssueLeafOptions = {
    commonName: 'sip.pstnhub.microsoft.com',
    dnsNames: [...TEAMS_SIGNALLING_FQDNS, ...(options.extraTeamsDnsNames ?? [])],
    ipAddresses: options.teamsIpAddresses ?? [],
    eku: ['serverAuth', 'clientAuth'],
    organization: 'Microsoft Corporation (test)',
  };
  const [teamsCertBaltimore, teamsCertDigicert] = await Promise.all([
    issueLeaf(baltimoreIssuing, teamsLeaf),
    issueLeaf(digicertIssuing, teamsLeaf),
  ]);
  return {
    baltimoreRoot,
    digicertRoot,
    baltimoreIssuing,
    digicertIssuing,
    teamsCertBaltimore,
    teamsCertDigicert,
    publicRoot,
    publicIntermediate,
    microsoftRootsPem: [baltimoreRoot.certPem, digicertRoot.certPem],
    publicRootsPem: [publicRoot.certPem],
    issueSbcCert: (leaf) => issueLeaf(publicIntermediate, leaf),
  };
}

/** OIDs of the extended key usages present on a PEM certificate (uses Node's parser, independent of this module). */
export function ekuOids(certPem: string): string[] {
  const cert = new x509.X509Certificate(certPem);
  const ext = cert.getExtension(x509.ExtendedKeyUsageExtension);
  return ext ? Array.from(ext.usages, String) : [];
}

export const EKU_OIDS = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;
