// Answering a carrier's digest challenge (401 WWW-Authenticate / 407 Proxy-Authenticate) to an INVITE we sent: the
// same request again — same Call-ID, tags and body — with CSeq + 1, a new branch and the credentials (RFC 3261 §22.2).
// Pure apart from the random branch and cnonce.
import { authorizationFor, parseChallenge } from '../auth/digest.ts';
import { getHeader, type RequestSpec, type SipRequest, type SipResponse } from '../sip/message/index.ts';
import { generateBranch } from '../sip/transaction/index.ts';
import type { Credentials } from '../trunks/credentials.ts';

/** The spec of the authenticated retry, or undefined when the response carries no digest challenge we can answer. */
export function authenticatedRetry(
  spec: RequestSpec,
  sent: SipRequest,
  res: SipResponse,
  creds: Credentials,
): { spec: RequestSpec; realm: string } | undefined {
  const header = getHeader(res, res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate');
  const challenge = header ? parseChallenge(header) : undefined;
  const via = sent.vias[0];
  if (!challenge || !via) return undefined;
  const sentBy = `${via.host}${via.port ? `:${via.port}` : ''}`;
  const seq = typeof spec.cseq === 'number' ? spec.cseq : spec.cseq.seq;
  return {
    realm: challenge.realm,
    spec: {
      ...spec,
      vias: [`SIP/2.0/${via.transport} ${sentBy};branch=${generateBranch()};rport`],
      cseq: seq + 1,
      headers: [
        ...(spec.headers ?? []),
        {
          name: res.status === 401 ? 'Authorization' : 'Proxy-Authorization',
          value: authorizationFor(challenge, creds, { method: sent.method, uri: sent.uriText }),
        },
      ],
    },
  };
}
