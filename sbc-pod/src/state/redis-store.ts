// The dialog store in Redis, shared by every sbc-pod. Keys are hash-tagged for Redis Cluster:
//   sb:{call:<id>}:dialog   hash {v: version, o: owner pod, j: the StoredCall JSON}, PX = the call's TTL
//   sb:{call:<id>}:lock     SET NX PX <token>; released by a compare-and-delete script
//   sb:{call:<id>}:ended    SET NX: the one pod that sets it ends the call (BYEs, CDR) — exactly once
//   sb:{cid:<Call-ID>}:tag:<our tag>  → call id (one GET finds the call of an in-dialog request)
//   sb:timers               sorted set "<id>|<kind>" scored by deadline; a claim script ZREMs what it hands out
//   sb:pod:<pod>            pub/sub channel of one pod (a CANCEL that reached another pod); PUBLISH's count of
//                           receivers says whether that pod is still there
//   sb:pods                 hash pod → last heartbeat (ms, Redis's clock; 0 = left): pod liveness
//   sb:{pod:<pod>}:calls    set of the ids of the calls the pod owns (moved by a save that changes the owner, emptied
//                           by finish): what a survivor adopts when that pod stops heartbeating
// Scripts only touch keys of one slot each; the index keys, the timer set and the owner sets are written by separate
// commands after the script that decides.
import type { Redis } from 'ioredis';
import {
  type DeadlineKind,
  type DialogStore,
  dialogKeys,
  type PodMessage,
  type SaveResult,
  type StoredCall,
} from './store.ts';

export const TIMERS_KEY = 'sb:timers';
export const recordKey = (id: string) => `sb:{call:${id}}:dialog`;
export const lockKey = (id: string) => `sb:{call:${id}}:lock`;
export const endedKey = (id: string) => `sb:{call:${id}}:ended`;
export const indexKey = (callId: string, tag: string) => `sb:{cid:${callId}}:tag:${tag}`;
export const podChannel = (pod: string) => `sb:pod:${pod}`;
export const PODS_KEY = 'sb:pods';
export const ownedKey = (pod: string) => `sb:{pod:${pod}}:calls`;

const SAVE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 'ended' end
if ARGV[1] ~= '' then
  local cur = redis.call('HGET', KEYS[1], 'v')
  if (cur or '0') ~= ARGV[1] then return 'conflict' end
end
local prev = redis.call('HGET', KEYS[1], 'o') or ''
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'o', ARGV[3], 'j', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if prev == ARGV[3] then return 'ok' end
return 'ok|' .. prev`;

const FINISH = `
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  local owner = redis.call('HGET', KEYS[1], 'o') or ''
  redis.call('DEL', KEYS[1])
  return {1, owner}
end
return {0, ''}`;

const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, m in ipairs(due) do
  if redis.call('ZREM', KEYS[1], m) == 1 then out[#out + 1] = m end
end
return out`;

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const HEARTBEAT = `${NOW_MS}
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now))
return 1`;

const STALE = `${NOW_MS}
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local seen = tonumber(all[i + 1]) or 0
  if now - seen > tonumber(ARGV[1]) then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out`;

