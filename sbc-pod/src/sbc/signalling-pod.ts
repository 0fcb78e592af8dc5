// A signalling pod: SIP element + B2BUA fed by a config source, with CDR sinks and readiness.
// Not ready until the first valid snapshot is live; every later snapshot (config or certificates) is swapped in
// without touching live calls; a rejected one is logged and the last good one stays.

import { lookup } from 'node:dns/promises';
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import { B2bua } from '../b2bua/b2bua.ts';
import type { MediaAnchor } from '../b2bua/media.ts';
import type { CdrSink } from '../cdr/sinks.ts';
import { FanOutCdrSink, JsonlCdrSink, RedisStreamCdrSink } from '../cdr/sinks.ts';
import type { Settings } from '../config/settings.ts';
import type { ConfigSource, Snapshot } from '../config/source/index.ts';
import type { Logger } from '../log.ts';
import type { CertificateEntry } from '../sip/transport/index.ts';
import { TeamsKeepAlive } from '../teams/keepalive.ts';
import { CachingResolver } from '../teams/resolver.ts';
import { SecretStore } from '../trunks/credentials.ts';
import { TrunkHealth } from '../trunks/health.ts';
import { TrunkRegistrations } from '../trunks/registration.ts';
import { type SbcElement, startSbc } from './app.ts';

export interface SignallingPod {
  element: SbcElement;
  b2bua: B2bua;
  source: ConfigSource;
  /** Trunk credentials (local mode: v1 Secret manifests under SWITCHBOARD_MANIFESTS, re-read on every config check). */
  secrets: SecretStore;
  health: TrunkHealth;
  registrations: TrunkRegistrations;
  /** OPTIONS keep-alive and health of the Teams targets (O4.3). */
  teams: TeamsKeepAlive;
  /** Name resolution for Teams FQDNs with a TTL (T1.11). */
  resolver: CachingResolver;
  close(): Promise<void>;
}

export interface StartSignallingPodOptions {
  settings: Settings;
  logger: Logger;
  source: ConfigSource;
  /** Certificates to listen with before the first snapshot brings its own (e.g. a localhost cert). */
  bootstrapCertificates?: CertificateEntry[];
  media?: MediaAnchor;
  /** B2BUA timers (defaults: 180 s no-answer; no Teams failover timer). Tests shorten them. */
  timers?: { noAnswerMs?: number; teamsFailoverMs?: number; teamsEarlyRingingMs?: number };
  /** Where credentials come from; default: Secret manifests under settings.manifests. */
  secrets?: SecretStore;
}

function cdrSinkFor(settings: Settings, logger: Logger): { sink: CdrSink; close(): void } {
  const sinks: CdrSink[] = [];
  let redis: Redis | undefined;
  if (settings.cdrFile) {
    mkdirSync(dirname(settings.cdrFile), { recursive: true });
    sinks.push(new JsonlCdrSink(settings.cdrFile));
  }
  if (settings.redisUrl) {
    redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 3 });
    redis.on('error', (err) => logger.warn({ err: String(err) }, 'redis error'));
    sinks.push(new RedisStreamCdrSink(redis));
  }
  if (sinks.length === 0)
    logger.warn('no CDR sink configured (SWITCHBOARD_CDR_FILE / SWITCHBOARD_REDIS_URL): CDRs go to the log only');
  const logSink: CdrSink = { write: async (cdr) => logger.info({ cdr }, 'cdr') };
  return { sink: new FanOutCdrSink(sinks.length ? sinks : [logSink]), close: () => redis?.disconnect() };
}

function parseTeamsTargets(list: string[]): { host: string; port: number }[] {
  return list.map((t) => {
    const i = t.lastIndexOf(':');
    return { host: t.slice(0, i), port: Number(t.slice(i + 1)) };
  });
}

