// Runs every benchmark (<workspace>/bench/*.bench.ts) in turn. Arguments (e.g. --json) are passed through;
// a name filter may be given with --only <substring>.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args.splice(onlyAt, 2)[1] : undefined;
const benches: string[] = [];
for (const ws of ['sbc-pod', 'media-pod', 'operator', 'crds', 'e2e']) {
  let names: string[] = [];
  try {
    names = readdirSync(join(root, ws, 'bench'));
  } catch {
    continue;
  }
  for (const n of names) if (n.endsWith('.bench.ts')) benches.push(join(ws, 'bench', n));
}
let failed = 0;
for (const bench of benches.sort()) {
  if (only && !bench.includes(only)) continue;
  if (!args.includes('--json')) console.log(`\n# ${bench}`);
  const r = spawnSync(process.execPath, [bench, ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
