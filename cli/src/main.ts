// `switchboard` — one CLI for every component. Each subcommand lives in ./commands/<name>.ts and exports
// `run(args): Promise<number>` (the exit code). Subcommands are loaded lazily so `switchboard version` stays instant.
import { COMMANDS, usage } from './commands.ts';

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`switchboard: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = (await command.load()) as { run(args: string[]): Promise<number> };
  return mod.run(args);
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// A finished command must end the process even if a library left a handle open (a socket, a timer); the timer is
// unref'd so a process that is already idle exits at once, with its output flushed.
setTimeout(() => process.exit(code), 2000).unref();
