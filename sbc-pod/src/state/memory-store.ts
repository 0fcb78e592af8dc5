// The in-memory dialog store of local mode (no SWITCHBOARD_REDIS_URL): the same semantics as the Redis store within
// one process — versions, locks, the exactly-once end, claimable deadlines, pod liveness and owner indexes — so the
// B2BUA code path is one (nothing sweeps it: only shared stores have other pods to adopt calls).
import { randomBytes } from 'node:crypto';
import { type DeadlineKind, type DialogStore, dialogKeys, type SaveResult, type StoredCall } from './store.ts';

export class MemoryDialogStore implements DialogStore {
  readonly shared = false;
  #records = new Map<string, { json: string; v: number; expires: number }>();
  #index = new Map<string, { id: string; expires: number }>();
  #ended = new Map<string, number>();
  #locks = new Map<string, { token: string; expires: number }>();
  #timers = new Map<string, number>();
  #pods = new Map<string, number>();
  #owned = new Map<string, Set<string>>();
  #now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  healthy(): boolean {
    return true;
  }

  onHealth(): void {}

  async save(call: StoredCall, opts: { ttlMs: number; expect?: number | undefined }): Promise<SaveResult> {
    const now = this.#now();
    this.#sweep(now);
    if (this.#ended.has(call.id)) return 'ended';
    const cur = this.#records.get(call.id);
    if (opts.expect !== undefined && (cur?.v ?? 0) !== opts.expect) return 'conflict';
    const expires = now + opts.ttlMs;
    const prev = cur && cur.expires > now ? (JSON.parse(cur.json) as StoredCall).owner : undefined;
    if (prev !== call.owner) {
      this.#ownedSet(call.owner).add(call.id);
      if (prev !== undefined) this.#owned.get(prev)?.delete(call.id);
    }
    this.#records.set(call.id, { json: JSON.stringify(call), v: call.v, expires });
    for (const k of dialogKeys(call)) this.#index.set(`${k.callId}|${k.tag}`, { id: call.id, expires });
    return 'ok';
  }

  async load(id: string): Promise<StoredCall | undefined> {
    this.#sweep(this.#now());
    const r = this.#records.get(id);
    return r && r.expires > this.#now() ? (JSON.parse(r.json) as StoredCall) : undefined;
  }

  async lookup(callId: string, tag: string): Promise<string | undefined> {
    this.#sweep(this.#now());
    return this.#index.get(`${callId}|${tag}`)?.id;
  }

  async finish(call: { id: string; dialogs: Array<{ callId: string; tag: string }> }): Promise<boolean> {
    if (this.#ended.has(call.id)) return false;
    this.#ended.set(call.id, this.#now() + 24 * 3600_000);
    const rec = this.#records.get(call.id);
    if (rec) this.#owned.get((JSON.parse(rec.json) as StoredCall).owner)?.delete(call.id);
    this.#records.delete(call.id);
    for (const k of call.dialogs) this.#index.delete(`${k.callId}|${k.tag}`);
    for (const kind of ['session', 'no-answer'] as const) this.#timers.delete(`${call.id}|${kind}`);
    return true;
  }

  async lock(id: string, ttlMs: number): Promise<string | undefined> {
    const now = this.#now();
    const held = this.#locks.get(id);
    if (held && held.expires > now) return undefined;
    const token = randomBytes(9).toString('base64url');
    this.#locks.set(id, { token, expires: now + ttlMs });
    return token;
  }

  async unlock(id: string, token: string): Promise<void> {
    if (this.#locks.get(id)?.token === token) this.#locks.delete(id);
  }

  async schedule(id: string, kind: DeadlineKind, at: number | undefined): Promise<void> {
    if (at === undefined) this.#timers.delete(`${id}|${kind}`);
    else this.#timers.set(`${id}|${kind}`, at);
  }

  async claimDue(now: number, limit: number): Promise<Array<{ id: string; kind: DeadlineKind }>> {
    const out: Array<{ id: string; kind: DeadlineKind }> = [];
    for (const [member, at] of [...this.#timers].sort((a, b) => a[1] - b[1])) {
      if (at > now || out.length >= limit) break;
      this.#timers.delete(member);
      const bar = member.lastIndexOf('|');
      out.push({ id: member.slice(0, bar), kind: member.slice(bar + 1) as DeadlineKind });
    }
    return out;
  }

  async heartbeat(pod: string): Promise<void> {
    this.#pods.set(pod, this.#now());
  }

  async leave(pod: string): Promise<void> {
    this.#pods.set(pod, 0);
  }

  async stalePods(graceMs: number): Promise<Array<{ pod: string; seen: number }>> {
    const now = this.#now();
    return [...this.#pods].filter(([, seen]) => now - seen > graceMs).map(([pod, seen]) => ({ pod, seen }));
  }

  async ownedBy(pod: string, limit: number): Promise<string[]> {
    const ids = [...(this.#owned.get(pod) ?? [])];
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    return ids.slice(0, Math.max(1, limit));
  }

  async reindex(id: string, from: string, to: string | undefined): Promise<void> {
    if (to === from) return;
    if (to !== undefined) {
      this.#ownedSet(to).add(id);
      if (!this.#pods.has(to)) this.#pods.set(to, 0);
    }
    this.#owned.get(from)?.delete(id);
  }

  async forgetPod(pod: string, seen: number): Promise<boolean> {
    if ((this.#owned.get(pod)?.size ?? 0) > 0 || this.#pods.get(pod) !== seen) return false;
    this.#pods.delete(pod);
    this.#owned.delete(pod);
    return true;
  }

  async close(): Promise<void> {}

  #ownedSet(pod: string): Set<string> {
    const set = this.#owned.get(pod) ?? new Set<string>();
    this.#owned.set(pod, set);
    return set;
  }

  #lastSweep = 0;

  /** Expire records, index entries and end markers (at most once a second: O(n)). */
  #sweep(now: number): void {
    if (now - this.#lastSweep < 1000) return;
    this.#lastSweep = now;
    for (const [k, r] of this.#records) if (r.expires <= now) this.#records.delete(k);
    for (const [k, r] of this.#index) if (r.expires <= now) this.#index.delete(k);
    for (const [k, t] of this.#ended) if (t <= now) this.#ended.delete(k);
  }
}
