// Config sources: where a pod's rendered config comes from (DESIGN.md §4). Every source yields the same stream of
// validated snapshots; a bad input never replaces the last good snapshot.
import type { EventEmitter } from 'node:events';
import type { RenderedConfig } from '../../../../crds/src/render/config-types.ts';
import type { CertificateEntry } from '../../sip/transport/tls-certificates.ts';
import type { CompiledConfig } from '../compiled.ts';

/**
 * A validated, compiled config the pod can swap in. Immutable once emitted. A new one is emitted when the config
 * version, the certificates or the problem report change (the last two reuse the compiled view).
 */
export interface Snapshot {
  config: RenderedConfig;
  compiled: CompiledConfig;
  /** TLS certificates to serve (SNI table entries), from the source's certificate provider; [] without one. */
  certificates: CertificateEntry[];
  loadedAt: Date;
  /** Where it came from, e.g. `manifests:/etc/switchboard` or `rendered:/config/config.json`. */
  origin: string;
  /**
   * Problems that did not stop the snapshot (warnings, and errors of tenants/trunks left out of it), formatted with
   * their file and field path.
   */
  problems: string[];
  /** Tenants and trunks declared in the input but left out of the snapshot because of errors. */
  excluded: { tenants: string[]; trunks: string[] };
}

/** Payload of 'rejected': the input was not swapped in; current() still returns the last good snapshot. */
export interface Rejection {
  reason: string;
  problems: string[];
  origin: string;
}

/** Payload of 'checked', emitted after every load attempt (watch event, poll, or reload()). */
export interface CheckResult {
  outcome: 'snapshot' | 'unchanged' | 'rejected';
  /** The version now live (undefined before the first good snapshot). */
  version: string | undefined;
}

/**
 * Events: 'snapshot' (Snapshot), 'rejected' (Rejection), 'checked' (CheckResult). Never 'error': failures are
 * rejections, so a source cannot crash the process.
 */
export interface ConfigSource extends EventEmitter {
  /** Start watching and load once; resolves after the first load attempt (which may have been rejected). */
  start(): Promise<void>;
  /** The last good snapshot, if any. */
  current(): Snapshot | undefined;
  /** Load now (serialised with watch-triggered loads). */
  reload(): Promise<CheckResult>;
  close(): Promise<void>;
}

/**
 * Certificates for a config: the local CA (local mode), or files/Secrets. Called on every load (so renewals need no
 * config change); it should cache. A changed result is emitted as a new snapshot with the same config version.
 */
export type CertificateProvider = (config: RenderedConfig) => Promise<CertificateEntry[]> | CertificateEntry[];

export interface SourceOptions {
  certificates?: CertificateProvider;
  /** Quiet time that ends a burst of file events (default 150 ms). */
  debounceMs?: number;
  /** Longest a burst may postpone a load (default 1000 ms). */
  maxDelayMs?: number;
  /** Re-read periodically even without events: inotify can overflow, watched directories can vanish (default 30 s; 0 = off). */
  pollIntervalMs?: number;
  /** Clock (tests). */
  now?: () => Date;
}

/** What a source's loader produced from its input. */
export type LoadOutcome =
  | { ok: true; config: RenderedConfig; problems: string[]; excluded: { tenants: string[]; trunks: string[] } }
  | {
      ok: false;
      reason: string;
      problems: string[];
      /** Probably a write in progress (an empty file): retried shortly, reported only if it persists. */
      transient?: boolean;
    };
