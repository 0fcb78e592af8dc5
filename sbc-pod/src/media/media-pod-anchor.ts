// The MediaAnchor that anchors every call's media on a media pod through its control API (media-pod/README.md).
// The inbound leg is media leg "a", the outbound leg "b". Teams legs get SRTP (SDES), ICE-lite and RTCP-mux;
// carrier legs plain RTP unless their trunk requires SRTP. Requests are idempotent on the media pod, so a retried
// offer (failover to the next trunk) returns the same ports and keys.
//
// Over a pool of media pods (SWITCHBOARD_MEDIA_URL as a comma list) new calls go round-robin to the pods that answer
// their health probe (`GET /v1/health`); a call stays on the pod it started on. When that pod stops answering (or
// comes back as another pod: its podId changed, its sessions are gone) the calls it held are reported through
// `onCallsLost`, and `reanchor` moves a call to a healthy pod of the pool (the pods share their state store).
//
// The pods come from a fixed list (SWITCHBOARD_MEDIA_URL) or are discovered (`discover`, e.g. the media pods'
// heartbeats in Redis: ./redis-discovery.ts): a new pod joins its pool; a pod whose heartbeat expired counts as one
// that stopped answering (its calls are reported lost and re-anchored within the pool).
//
// The health answer also lists the calls the pod finds silent (its no-media timeout): they are handed to the
// `onNoMedia` listeners (the B2BUA ends those it holds). Probing therefore runs with one pod too.
import type { MediaAnchor, MediaCallRef, MediaStats } from '../b2bua/media.ts';
import type { Logger } from '../log.ts';

/** A media pod refused an SDP: the call should be answered with `sipStatus` (488 for no common codec). */
export class MediaError extends Error {
  override name = 'MediaError';
  readonly sipStatus: number;
  constructor(message: string, sipStatus: number) {
    super(message);
    this.sipStatus = sipStatus;
  }
}

/** The media pod did not answer at all (connection refused, timeout): another pod of the pool may. */
class MediaPodUnreachable extends MediaError {
  override name = 'MediaPodUnreachable';
}

export interface MediaPodAnchorOptions {
  /** Control API base URL, e.g. http://127.0.0.1:9100 (one pod). */
  url?: string;
  /**
   * Control API base URLs. An entry `POOL=URL` puts that pod in a named media pool (a Tenant's `mediaPool`: dedicated
   * media pods for regulated customers); a bare URL is in pool `default`. Pods of one pool share a state store.
   */
  urls?: string[];
  timeoutMs?: number;
  /** Every media pool is served by these pods (local mode: one process anchors every tenant). */
  anyPool?: boolean;
  /**
   * Discover the media pods instead of (or besides) a fixed list: called at once and every `discoveryIntervalMs`;
   * returns every live pod (null, or a throw: could not look, keep what is known). See ./redis-discovery.ts.
   */
  discover?: () => Promise<DiscoveredMediaPod[] | null>;
  /** How often `discover` runs (default 1000 ms). */
  discoveryIntervalMs?: number;
  /**
   * Health probe interval; 0 = no probing (no lost-pod detection, no no-media reports). Default 1000 ms, one pod
   * included (the probe carries the pod's no-media report).
   */
  healthIntervalMs?: number;
  /** A probe that takes longer than this failed (default: the interval, at most `timeoutMs`). */
  healthTimeoutMs?: number;
  /** Consecutive failed probes before a pod counts as lost (default 2). */
  failuresBeforeDown?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

type Side = MediaCallRef['sides']['inbound'];

function profile(side: Side, carrierSrtp: boolean | undefined) {
  return side === 'teams' ? { srtp: true, ice: true, rtcpMux: true } : { srtp: carrierSrtp === true };
}

const legOf = (from: MediaCallRef['from']) => (from === 'inbound' ? 'a' : 'b');

export const DEFAULT_MEDIA_POOL = 'default';

/** A media pod a discovery found alive (its heartbeat): identity, control URL and media pool. */
export interface DiscoveredMediaPod {
  podId: string;
  url: string;
  pool: string;
}

interface Pod {
  url: string;
  pool: string;
  /** Answers its health probes (or was not found dead yet). */
  up: boolean;
  /** Discovered pods: its heartbeat is alive (always true for a configured URL). */
  listed: boolean;
  /** Discovered pods: the podId of the heartbeat; a health answer with another podId is another pod (this one died). */
  fixedId?: string;
  failures: number;
  probing: boolean;
  /** The podId its last health answer gave: a different one means the pod restarted and lost its sessions. */
  podId?: string;
  /** The process instance its last health answer gave: same podId, another instance = restarted, sessions lost. */
  instance?: string;
}

export interface MediaPodState {
  url: string;
  pool: string;
  /** New calls may go there: it answers its probes (and, when discovered, its heartbeat is alive). */
  up: boolean;
  podId?: string;
  calls: number;
}

export class MediaPodAnchor implements MediaAnchor {
  #pods: Pod[];
  #timeoutMs: number;
  #healthTimeoutMs: number;
  #failuresBeforeDown: number;
  #next = 0;
  #anyPool: boolean;
  /** Which pod holds each call this anchor knows of. */
  #callPod = new Map<string, Pod>();
  #lostListeners: Array<(callIds: string[]) => void> = [];
  #noMediaListeners: Array<(callIds: string[]) => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #logger: Pick<Logger, 'info' | 'warn'> | undefined;
  /** Discovery: the pod list changes (no single-pod shortcuts). */
  #discover: (() => Promise<DiscoveredMediaPod[] | null>) | undefined;
  #discoveryTimer: NodeJS.Timeout | undefined;
  #discovering = false;
  #discoveryFailing = false;
  #ready: Promise<void>;