export async function startSignallingPod(opts: StartSignallingPodOptions): Promise<SignallingPod> {
  const { settings, logger, source } = opts;
  const cdr = cdrSinkFor(settings, logger);
  let live: Snapshot | undefined;
  let draining = false;
  source.on('rejected', (r: { reason: string; problems: string[] }) =>
    logger.error({ reason: r.reason, problems: r.problems }, 'config rejected: keeping the last good config'),
  );
  const secrets = opts.secrets ?? new SecretStore();
  const loadSecrets = () =>
    opts.secrets
      ? Promise.resolve()
      : secrets.loadManifests([settings.manifests]).catch((err: unknown) => {
          logger.warn({ err: String(err) }, 'trunk secrets could not be read: keeping the ones loaded before');
        });
  // Secrets change without a new config version: re-read them after every check of the source.
  source.on('checked', () => void loadSecrets());
  await loadSecrets();
  await source.start();
  live = source.current();
  const resolve = async (host: string): Promise<string> => {
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    if (isIP(bare)) return bare;
    return settings.hosts.get(bare.toLowerCase()) ?? (await lookup(bare)).address;
  };
  const certificates = live?.certificates.length ? live.certificates : (opts.bootstrapCertificates ?? []);
  const b2buaRef: { b2bua?: B2bua } = {};
  const element = await startSbc({
    settings,
    logger,
    certificates,
    status: () => ({
      configVersion: live?.config.version ?? null,
      tenants: live?.config.tenants.length ?? 0,
      activeCalls: b2buaRef.b2bua?.activeCallsByTenant() ?? {},
      calls: b2buaRef.b2bua?.counters ?? {},
      trunkHealth: health.status(),
      teamsHealth: teams.status(),
      registrations: registrations.status(),
    }),
  });
  const health = new TrunkHealth({ stack: element.stack, resolve });
  const registrations = new TrunkRegistrations({ stack: element.stack, credentials: secrets, resolve });
  health.on('change', (c) => logger.info(c, 'trunk target health changed'));
  const resolver = new CachingResolver({ hosts: settings.hosts, ttlMs: settings.teamsDnsTtlMs });
  const teamsTargets = parseTeamsTargets(settings.teamsTargets);
  const teams = new TeamsKeepAlive({
    stack: element.stack,
    targets: teamsTargets,
    resolve: (h) => resolver.resolve(h),
    contactHost: () => settings.baseDomain ?? live?.compiled.baseDomain ?? undefined,
    intervalMs: settings.teamsOptionsIntervalMs,
  });
  teams.on('change', (c) => logger.info(c, 'Teams target health changed'));
  registrations.on('failed', (f) => logger.warn(f, 'trunk registration failed'));
  const b2bua = new B2bua({
    stack: element.stack,
    routing: () => live?.compiled,
    teamsTargets,
    teamsSources: settings.teamsSources,
    hosts: settings.hosts,
    cdr: cdr.sink,
    logger,
    podName: settings.podName,
    ...(opts.media ? { media: opts.media } : {}),
    ...(opts.timers?.noAnswerMs ? { noAnswerMs: opts.timers.noAnswerMs } : {}),
    teamsFailoverMs: opts.timers?.teamsFailoverMs ?? settings.teamsFailoverMs,
    teamsEarlyRingingMs: opts.timers?.teamsEarlyRingingMs ?? settings.teamsEarlyRingingMs,
    teamsHealth: teams,
    resolve: (h) => resolver.resolve(h),
    teamsVerify: { require: settings.teamsVerify === 'require', sans: settings.teamsSans },
    sessionTimer: { expiresS: settings.sessionExpiresS, minSeS: settings.sessionMinSeS },
    carrierProvisional: () => settings.carrierProvisional,
    trustedTrunks: new Set(settings.trustedTrunks),
    draining: () => draining,
    credentials: secrets,
    health,
  });
  b2buaRef.b2bua = b2bua;
  element.core.setCallHandler(b2bua);
  const apply = (snap: Snapshot) => {
    const certsChanged = snap.certificates.length > 0 && snap.certificates !== live?.certificates;
    live = snap;
    health.configure(snap.config.trunks);
    registrations.configure(snap.config.trunks);
    if (certsChanged) {
      element.stack.transport.setCertificates(snap.certificates);
      // T1.15: connections that presented the old certificate are closed (gracefully) so peers see the new one.
      const closed = element.stack.transport.closeConnectionsUsingStaleCertificates();
      if (closed > 0) logger.info({ closed }, 'closed connections that used a replaced certificate');
    }
    for (const p of snap.problems) logger.warn({ problem: p }, 'config problem (the rest is live)');
    logger.info({ version: snap.config.version, tenants: snap.config.tenants.length }, 'config live');
    element.setReady(true);
  };
  source.on('snapshot', apply);
  if (live) apply(live);
  else element.setReady(false, 'no valid configuration loaded yet');
  teams.start();
  return {
    element,
    b2bua,
    source,
    secrets,
    health,
    registrations,
    teams,
    resolver,
    async close() {
      draining = true;
      teams.close();
      health.close();
      registrations.close();
      element.setReady(false, 'shutting down');
      source.off('snapshot', apply);
      await source.close();
      await element.close();
      cdr.close();
    },
  };
}
