// The media engine: sessions by call id, legs with ports from the tenant's pool, idempotent offer/answer/delete/query,
// and a no-media watchdog. The HTTP API (../api) is a thin layer over this.
import { createHash } from 'node:crypto';
import { SdpError } from '../sdp/sdp.ts';
import { type SessionRecord, type SessionStore, stripCrypto } from '../state/store.ts';
import { Leg, type LegProfile } from './leg.ts';
import type { PoolSet, PortPool } from './pool.ts';
import { MediaSession, NegotiationError, type SessionInfo } from './session.ts';

export interface EngineOptions {
  /** Address the media sockets bind to. */
  bindAddress: string;
  /** Address written in our SDP (public address); default bindAddress. */
  advertisedAddress?: string;
  pools: PoolSet;
  /**
   * A leg that sent nothing for this long (ms) makes the call silent. The clock starts when both sides have sent SDP
   * (the answer) and starts again on every SDP; a call on hold (a leg's SDP is not sendrecv) is never silent.
   * Default 60 s (DEFAULT_NO_MEDIA_TIMEOUT_MS). 0 disables.
   */
  noMediaTimeoutMs?: number;
  /** Called once each time a session turns silent (no packets on `leg` for noMediaTimeoutMs). */
  onNoMedia?: (info: SessionInfo, leg: string) => void;
  /** Where session state goes for re-anchoring (Redis in cluster mode); none: state stays in this process. */
  store?: SessionStore;
  /** This pod's identity and control URL, recorded with each session. */
  podId?: string;
  podUrl?: string;
  /** Called when saving state fails (the call goes on; re-anchoring it may not be possible). */
  onStoreError?: (err: unknown) => void;
}

export class EngineError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface OfferRequest {
  tenant: string;
  sdp: string;
  /** Leg the offer is for; default: "b" when the offer comes from "a", otherwise "a". */
  to?: string;
  /** Per-leg options, by leg name; applied when a leg is created (and updated on later offers). */
  profiles?: Record<string, LegProfile>;
  /** Allow PCMU⇄PCMA transcoding when the sides share no codec. */
  transcode?: boolean;
}

export interface OfferResponse {
  callId: string;
  from: string;
  to: string;
  sdp: string;
  legs: Record<string, { port: number; rtcpPort: number }>;
}

export interface AnswerRequest {
  sdp: string;
}

export interface AnswerResponse {
  callId: string;
  from: string;
  /** Leg the returned SDP is for; null (and sdp null) for the answer to a re-anchoring offer. */
  to: string | null;
  sdp: string | null;
}

export interface ReanchorResponse {
  callId: string;
  /** Our new offer per leg, for the re-INVITE of that leg; post each leg's answer to .../legs/:leg/answer. */
  offers: Record<string, string>;
  legs: Record<string, { port: number; rtcpPort: number }>;
}

/** Default no-media timeout (SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT). */
export const DEFAULT_NO_MEDIA_TIMEOUT_MS = 60_000;

const fingerprint = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

export class MediaEngine {
  readonly sessions = new Map<string, MediaSession>();
  readonly #o: EngineOptions;
  readonly #advertised: string;
  #watchdog: NodeJS.Timeout | null = null;
  podUrl: string;
  readonly podId: string;
  storeErrors = 0;
  /** Serialises operations per call id (offer/answer/delete of one call never interleave). */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(o: EngineOptions) {
    this.#o = o;
    this.#advertised = o.advertisedAddress ?? o.bindAddress;
    this.podId = o.podId ?? 'local';
    this.podUrl = o.podUrl ?? '';
    const timeout = o.noMediaTimeoutMs ?? DEFAULT_NO_MEDIA_TIMEOUT_MS;
    if (timeout > 0) {
      this.#watchdog = setInterval(() => this.checkMedia(timeout), Math.min(1000, timeout / 2));
      this.#watchdog.unref();
    }
  }

  #serial<T>(callId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(callId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.#locks.set(callId, tail);
    tail.then(() => {
      if (this.#locks.get(callId) === tail) this.#locks.delete(callId);
    });
    return next;
  }

