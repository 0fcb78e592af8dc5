// Exit code for a subcommand whose capability has not been built yet. It never pretends to work.
export const NOT_BUILT_EXIT = 3;

export function notBuilt(command: string, issue: string): Promise<number> {
  process.stderr.write(`switchboard ${command}: not built yet (tracked in ${issue}); nothing was started.\n`);
  return Promise.resolve(NOT_BUILT_EXIT);
}
