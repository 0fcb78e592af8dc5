// Runs every workspace's *.test.ts files in one `node --test` run, so the run ends with one summary line.
// Usage: npm test [-- <path-substring> ...]   (filters the file list; no filter = everything)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const workspaces = ['crds', 'sbc-pod', 'media-pod', 'operator', 'cli', 'e2e', 'charts', 'scripts'];
const skipDirs = new Set(['node_modules', '.cache', 'testdata', 'dist']);

function collect(dir: string, out: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (skipDirs.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
}

const files: string[] = [];
for (const ws of workspaces) collect(join(root, ws), files);
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
selected.sort();
const concurrency = process.env.SWITCHBOARD_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=240000', ...selected],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
