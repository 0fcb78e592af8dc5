// A signalling pod: SIP element + B2BUA fed by a config source, with CDR sinks and readiness.
// Not ready until the first valid snapshot is live; every later snapshot (config or certificates) is swapped in
// without touching live calls; a rejected one is logged and the last good one stays.

import { X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { callDetail, callSummary, sipTraceRoutes } from '../admin/pod-api.ts';
import { AdmissionController } from '../admission/admission.ts';
import { B2bua } from '../b2bua/b2bua.ts';
import type { MediaAnchor } from '../b2bua/media.ts';
import { loadRateCatalogue, type RateCatalogue, tenantRater } from '../billing/catalogue.ts';
import { RetryingCdrSink } from '../cdr/retry.ts';
import type { CdrSink } from '../cdr/sinks.ts';
import { FanOutCdrSink, JsonlCdrSink, RedisStreamCdrSink } from '../cdr/sinks.ts';
import type { Settings } from '../config/settings.ts';
import type { ConfigSource, Snapshot } from '../config/source/index.ts';
import type { Logger } from '../log.ts';
import { protectionAdminRoutes } from '../protection/admin-routes.ts';
import { PodProtection } from '../protection/pod-protection.ts';
import { redisFromSettings } from '../redis/connect.ts';
import type { CertificateEntry } from '../sip/transport/index.ts';
import { MemoryDialogStore } from '../state/memory-store.ts';
import { RedisDialogStore } from '../state/redis-store.ts';
import type { DialogStore } from '../state/store.ts';
import { TeamsKeepAlive } from '../teams/keepalive.ts';
import { CachingResolver } from '../teams/resolver.ts';
import { SbcMetrics } from '../telemetry/metrics.ts';
import { SipTrace } from '../telemetry/sip-trace.ts';
import { CallTracing } from '../telemetry/tracing.ts';
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
  /** Tenant and trunk limits held cluster-wide in Redis (DESIGN.md §6). */
  admission: AdmissionController;
  /** Source rate limits, scanner and abuse blocking, connection limits. */
  protection: PodProtection;
  /** Prometheus metrics served on the admin /metrics. */
  metrics: SbcMetrics;
  /** Per-call spans (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set). */
  tracing: CallTracing;
  /** The per-tenant SIP trace (admin /admin/trace). */
  sipTrace: SipTrace;
  /** Dialog state: Redis (shared with the other pods) with SWITCHBOARD_REDIS_URL, else in memory. */
  store: DialogStore;
  /**
   * Drain (SIGTERM, POST /admin/drain): not ready, new INVITEs get 503 + Retry-After, confirmed calls are handed to
   * the other pods (shared store) or finish here; resolves when no call is left or SWITCHBOARD_DRAIN_SECONDS passed.
   */
  drain(): Promise<void>;
  /** True once drain() (or close()) was called. */
  draining(): boolean;
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
  /** Call tracing; default: OTLP per OTEL_EXPORTER_OTLP_ENDPOINT, else off. */
  tracing?: CallTracing;
  /** Admission slot lease (default 90 s; renewed every third of it). Tests shorten it to see leases lapse. */
  admissionLeaseMs?: number;
  /**
   * Adopting the calls of pods that stopped heartbeating (shared store): grace before a silent pod counts as gone
   * (default 10 s), sweep interval (2 s) and calls adopted per sweep (20). Tests shorten them.
   */
  orphans?: { graceMs?: number; sweepMs?: number; batch?: number };
}

function cdrSinkFor(settings: Settings, logger: Logger): { sink: CdrSink; close(): void } {
  const sinks: CdrSink[] = [];
  let redis: Redis | undefined;
  if (settings.cdrFile) {
    mkdirSync(dirname(settings.cdrFile), { recursive: true });
    sinks.push(new JsonlCdrSink(settings.cdrFile));
  }
  if (settings.redisUrl) {
    // No offline queue: while Redis is away a write fails at once and the retrying sink holds it (in order).
    redis = redisFromSettings(
      { url: settings.redisUrl, sentinels: settings.redisSentinels, sentinelMaster: settings.redisSentinelMaster },
      {
        connectionName: `switchboard-cdr-${settings.podName}`,
        enableOfflineQueue: false,
        maxRetryDelayMs: 1000,
        logger,
      },
    );
    // A CDR written while Redis restarts is queued and retried, not lost (the stream write is idempotent by id).
    const retrying = new RetryingCdrSink(new RedisStreamCdrSink(redis!), {
      onError: (err, queued) => logger.warn({ err: String(err), queued }, 'CDR stream write failed: retrying'),
    });
    sinks.push(retrying);
  }
  if (sinks.length === 0)
    logger.warn('no CDR sink configured (SWITCHBOARD_CDR_FILE / SWITCHBOARD_REDIS_URL): CDRs go to the log only');
  const logSink: CdrSink = { write: async (cdr) => logger.info({ cdr }, 'cdr') };
  return { sink: new FanOutCdrSink(sinks.length ? sinks : [logSink]), close: () => redis?.disconnect() };
}