  async #leg(session: MediaSession, name: string, profile: LegProfile | undefined): Promise<Leg> {
    const existing = session.legs.get(name);
    if (existing) {
      if (profile) existing.profile = { ...existing.profile, ...profile };
      return existing;
    }
    const pool = this.#o.pools.forTenant(session.tenant);
    if (!pool) throw new EngineError(403, 'no_pool', `tenant ${session.tenant} has no media port pool`);
    for (let attempt = 0; attempt < 16; attempt++) {
      const port = pool.take();
      if (port === null) break;
      try {
        const leg = await Leg.open({
          name,
          tenant: session.tenant,
          port,
          bindAddress: this.#o.bindAddress,
          profile: profile ?? {},
        });
        session.legs.set(name, leg);
        return leg;
      } catch {
        pool.release(port); // taken by someone else: back of the queue
      }
    }
    throw new EngineError(503, 'ports_exhausted', `no free media ports in pool ${pool.name}`);
  }

  #poolOf(session: MediaSession): PortPool | null {
    return this.#o.pools.forTenant(session.tenant);
  }

  async #persist(session: MediaSession): Promise<void> {
    const store = this.#o.store;
    if (!store) return;
    const legs: SessionRecord['legs'] = {};
    for (const [name, leg] of session.legs) {
      const sdp = session.receivedSdp(name);
      legs[name] = { profile: leg.profile, remoteSdp: sdp === null ? null : stripCrypto(sdp) };
    }
    try {
      await store.save({
        callId: session.callId,
        tenant: session.tenant,
        podId: this.podId,
        podUrl: this.podUrl,
        transcode: session.transcode,
        offerer: session.pending?.from ?? null,
        answerer: session.pending?.to ?? null,
        legs,
        updatedAt: Date.now(),
      });
    } catch (err) {
      this.storeErrors++;
      this.#o.onStoreError?.(err);
    }
  }

  /**
   * Take over a call from a pod that stopped answering: load its state from the store, open new ports here and
   * return a new offer per leg. Idempotent: a second call returns the same offers while answers are outstanding.
   */
  reanchor(callId: string): Promise<ReanchorResponse> {
    return this.#serial(callId, async () => {
      const existing = this.sessions.get(callId);
      const cached = existing?.replies.get('*:reanchor');
      if (existing && cached) return cached.response as ReanchorResponse;
      if (existing) throw new EngineError(409, 'already_here', `call ${callId} is already anchored on this pod`);
      if (!this.#o.store) throw new EngineError(501, 'no_store', 'no session store configured');
      const record = await this.#o.store.load(callId);
      if (!record) throw new EngineError(404, 'no_session', `no stored media session for call ${callId}`);
      const names = Object.keys(record.legs);
      if (names.length !== 2) throw new EngineError(409, 'incomplete', 'stored session does not have two legs');
      const session = new MediaSession(callId, record.tenant, this.#advertised);
      session.transcode = record.transcode;
      this.sessions.set(callId, session);
      try {
        const [x, y] = [
          await this.#leg(session, names[0]!, record.legs[names[0]!]!.profile),
          await this.#leg(session, names[1]!, record.legs[names[1]!]!.profile),
        ];
        x.peer = y;
        y.peer = x;
        const stored: Record<string, string> = {};
        for (const n of names) {
          const sdp = record.legs[n]!.remoteSdp;
          if (!sdp) throw new EngineError(409, 'incomplete', `no stored SDP for leg ${n}`);
          stored[n] = sdp;
        }
        const offers = session.reanchor(stored);
        const response: ReanchorResponse = {
          callId,
          offers,
          legs: Object.fromEntries([...session.legs].map(([n, l]) => [n, { port: l.port, rtcpPort: l.rtcpPort }])),
        };
        session.replies.set('*:reanchor', { fingerprint: '', response });
        await this.#persist(session);
        return response;
      } catch (err) {
        await this.#destroy(callId, false);
        throw mapError(err);
      }
    });
  }

  offer(callId: string, legName: string, req: OfferRequest): Promise<OfferResponse> {
    return this.#serial(callId, async () => {
      if (!req || typeof req.sdp !== 'string') throw new EngineError(400, 'bad_request', 'sdp is required');
      let session = this.sessions.get(callId);
      if (session && req.tenant && session.tenant !== req.tenant) {
        throw new EngineError(409, 'tenant_mismatch', 'call belongs to another tenant');
      }
      if (!session) {
        if (!req.tenant || typeof req.tenant !== 'string') {
          throw new EngineError(400, 'bad_request', 'tenant is required to create a session');
        }
        session = new MediaSession(callId, req.tenant, this.#advertised);
        this.sessions.set(callId, session);
      }
      const fp = fingerprint(req);
      const cached = session.replies.get(`${legName}:offer`);
      if (cached && cached.fingerprint === fp) return cached.response as OfferResponse;
      const toName = req.to ?? (legName === 'a' ? 'b' : 'a');
      if (toName === legName) throw new EngineError(400, 'bad_request', 'to must name the other leg');
      const created = !session.legs.size;
      try {
        const from = await this.#leg(session, legName, req.profiles?.[legName]);
        const to = await this.#leg(session, toName, req.profiles?.[toName]);
        from.peer = to;
        to.peer = from;
        const sdp = session.offer(from, to, req.sdp, req.transcode === true);
        const response: OfferResponse = {
          callId,
          from: legName,
          to: toName,
          sdp,
          legs: Object.fromEntries([...session.legs].map(([n, l]) => [n, { port: l.port, rtcpPort: l.rtcpPort }])),
        };
        // a new offer/answer round: earlier replies must not be replayed for it
        session.replies.clear();
        session.replies.set(`${legName}:offer`, { fingerprint: fp, response });
        session.reanchorPending.clear();
        await this.#persist(session);
        return response;
      } catch (err) {
        if (created) await this.#destroy(callId, false);
        throw mapError(err);
      }
    });
  }

  answer(callId: string, legName: string, req: AnswerRequest): Promise<AnswerResponse> {
    return this.#serial(callId, async () => {
      if (!req || typeof req.sdp !== 'string') throw new EngineError(400, 'bad_request', 'sdp is required');
      const session = this.sessions.get(callId);
      if (!session) throw new EngineError(404, 'no_session', `no media session for call ${callId}`);
      // an answer, even a repeated one (the 200 after a 183 with the same SDP), restarts the no-media clock: a long
      // silent early-media phase must not end the call the moment it is answered
      session.mediaSince = Date.now();
      const fp = fingerprint(req);
      const cached = session.replies.get(`${legName}:answer`);
      if (cached && cached.fingerprint === fp) return cached.response as AnswerResponse;
      if (session.reanchorPending.has(legName)) {
        try {
          session.answerReanchor(session.legs.get(legName)!, req.sdp);
        } catch (err) {
          throw mapError(err);
        }
        const response: AnswerResponse = { callId, from: legName, to: null, sdp: null };
        session.replies.set(`${legName}:answer`, { fingerprint: fp, response });
        await this.#persist(session);
        return response;
      }
      const pending = session.pending;
      if (!pending || pending.to !== legName) {
        throw new EngineError(409, 'no_offer', `no offer outstanding toward leg ${legName}`);
      }
      const from = session.legs.get(legName)!;
      const to = session.legs.get(pending.from)!;
      try {
        const sdp = session.answer(from, to, req.sdp);
        const response: AnswerResponse = { callId, from: legName, to: pending.from, sdp };
        session.replies.set(`${legName}:answer`, { fingerprint: fp, response });
        await this.#persist(session);
        return response;
      } catch (err) {
        throw mapError(err);
      }
    });
  }

  query(callId: string): SessionInfo | null {
    return this.sessions.get(callId)?.info() ?? null;
  }

  /** Delete a call: frees its ports and returns its final stats (for the CDR); null when unknown (idempotent). */
  delete(callId: string): Promise<SessionInfo | null> {
    return this.#serial(callId, () => this.#destroy(callId));
  }

  async #destroy(callId: string, forget = true): Promise<SessionInfo | null> {
    const session = this.sessions.get(callId);
    if (!session) return null;
    const info = session.info();
    this.sessions.delete(callId);
    if (forget && this.#o.store) {
      await this.#o.store.remove(callId, this.podId).catch((err: unknown) => {
        this.storeErrors++;
        this.#o.onStoreError?.(err);
      });
    }
    const pool = this.#poolOf(session);
    await Promise.all(
      [...session.legs.values()].map(async (leg) => {
        await leg.close();
        pool?.release(leg.port);
      }),
    );
    return info;
  }

  /**
   * One pass of the no-media watchdog (exposed for tests): a call turns silent when one of its legs sent nothing for
   * `timeoutMs`; `onNoMedia` hears of each call once per silent spell, `silentCalls()` lists the silent calls now.
   */
  checkMedia(timeoutMs: number, now = Date.now()): void {
    for (const s of this.sessions.values()) {
      const leg = silentLeg(s, timeoutMs, now);
      if (leg === null) {
        s.noMediaReported = false;
        continue;
      }
      if (s.noMediaReported) continue;
      s.noMediaReported = true;
      this.#o.onNoMedia?.(s.info(), leg);
    }
  }

  /** The calls the no-media watchdog finds silent (for the sbc-pods: they end these calls). */
  silentCalls(): string[] {
    const out: string[] = [];
    for (const s of this.sessions.values()) if (s.noMediaReported) out.push(s.callId);
    return out;
  }

  /** Stop: close every leg. `forget` (default true) also drops the stored state; false leaves it for re-anchoring. */
  async close(forget = true): Promise<void> {
    if (this.#watchdog) clearInterval(this.#watchdog);
    await Promise.all([...this.sessions.keys()].map((id) => this.#serial(id, () => this.#destroy(id, forget))));
  }
}

/**
 * The leg of a call that has been silent for `timeoutMs`, or null. Only an answered call counts (both legs have sent
 * SDP: no ringing phase), and never a call on hold: when a leg's SDP says inactive, sendonly or recvonly (or it
 * rejected the stream, port 0), one side is not expected to send, and music on hold is optional, so no leg counts.
 */
function silentLeg(s: MediaSession, timeoutMs: number, now: number): string | null {
  if (s.legs.size < 2) return null;
  for (const leg of s.legs.values()) {
    const r = leg.remote;
    if (!r || r.port === 0 || r.direction !== 'sendrecv') return null;
  }
  for (const [name, leg] of s.legs) {
    if (now - Math.max(leg.lastActivity, s.mediaSince) >= timeoutMs) return name;
  }
  return null;
}

function mapError(err: unknown): Error {
  if (err instanceof EngineError) return err;
  if (err instanceof SdpError || err instanceof NegotiationError) {
    return new EngineError(488, 'not_acceptable', err.message);
  }
  return err instanceof Error ? err : new Error(String(err));
}
