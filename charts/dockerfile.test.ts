// The repository's Dockerfile cannot be built here (no container engine), so its shape is checked instead: it parses
// into known instructions, every COPY source exists in the repository and is not excluded by .dockerignore, the
// dependency stage installs production dependencies only, every npm workspace's package.json reaches `npm ci`, the
// final stage runs as a non-root numeric user, and the ENTRYPOINT runs the `switchboard` CLI (which starts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.ts';

interface Instruction {
  line: number;
  op: string;
  args: string;
}

const KNOWN = new Set([
  'FROM',
  'ARG',
  'ENV',
  'WORKDIR',
  'COPY',
  'RUN',
  'USER',
  'EXPOSE',
  'ENTRYPOINT',
  'CMD',
  'LABEL',
  'HEALTHCHECK',
  'STOPSIGNAL',
]);

/** Dockerfile → instructions (comments and blank lines dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buf && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (buf && line.trimStart().startsWith('#')) return; // comment inside a continuation
    if (!buf) start = i + 1;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1)} `;
      return;
    }
    buf += line;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/s.exec(buf);
    assert.ok(m, `Dockerfile:${start}: cannot parse "${buf}"`);
    out.push({ line: start, op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    buf = '';
  });
  assert.equal(buf, '', 'Dockerfile ends inside a line continuation');
  return out;
}

function words(args: string): string[] {
  return args.split(/\s+/).filter(Boolean);
}

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Stages: instructions from one FROM to the next. */
function stages(): { name: string | undefined; from: string; body: Instruction[] }[] {
  const out: { name: string | undefined; from: string; body: Instruction[] }[] = [];
  for (const ins of dockerfile) {
    if (ins.op === 'FROM') {
      const w = words(ins.args);
      out.push({ from: w[0]!, name: w[1]?.toUpperCase() === 'AS' ? w[2] : undefined, body: [] });
    } else out.at(-1)?.body.push(ins);
  }
  return out;
}

test('every instruction is known; the base image is Node 24 (Debian slim)', () => {
  for (const ins of dockerfile) assert.ok(KNOWN.has(ins.op), `Dockerfile:${ins.line}: unknown instruction ${ins.op}`);
  const arg = dockerfile.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='));
  assert.ok(arg, 'ARG NODE_IMAGE=…');
  assert.match(arg.args, /^NODE_IMAGE=node:24(-bookworm)?-slim(@sha256:[a-f0-9]{64})?$/);
  const all = stages();
  assert.ok(all.length >= 2, 'a dependency stage and a runtime stage');
  for (const s of all) assert.equal(s.from, '$' + '{NODE_IMAGE}', 'every stage uses the NODE_IMAGE argument');
});

test('COPY sources exist in the repository and are not excluded by .dockerignore; --from names a stage', () => {
  const stageNames = new Set(stages().map((s) => s.name));
  let copies = 0;
  for (const ins of dockerfile.filter((i) => i.op === 'COPY')) {
    const w = words(ins.args);
    const flags = w.filter((x) => x.startsWith('--'));
    const paths = w.filter((x) => !x.startsWith('--'));
    assert.ok(paths.length >= 2, `Dockerfile:${ins.line}: COPY needs a source and a destination`);
    const from = flags.find((f) => f.startsWith('--from='));
    if (from) {
      assert.ok(stageNames.has(from.slice('--from='.length)), `Dockerfile:${ins.line}: unknown stage ${from}`);
      continue;
    }
    for (const src of paths.slice(0, -1)) {
      copies++;
      assert.ok(existsSync(join(repoRoot, src)), `Dockerfile:${ins.line}: COPY source ${src} does not exist`);
      const norm = posix.normalize(src).replace(/\/$/, '');
      for (const pattern of ignore.filter((p) => !p.startsWith('!') && !p.includes('*'))) {
        const p = pattern.replace(/\/$/, '');
        assert.ok(
          norm !== p && !norm.startsWith(`${p}/`),
          `Dockerfile:${ins.line}: ${src} is excluded by .dockerignore (${pattern})`,
        );
      }
      if (ignore.includes('*.md')) assert.ok(!norm.endsWith('.md') || ignore.includes(`!${norm}`), norm);
    }
  }
  assert.ok(copies > 10);
});