  constructor(opts: MediaPodAnchorOptions) {
    const entries = [...(opts.urls ?? []), ...(opts.url ? opts.url.split(',') : [])]
      .map((u) => u.trim())
      .filter((u) => u.length > 0);
    this.#discover = opts.discover;
    if (entries.length === 0 && !this.#discover) throw new Error('MediaPodAnchor: no media pod URL');
    const pods = new Map<string, Pod>();
    for (const entry of entries) {
      // "POOL=URL" (a pool name has no ':' or '/'), else a bare URL in the default pool.
      const eq = entry.indexOf('=');
      const named = eq > 0 && !/[:/]/.test(entry.slice(0, eq));
      const pool = named ? entry.slice(0, eq) : DEFAULT_MEDIA_POOL;
      const url = (named ? entry.slice(eq + 1) : entry).replace(/\/$/, '');
      if (!pods.has(url)) pods.set(url, { url, pool, up: true, listed: true, failures: 0, probing: false });
    }
    this.#pods = [...pods.values()];
    this.#anyPool = opts.anyPool === true;
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    this.#failuresBeforeDown = Math.max(1, opts.failuresBeforeDown ?? 2);
    this.#logger = opts.logger;
    const interval = opts.healthIntervalMs ?? 1000;
    this.#healthTimeoutMs = opts.healthTimeoutMs ?? Math.min(this.#timeoutMs, Math.max(interval, 100));
    if (interval > 0) {
      this.#timer = setInterval(() => this.#probeAll(), interval);
      this.#timer.unref();
      this.#probeAll();
    }
    this.#ready = Promise.resolve();
    if (this.#discover) {
      this.#ready = this.#refresh();
      this.#discoveryTimer = setInterval(() => void this.#refresh(), opts.discoveryIntervalMs ?? 1000);
      this.#discoveryTimer.unref();
    }
  }

  /** Resolves once the first discovery has run (at once without discovery). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Stop probing and discovering (the pods are not touched). */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#discoveryTimer) clearInterval(this.#discoveryTimer);
    this.#timer = undefined;
    this.#discoveryTimer = undefined;
  }

