// Runs sipp (Debian package sip-tester) against loopback targets and reads its statistics from the
// -trace_stat CSV, so tests and benchmarks assert on sipp's own call counts.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface SippStats {
  created: number;
  successful: number;
  failed: number;
  retransmissions: number;
  /** Every counter of the last CSV row, by sipp's column name, e.g. "FailedCallRejected(C)". */
  columns: Record<string, string>;
}

export interface SippResult {
  exitCode: number | null;
  stats: SippStats;
  stdout: string;
  stderr: string;
}

export interface SippOptions {
  /** A built-in scenario name (`uac`, `uas`, `uac_pcap`, …) or a path to an XML scenario file. */
  scenario: string;
  /** `host:port` to send to (omit for a UAS). */
  target?: string;
  localHost?: string;
  localPort?: number;
  /** sipp's -t: u1 (UDP one socket), un (UDP socket per call), t1, tn (TCP). */
  transport?: 'u1' | 'un' | 't1' | 'tn';
  /** Stop after this many calls (-m). */
  calls?: number;
  /** Calls per second (-r). */
  rate?: number;
  /** Maximum simultaneous calls (-l). */
  limit?: number;
  extraArgs?: string[];
  /** Kill sipp if it has not finished by then. */
  timeoutMs?: number;
}

/**
 * A copy of a scenario file with `__NAME__` placeholders replaced. For what sipp cannot take as a -key, such as a
 * response status (sipp checks status codes when it loads the scenario).
 */
export function scenarioWith(path: string, values: Record<string, string>): string {
  let text = readFileSync(path, 'utf8');
  for (const [k, v] of Object.entries(values)) text = text.replaceAll(`__${k.toUpperCase()}__`, v);
  const dir = mkdtempSync(join(tmpdir(), 'sipp-scenario-'));
  const out = join(dir, basename(path));
  writeFileSync(out, text);
  return out;
}

export function sippPath(): string {
  const found = spawnSync('sh', ['-c', 'command -v sipp'], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error('sipp not found: run `make deps` (installs the Debian package sip-tester)');
  return found;
}

function buildArgs(opts: SippOptions, statFile: string): string[] {
  const args: string[] = [];
  if (opts.scenario.endsWith('.xml')) args.push('-sf', opts.scenario);
  else args.push('-sn', opts.scenario);
  if (opts.target) args.push(opts.target);
  args.push('-i', opts.localHost ?? '127.0.0.1');
  if (opts.localPort !== undefined) args.push('-p', String(opts.localPort));
  args.push('-t', opts.transport ?? 'u1');
  if (opts.calls !== undefined) args.push('-m', String(opts.calls));
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  args.push('-trace_stat', '-stf', statFile, '-fd', '1', '-nostdin', '-timeout_error');
  args.push(...(opts.extraArgs ?? []));
  return args;
}

export function parseSippStats(csv: string): SippStats {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new Error(`sipp statistics file has no data row:\n${csv}`);
  const names = lines[0]!.split(';');
  const values = lines[lines.length - 1]!.split(';');
  const columns: Record<string, string> = {};
  names.forEach((name, i) => {
    if (name) columns[name] = values[i] ?? '';
  });
  const num = (name: string) => {
    const v = columns[name];
    if (v === undefined) throw new Error(`sipp statistics lack column ${name}`);
    return Number(v);
  };
  return {
    created: num('TotalCallCreated'),
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    retransmissions: num('Retransmissions(C)'),
    columns,
  };
}

/** Run sipp to completion (use `calls`, or a timeout, to bound it) and return its statistics. */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  const statFile = join(dir, 'stats.csv');
  try {
    const child = spawn(sippPath(), buildArgs(opts, statFile), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), opts.timeoutMs ?? 60_000);
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    let csv: string;
    try {
      csv = readFileSync(statFile, 'utf8');
    } catch {
      throw new Error(`sipp wrote no statistics (exit ${exitCode}):\n${stderr || stdout}`);
    }
    return { exitCode, stats: parseSippStats(csv), stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RunningSipp {
  process: ChildProcess;
  /** Ask sipp to stop (SIGUSR1 = quit after calls end) and return its statistics. */
  stop(): Promise<SippResult>;
}

/** Start sipp in the background, typically as a UAS that a test drives calls into. */
export function startSipp(opts: SippOptions): RunningSipp {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  const statFile = join(dir, 'stats.csv');
  const child = spawn(sippPath(), buildArgs(opts, statFile), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  return {
    process: child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const [exitCode] = await exited;
      clearTimeout(timer);
      try {
        return { exitCode, stats: parseSippStats(readFileSync(statFile, 'utf8')), stdout, stderr };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
