// Config source for pods with the rendered-config ConfigMap mounted as a volume: one JSON document (`config.json`, a
// RenderedConfig) in a directory. kubelet's AtomicWriter lays the volume out as
//   <dir>/..2025_01_01_00_00_00.123456789/config.json   the real files, in a timestamped directory
//   <dir>/..data -> ..2025_01_01_00_00_00.123456789     swapped atomically (symlink ..data_tmp, rename over ..data)
//   <dir>/config.json -> ..data/config.json             stable names, symlinks through ..data
// so the directory is watched (the swap is a rename in it) and the file is re-read through its symlink. A file that
// is missing, not JSON, or fails validateRenderedConfig is rejected and the last good snapshot stays.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateRenderedConfig } from '../../../../crds/src/render/index.ts';
import { configForPool } from './pool.ts';
import type { LoadOutcome, SourceOptions } from './types.ts';
import { WatchedSource } from './watched-source.ts';

export interface RenderedSourceOptions extends SourceOptions {
  /** The document's file name in the directory (default `config.json`). */
  fileName?: string;
  /** Serve only the tenants of this signalling pool (SWITCHBOARD_SIGNALLING_POOL); unset = every pool. */
  signallingPool?: string | undefined;
}

/** Read and validate one rendered config file (keeping only the tenants of `signallingPool`, when given). */
export async function loadRenderedConfig(file: string, signallingPool?: string): Promise<LoadOutcome> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return {
      ok: false,
      reason: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      problems: [],
    };
  }
  if (text.length === 0) {
    return { ok: false, transient: true, reason: `${file} is empty (being written?)`, problems: [] };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `${file} is not JSON: ${(err as Error).message}`, problems: [] };
  }
  const check = validateRenderedConfig(doc);
  if (!check.ok) return { ok: false, reason: `${file} is not a valid rendered config`, problems: check.errors };
  return {
    ok: true,
    config: configForPool(check.config, signallingPool),
    problems: [],
    excluded: { tenants: [], trunks: [] },
  };
}

export class RenderedDirectorySource extends WatchedSource {
  readonly file: string;
  readonly signallingPool: string | undefined;

  constructor(dir: string, opts: RenderedSourceOptions = {}) {
    const file = join(dir, opts.fileName ?? 'config.json');
    super(dir, `rendered:${file}`, opts);
    this.file = file;
    this.signallingPool = opts.signallingPool;
  }

  protected override load(): Promise<LoadOutcome> {
    return loadRenderedConfig(this.file, this.signallingPool);
  }
}