const FORGET_POD = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`;

type Scripted = Redis & {
  sbSave(
    rec: string,
    ended: string,
    expect: string,
    v: string,
    owner: string,
    json: string,
    ttl: string,
  ): Promise<string>;
  sbFinish(rec: string, ended: string, ttl: string): Promise<[number, string]>;
  sbHeartbeat(pods: string, pod: string): Promise<number>;
  sbStale(pods: string, graceMs: string): Promise<string[]>;
  sbForgetPod(pods: string, pod: string, seen: string): Promise<number>;
  sbUnlock(lock: string, token: string): Promise<number>;
  sbClaim(timers: string, now: string, limit: string): Promise<string[]>;
};

export interface RedisDialogStoreOptions {
  /** How long the end marker outlives the call (late retransmissions find it). Default 24 h. */
  endedTtlMs?: number;
  /** Close the client in close() (default true). */
  ownsClient?: boolean;
}

export class RedisDialogStore implements DialogStore {
  readonly shared = true;
  #redis: Scripted;
  #up: boolean;
  #listeners: Array<(up: boolean) => void> = [];
  #endedTtlMs: number;
  #owns: boolean;
  #sub: Redis | undefined;

  constructor(redis: Redis, opts: RedisDialogStoreOptions = {}) {
    this.#redis = redis as Scripted;
    this.#endedTtlMs = opts.endedTtlMs ?? 24 * 3600_000;
    this.#owns = opts.ownsClient ?? true;
    redis.defineCommand('sbSave', { numberOfKeys: 2, lua: SAVE });
    redis.defineCommand('sbFinish', { numberOfKeys: 2, lua: FINISH });
    redis.defineCommand('sbUnlock', { numberOfKeys: 1, lua: UNLOCK });
    redis.defineCommand('sbClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('sbHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT });
    redis.defineCommand('sbStale', { numberOfKeys: 1, lua: STALE });
    redis.defineCommand('sbForgetPod', { numberOfKeys: 1, lua: FORGET_POD });
    this.#up = redis.status === 'ready';
    const set = (up: boolean) => {
      if (up === this.#up) return;
      this.#up = up;
      for (const fn of this.#listeners) fn(up);
    };
    redis.on('ready', () => set(true));
    redis.on('close', () => set(false));
    redis.on('end', () => set(false));
    redis.on('reconnecting', () => set(false));
  }

  healthy(): boolean {
    return this.#up;
  }

  onHealth(fn: (up: boolean) => void): void {
    this.#listeners.push(fn);
  }

  async save(call: StoredCall, opts: { ttlMs: number; expect?: number | undefined }): Promise<SaveResult> {
    const ttl = String(Math.max(1000, Math.round(opts.ttlMs)));
    const pipe = this.#redis.pipeline() as ReturnType<Redis['pipeline']> & {
      sbSave(...a: string[]): unknown;
    };
    pipe.sbSave(
      recordKey(call.id),
      endedKey(call.id),
      opts.expect === undefined ? '' : String(opts.expect),
      String(call.v),
      call.owner,
      JSON.stringify(call),
      ttl,
    );
    for (const k of dialogKeys(call)) pipe.set(indexKey(k.callId, k.tag), call.id, 'PX', ttl);
    const results = (await pipe.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    const res = (results[0]?.[1] as string | undefined) ?? 'conflict';
    if (!res.startsWith('ok|')) return res as SaveResult;
    // The owner changed (or the call is new): index it under its new owner, then drop it from the old one's set (in
    // that order: a pod dying in between leaves it in both, which a sweeper repairs, never in neither).
    const prev = res.slice(3);
    const move = this.#redis.pipeline().sadd(ownedKey(call.owner), call.id);
    if (prev) move.srem(ownedKey(prev), call.id);
    for (const [err] of (await move.exec()) ?? []) if (err) throw err;
    return 'ok';
  }

  async load(id: string): Promise<StoredCall | undefined> {
    const json = await this.#redis.hget(recordKey(id), 'j');
    return json ? (JSON.parse(json) as StoredCall) : undefined;
  }

  async lookup(callId: string, tag: string): Promise<string | undefined> {
    return (await this.#redis.get(indexKey(callId, tag))) ?? undefined;
  }

  async finish(call: { id: string; dialogs: Array<{ callId: string; tag: string }> }): Promise<boolean> {
    const [won, owner] = await this.#redis.sbFinish(recordKey(call.id), endedKey(call.id), String(this.#endedTtlMs));
    if (won === 1) {
      const pipe = this.#redis.pipeline();
      for (const k of call.dialogs) pipe.del(indexKey(k.callId, k.tag));
      pipe.zrem(TIMERS_KEY, `${call.id}|session`, `${call.id}|no-answer`);
      if (owner) pipe.srem(ownedKey(owner), call.id);
      await pipe.exec();
    }
    return won === 1;
  }

  async lock(id: string, ttlMs: number): Promise<string | undefined> {
    const token = `${process.pid}.${Math.random().toString(36).slice(2)}`;
    const ok = await this.#redis.set(lockKey(id), token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
    return ok === 'OK' ? token : undefined;
  }

  async unlock(id: string, token: string): Promise<void> {
    await this.#redis.sbUnlock(lockKey(id), token);
  }

  async schedule(id: string, kind: DeadlineKind, at: number | undefined): Promise<void> {
    if (at === undefined) await this.#redis.zrem(TIMERS_KEY, `${id}|${kind}`);
    else await this.#redis.zadd(TIMERS_KEY, Math.round(at), `${id}|${kind}`);
  }

  async claimDue(now: number, limit: number): Promise<Array<{ id: string; kind: DeadlineKind }>> {
    const members = await this.#redis.sbClaim(TIMERS_KEY, String(Math.round(now)), String(limit));
    return members.map((m) => {
      const bar = m.lastIndexOf('|');
      return { id: m.slice(0, bar), kind: m.slice(bar + 1) as DeadlineKind };
    });
  }

  async heartbeat(pod: string): Promise<void> {
    await this.#redis.sbHeartbeat(PODS_KEY, pod);
  }

  async leave(pod: string): Promise<void> {
    await this.#redis.hset(PODS_KEY, pod, '0');
  }

  async stalePods(graceMs: number): Promise<Array<{ pod: string; seen: number }>> {
    const flat = await this.#redis.sbStale(PODS_KEY, String(Math.max(0, Math.round(graceMs))));
    const out: Array<{ pod: string; seen: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ pod: flat[i]!, seen: Number(flat[i + 1]) });
    return out;
  }

  async ownedBy(pod: string, limit: number): Promise<string[]> {
    return await this.#redis.srandmember(ownedKey(pod), Math.max(1, limit));
  }

  async reindex(id: string, from: string, to: string | undefined): Promise<void> {
    const pipe = this.#redis.pipeline();
    if (to && to !== from) {
      pipe.sadd(ownedKey(to), id);
      // Its owner may be gone as well: make sure sweepers look at it.
      pipe.hsetnx(PODS_KEY, to, '0');
    }
    if (to !== from) pipe.srem(ownedKey(from), id);
    for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
  }

  async forgetPod(pod: string, seen: number): Promise<boolean> {
    if ((await this.#redis.scard(ownedKey(pod))) > 0) return false;
    return (await this.#redis.sbForgetPod(PODS_KEY, pod, String(seen))) === 1;
  }

  async notify(pod: string, msg: PodMessage): Promise<number> {
    return await this.#redis.publish(podChannel(pod), JSON.stringify(msg));
  }

  async listen(pod: string, fn: (msg: PodMessage) => void): Promise<void> {
    // A subscriber needs its own connection; it queues the SUBSCRIBE until connected and re-subscribes on reconnect.
    const sub = this.#redis.duplicate({ enableOfflineQueue: true });
    this.#sub = sub;
    sub.on('error', () => {});
    sub.on('message', (_channel: string, text: string) => {
      try {
        fn(JSON.parse(text) as PodMessage);
      } catch {
        // not ours
      }
    });
    await sub.subscribe(podChannel(pod));
  }

  async close(): Promise<void> {
    this.#sub?.disconnect();
    if (this.#owns) this.#redis.disconnect();
  }
}
