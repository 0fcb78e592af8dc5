// The table of subcommands. A subcommand that is not built yet is wired to notBuilt(): it says so and exits 3.
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<unknown>;
}

export const COMMANDS: CommandEntry[] = [
  {
    name: 'local',
    summary: 'run the whole system on this machine from manifests (no Kubernetes)',
    load: () => import('./commands/local.ts'),
  },
  { name: 'sbc', summary: 'run a SIP signalling pod (B2BUA)', load: () => import('./commands/sbc.ts') },
  { name: 'media', summary: 'run a media relay pod', load: () => import('./commands/media.ts') },
  { name: 'operator', summary: 'run the Kubernetes operator', load: () => import('./commands/operator.ts') },
  {
    name: 'validate',
    summary: 'check manifests offline against the CRD schemas',
    load: () => import('./commands/validate.ts'),
  },
  {
    name: 'cdr',
    summary: 'export CDRs from Redis (stdout, JSONL, CSV, webhook) or follow a tenant',
    load: () => import('./commands/cdr.ts'),
  },
  { name: 'version', summary: 'print the version', load: () => import('./commands/version.ts') },
];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: switchboard <command> [options]\n\nCommands:\n${lines.join('\n')}\n`;
}
