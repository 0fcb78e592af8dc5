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
  /** How often the sbc-pod probes each media pod of SWITCHBOARD_MEDIA_URL (`GET /v1/health`) to re-anchor lost calls. */
  mediaHealthIntervalMs: number;
  /**
   * Where the media pods are found: `static` = SWITCHBOARD_MEDIA_URL; `redis` = the media pods' heartbeats in
   * SWITCHBOARD_REDIS_URL (each carries its control API URL and media pool; how a Helm install finds its hostNetwork
   * media DaemonSet pods).
   */
  mediaDiscovery: 'static' | 'redis';
  adminToken?: string;
  logLevel: string;
  /** OPTIONS keep-alive interval toward each Teams target (O4.3: at most 60 s). */
  teamsOptionsIntervalMs: number;
  /** How long a resolved Teams FQDN is cached before it is looked up again (T1.11: at most 15 min). */
  teamsDnsTtlMs: number;
  /** Teams' client certificate: 'request' (checked and logged) or 'require' (refused unless trusted, T1.6). */
  teamsVerify: 'request' | 'require';
  /** SANs a required Teams client certificate must carry one of (T1.6). */
  teamsSans: string[];
  /** No provisional from a Teams target within this long → the next target (0 = off). */
  teamsFailoverMs: number;
  /** Send Teams a 180 after this long when the carrier has sent no provisional yet (M5.19; 0 = off). */
  teamsEarlyRingingMs: number;
  /** Session-Expires we ask for and the smallest we accept (RFC 4028). */
  sessionExpiresS: number;
  sessionMinSeS: number;
  /** Provisional responses toward carriers (M5.10): all, only the first, or 183 turned into 180. */
  carrierProvisional: 'all' | 'first' | '183-as-180';
  /** Trunk ids (namespace/name) trusted with the caller's identity under Privacy: id (RFC 3325). */
  trustedTrunks: string[];
  /** SIGTERM / drain: how long live calls get before the pod exits anyway. */
  drainMs: number;
  /** While a shared dialog store (Redis) is down: refuse new calls with 503, or admit them without replication. */
  stateOnRedisLoss: 'refuse' | 'admit';
  /** A surviving pod acts on a dead pod's session/no-answer deadline this long after it passed. */
  stateTimerGraceMs: number;
  /** Admission control when Redis is unreachable (admission/admission.ts). */
  admissionFallback?: 'local-share' | 'fail-open' | 'fail-closed';
  /** sbc-pods sharing the limits (the local-share fallback divides limits by it). */
  expectedPods?: number;
  /** SIP status of an admission refusal toward carriers (Teams always gets 503 + Retry-After). */
  admissionCarrierStatus?: 480 | 486 | 503;
  /** Messages per second one untrusted source may send (burst twice that); trusted sources get 100×. */
  sourceRate?: number;
  /** Bad events (403s, unknown source, malformed, floods) within a minute that block a source, and for how long. */
  blockThreshold?: number;
  blockMs?: number;
  /** How long a scanner User-Agent blocks its source. */
  scannerBlockMs?: number;
  /** JSON file of rate plans keyed by a Tenant's billing.ratePlan (docs/cdr.md "Rate catalogue"). */
  ratePlans?: string;
  /** Redis Sentinels (host, port); non-empty = find the master through them (sbc-pod/src/redis/connect.ts). */
  redisSentinels?: { host: string; port: number }[];
  /** The master name the Sentinels monitor (required with redisSentinels). */
  redisSentinelMaster?: string;
  /** Public host (IP or FQDN) in Via sent-by / Contact toward carriers behind NAT or a LoadBalancer; unset = listener. */
  sipAdvertisedHost?: string;
  /** FQDN in the Contact of OPTIONS toward Teams (a region's SBC FQDN); unset = the base domain. */
  sipAdvertisedFqdn?: string;
  /**
   * Bind SIP listeners with SO_REUSEPORT: several sbc-pod processes on one host share one listen address and the
   * kernel spreads flows over them (hostNetwork pods, local multi-process set-ups, the failover tests).
   */
  sipReusePort: boolean;
  /** The signalling pool this pod serves: only tenants with this spec.signallingPool are loaded (default `default`). */
  signallingPool?: string;
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
  mediaUrl: {
    env: 'SWITCHBOARD_MEDIA_URL',
    flag: 'media-url',
    help: 'media pod control API URLs, comma list; POOL=URL puts a pod in a tenant media pool (sbc pods)',
  },
  mediaHealthIntervalMs: {
    env: 'SWITCHBOARD_MEDIA_HEALTH_INTERVAL',
    flag: 'media-health-interval',
    help: 'seconds between health probes of each media pod (a lost pod’s calls are re-anchored)',
    default: '1',
  },
  mediaDiscovery: {
    env: 'SWITCHBOARD_MEDIA_DISCOVERY',
    flag: 'media-discovery',
    help: 'static (SWITCHBOARD_MEDIA_URL) or redis (media pods found through their heartbeats in SWITCHBOARD_REDIS_URL)',
    default: 'static',
  },
  adminToken: { env: 'SWITCHBOARD_ADMIN_TOKEN', flag: 'admin-token', help: 'bearer token for the admin API' },
  logLevel: { env: 'SWITCHBOARD_LOG_LEVEL', flag: 'log-level', help: 'pino level: trace … fatal', default: 'info' },
  teamsOptionsIntervalMs: {
    env: 'SWITCHBOARD_TEAMS_OPTIONS_INTERVAL',
    flag: 'teams-options-interval',
    help: 'seconds between OPTIONS keep-alives to each Teams target (≤ 60)',
    default: '30',
  },
  teamsDnsTtlMs: {
    env: 'SWITCHBOARD_TEAMS_DNS_TTL',
    flag: 'teams-dns-ttl',
    help: 'seconds a resolved Teams FQDN is cached (≤ 900)',
    default: '300',
  },
  teamsVerify: {
    env: 'SWITCHBOARD_TEAMS_VERIFY',
    flag: 'teams-verify',
    help: 'request | require: refuse Teams-range peers without a trusted client certificate',
    default: 'request',
  },
  teamsSans: {
    env: 'SWITCHBOARD_TEAMS_SANS',
    flag: 'teams-sans',
    help: 'comma list of SANs a required Teams client certificate must carry one of',
    default: 'sip.pstnhub.microsoft.com',
  },
  teamsFailoverMs: {
    env: 'SWITCHBOARD_TEAMS_FAILOVER_TIMER',
    flag: 'teams-failover-timer',
    help: 'seconds without a provisional from a Teams target before the next is tried (0 = off)',
    default: '10',
  },
  teamsEarlyRingingMs: {
    env: 'SWITCHBOARD_TEAMS_EARLY_RINGING',
    flag: 'teams-early-ringing',
    help: 'seconds after which Teams gets a 180 when the carrier has sent none (0 = off)',
    default: '5',
  },
  sessionExpiresS: {
    env: 'SWITCHBOARD_SESSION_EXPIRES',
    flag: 'session-expires',
    help: 'Session-Expires seconds asked for on outbound legs (RFC 4028)',
    default: '1800',
  },
  sessionMinSeS: {
    env: 'SWITCHBOARD_SESSION_MIN_SE',
    flag: 'session-min-se',
    help: 'smallest Session-Expires accepted (422 below it)',
    default: '90',
  },
  carrierProvisional: {
    env: 'SWITCHBOARD_CARRIER_PROVISIONAL',
    flag: 'carrier-provisional',
    help: 'all | first | 183-as-180: provisional responses relayed toward carriers',
    default: 'first',
  },
  trustedTrunks: {
    env: 'SWITCHBOARD_TRUSTED_TRUNKS',
    flag: 'trusted-trunks',
    help: 'comma list of trunk ids (namespace/name) that get P-Asserted-Identity under Privacy: id',
  },
  drainMs: {
    env: 'SWITCHBOARD_DRAIN_SECONDS',
    flag: 'drain-seconds',
    help: 'seconds live calls get after SIGTERM (drain) before the pod exits',
    default: '60',
  },
  stateOnRedisLoss: {
    env: 'SWITCHBOARD_STATE_ON_REDIS_LOSS',
    flag: 'state-on-redis-loss',
    help: 'refuse | admit: new calls while Redis is down get 503, or go ahead without replication',
    default: 'refuse',
  },
  stateTimerGraceMs: {
    env: 'SWITCHBOARD_STATE_TIMER_GRACE',
    flag: 'state-timer-grace',
    help: "seconds after a dead pod's call deadline passed before a surviving pod acts on it",
    default: '2',
  },
  admissionFallback: {
    env: 'SWITCHBOARD_ADMISSION_FALLBACK',
    flag: 'admission-fallback',
    help: 'local-share | fail-open | fail-closed: admission control while Redis is unreachable',
    default: 'local-share',
  },
  expectedPods: {
    env: 'SWITCHBOARD_EXPECTED_PODS',
    flag: 'expected-pods',
    help: 'sbc-pods sharing the limits (local-share divides every limit by it)',
    default: '1',
  },
  admissionCarrierStatus: {
    env: 'SWITCHBOARD_ADMISSION_CARRIER_STATUS',
    flag: 'admission-carrier-status',
    help: '486 | 480 | 503: answer to a carrier call over its limits (Teams gets 503 + Retry-After)',
    default: '486',
  },
  sourceRate: {
    env: 'SWITCHBOARD_SOURCE_RATE',
    flag: 'source-rate',
    help: 'SIP messages per second per untrusted source address (burst 2x; trunks and Teams get 100x)',
    default: '20',
  },
  blockThreshold: {
    env: 'SWITCHBOARD_BLOCK_THRESHOLD',
    flag: 'block-threshold',
    help: 'bad events (403s, unknown source, malformed, floods) within 60 s that block a source',
    default: '10',
  },
  blockMs: {
    env: 'SWITCHBOARD_BLOCK_TIME',
    flag: 'block-time',
    help: 'seconds a source stays blocked',
    default: '900',
  },
  scannerBlockMs: {
    env: 'SWITCHBOARD_SCANNER_BLOCK_TIME',
    flag: 'scanner-block-time',
    help: 'seconds a source with a SIP scanner User-Agent stays blocked',
    default: '86400',
  },
  ratePlans: {
    env: 'SWITCHBOARD_RATE_PLANS',
    flag: 'rate-plans',
    help: 'JSON file of rate plans keyed by Tenant billing.ratePlan (docs/cdr.md)',
  },
  redisSentinels: {
    env: 'SWITCHBOARD_REDIS_SENTINELS',
    flag: 'redis-sentinels',
    help: 'comma list of Redis Sentinel HOST:PORT; set = the master is found through them',
  },
  redisSentinelMaster: {
    env: 'SWITCHBOARD_REDIS_SENTINEL_MASTER',
    flag: 'redis-sentinel-master',
    help: 'master name the Sentinels monitor',
  },
  sipAdvertisedHost: {
    env: 'SWITCHBOARD_SIP_ADVERTISED_HOST',
    flag: 'sip-advertised-host',
    help: 'public IP/FQDN put in Via and Contact toward carriers (NAT, LoadBalancer); fallback SWITCHBOARD_SIP_ADVERTISED_IP',
  },
  sipAdvertisedFqdn: {
    env: 'SWITCHBOARD_SIP_ADVERTISED_FQDN',
    flag: 'sip-advertised-fqdn',
    help: 'FQDN in the Contact of OPTIONS toward Teams (default: the base domain)',
  },
  sipReusePort: {
    env: 'SWITCHBOARD_SIP_REUSE_PORT',
    flag: 'sip-reuse-port',
    help: 'true: bind SIP listeners with SO_REUSEPORT so several processes share one address',
    default: 'false',
  },
  signallingPool: {
    env: 'SWITCHBOARD_SIGNALLING_POOL',
    flag: 'signalling-pool',
    help: 'signalling pool served: only its tenants are loaded',
    default: 'default',
  },
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
  const seconds = (key: keyof Settings, max: number): number => {
    const v = Number(raw(key));
    if (!Number.isFinite(v) || v < 0 || v > max) {
      throw new SettingsError(`${SETTINGS[key].env}: expected seconds between 0 and ${max}, got "${raw(key)}"`);
    }
    return Math.round(v * 1000);
  };
  const teamsVerify = raw('teamsVerify');
  if (teamsVerify !== 'request' && teamsVerify !== 'require') {
    throw new SettingsError(`SWITCHBOARD_TEAMS_VERIFY: expected request or require, got "${teamsVerify}"`);
  }
  const carrierProvisional = raw('carrierProvisional');
  if (carrierProvisional !== 'all' && carrierProvisional !== 'first' && carrierProvisional !== '183-as-180') {
    throw new SettingsError(
      `SWITCHBOARD_CARRIER_PROVISIONAL: expected all, first or 183-as-180, got "${carrierProvisional}"`,
    );
  }
  const redisSentinels = list(raw('redisSentinels') ?? '').map((s) => hostPort('SWITCHBOARD_REDIS_SENTINELS', s));
  const redisSentinelMaster = optional('redisSentinelMaster');
  if (redisSentinels.length > 0 && !redisSentinelMaster) {
    throw new SettingsError('SWITCHBOARD_REDIS_SENTINEL_MASTER is required with SWITCHBOARD_REDIS_SENTINELS');
  }
  // The chart renders SWITCHBOARD_SIP_ADVERTISED_IP (sbc.advertise.ip, or the node IP for a DaemonSet).
  const sipAdvertisedHost = optional('sipAdvertisedHost') ?? (env.SWITCHBOARD_SIP_ADVERTISED_IP || undefined);
  const sipAdvertisedFqdn = optional('sipAdvertisedFqdn')?.toLowerCase().replace(/\.$/, '');
  if (
    sipAdvertisedFqdn !== undefined &&
    !/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$/.test(sipAdvertisedFqdn)
  ) {
    throw new SettingsError(
      `SWITCHBOARD_SIP_ADVERTISED_FQDN: expected a fully qualified domain name, got "${sipAdvertisedFqdn}"`,
    );
  }
  const sipReusePort = raw('sipReusePort');
  if (sipReusePort !== 'true' && sipReusePort !== 'false') {
    throw new SettingsError(`SWITCHBOARD_SIP_REUSE_PORT: expected true or false, got "${sipReusePort}"`);
  }
  const mediaDiscovery = raw('mediaDiscovery');
  if (mediaDiscovery !== 'static' && mediaDiscovery !== 'redis') {
    throw new SettingsError(`SWITCHBOARD_MEDIA_DISCOVERY: expected static or redis, got "${mediaDiscovery}"`);
  }
  if (mediaDiscovery === 'redis' && !optional('redisUrl') && redisSentinels.length === 0) {
    throw new SettingsError('SWITCHBOARD_MEDIA_DISCOVERY=redis needs SWITCHBOARD_REDIS_URL (or Sentinels)');
  }
  const signallingPool = raw('signallingPool')!;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(signallingPool) || signallingPool.length > 63) {
    throw new SettingsError(`SWITCHBOARD_SIGNALLING_POOL: expected a DNS label, got "${signallingPool}"`);
  }
  const admissionFallback = raw('admissionFallback');
  if (admissionFallback !== 'local-share' && admissionFallback !== 'fail-open' && admissionFallback !== 'fail-closed') {
    throw new SettingsError(
      `SWITCHBOARD_ADMISSION_FALLBACK: expected local-share, fail-open or fail-closed, got "${admissionFallback}"`,
    );
  }
  const positive = (key: keyof Settings, max: number): number => {
    const v = Number(raw(key));
    if (!Number.isFinite(v) || v <= 0 || v > max) {
      throw new SettingsError(`${SETTINGS[key].env}: expected a number above 0 and at most ${max}, got "${raw(key)}"`);
    }
    return v;
  };
  const admissionCarrierStatus = Number(raw('admissionCarrierStatus'));
  if (admissionCarrierStatus !== 480 && admissionCarrierStatus !== 486 && admissionCarrierStatus !== 503) {
    throw new SettingsError(`SWITCHBOARD_ADMISSION_CARRIER_STATUS: expected 480, 486 or 503`);
  }
  const protection = {
    admissionFallback,
    expectedPods: Math.floor(positive('expectedPods', 1000)),
    admissionCarrierStatus,
    sourceRate: positive('sourceRate', 1_000_000),
    blockThreshold: Math.floor(positive('blockThreshold', 1_000_000)),
    blockMs: seconds('blockMs', 30 * 86_400),
    scannerBlockMs: seconds('scannerBlockMs', 365 * 86_400),
    ...(optional('ratePlans') ? { ratePlans: optional('ratePlans') } : {}),
  } as const;
  const stateOnRedisLoss = raw('stateOnRedisLoss');
  if (stateOnRedisLoss !== 'refuse' && stateOnRedisLoss !== 'admit') {
    throw new SettingsError(`SWITCHBOARD_STATE_ON_REDIS_LOSS: expected refuse or admit, got "${stateOnRedisLoss}"`);
  }
  const teamsOptionsIntervalMs = seconds('teamsOptionsIntervalMs', 60);
  if (teamsOptionsIntervalMs === 0) throw new SettingsError('SWITCHBOARD_TEAMS_OPTIONS_INTERVAL: must be above 0');
  const sessionExpiresS = Math.round(seconds('sessionExpiresS', 86_400) / 1000);
  const sessionMinSeS = Math.round(seconds('sessionMinSeS', 86_400) / 1000);
  if (sessionMinSeS < 1 || sessionExpiresS < sessionMinSeS) {
    throw new SettingsError('SWITCHBOARD_SESSION_EXPIRES must be at least SWITCHBOARD_SESSION_MIN_SE (≥ 1)');
  }
  return {
    teamsOptionsIntervalMs,
    teamsDnsTtlMs: seconds('teamsDnsTtlMs', 900),
    teamsVerify,
    teamsSans: list(raw('teamsSans')!),
    teamsFailoverMs: seconds('teamsFailoverMs', 600),
    teamsEarlyRingingMs: seconds('teamsEarlyRingingMs', 600),
    sessionExpiresS,
    sessionMinSeS,
    carrierProvisional,
    trustedTrunks: list(raw('trustedTrunks') ?? ''),
    drainMs: seconds('drainMs', 86_400),
    stateOnRedisLoss,
    stateTimerGraceMs: seconds('stateTimerGraceMs', 3600),
    ...protection,
    ...(redisSentinels.length > 0 ? { redisSentinels, redisSentinelMaster } : {}),
    ...(sipAdvertisedHost ? { sipAdvertisedHost } : {}),
    ...(sipAdvertisedFqdn ? { sipAdvertisedFqdn } : {}),
    sipReusePort: sipReusePort === 'true',
    signallingPool,
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
    mediaHealthIntervalMs: seconds('mediaHealthIntervalMs', 60),
    mediaDiscovery,
    adminToken: optional('adminToken'),
    logLevel: raw('logLevel')!,
  };
}

export function settingsHelp(): string {
  return Object.values(SETTINGS)
    .map((s) => `  --${s.flag.padEnd(14)} ${s.env.padEnd(26)} ${s.help}${s.default ? ` (default ${s.default})` : ''}`)
    .join('\n');
}
