// `switchboard validate FILE|DIR…`: check manifests offline against the CRD schemas (the same schemas, with the CEL
// rules' TS twins) and the references between them. Problems go to stderr, one per line, path-qualified.
// Exit 0: valid (warnings allowed); 1: at least one error; 2: usage error.
import { stat } from 'node:fs/promises';
import { formatProblem, type ValidateOptions, validatePaths } from '../../../crds/src/manifests/index.ts';

const USAGE = `Usage: switchboard validate [options] FILE|DIR...

Check Tenant, Trunk and RoutePolicy manifests (multi-document YAML; directories are read recursively) against the
switchboard.dev/v1alpha1 schemas and each other.

Options:
  --base-domain DOMAIN  every tenant FQDN must be exactly one label under DOMAIN
  --schema-only         check each object alone (skip cross-object references)
  -q, --quiet           print only problems (no summary line when valid)
  -h, --help            show this help
`;

export async function run(args: string[]): Promise<number> {
  const paths: string[] = [];
  const opts: ValidateOptions = {};
  let quiet = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else if (arg === '--schema-only') opts.references = false;
    else if (arg === '-q' || arg === '--quiet') quiet = true;
    else if (arg === '--base-domain' || arg.startsWith('--base-domain=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i];
      if (!value) return usageError('--base-domain needs a value');
      opts.baseDomain = value;
    } else if (arg === '--') {
      paths.push(...args.slice(i + 1));
      break;
    } else if (arg.startsWith('-')) return usageError(`unknown option ${arg}`);
    else paths.push(arg);
  }
  if (paths.length === 0) return usageError('no FILE or DIR given');
  for (const path of paths) {
    try {
      await stat(path);
    } catch {
      return usageError(`${path}: no such file or directory`);
    }
  }

  const result = await validatePaths(paths, opts);
  for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
  const errors = result.problems.filter((p) => p.severity === 'error').length;
  const warnings = result.problems.length - errors;
  const { files, switchboard, ignored } = result.counts;
  const scope = `${switchboard} switchboard object${switchboard === 1 ? '' : 's'} (${ignored} other) in ${files} file${files === 1 ? '' : 's'}`;
  if (errors > 0) {
    process.stderr.write(
      `invalid: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} in ${scope}\n`,
    );
    return 1;
  }
  if (!quiet || warnings > 0) {
    process.stdout.write(`valid: ${scope}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}\n`);
  }
  return 0;
}

function usageError(message: string): number {
  process.stderr.write(`switchboard validate: ${message}\n\n${USAGE}`);
  return 2;
}
