// TLS for tenants: the cert-manager Certificate of a Dedicated tenant, and the checks on a Provided tenant's Secret.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { tenantCertificateName, tenantSecretName } from './world.ts';

export const TENANT_CERT_LABEL = 'switchboard.dev/tenant-cert';
export const TENANT_NAMESPACE_LABEL = 'switchboard.dev/tenant-namespace';
export const TENANT_NAME_LABEL = 'switchboard.dev/tenant-name';
export const MANAGED_LABEL = 'switchboard.dev/managed-by';
export const MANAGED_VALUE = 'switchboard-operator';

export interface IssuerRef {
  name: string;
  kind: string;
  group: string;
}

export function ownerLabels(namespace: string, name: string): Record<string, string> {
  return { [MANAGED_LABEL]: MANAGED_VALUE, [TENANT_NAMESPACE_LABEL]: namespace, [TENANT_NAME_LABEL]: name };
}

/** The cert-manager Certificate for a Dedicated tenant, in the system namespace (its Secret lands there too). */
export function tenantCertificate(
  tenant: { namespace: string; name: string; fqdn: string; issuer: IssuerRef },
  systemNamespace: string,
): Record<string, unknown> {
  const cert = new Certificate({
    metadata: {
      name: tenantCertificateName(tenant.namespace, tenant.name),
      namespace: systemNamespace,
      labels: ownerLabels(tenant.namespace, tenant.name),
    },
    spec: {
      secretName: tenantSecretName(tenant.namespace, tenant.name),
      dnsNames: [tenant.fqdn],
      usages: ['server auth', 'client auth'],
      issuerRef: { name: tenant.issuer.name, kind: tenant.issuer.kind, group: tenant.issuer.group },
      privateKey: { algorithm: 'RSA', size: 2048, rotationPolicy: 'Always' },
      secretTemplate: {
        labels: { [TENANT_CERT_LABEL]: 'true', ...ownerLabels(tenant.namespace, tenant.name) },
      },
    },
  });
  cert.validate();
  return cert.toJSON() as unknown as Record<string, unknown>;
}

export interface SecretCheck {
  ok: boolean;
  /** CamelCase reason for the condition. */
  reason: string;
  message: string;
  notAfter?: string;
}

/** Validate a Provided tenant's kubernetes.io/tls Secret: key matches, SAN covers the FQDN, in date, chain complete. */
export function checkTlsSecret(
  data: Record<string, string> | undefined,
  fqdn: string,
  ref: string,
  now: Date = new Date(),
): SecretCheck {
  const crt = data?.['tls.crt'];
  const key = data?.['tls.key'];
  if (!crt || !key) {
    return { ok: false, reason: 'SecretInvalid', message: `Secret ${ref} must have tls.crt and tls.key` };
  }
  const pem = Buffer.from(crt, 'base64').toString('utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  let chain: X509Certificate[];
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    return { ok: false, reason: 'SecretInvalid', message: `Secret ${ref}: tls.crt: ${(err as Error).message}` };
  }
  const leaf = chain[0];
  if (!leaf) return { ok: false, reason: 'SecretInvalid', message: `Secret ${ref}: tls.crt holds no certificate` };
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(Buffer.from(key, 'base64').toString('utf8')))) {
      return { ok: false, reason: 'KeyMismatch', message: `Secret ${ref}: tls.key does not match the certificate` };
    }
  } catch (err) {
    return { ok: false, reason: 'SecretInvalid', message: `Secret ${ref}: tls.key: ${(err as Error).message}` };
  }
  const notAfter = new Date(leaf.validTo);
  if (!leaf.checkHost(fqdn)) {
    return {
      ok: false,
      reason: 'SANMismatch',
      message: `Secret ${ref}: certificate (${leaf.subjectAltName ?? 'no SAN'}) does not cover ${fqdn}`,
    };
  }
  if (notAfter.getTime() <= now.getTime()) {
    return {
      ok: false,
      reason: 'CertificateExpired',
      message: `Secret ${ref}: certificate expired at ${notAfter.toISOString()}`,
    };
  }
  if (new Date(leaf.validFrom).getTime() > now.getTime()) {
    return {
      ok: false,
      reason: 'CertificateNotYetValid',
      message: `Secret ${ref}: certificate is valid from ${leaf.validFrom}`,
    };
  }
  // Chain: every certificate is signed by the next; the last is a root (self-signed) or signed by a trusted root the
  // peer has — at least the leaf's issuer must be present unless the leaf is self-signed.
  for (let i = 0; i < chain.length - 1; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) {
      return {
        ok: false,
        reason: 'ChainInvalid',
        message: `Secret ${ref}: certificate ${i} is not issued by certificate ${i + 1}`,
      };
    }
  }
  const selfSigned = leaf.checkIssued(leaf);
  if (chain.length === 1 && !selfSigned) {
    return {
      ok: false,
      reason: 'ChainIncomplete',
      message: `Secret ${ref}: tls.crt has only the leaf; append the intermediate certificate(s) of ${leaf.issuer.replace(/\n/g, ', ')}`,
    };
  }
  return {
    ok: true,
    reason: 'SecretValid',
    message: `Secret ${ref} is valid for ${fqdn} until ${notAfter.toISOString()}`,
    notAfter: notAfter.toISOString(),
  };
}
