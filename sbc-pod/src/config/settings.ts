// Process settings from environment variables and matching CLI flags (DESIGN.md §9).
// `--sip-listen X` is the flag for SWITCHBOARD_SIP_LISTEN; a flag wins over the environment.
// Pure: takes env and argv, returns settings or throws SettingsError naming the variable.

export interface Settings {
  manifests: string;
  sipListen: string[];
  adminListen: { host: string; port: number };
  redisUrl?: string;
  cdrFile?: string;
  stateDir: string;
  teamsTargets: string[];
  teamsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  mediaIp: string;
  mediaPorts: { low: number; high: number };
  adminToken?: string;
  logLevel: string;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

interface Spec {
  env: string;
  flag: string;
  help: string;
  default?: string;
}

export const SETTINGS: Record<keyof Settings, Spec> = {
  manifests: {
    env: 'SWITCHBOARD_MANIFESTS',
    flag: 'manifests',
    help: 'manifest file or directory',
    default: 'examples',
  },
  sipListen: {
    env: 'SWITCHBOARD_SIP_LISTEN',
    flag: 'sip-listen',
    help: 'comma list of udp:HOST:PORT, tcp:HOST:PORT, tls:HOST:PORT',
    default: 'udp:127.0.0.1:5060,tcp:127.0.0.1:5060,tls:127.0.0.1:5061',
  },
  adminListen: {
    env: 'SWITCHBOARD_ADMIN_LISTEN',
    flag: 'admin-listen',
    help: 'HOST:PORT of the admin/health API',
    default: '127.0.0.1:8080',
  },
  redisUrl: { env: 'SWITCHBOARD_REDIS_URL', flag: 'redis-url', help: 'redis:// URL; unset = embedded in-memory store' },
  cdrFile: { env: 'SWITCHBOARD_CDR_FILE', flag: 'cdr-file', help: 'JSONL file CDRs are appended to' },
  stateDir: {
    env: 'SWITCHBOARD_STATE_DIR',
    flag: 'state-dir',
    help: 'where local mode keeps rendered config and its CA',
    default: '.state',
  },
  teamsTargets: {
    env: 'SWITCHBOARD_TEAMS_TARGETS',
    flag: 'teams-targets',
    help: 'comma list of Teams SIP proxies HOST:PORT, in failover order',
    default: 'sip.pstnhub.microsoft.com:5061,sip2.pstnhub.microsoft.com:5061,sip3.pstnhub.microsoft.com:5061',
  },
  teamsCa: { env: 'SWITCHBOARD_TEAMS_CA', flag: 'teams-ca', help: 'PEM file of roots that verify Teams certificates' },
  tlsCert: {
    env: 'SWITCHBOARD_TLS_CERT',
    flag: 'tls-cert',
    help: 'PEM certificate chain for SIP TLS (default: local CA)',
  },
  tlsKey: { env: 'SWITCHBOARD_TLS_KEY', flag: 'tls-key', help: 'PEM private key for SWITCHBOARD_TLS_CERT' },
  mediaIp: { env: 'SWITCHBOARD_MEDIA_IP', flag: 'media-ip', help: 'address media is relayed on', default: '127.0.0.1' },
  mediaPorts: {
    env: 'SWITCHBOARD_MEDIA_PORTS',
    flag: 'media-ports',
    help: 'LOW-HIGH UDP port range',
    default: '20000-29999',
  },
  adminToken: { env: 'SWITCHBOARD_ADMIN_TOKEN', flag: 'admin-token', help: 'bearer token for the admin API' },
  logLevel: { env: 'SWITCHBOARD_LOG_LEVEL', flag: 'log-level', help: 'pino level: trace … fatal', default: 'info' },
};

/** Parse `--flag value` / `--flag=value` pairs; unknown flags are an error so typos are not silently ignored. */
export function parseFlags(argv: string[]): Map<string, string> {
  const known = new Set(Object.values(SETTINGS).map((s) => s.flag));
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new SettingsError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!known.has(name)) throw new SettingsError(`unknown option --${name}`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new SettingsError(`option --${name} needs a value`);
    out.set(name, value);
  }
  return out;
}

function hostPort(name: string, value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SettingsError(`${name}: expected HOST:PORT, got "${value}"`);
  }
  return { host, port };
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function loadSettings(env: NodeJS.ProcessEnv, argv: string[] = []): Settings {
  const flags = parseFlags(argv);
  const raw = (key: keyof Settings): string | undefined => {
    const spec = SETTINGS[key];
    const v = flags.get(spec.flag) ?? env[spec.env];
    return v === undefined || v === '' ? spec.default : v;
  };
  const ports = raw('mediaPorts')!;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(ports);
  const low = Number(m?.[1]);
  const high = Number(m?.[2]);
  if (!m || low < 1024 || high > 65535 || low > high) {
    throw new SettingsError(`SWITCHBOARD_MEDIA_PORTS: expected LOW-HIGH within 1024-65535, got "${ports}"`);
  }
  const sipListen = list(raw('sipListen')!);
  if (sipListen.length === 0) throw new SettingsError('SWITCHBOARD_SIP_LISTEN: at least one listen address is needed');
  const teamsTargets = list(raw('teamsTargets')!);
  for (const t of teamsTargets) hostPort('SWITCHBOARD_TEAMS_TARGETS', t);
  const tlsCert = raw('tlsCert');
  const tlsKey = raw('tlsKey');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new SettingsError('SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY must be given together');
  }
  const optional = <K extends keyof Settings>(key: K) => raw(key);
  return {
    manifests: raw('manifests')!,
    sipListen,
    adminListen: hostPort('SWITCHBOARD_ADMIN_LISTEN', raw('adminListen')!),
    redisUrl: optional('redisUrl'),
    cdrFile: optional('cdrFile'),
    stateDir: raw('stateDir')!,
    teamsTargets,
    teamsCa: optional('teamsCa'),
    tlsCert,
    tlsKey,
    mediaIp: raw('mediaIp')!,
    mediaPorts: { low, high },
    adminToken: optional('adminToken'),
    logLevel: raw('logLevel')!,
  };
}

export function settingsHelp(): string {
  return Object.values(SETTINGS)
    .map((s) => `  --${s.flag.padEnd(14)} ${s.env.padEnd(26)} ${s.help}${s.default ? ` (default ${s.default})` : ''}`)
    .join('\n');
}
