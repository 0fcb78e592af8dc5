// Process settings from environment variables and matching CLI flags (DESIGN.md §9).
// `--sip-listen X` is the flag for SWITCHBOARD_SIP_LISTEN; a flag wins over the environment.
// Pure: takes env and argv, returns settings or throws SettingsError naming the variable.
import { hostname } from 'node:os';

export interface Settings {
  manifests: string;
  sipListen: string[];
  adminListen: { host: string; port: number };
  redisUrl?: string;
  cdrFile?: string;
  stateDir: string;
  teamsTargets: string[];
  teamsCa?: string;
  /** Source CIDRs Teams' SIP proxies connect from (teams-direct-routing.md T1.13). */
  teamsSources: string[];
  /** Static name → address map used before DNS (a stub resolver for tests and air-gapped sites). */
  hosts: Map<string, string>;
  /** This pod's name in CDRs and logs. */
  podName: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Rendered-config directory (a mounted ConfigMap); when set, `switchboard sbc` reads it instead of manifests. */
  configDir?: string;
  /** Base domain every tenant FQDN must sit one label under (checked when set). */
  baseDomain?: string;
  mediaIp: string;
  mediaPorts: { low: number; high: number };
  /** Control API of the media pod(s) the signalling pod anchors calls on (`switchboard sbc`); unset = no anchoring. */
  mediaUrl?: string;
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
  teamsSources: {
    env: 'SWITCHBOARD_TEAMS_SOURCES',
    flag: 'teams-sources',
    help: 'comma list of CIDRs Teams connects from',
    default: '52.112.0.0/14,52.122.0.0/15',
  },
  hosts: { env: 'SWITCHBOARD_HOSTS', flag: 'hosts', help: 'static name=address pairs resolved before DNS, comma list' },
  podName: {
    env: 'SWITCHBOARD_POD_NAME',
    flag: 'pod-name',
    help: 'name of this pod in CDRs and logs (default hostname)',
  },
  tlsCert: {
    env: 'SWITCHBOARD_TLS_CERT',
    flag: 'tls-cert',
    help: 'PEM certificate chain for SIP TLS (default: local CA)',
  },
  tlsKey: { env: 'SWITCHBOARD_TLS_KEY', flag: 'tls-key', help: 'PEM private key for SWITCHBOARD_TLS_CERT' },
  configDir: {
    env: 'SWITCHBOARD_CONFIG_DIR',
    flag: 'config-dir',
    help: 'directory holding a rendered config.json (pods)',
  },
  baseDomain: { env: 'SWITCHBOARD_BASE_DOMAIN', flag: 'base-domain', help: 'base domain tenant FQDNs sit under' },
  mediaIp: { env: 'SWITCHBOARD_MEDIA_IP', flag: 'media-ip', help: 'address media is relayed on', default: '127.0.0.1' },
  mediaPorts: {
    env: 'SWITCHBOARD_MEDIA_PORTS',
    flag: 'media-ports',
    help: 'LOW-HIGH UDP port range',
    default: '20000-29999',
  },
  mediaUrl: { env: 'SWITCHBOARD_MEDIA_URL', flag: 'media-url', help: 'media pod control API URL (sbc pods)' },
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
  const hosts = new Map<string, string>();
  for (const pair of list(raw('hosts') ?? '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1)
      throw new SettingsError(`SWITCHBOARD_HOSTS: expected name=address, got "${pair}"`);
    hosts.set(pair.slice(0, eq).toLowerCase(), pair.slice(eq + 1));
  }
  return {
    manifests: raw('manifests')!,
    sipListen,
    adminListen: hostPort('SWITCHBOARD_ADMIN_LISTEN', raw('adminListen')!),
    redisUrl: optional('redisUrl'),
    cdrFile: optional('cdrFile'),
    stateDir: raw('stateDir')!,
    teamsTargets,
    teamsCa: optional('teamsCa'),
    teamsSources: list(raw('teamsSources')!),
    hosts,
    podName: raw('podName') ?? hostname(),
    tlsCert,
    tlsKey,
    configDir: optional('configDir'),
    baseDomain: optional('baseDomain'),
    mediaIp: raw('mediaIp')!,
    mediaPorts: { low, high },
    mediaUrl: optional('mediaUrl'),
    adminToken: optional('adminToken'),
    logLevel: raw('logLevel')!,
  };
}

export function settingsHelp(): string {
  return Object.values(SETTINGS)
    .map((s) => `  --${s.flag.padEnd(14)} ${s.env.padEnd(26)} ${s.help}${s.default ? ` (default ${s.default})` : ''}`)
    .join('\n');
}
