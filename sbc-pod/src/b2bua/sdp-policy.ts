// SDP rules toward Teams (teams-direct-routing.md M5.22, M5.27): Microsoft's SIP proxy understands only a=inactive
// for hold (never a=sendonly/a=recvonly) and never c=0.0.0.0; a transfer's new INVITE offers a=sendrecv. Pure text
// rewrites on the SDP the B2BUA is about to send; everything else is left byte for byte.

const CONNECTION = /^c=IN IP4 (\S+)/m;

function firstAddress(sdp: string): string | undefined {
  for (const m of sdp.matchAll(/^c=IN IP[46] (\S+)/gm)) if (m[1] !== '0.0.0.0') return m[1];
  const o = /^o=\S+ \S+ \S+ IN IP[46] (\S+)/m.exec(sdp);
  return o?.[1] && o[1] !== '0.0.0.0' ? o[1] : undefined;
}

/**
 * Rewrite an SDP for Teams: `a=sendonly`/`a=recvonly` → `a=inactive`; `c=IN IP4 0.0.0.0` (RFC 2543 hold) → the
 * address of the previous SDP sent on that leg (or this SDP's own origin address).
 */
export function toTeamsSdp(body: Buffer, previous?: Buffer): Buffer {
  if (body.length === 0) return body;
  const text = body.toString('latin1');
  let out = text.replace(/^a=(sendonly|recvonly)(\r?)$/gm, 'a=inactive$2');
  if (/^c=IN IP4 0\.0\.0\.0/m.test(out)) {
    const prev = previous ? firstAddress(previous.toString('latin1')) : undefined;
    const address = prev ?? firstAddress(out);
    if (address) out = out.replace(/^c=IN IP4 0\.0\.0\.0/gm, `c=IN IP4 ${address}`);
  }
  return out === text ? body : Buffer.from(out, 'latin1');
}

/** A transfer's new offer must be active (M5.27): a=inactive/sendonly/recvonly → a=sendrecv. */
export function sendrecvSdp(body: Buffer): Buffer {
  if (body.length === 0) return body;
  const text = body.toString('latin1');
  const out = text.replace(/^a=(inactive|sendonly|recvonly)(\r?)$/gm, 'a=sendrecv$2');
  return out === text ? body : Buffer.from(out, 'latin1');
}

/** The media address of an SDP (for tests and logs). */
export function connectionAddress(body: Buffer): string | undefined {
  return CONNECTION.exec(body.toString('latin1'))?.[1];
}

const STATIC_PAYLOADS: Record<string, string> = {
  '0': 'PCMU',
  '3': 'GSM',
  '4': 'G723',
  '8': 'PCMA',
  '9': 'G722',
  '18': 'G729',
};

/** The codec an SDP answer settled on: the first payload type of its first audio stream, by name (for the CDR). */
export function answeredCodec(sdp: Buffer | string): string | undefined {
  const lines = sdp.toString().split(/\r?\n/);
  const m = lines.find((l) => l.startsWith('m=audio '));
  const pt = m?.split(' ')[3];
  if (pt === undefined) return undefined;
  const rtpmap = lines.find((l) => l.startsWith(`a=rtpmap:${pt} `));
  return rtpmap ? rtpmap.slice(`a=rtpmap:${pt} `.length).split('/')[0] : STATIC_PAYLOADS[pt];
}
