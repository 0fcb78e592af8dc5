// Which trunk a carrier INVITE came in on when source addresses do not say it (Trunk inbound.digest): challenge with
// 407, then accept credentials whose username/realm belong to one of the candidate trunks and whose response proves
// the trunk's password. Pure apart from the nonce issuer's clock.
import type { TrunkConfig } from '../../../crds/src/render/config-types.ts';
import { challengeHeader, type NonceIssuer, parseCredentials, verifyCredentials } from '../auth/digest.ts';
import { getHeaders, type SipRequest } from '../sip/message/index.ts';
import type { CredentialLookup } from '../trunks/credentials.ts';

export type InboundAuthResult =
  | { kind: 'ok'; trunk: TrunkConfig }
  | { kind: 'challenge'; header: string }
  | { kind: 'denied'; reason: string };

export function digestRealm(trunk: TrunkConfig, fallback: string): string {
  return trunk.inbound?.digest?.realm ?? fallback;
}

/**
 * Authenticate `req` against the digest trunks among `candidates`. `defaultRealm` is used for trunks without a realm
 * (the provider base domain).
 */
export function authenticateCarrier(
  req: SipRequest,
  candidates: readonly TrunkConfig[],
  credentials: CredentialLookup | undefined,
  nonces: NonceIssuer,
  defaultRealm: string,
): InboundAuthResult {
  const trunks = candidates.filter((t) => t.inbound?.digest);
  const first = trunks[0];
  if (!first) return { kind: 'denied', reason: 'no digest trunk' };
  const challenge = (stale = false) => ({
    kind: 'challenge' as const,
    header: challengeHeader({ realm: digestRealm(first, defaultRealm), nonce: nonces.issue(), stale }),
  });
  for (const value of getHeaders(req, 'Proxy-Authorization')) {
    const creds = parseCredentials(value);
    if (!creds) continue;
    const trunk = trunks.find((t) => {
      const secret = credentials?.get(t.inbound!.digest!.secret);
      return secret?.username === creds.username && digestRealm(t, defaultRealm) === creds.realm;
    });
    if (!trunk) continue;
    const nonce = nonces.check(creds.nonce);
    if (nonce === 'invalid') return challenge();
    const password = credentials!.get(trunk.inbound!.digest!.secret)!.password;
    if (!verifyCredentials(creds, password, req.method)) return { kind: 'denied', reason: 'wrong credentials' };
    if (nonce === 'stale') return challenge(true);
    return { kind: 'ok', trunk };
  }
  return challenge();
}
