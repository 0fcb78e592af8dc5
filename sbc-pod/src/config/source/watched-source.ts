// The machinery shared by file-based config sources: watch a DIRECTORY (never the file: editors and kubelet replace
// files by rename, and kubelet's AtomicWriter swaps a `..data` symlink, after which a watch on the old file is deaf),
// coalesce bursts of events, serialise loads, poll as a fallback, and turn a load into a snapshot or a rejection.
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CertificateEntry } from '../../sip/transport/tls-certificates.ts';
import { compileConfig } from '../compiled.ts';
import type {
  CertificateProvider,
  CheckResult,
  ConfigSource,
  LoadOutcome,
  Rejection,
  Snapshot,
  SourceOptions,
} from './types.ts';

/** How many times a transient failure (a file being written) is retried quietly before it is reported. */
const TRANSIENT_RETRIES = 5;

export abstract class WatchedSource extends EventEmitter implements ConfigSource {
  readonly path: string;
  readonly origin: string;
  #certificates: CertificateProvider | undefined;
  #debounceMs: number;
  #maxDelayMs: number;
  #pollIntervalMs: number;
  protected readonly now: () => Date;
  #current: Snapshot | undefined;
  #certKey = '';
  #lastRejection = '';
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #pendingSince = 0;
  #running: Promise<CheckResult> | undefined;
  #again = false;
  #closed = false;
  #transient = 0;

  protected constructor(path: string, origin: string, opts: SourceOptions = {}) {
    super();
    this.path = path;
    this.origin = origin;
    this.#certificates = opts.certificates;
    this.#debounceMs = opts.debounceMs ?? 150;
    this.#maxDelayMs = opts.maxDelayMs ?? 1000;
    this.#pollIntervalMs = opts.pollIntervalMs ?? 30_000;
    this.now = opts.now ?? (() => new Date());
  }

  /** Read and validate the input. Must not throw (an exception is turned into a rejection anyway). */
  protected abstract load(previous: Snapshot | undefined): Promise<LoadOutcome>;

  current(): Snapshot | undefined {
    return this.#current;
  }

  async start(): Promise<void> {
    await this.#ensureWatcher();
    if (this.#pollIntervalMs > 0) {
      this.#poll = setInterval(() => {
        void this.#ensureWatcher();
        this.#schedule(0);
      }, this.#pollIntervalMs);
      this.#poll.unref();
    }
    await this.reload();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** Load now; when a load is already running, one more runs after it (and this resolves with that one). */
  reload(): Promise<CheckResult> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    return this.#check();
  }

  #check(): Promise<CheckResult> {
    const run = (async () => {
      let result: CheckResult;
      do {
        this.#again = false;
        result = await this.#loadOnce();
        if (!this.#closed) this.emit('checked', result);
      } while (this.#again && !this.#closed);
      return result;
    })();
    this.#running = run;
    void run.finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    return run;
  }

  async #loadOnce(): Promise<CheckResult> {
    const previous = this.#current;
    let outcome: LoadOutcome;
    try {
      outcome = await this.load(previous);
    } catch (err) {
      outcome = { ok: false, reason: `load failed: ${(err as Error)?.message ?? String(err)}`, problems: [] };
    }
    if (this.#closed) return { outcome: 'unchanged', version: previous?.config.version };
    if (!outcome.ok) {
      if (outcome.transient && this.#transient < TRANSIENT_RETRIES) {
        this.#transient++;
        this.#schedule();
        return { outcome: 'unchanged', version: previous?.config.version };
      }
      this.#transient = 0;
      return this.#reject(outcome.reason, outcome.problems);
    }
    this.#transient = 0;

    let certificates: CertificateEntry[] = previous?.certificates ?? [];
    let certKey = this.#certKey;
    // Asked on every load (watch, poll, reload), so renewals happen without a config change; providers cache.
    if (this.#certificates) {
      try {
        certificates = await this.#certificates(outcome.config);
      } catch (err) {
        return this.#reject(`certificates: ${(err as Error)?.message ?? String(err)}`, []);
      }
      certKey = certificates.map((c) => c.certPem).join('\n');
    }
    const sameConfig = previous !== undefined && previous.config.version === outcome.config.version;
    const sameReport =
      previous !== undefined &&
      JSON.stringify([previous.problems, previous.excluded]) === JSON.stringify([outcome.problems, outcome.excluded]);
    if (sameConfig && certKey === this.#certKey && sameReport) {
      this.#lastRejection = '';
      return { outcome: 'unchanged', version: previous.config.version };
    }
    // Same version but new certificates or a new problem report: re-emit with the compiled view reused.
    let compiled: Snapshot['compiled'];
    try {
      compiled = sameConfig ? previous.compiled : compileConfig(outcome.config);
    } catch (err) {
      return this.#reject(`compile failed: ${(err as Error)?.message ?? String(err)}`, []);
    }
    if (this.#closed) return { outcome: 'unchanged', version: previous?.config.version };
    const snapshot: Snapshot = {
      config: sameConfig ? previous.config : outcome.config,
      compiled,
      certificates,
      loadedAt: this.now(),
      origin: this.origin,
      problems: outcome.problems,
      excluded: outcome.excluded,
    };
    this.#current = snapshot;
    this.#certKey = certKey;
    this.#lastRejection = '';
    this.emit('snapshot', snapshot);
    return { outcome: 'snapshot', version: snapshot.config.version };
  }

  #reject(reason: string, problems: string[]): CheckResult {
    const version = this.#current?.config.version;
    // A poll re-reading the same bad input must not repeat the same rejection forever.
    const key = JSON.stringify([reason, problems]);
    if (key !== this.#lastRejection) {
      this.#lastRejection = key;
      const rejection: Rejection = { reason, problems, origin: this.origin };
      this.emit('rejected', rejection);
    }
    return { outcome: 'rejected', version };
  }

  /** Coalesce: a load runs `debounceMs` after the last event, but no later than `maxDelayMs` after the first. */
  #schedule(delay = this.#debounceMs): void {
    if (this.#closed) return;
    const now = Date.now();
    if (!this.#timer) this.#pendingSince = now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(delay, this.#pendingSince + this.#maxDelayMs - now));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reload();
    }, wait);
  }

  /** Watch the directory (recursively for a manifest tree), or a file's parent directory. */
  async #ensureWatcher(): Promise<void> {
    if (this.#watcher || this.#closed) return;
    let dir = this.path;
    let recursive = this.recursive;
    try {
      if (!(await stat(this.path)).isDirectory()) {
        dir = dirname(this.path);
        recursive = false;
      }
    } catch {
      dir = dirname(this.path);
      recursive = false;
    }
    if (this.#watcher || this.#closed) return;
    try {
      const watcher = watch(dir, { recursive, persistent: false }, () => this.#schedule());
      watcher.on('error', () => {
        // The directory went away (or inotify gave up): drop the watcher; the poll re-establishes it.
        watcher.close();
        if (this.#watcher === watcher) this.#watcher = undefined;
        this.#schedule();
      });
      this.#watcher = watcher;
    } catch {
      // Not there yet: the poll tries again.
    }
  }

  /** Watch subdirectories too (manifest trees). */
  protected get recursive(): boolean {
    return false;
  }
}
