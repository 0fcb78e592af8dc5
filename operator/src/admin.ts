// The operator's admin HTTP server (SWITCHBOARD_OPERATOR_ADMIN_LISTEN): /healthz (liveness), /readyz (readiness)
// and /metrics (Prometheus text). What each probe means is decided by the running operator (main.ts); this file only
// serves the answers and keeps the process-wide counters behind /metrics.
import Fastify from 'fastify';
import type { ObjectKind, ObjectResult, PassEvent } from './controller.ts';

/** A probe's answer: ok, or the reason it is not. `checks` lists what was looked at (readiness). */
export interface Probe {
  ok: boolean;
  reason?: string;
  checks?: Record<string, string>;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  health: () => Probe;
  readiness: () => Promise<Probe>;
  metrics: () => string;
}

export interface AdminServer {
  /** http://host:port (the bound port when 0 was asked for). */
  url: string;
  close(): Promise<void>;
}

/** HOST:PORT (IPv6 as [::]:8081) → host and port; throws with the variable name on anything else. */
export function parseListen(name: string, value: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`${name}: expected HOST:PORT (e.g. 0.0.0.0:8081), got "${value}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export async function startAdminServer(o: AdminServerOptions): Promise<AdminServer> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async (_req, reply) => {
    const h = o.health();
    return reply.code(h.ok ? 200 : 503).send({ status: h.ok ? 'ok' : 'unhealthy', ...h });
  });
  app.get('/readyz', async (_req, reply) => {
    const r = await o.readiness();
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ready' : 'not ready', ...r });
  });
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(o.metrics()),
  );
  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { url: `http://${host}:${port}`, close: () => app.close() };
}

const KINDS: ObjectKind[] = ['Tenant', 'Trunk', 'RoutePolicy'];
const RESULTS: ObjectResult[] = ['ready', 'not_ready', 'error'];

/** Process-wide counters: they survive leadership changes (each term runs a fresh Operator). */
export class OperatorMetrics {
  readonly passes = { success: 0, error: 0 };
  readonly objects: Record<ObjectKind, Record<ObjectResult, number>> = {
    Tenant: { ready: 0, not_ready: 0, error: 0 },
    Trunk: { ready: 0, not_ready: 0, error: 0 },
    RoutePolicy: { ready: 0, not_ready: 0, error: 0 },
  };
  writes = 0;
  suppressed = 0;
  lastPassMs = 0;
  leaderTransitions = 0;

  record(p: PassEvent): void {
    this.passes[p.result]++;
    for (const k of KINDS) for (const r of RESULTS) this.objects[k][r] += p.objects[k][r];
    this.writes += p.writes;
    this.suppressed += p.suppressed;
    this.lastPassMs = p.durationMs;
  }
}

export interface MetricsState {
  leader: boolean;
  /** Seconds since the leader's view was last fully converged; undefined on a standby. */
  lastSyncAgeSeconds: number | undefined;
  caches: Record<string, { synced: boolean }> | undefined;
  configMaps: number | undefined;
  configMapBytes: number | undefined;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text exposition format 0.0.4. */
export function renderMetrics(m: OperatorMetrics, s: MetricsState): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${Number.isFinite(v) ? v : 'NaN'}`);
  };
  metric(
    'switchboard_operator_leader',
    'gauge',
    '1 while this replica holds the Lease and reconciles (always 1 without leader election), else 0.',
    [['', s.leader ? 1 : 0]],
  );
  metric('switchboard_operator_leader_transitions_total', 'counter', 'Times this process became the leader.', [
    ['', m.leaderTransitions],
  ]);
  metric(
    'switchboard_operator_reconciles_total',
    'counter',
    'Whole-world reconcile passes by result (error: at least one step failed and the pass is retried with backoff).',
    [
      ['{result="success"}', m.passes.success],
      ['{result="error"}', m.passes.error],
    ],
  );
  metric(
    'switchboard_operator_object_reconciles_total',
    'counter',
    'Objects handled by reconcile passes, by kind and result (ready/not_ready: their Ready condition; error: their status could not be written).',
    KINDS.flatMap((k) => RESULTS.map((r): [string, number] => [`{kind="${k}",result="${r}"}`, m.objects[k][r]])),
  );
  metric(
    'switchboard_operator_writes_total',
    'counter',
    'Objects written to the API server (ConfigMaps, Certificates, Secrets, statuses).',
    [['', m.writes]],
  );
  metric(
    'switchboard_operator_writes_suppressed_total',
    'counter',
    'Writes skipped because the stored object already had the same content.',
    [['', m.suppressed]],
  );
  metric('switchboard_operator_last_reconcile_duration_seconds', 'gauge', 'Duration of the last reconcile pass.', [
    ['', m.lastPassMs / 1000],
  ]);
  if (s.lastSyncAgeSeconds !== undefined) {
    metric(
      'switchboard_operator_last_sync_age_seconds',
      'gauge',
      'Leader only: seconds since the last reconcile pass that converged everything without an error (counted from the start of leadership until the first one).',
      [['', s.lastSyncAgeSeconds]],
    );
  }
  if (s.caches) {
    metric(
      'switchboard_operator_cache_synced',
      'gauge',
      'Leader only: 1 when the watch cache of the resource has been listed.',
      Object.entries(s.caches).map(([k, v]): [string, number] => [`{resource="${esc(k)}"}`, v.synced ? 1 : 0]),
    );
  }
  if (s.configMaps !== undefined && s.configMapBytes !== undefined) {
    metric('switchboard_operator_config_maps', 'gauge', 'Leader only: rendered configuration ConfigMaps.', [
      ['', s.configMaps],
    ]);
    metric('switchboard_operator_config_bytes', 'gauge', 'Leader only: bytes of rendered configuration.', [
      ['', s.configMapBytes],
    ]);
  }
  return `${out.join('\n')}\n`;
}