/** The dialog store: Redis when one is configured (every pod shares it), else the in-memory store of local mode. */
function dialogStoreFor(settings: Settings, logger: Logger): DialogStore {
  const redis = redisFromSettings(
    { url: settings.redisUrl, sentinels: settings.redisSentinels, sentinelMaster: settings.redisSentinelMaster },
    {
      connectionName: `switchboard-state-${settings.podName}`,
      // Fail fast while Redis is away: the call path decides (SWITCHBOARD_STATE_ON_REDIS_LOSS), it does not queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeoutMs: 2000,
      maxRetryDelayMs: 1000,
      logger,
    },
  );
  return redis ? new RedisDialogStore(redis) : new MemoryDialogStore();
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
  const store = dialogStoreFor(settings, logger);
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
  // Telemetry, admission control and protection (issues [8/10] and [9/10]).
  const metrics = new SbcMetrics({ pod: settings.podName });
  const tracing = opts.tracing ?? new CallTracing({ pod: settings.podName });
  const sipTrace = new SipTrace({ logger });
  const protection = new PodProtection({
    teamsSources: settings.teamsSources,
    // Names the operator pinned (SWITCHBOARD_HOSTS: Teams proxies, carriers) are known peers too.
    trustedAddresses: [...settings.hosts.values()],
    ...(settings.sourceRate !== undefined ? { sourceRate: settings.sourceRate } : {}),
    ...(settings.blockThreshold !== undefined ? { badThreshold: settings.blockThreshold } : {}),
    ...(settings.blockMs !== undefined ? { blockMs: settings.blockMs } : {}),
    ...(settings.scannerBlockMs !== undefined ? { scannerBlockMs: settings.scannerBlockMs } : {}),
  });
  const admissionRedis = redisFromSettings(
    { url: settings.redisUrl, sentinels: settings.redisSentinels, sentinelMaster: settings.redisSentinelMaster },
    { enableOfflineQueue: false, connectionName: `switchboard-admission-${settings.podName}`, logger },
  );
  const carrierStatus = settings.admissionCarrierStatus ?? 486;
  const admission = new AdmissionController({
    ...(admissionRedis ? { redis: admissionRedis } : {}),
    fallback: settings.admissionFallback ?? 'local-share',
    expectedPods: settings.expectedPods ?? 1,
    ...(opts.admissionLeaseMs ? { leaseMs: opts.admissionLeaseMs } : {}),
    answers: { carrier: { status: carrierStatus, retryAfter: carrierStatus === 503 } },
    onBackendChange: (backend, cause) =>
      logger.warn({ backend, ...(cause ? { err: String(cause) } : {}) }, 'admission control backend changed'),
  });
  const stopRenewal = admission.startRenewal();
  const catalogue: RateCatalogue = settings.ratePlans ? loadRateCatalogue(settings.ratePlans) : new Map();
  let loadedAt: string | undefined;
  const tenantCounts = (): Record<string, number> => b2buaRef.b2bua?.activeCallsByTenant() ?? {};
  const element = await startSbc({
    settings,
    logger,
    certificates,
    admin: {
      metrics,
      api: {
        config: () => {
          const counts = tenantCounts();
          return {
            version: live?.config.version ?? null,
            ...(loadedAt ? { loadedAt } : {}),
            tenants: (live?.config.tenants ?? []).map((t) => ({
              id: t.id,
              displayName: t.displayName,
              fqdn: t.fqdn,
              suspended: t.suspended,
              activeCalls: counts[t.id] ?? 0,
            })),
          };
        },
        activeCalls: (tenant) =>
          (b2buaRef.b2bua?.activeCalls() ?? []).filter((c) => !tenant || c.tenant.id === tenant).map(callSummary),
        call: (id) => {
          const call = b2buaRef.b2bua?.activeCalls().find((c) => c.id === id);
          return call ? callDetail(call) : undefined;
        },
        drain: () => {
          void drain();
          return { draining: true, activeCalls: b2buaRef.b2bua?.activeCalls().length ?? 0 };
        },
        blockedSources: protection.blockedSources,
      },
      plugins: [
        sipTraceRoutes(sipTrace, (id) => live?.config.tenants.some((t) => t.id === id) ?? false),
        async (app) => {
          if (!settings.adminToken) return;
          await app.register(protectionAdminRoutes, {
            guard: protection.guard,
            token: settings.adminToken,
            admission: { stats: () => ({ ...admission.stats(), protection: protection.stats() }) },
          });
        },
      ],
    },
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
  element.stack.setGuard(protection.inbound);
  element.stack.transport.setConnectionGate(protection.gate);
  element.stack.setTap(sipTrace.observe);
  const health = new TrunkHealth({ stack: element.stack, resolve });
  const registrations = new TrunkRegistrations({ stack: element.stack, credentials: secrets, resolve });
  health.on('change', (c) => {
    logger.info(c, 'trunk target health changed');
    const states = Object.values(health.status()[c.trunk] ?? {}).map((h) => h.state);
    metrics.setTrunkUp(c.trunk, states.includes('up') ? true : states.includes('down') ? false : undefined);
  });
  const resolver = new CachingResolver({ hosts: settings.hosts, ttlMs: settings.teamsDnsTtlMs });
  const teamsTargets = parseTeamsTargets(settings.teamsTargets);
  const teams = new TeamsKeepAlive({
    stack: element.stack,
    targets: teamsTargets,
    resolve: (h) => resolver.resolve(h),
    // A region's own FQDN when set (sbc.advertise.fqdn in the chart), else the base domain (H3.3: never a tenant's).
    contactHost: () => settings.sipAdvertisedFqdn ?? settings.baseDomain ?? live?.compiled.baseDomain ?? undefined,
    intervalMs: settings.teamsOptionsIntervalMs,
  });
  teams.on('change', (c) => {
    logger.info(c, 'Teams target health changed');
    metrics.setTeamsTargetUp(c.target, c.state === 'unknown' ? undefined : c.state === 'up');
  });
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
    store,
    storePolicy: settings.stateOnRedisLoss,
    timerGraceMs: settings.stateTimerGraceMs,
    timerPollMs: Math.max(100, Math.min(500, settings.stateTimerGraceMs / 2)),
    ...(opts.orphans ? { orphans: opts.orphans } : {}),
    credentials: secrets,
    health,
    admission,
    metrics,
    tracing,
    rate: tenantRater(() => catalogue),
    protection: { recordBad: (source, reason) => protection.recordBad(source, reason) },
    sipTrace,
  });
  metrics.setActiveCallsSource(() => {
    const counts = b2bua.activeCallsByTenant();
    return (live?.config.tenants ?? []).map((t): [string, number] => [t.id, counts[t.id] ?? 0]);
  });
  b2buaRef.b2bua = b2bua;
  element.core.setCallHandler(b2bua);
  b2bua.startStateTimers();
  let drained: Promise<void> | undefined;
  const drain = (): Promise<void> => {
    drained ??= (async () => {
      draining = true;
      element.setReady(false, 'draining');
      const deadline = Date.now() + settings.drainMs;
      logger.info({ calls: b2bua.activeCalls().length, graceMs: settings.drainMs }, 'draining');
      for (;;) {
        const handed = await b2bua.handOver();
        if (handed > 0) logger.info({ handed }, 'drain: calls handed over to the other pods');
        const left = b2bua.activeCalls().length;
        if (left === 0) break;
        const wait = deadline - Date.now();
        if (wait <= 0) {
          logger.warn({ calls: left }, 'drain period over with calls still up');
          break;
        }
        // Calls end, or become confirmed (then handed over): look again when idle or at least every 250 ms.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          b2bua.whenIdle(),
          new Promise<void>((r) => {
            timer = setTimeout(r, Math.min(wait, 250));
          }),
        ]);
        clearTimeout(timer);
      }
      logger.info('drained');
    })();
    return drained;
  };
  const apply = (snap: Snapshot) => {
    const certsChanged = snap.certificates.length > 0 && snap.certificates !== live?.certificates;
    live = snap;
    loadedAt = new Date().toISOString();
    admission.setConfig({ tenants: snap.config.tenants, trunks: snap.config.trunks });
    protection.configure(snap.config.trunks);
    metrics.configLoaded(
      snap.config.version,
      snap.config.tenants.map((t) => t.id),
      snap.config.trunks.map((t) => t.id),
    );
    for (const c of snap.certificates) {
      try {
        const x = new X509Certificate(c.certPem);
        metrics.setCertificate(/DNS:([^,\s]+)/.exec(x.subjectAltName ?? '')?.[1] ?? x.subject, new Date(x.validTo));
      } catch {
        // not parseable: no expiry gauge for it
      }
    }
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
    admission,
    protection,
    metrics,
    tracing,
    sipTrace,
    store,
    drain,
    draining: () => draining,
    async close() {
      draining = true;
      b2bua.stopStateTimers();
      teams.close();
      health.close();
      registrations.close();
      element.setReady(false, 'shutting down');
      source.off('snapshot', apply);
      await source.close();
      await element.close();
      cdr.close();
      // Gone: the other pods adopt whatever this pod still owns (handed-over calls) at their next sweep.
      await b2bua.leaveStore();
      await store.close();
      stopRenewal();
      admissionRedis?.disconnect();
      await tracing.shutdown().catch(() => {});
      await metrics.shutdown().catch(() => {});
    },
  };
}