test('production dependencies only, with every workspace package.json present for npm ci', () => {
  const [deps, runtime] = [stages()[0]!, stages().at(-1)!];
  const runs = deps.body.filter((i) => i.op === 'RUN').map((i) => i.args);
  assert.ok(
    runs.some((r) => /\bnpm ci\b/.test(r) && /--omit=dev\b/.test(r)),
    'npm ci --omit=dev in the dependency stage',
  );
  for (const i of dockerfile.filter((x) => x.op === 'RUN')) {
    assert.doesNotMatch(i.args, /\bnpm (install|i)\b/, `Dockerfile:${i.line}: npm install would pull dev dependencies`);
  }
  const copied = new Set(
    deps.body.filter((i) => i.op === 'COPY').flatMap((i) => words(i.args).filter((w) => !w.startsWith('--'))),
  );
  assert.ok(copied.has('package-lock.json'), 'the lock file');
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] };
  for (const ws of pkg.workspaces) assert.ok(copied.has(`${ws}/package.json`), `${ws}/package.json for npm ci`);
  assert.ok(
    runtime.body.some(
      (i) => i.op === 'COPY' && i.args.startsWith(`--from=${deps.name}`) && i.args.includes('node_modules'),
    ),
    'the runtime stage takes node_modules from the dependency stage',
  );
});

test('the runtime stage runs as a non-root numeric user it creates', () => {
  const runtime = stages().at(-1)!;
  const users = runtime.body.filter((i) => i.op === 'USER');
  assert.equal(users.length, 1);
  const [uid, gid] = users[0]!.args.split(':');
  assert.match(uid!, /^\d+$/, 'numeric (Kubernetes runAsNonRoot can verify it)');
  assert.notEqual(Number(uid), 0);
  assert.notEqual(Number(gid ?? '1'), 0);
  assert.ok(
    runtime.body.some((i) => i.op === 'RUN' && i.args.includes(`useradd`) && i.args.includes(`--uid ${uid}`)),
    'the user is created',
  );
  // The chart runs the pods with the same uid.
  const values = readFileSync(join(repoRoot, 'charts', 'switchboard', 'values.yaml'), 'utf8');
  assert.match(values, new RegExp(`runAsUser: ${uid}\\b`));
  const last = dockerfile.filter((i) => ['USER', 'RUN', 'COPY'].includes(i.op)).at(-1)!;
  assert.equal(last.op, 'USER', 'nothing runs as root after USER');
});

test('ENTRYPOINT runs the switchboard CLI, which starts', () => {
  const entry = dockerfile.filter((i) => i.op === 'ENTRYPOINT');
  assert.equal(entry.length, 1);
  const argv = JSON.parse(entry[0]!.args) as string[]; // exec form
  assert.equal(argv[0], 'node');
  const workdir = stages()
    .at(-1)!
    .body.filter((i) => i.op === 'WORKDIR')
    .at(-1)!.args;
  assert.ok(argv[1]!.startsWith(`${workdir}/`), `${argv[1]} under WORKDIR ${workdir}`);
  const inRepo = argv[1]!.slice(workdir.length + 1);
  assert.equal(inRepo, 'cli/src/main.ts');
  assert.ok(
    stages()
      .at(-1)!
      .body.some((i) => i.op === 'COPY' && words(i.args)[0] === 'cli/src'),
    'cli/src is copied into the image',
  );
  const r = spawnSync(process.execPath, [join(repoRoot, inRepo), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const cmd of ['operator', 'sbc', 'media', 'cdr', 'validate']) assert.match(r.stdout, new RegExp(`\\b${cmd}\\b`));
});
