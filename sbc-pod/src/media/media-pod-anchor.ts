// The MediaAnchor that anchors every call's media on a media pod through its control API (media-pod/README.md).
// The inbound leg is media leg "a", the outbound leg "b". Teams legs get SRTP (SDES), ICE-lite and RTCP-mux;
// carrier legs plain RTP unless their trunk requires SRTP. Requests are idempotent on the media pod, so a retried
// offer (failover to the next trunk) returns the same ports and keys.
import type { MediaAnchor, MediaCallRef, MediaStats } from '../b2bua/media.ts';

/** A media pod refused an SDP: the call should be answered with `sipStatus` (488 for no common codec). */
export class MediaError extends Error {
  override name = 'MediaError';
  readonly sipStatus: number;
  constructor(message: string, sipStatus: number) {
    super(message);
    this.sipStatus = sipStatus;
  }
}

export interface MediaPodAnchorOptions {
  /** Control API base URL, e.g. http://127.0.0.1:9100 */
  url: string;
  timeoutMs?: number;
}

type Side = MediaCallRef['sides']['inbound'];

function profile(side: Side, carrierSrtp: boolean | undefined) {
  return side === 'teams' ? { srtp: true, ice: true, rtcpMux: true } : { srtp: carrierSrtp === true };
}

const legOf = (from: MediaCallRef['from']) => (from === 'inbound' ? 'a' : 'b');

export class MediaPodAnchor implements MediaAnchor {
  #url: string;
  #timeoutMs: number;

  constructor(opts: MediaPodAnchorOptions) {
    this.#url = opts.url.replace(/\/$/, '');
    this.#timeoutMs = opts.timeoutMs ?? 2000;
  }

  async #call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(`${this.#url}${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new MediaError(`media pod ${this.#url} unreachable: ${String(err)}`, 503);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const status = res.status === 488 ? 488 : res.status === 503 || res.status === 403 ? 503 : 500;
      throw new MediaError(`media pod: ${String(json.error ?? res.status)} ${String(json.message ?? '')}`, status);
    }
    return json;
  }

  async offer(ref: MediaCallRef, sdp: Buffer): Promise<Buffer> {
    const leg = legOf(ref.from);
    const out = await this.#call('POST', `/v1/sessions/${encodeURIComponent(ref.callId)}/legs/${leg}/offer`, {
      tenant: ref.tenant,
      sdp: sdp.toString('utf8'),
      to: leg === 'a' ? 'b' : 'a',
      profiles: { a: profile(ref.sides.inbound, ref.carrierSrtp), b: profile(ref.sides.outbound, ref.carrierSrtp) },
    });
    return Buffer.from(String(out.sdp), 'utf8');
  }

  async answer(ref: MediaCallRef, sdp: Buffer): Promise<Buffer> {
    const out = await this.#call(
      'POST',
      `/v1/sessions/${encodeURIComponent(ref.callId)}/legs/${legOf(ref.from)}/answer`,
      {
        sdp: sdp.toString('utf8'),
      },
    );
    return out.sdp === null ? sdp : Buffer.from(String(out.sdp), 'utf8');
  }

  async release(callId: string): Promise<MediaStats | undefined> {
    const out = await this.#call('DELETE', `/v1/sessions/${encodeURIComponent(callId)}`);
    const final = out.final as { legs?: Record<string, { stats?: Record<string, unknown> }> } | null;
    if (!final?.legs) return undefined;
    // Per leg, the figures a CDR needs: packets, loss, jitter — not ports or addresses.
    const media: MediaStats = {};
    for (const [leg, info] of Object.entries(final.legs)) {
      const received = (info.stats?.received ?? {}) as Record<string, unknown>;
      media[leg === 'a' ? 'inbound' : 'outbound'] = {
        packets: received.packets ?? 0,
        bytes: received.bytes ?? 0,
        lost: received.lost ?? 0,
        jitterMs: received.jitterMs ?? 0,
      };
    }
    return media;
  }
}
