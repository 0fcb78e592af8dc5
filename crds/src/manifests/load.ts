// Reading manifests: files and directories of multi-document YAML (or JSON), the same files `kubectl apply -f` takes.
// Directories are read recursively in name order; hidden entries (dotfiles, kubelet's `..data`) and
// kustomization.yaml are skipped; `kind: List` documents are expanded into their items.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Problem } from './problems.ts';

export interface ManifestSource {
  file: string;
  /** 1-based document number in the file. */
  index: number;
}

export interface LoadedManifest {
  source: ManifestSource;
  object: Record<string, unknown>;
}

export interface LoadResult {
  files: string[];
  objects: LoadedManifest[];
  /** Unreadable files and YAML syntax errors. */
  problems: Problem[];
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** Load every manifest under the given files/directories, in a deterministic order. */
export async function loadManifests(paths: readonly string[]): Promise<LoadResult> {
  const result: LoadResult = { files: [], objects: [], problems: [] };
  for (const path of paths) {
    let files: string[];
    try {
      files = await expand(path, true);
    } catch (err) {
      result.problems.push({ severity: 'error', file: path, path: '', message: `cannot read: ${errorText(err)}` });
      continue;
    }
    for (const file of files) {
      result.files.push(file);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        result.problems.push({ severity: 'error', file, path: '', message: `cannot read: ${errorText(err)}` });
        continue;
      }
      const parsed = parseManifests(text, file);
      result.objects.push(...parsed.objects);
      result.problems.push(...parsed.problems);
    }
  }
  return result;
}

/** Parse one multi-document YAML text. Empty documents are skipped but still counted. */
export function parseManifests(text: string, file: string): { objects: LoadedManifest[]; problems: Problem[] } {
  const objects: LoadedManifest[] = [];
  const problems: Problem[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true });
  docs.forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        problems.push({ severity: 'error', file, index, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
      }
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ severity: 'error', file, index, path: '', message: 'document is not an object' });
      return;
    }
    const obj = value as Record<string, unknown>;
    if (obj.kind === 'List' && Array.isArray(obj.items)) {
      obj.items.forEach((item, j) => {
        if (item && typeof item === 'object' && !Array.isArray(item)) {
          objects.push({ source: { file, index }, object: item as Record<string, unknown> });
        } else {
          problems.push({ severity: 'error', file, index, path: `items[${j}]`, message: 'list item is not an object' });
        }
      });
      return;
    }
    objects.push({ source: { file, index }, object: obj });
  });
  return { objects, problems };
}

async function expand(path: string, explicit: boolean): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return explicit || MANIFEST_EXT.test(path) ? [path] : [];
  const names = (await readdir(path)).filter((n) => !n.startsWith('.') && !/^kustomization\.ya?ml$/i.test(n)).sort();
  const out: string[] = [];
  for (const name of names) {
    const child = join(path, name);
    const childInfo = await stat(child);
    if (childInfo.isDirectory()) out.push(...(await expand(child, false)));
    else if (MANIFEST_EXT.test(name)) out.push(child);
  }
  return out;
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}` : String(err);
}
