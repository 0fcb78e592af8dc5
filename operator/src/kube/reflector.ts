// A supervised list+watch cache ("informers lie", DESIGN.md §4): list, then watch from the list's resourceVersion
// with bookmarks; on a clean close re-watch from the last resourceVersion; on 410 Gone (or an expired
// resourceVersion) re-list; on any other error back off exponentially with jitter and re-list; re-list
// periodically anyway (a watch can go silent without an error). Every change calls onChange (the caller coalesces).
import { KubeApiError, type KubeClient, type KubeObject } from './client.ts';

export interface ReflectorOptions {
  name: string;
  /** Collection path, e.g. /apis/switchboard.dev/v1alpha1/tenants or /api/v1/namespaces/x/configmaps. */
  path: string;
  labelSelector?: string;
  /** Full re-list interval (default 5 min, ±10% jitter). */
  relistMs?: number;
  /** Server-side watch timeout (default 240 s, jittered). */
  watchTimeoutSeconds?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onChange: (type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'RELIST', obj?: KubeObject) => void;
  onError?: (err: unknown) => void;
}

export function objectKey(obj: KubeObject): string {
  return obj.metadata?.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : (obj.metadata?.name ?? '');
}

function jitter(ms: number, fraction = 0.2): number {
  return Math.round(ms * (1 - fraction / 2 + Math.random() * fraction));
}

export class Reflector {
  readonly opts: ReflectorOptions;
  readonly #client: KubeClient;
  readonly #store = new Map<string, KubeObject>();
  #rv = '';
  #stopped = false;
  #synced = false;
  #syncedWaiters: (() => void)[] = [];
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #relistAt = 0;
  #loop: Promise<void> | undefined;
  /** Restarts after errors (a metric). */
  restarts = 0;
  lastError: unknown;

  constructor(client: KubeClient, opts: ReflectorOptions) {
    this.#client = client;
    this.opts = opts;
  }

  get synced(): boolean {
    return this.#synced;
  }

  list(): KubeObject[] {
    return [...this.#store.values()];
  }
  get(key: string): KubeObject | undefined {
    return this.#store.get(key);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Resolves after the first successful list (bounded by the caller). */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#syncedWaiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  /** Force a re-list soon (e.g. after a suspected missed event). */
  relist(): void {
    this.#relistAt = 0;
    this.#abort?.abort();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    const minBackoff = this.opts.minBackoffMs ?? 500;
    const maxBackoff = this.opts.maxBackoffMs ?? 30_000;
    let backoff = minBackoff;
    while (!this.#stopped) {
      try {
        if (!this.#rv || Date.now() >= this.#relistAt) await this.#list();
        const outcome = await this.#watch();
        backoff = minBackoff;
        if (outcome === 'gone') this.#rv = '';
      } catch (err) {
        if (this.#stopped) break;
        this.restarts++;
        this.lastError = err;
        this.opts.onError?.(err);
        if (err instanceof KubeApiError && err.code === 410) this.#rv = '';
        else this.#rv = ''; // re-list after any error: the cache may have missed events
        await this.#sleep(jitter(backoff, 0.5));
        backoff = Math.min(maxBackoff, backoff * 2);
      }
    }
  }

  async #list(): Promise<void> {
    const query = this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : undefined;
    const list = await this.#client.list(this.opts.path, query);
    const fresh = new Map<string, KubeObject>();
    for (const item of list.items) fresh.set(objectKey(item), item);
    let changed = fresh.size !== this.#store.size;
    if (!changed) {
      for (const [k, v] of fresh) {
        if (this.#store.get(k)?.metadata?.resourceVersion !== v.metadata?.resourceVersion) {
          changed = true;
          break;
        }
      }
    }
    this.#store.clear();
    for (const [k, v] of fresh) this.#store.set(k, v);
    this.#rv = list.metadata.resourceVersion ?? '';
    this.#relistAt = Date.now() + jitter(this.opts.relistMs ?? 300_000);
    const first = !this.#synced;
    this.#synced = true;
    if (first) for (const w of this.#syncedWaiters.splice(0)) w();
    if (changed || first) this.opts.onChange('RELIST');
  }

  /** Watch until the server closes the stream ('closed'), the resourceVersion is too old ('gone'), or re-list time. */
  async #watch(): Promise<'closed' | 'gone'> {
    // Loaded lazily: importing client-node costs ~0.5 s, which processes that only include this module for its
    // types (local mode, via the config-source index) should not pay.
    const { Watch } = await import('@kubernetes/client-node');
    const watch = new Watch(this.#client.kc);
    const timeout = jitter(this.opts.watchTimeoutSeconds ?? 240);
    const remaining = Math.max(1, Math.floor((this.#relistAt - Date.now()) / 1000));
    return new Promise((resolve, reject) => {
      let gone = false;
      let settled = false;
      const done = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(relistTimer);
        if (this.#stopped || (err as Error)?.name === 'AbortError') return resolve('closed');
        if (gone) return resolve('gone');
        const code = (err as { statusCode?: number; code?: number })?.statusCode ?? (err as { code?: number })?.code;
        if (code === 410) return resolve('gone');
        if (err) return reject(err);
        resolve('closed');
      };
      // Re-list on schedule even when the watch is quiet.
      const relistTimer = setTimeout(() => this.#abort?.abort(), Math.max(0, this.#relistAt - Date.now()));
      watch
        .watch(
          this.opts.path,
          {
            resourceVersion: this.#rv,
            allowWatchBookmarks: true,
            timeoutSeconds: Math.min(timeout, remaining),
            ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
          },
          (type: string, obj: KubeObject & { code?: number }) => {
            if (type === 'ERROR') {
              if (obj?.code === 410) gone = true;
              this.#abort?.abort();
              return;
            }
            const rv = obj?.metadata?.resourceVersion;
            if (rv) this.#rv = rv;
            if (type === 'BOOKMARK') return;
            const key = objectKey(obj);
            if (type === 'DELETED') this.#store.delete(key);
            else if (type === 'ADDED' || type === 'MODIFIED') this.#store.set(key, obj);
            else return;
            this.opts.onChange(type, obj);
          },
          done,
        )
        .then((ac) => {
          this.#abort = ac;
          if (this.#stopped) ac.abort();
        })
        .catch(done);
    });
  }
}