  /** The pods of the pool and what the probe last found. */
  pods(): MediaPodState[] {
    return this.#pods.map((p) => ({
      url: p.url,
      pool: p.pool,
      up: usable(p),
      ...(p.podId ? { podId: p.podId } : {}),
      calls: [...this.#callPod.values()].filter((q) => q === p).length,
    }));
  }

  /** The URL of the pod holding a call, if this anchor knows it. */
  podOf(callId: string): string | undefined {
    return this.#callPod.get(callId)?.url;
  }

  onCallsLost(listener: (callIds: string[]) => void): void {
    this.#lostListeners.push(listener);
  }

  /** The calls a media pod reports silent (no RTP for its no-media timeout), from each health answer. */
  onNoMedia(listener: (callIds: string[]) => void): void {
    this.#noMediaListeners.push(listener);
  }

  // ---- discovery ----------------------------------------------------------------------------------------------

  async #refresh(): Promise<void> {
    if (this.#discovering || !this.#discover) return;
    this.#discovering = true;
    try {
      let found: DiscoveredMediaPod[] | null;
      try {
        found = await this.#discover();
      } catch (err) {
        if (!this.#discoveryFailing) this.#logger?.warn({ err: String(err) }, 'media pod discovery failed');
        this.#discoveryFailing = true;
        return;
      }
      if (found === null) return;
      if (this.#discoveryFailing) this.#logger?.info('media pod discovery works again');
      this.#discoveryFailing = false;
      const alive = new Set<string>();
      for (const d of found) {
        alive.add(d.podId);
        const url = d.url.replace(/\/$/, '');
        const pod = this.#pods.find((p) => p.fixedId === d.podId);
        if (!pod) {
          this.#pods.push({
            url,
            pool: d.pool,
            up: true,
            listed: true,
            fixedId: d.podId,
            podId: d.podId,
            failures: 0,
            probing: false,
          });
          this.#logger?.info({ podId: d.podId, url, pool: d.pool }, 'media pod discovered');
        } else if (!pod.listed) {
          pod.listed = true;
          this.#logger?.info({ podId: d.podId, url }, 'media pod heartbeat is back');
        }
      }
      for (const pod of this.#pods) {
        if (pod.fixedId === undefined || alive.has(pod.fixedId) || !pod.listed) continue;
        const was = usable(pod);
        pod.listed = false;
        if (was) {
          this.#logger?.warn({ podId: pod.fixedId, url: pod.url }, 'media pod heartbeat expired: its calls are lost');
          this.#lose(pod);
        }
      }
      // Forget discovered pods that are gone and hold no call any more (re-anchored or ended).
      const holding = new Set(this.#callPod.values());
      this.#pods = this.#pods.filter((p) => p.listed || p.fixedId === undefined || holding.has(p));
      if (this.#next >= this.#pods.length) this.#next = 0;
    } finally {
      this.#discovering = false;
    }
  }

  // ---- health -------------------------------------------------------------------------------------------------

  #probeAll(): void {
    for (const pod of this.#pods) if (!pod.probing) void this.#probe(pod);
  }

  async #probe(pod: Pod): Promise<void> {
    pod.probing = true;
    try {
      const res = await fetch(`${pod.url}/v1/health`, { signal: AbortSignal.timeout(this.#healthTimeoutMs) });
      const json = (await res.json().catch(() => ({}))) as { podId?: unknown; instance?: unknown; noMedia?: unknown };
      if (!res.ok) throw new Error(`status ${res.status}`);
      const podId = typeof json.podId === 'string' ? json.podId : undefined;
      if (pod.fixedId !== undefined && podId !== undefined && podId !== pod.fixedId) {
        // A discovered pod is its podId: another pod answering at its URL means it is gone (that one is discovered
        // through its own heartbeat).
        pod.failures = this.#failuresBeforeDown;
        if (pod.up) {
          pod.up = false;
          this.#logger?.warn({ url: pod.url, was: pod.fixedId, now: podId }, 'another media pod answers: calls lost');
          if (pod.listed) this.#lose(pod);
        }
        return;
      }
      const instance = typeof json.instance === 'string' ? json.instance : undefined;
      if (
        (pod.podId !== undefined && podId !== undefined && podId !== pod.podId) ||
        (pod.instance !== undefined && instance !== undefined && instance !== pod.instance)
      ) {
        this.#logger?.warn({ url: pod.url, was: pod.podId, now: podId }, 'media pod restarted: its calls are lost');
        this.#lose(pod);
      }
      if (podId !== undefined) pod.podId = podId;
      if (instance !== undefined) pod.instance = instance;
      pod.failures = 0;
      if (!pod.up) {
        pod.up = true;
        this.#logger?.info({ url: pod.url }, 'media pod answers again');
      }
      if (Array.isArray(json.noMedia)) {
        const silent = json.noMedia.filter((id): id is string => typeof id === 'string');
        if (silent.length > 0) this.#emit(this.#noMediaListeners, silent, 'no-media');
      }
    } catch (err) {
      this.#failed(pod, err);
    } finally {
      pod.probing = false;
    }
  }

  #failed(pod: Pod, err: unknown): void {
    pod.failures++;
    if (pod.up && pod.failures >= this.#failuresBeforeDown) {
      pod.up = false;
      this.#logger?.warn({ url: pod.url, err: String(err) }, 'media pod stopped answering');
      if (pod.listed) this.#lose(pod); // an unlisted pod's calls were reported when its heartbeat expired
    }
  }

  /** Report the calls held by a pod that is gone (they keep pointing at it until re-anchored). */
  #lose(pod: Pod): void {
    const ids = [...this.#callPod].filter(([, p]) => p === pod).map(([id]) => id);
    if (ids.length === 0) return;
    this.#emit(this.#lostListeners, ids, 'calls-lost');
  }

  #emit(listeners: Array<(callIds: string[]) => void>, ids: string[], what: string): void {
    for (const l of listeners) {
      try {
        l(ids);
      } catch (err) {
        this.#logger?.warn({ err: String(err) }, `${what} listener failed`);
      }
    }
  }

  /** The next healthy pod of `pool`, round-robin, skipping `skip`. A call never leaves its tenant's media pool. */
  #pick(skip: Set<Pod>, pool: string): Pod | undefined {
    for (let i = 0; i < this.#pods.length; i++) {
      const pod = this.#pods[(this.#next + i) % this.#pods.length]!;
      if (usable(pod) && (this.#anyPool || pod.pool === pool) && !skip.has(pod)) {
        this.#next = (this.#next + i + 1) % this.#pods.length;
        return pod;
      }
    }
    return undefined;
  }

  /** One configured pod and no discovery: every call is there. */
  #single(): boolean {
    return !this.#discover && this.#pods.length === 1;
  }

  // ---- control API --------------------------------------------------------------------------------------------

  async #call(pod: Pod, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(`${pod.url}${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new MediaPodUnreachable(`media pod ${pod.url} unreachable: ${String(err)}`, 503);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const status = res.status === 488 ? 488 : res.status === 503 || res.status === 403 ? 503 : 500;
      throw new MediaError(`media pod: ${String(json.error ?? res.status)} ${String(json.message ?? '')}`, status);
    }
    return json;
  }

  /**
   * The pod holding a call: the one this anchor put it on, else (a call another sbc-pod set up, or after a
   * restart) the pod of the pool that knows the session. One pod: that pod.
   */
  async #podOf(callId: string): Promise<Pod | undefined> {
    const known = this.#callPod.get(callId);
    if (known) return known;
    if (this.#single()) return this.#pods[0];
    // Asked of every healthy pod at once (a new call costs one parallel round of 404s).
    const found = await Promise.all(
      this.#pods
        .filter((p) => usable(p))
        .map((pod) =>
          this.#call(pod, 'GET', `/v1/sessions/${encodeURIComponent(callId)}`).then(
            () => pod,
            () => undefined, // not there (404) or not answering
          ),
        ),
    );
    const pod = found.find((p) => p !== undefined);
    if (pod && !this.#callPod.has(callId)) this.#callPod.set(callId, pod);
    return this.#callPod.get(callId) ?? pod;
  }

  async offer(ref: MediaCallRef, sdp: Buffer): Promise<Buffer> {
    const leg = legOf(ref.from);
    const body = {
      tenant: ref.tenant,
      sdp: sdp.toString('utf8'),
      to: leg === 'a' ? 'b' : 'a',
      profiles: { a: profile(ref.sides.inbound, ref.carrierSrtp), b: profile(ref.sides.outbound, ref.carrierSrtp) },
    };
    const path = `/v1/sessions/${encodeURIComponent(ref.callId)}/legs/${leg}/offer`;
    const held = await this.#podOf(ref.callId);
    // A re-offer on a known call stays on its pod (a pod-less call is new: it may start anywhere).
    if (held && (this.#callPod.has(ref.callId) || this.#single())) {
      const out = await this.#call(held, 'POST', path, body);
      this.#callPod.set(ref.callId, held);
      return Buffer.from(String(out.sdp), 'utf8');
    }
    // A new call: the next healthy pod of the tenant's media pool; one that does not answer is skipped (and counts a
    // failed probe). No pod in that pool means no anchoring: a dedicated pool never falls back onto shared pods.
    const pool = ref.pool ?? DEFAULT_MEDIA_POOL;
    const tried = new Set<Pod>();
    let last: unknown = new MediaError(`no healthy media pod in media pool "${pool}"`, 503);
    for (let pod = this.#pick(tried, pool); pod; pod = this.#pick(tried, pool)) {
      tried.add(pod);
      try {
        const out = await this.#call(pod, 'POST', path, body);
        this.#callPod.set(ref.callId, pod);
        return Buffer.from(String(out.sdp), 'utf8');
      } catch (err) {
        if (!(err instanceof MediaPodUnreachable)) throw err;
        last = err;
        this.#failed(pod, err);
      }
    }
    throw last;
  }

  async answer(ref: MediaCallRef, sdp: Buffer): Promise<Buffer> {
    const pod = await this.#podOf(ref.callId);
    if (!pod) throw new MediaError(`media: no pod holds call ${ref.callId}`, 500);
    const out = await this.#call(
      pod,
      'POST',
      `/v1/sessions/${encodeURIComponent(ref.callId)}/legs/${legOf(ref.from)}/answer`,
      { sdp: sdp.toString('utf8') },
    );
    return out.sdp === null ? sdp : Buffer.from(String(out.sdp), 'utf8');
  }

  async reanchor(callId: string): Promise<Record<'inbound' | 'outbound', Buffer>> {
    const from = this.#callPod.get(callId);
    const pool = from?.pool ?? DEFAULT_MEDIA_POOL;
    const tried = new Set<Pod>(from ? [from] : []);
    let last: unknown = new MediaError(`no healthy media pod in pool "${pool}" to re-anchor ${callId} on`, 503);
    for (let pod = this.#pick(tried, pool); pod; pod = this.#pick(tried, pool)) {
      tried.add(pod);
      try {
        const out = await this.#call(pod, 'POST', `/v1/sessions/${encodeURIComponent(callId)}/reanchor`);
        const offers = out.offers as { a?: unknown; b?: unknown } | undefined;
        if (typeof offers?.a !== 'string' || typeof offers.b !== 'string') {
          throw new MediaError(`media pod ${pod.url}: re-anchor answer without offers`, 500);
        }
        this.#callPod.set(callId, pod);
        this.#logger?.info({ callId, from: from?.url, to: pod.url }, 'call re-anchored');
        return { inbound: Buffer.from(offers.a, 'utf8'), outbound: Buffer.from(offers.b, 'utf8') };
      } catch (err) {
        if (!(err instanceof MediaPodUnreachable)) throw err;
        last = err;
        this.#failed(pod, err);
      }
    }
    throw last;
  }

  async reanchorAnswer(callId: string, leg: 'inbound' | 'outbound', sdp: Buffer): Promise<void> {
    const pod = this.#callPod.get(callId);
    if (!pod) throw new MediaError(`media: call ${callId} was not re-anchored here`, 500);
    await this.#call(pod, 'POST', `/v1/sessions/${encodeURIComponent(callId)}/legs/${legOf(leg)}/answer`, {
      sdp: sdp.toString('utf8'),
    });
  }

  async release(callId: string): Promise<MediaStats | undefined> {
    const pod = await this.#podOf(callId);
    this.#callPod.delete(callId);
    if (!pod) return undefined;
    const out = await this.#call(pod, 'DELETE', `/v1/sessions/${encodeURIComponent(callId)}`);
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

/** New calls may go to a pod that answers its probes and, when discovered, whose heartbeat is alive. */
function usable(pod: Pod): boolean {
  return pod.up && pod.listed;
}
