// The admin/health HTTP server every pod runs (fastify): liveness, readiness, a status document, Prometheus metrics,
// the OpenAPI document, and — under a bearer token — the admin API (config, active calls, a call's legs, drain,
// blocked sources). Readiness is owned by the pod: false until the first valid config is live, false again while
// draining.
//
// Public:    GET /healthz, /readyz, /status, /metrics (when a metrics source is given), /openapi.json
// Protected: GET /admin/config, GET /admin/calls, GET /admin/calls/:id, POST /admin/drain,
//            GET/DELETE /admin/blocked-sources[/:source] (when a blocked-sources provider is given).
// Protected routes need `Authorization: Bearer <SWITCHBOARD_ADMIN_TOKEN>`; a missing or wrong token gets 401.
// With no token configured the protected routes are NOT registered: they answer 404 and are absent from
// /openapi.json (an admin API without authentication is never served).
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { OpenApiCollector } from './openapi.ts';

export interface AdminState {
  ready(): boolean;
  /** Why the pod is not ready, for humans reading /readyz. */
  notReadyReason(): string;
  status(): Record<string, unknown>;
}

export interface AdminServer {
  app: FastifyInstance;
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** What /metrics serves (SbcMetrics fits). */
export interface MetricsSource {
  contentType: string;
  scrape(): Promise<string>;
}

export interface TenantSummary {
  id: string;
  displayName?: string;
  fqdn?: string;
  suspended?: boolean;
  activeCalls?: number;
}

export interface ConfigSummary {
  /** The config version this pod runs; null before the first valid snapshot. */
  version: string | null;
  loadedAt?: string;
  tenants: TenantSummary[];
}

export interface CallSummary {
  /** The pod's call id (what GET /admin/calls/:id takes). */
  id: string;
  tenant: string;
  direction: string;
  state: string;
  inboundCallId: string;
  outboundCallId?: string;
  caller?: string;
  callee?: string;
  trunk?: string;
  setupTime: string;
  answerTime?: string;
  attempt?: number;
}

export interface LegSummary {
  name: 'inbound' | 'outbound';
  side: string;
  transport?: string;
  callId?: string;
  localTag?: string;
  remoteTag?: string;
  remoteTarget?: string;
  state?: string;
}

export interface CallDetail extends CallSummary {
  legs: LegSummary[];
}

export interface DrainStatus {
  draining: boolean;
  activeCalls: number;
}

export interface BlockedSource {
  /** Address or CIDR. */
  source: string;
  reason?: string;
  /** ISO time the block ends; absent = until cleared. */
  until?: string;
  hits?: number;
}

/** Provided by the protection module. */
export interface BlockedSourcesProvider {
  list(): BlockedSource[] | Promise<BlockedSource[]>;
  /** Clear one source, or all when undefined; returns how many entries were removed. */
  clear(source?: string): number | Promise<number>;
}

/** What the protected admin API reads and does (wired by the pod). */
export interface AdminApi {
  config(): ConfigSummary;
  /** Active calls, optionally of one tenant; the server sorts (setupTime, id) and pages. */
  activeCalls(tenant?: string): Iterable<CallSummary>;
  call(id: string): CallDetail | undefined;
  /** Start draining (idempotent): not ready, refuse new calls, let live ones finish. */
  drain(): DrainStatus | Promise<DrainStatus>;
  blockedSources?: BlockedSourcesProvider;
}

export interface AdminPluginContext {
  /** preHandler enforcing the bearer token (401 otherwise); undefined when no token is configured. */
  requireToken: ((req: FastifyRequest, reply: FastifyReply) => Promise<void>) | undefined;
}

export interface AdminOptions {
  metrics?: MetricsSource;
  /** SWITCHBOARD_ADMIN_TOKEN. Empty/undefined → protected routes are not served (404). */
  token?: string | undefined;
  api?: AdminApi;
  /** Extra routes (registered after the built-ins, before listen; they appear in /openapi.json). */
  plugins?: ((app: FastifyInstance, ctx: AdminPluginContext) => void | Promise<void>)[];
  /** OpenAPI info.version (default 0.1.0). */
  version?: string;
}

export const MAX_PAGE_SIZE = 500;

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error'],
} as const;
const unauthorized = { description: 'Missing or wrong bearer token', ...errorBody };
const BEARER = [{ bearer: [] as string[] }];

const callSummarySchema = {
  type: 'object',
  required: ['id', 'tenant', 'direction', 'state', 'inboundCallId', 'setupTime'],
  properties: {
    id: { type: 'string' },
    tenant: { type: 'string' },
    direction: { type: 'string' },
    state: { type: 'string' },
    inboundCallId: { type: 'string' },
    outboundCallId: { type: 'string' },
    caller: { type: 'string' },
    callee: { type: 'string' },
    trunk: { type: 'string' },
    setupTime: { type: 'string', format: 'date-time' },
    answerTime: { type: 'string', format: 'date-time' },
    attempt: { type: 'integer' },
  },
} as const;

const legSchema = {
  type: 'object',
  required: ['name', 'side'],
  properties: {
    name: { type: 'string', enum: ['inbound', 'outbound'] },
    side: { type: 'string' },
    transport: { type: 'string' },
    callId: { type: 'string' },
    localTag: { type: 'string' },
    remoteTag: { type: 'string' },
    remoteTarget: { type: 'string' },
    state: { type: 'string' },
  },
} as const;

const blockedSchema = {
  type: 'object',
  required: ['source'],
  properties: {
    source: { type: 'string' },
    reason: { type: 'string' },
    until: { type: 'string' },
    hits: { type: 'integer' },
  },
} as const;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** A preHandler that accepts exactly `Authorization: Bearer <token>` (constant-time comparison). */
export function bearerGuard(token: string): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const want = digest(token);
  return async (req, reply) => {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m || !timingSafeEqual(digest(m[1]!), want)) {
      reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="switchboard-admin"')
        .send({ error: 'unauthorized', message: 'a valid bearer token is required' });
    }
  };
}

function compareCalls(a: CallSummary, b: CallSummary): number {
  if (a.setupTime !== b.setupTime) return a.setupTime < b.setupTime ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Build the admin app (routes registered, not listening): for fastify.inject tests and for startAdminServer. */
export async function buildAdminApp(state: AdminState, options: AdminOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  const openapi = new OpenApiCollector();
  openapi.attach(app);
  const token = options.token?.trim() || undefined;
  const requireToken = token ? bearerGuard(token) : undefined;

  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['health'] } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: 200 once config is live, 503 before and while draining',
        tags: ['health'],
        response: {
          200: { type: 'object', properties: { status: { type: 'string' } } },
          503: { type: 'object', properties: { status: { type: 'string' }, reason: { type: 'string' } } },
        },
      },
    },
    async (_req, reply) => {
      if (state.ready()) return { status: 'ready' };
      return reply.code(503).send({ status: 'not-ready', reason: state.notReadyReason() });
    },
  );
  app.get('/status', { schema: { summary: 'Pod status document', tags: ['health'] } }, async () => state.status());

  const metrics = options.metrics;
  if (metrics) {
    app.get(
      '/metrics',
      {
        schema: {
          summary: 'Prometheus metrics (text exposition format 0.0.4)',
          tags: ['metrics'],
          response: { 200: { type: 'string', 'x-content-type': 'text/plain' } },
        },
      },
      async (_req, reply) => {
        const body = await metrics.scrape();
        return reply.header('content-type', metrics.contentType).send(body);
      },
    );
  }

  const info = {
    title: 'Switchboard pod admin API',
    version: options.version ?? '0.1.0',
    description:
      'Health, metrics and (with a bearer token, SWITCHBOARD_ADMIN_TOKEN) the admin API of one Switchboard pod.',
  };
  let doc: Record<string, unknown> | undefined;
  app.get('/openapi.json', { schema: { summary: 'This OpenAPI document', tags: ['meta'] } }, async () => {
    doc ??= openapi.document(info);
    return doc;
  });

  const api = options.api;
  if (requireToken && api) {
    const secured = { security: BEARER, tags: ['admin'] };
    app.get(
      '/admin/config',
      {
        preHandler: requireToken,
        schema: {
          ...secured,
          summary: 'Config version and tenants loaded',
          response: {
            200: {
              type: 'object',
              required: ['version', 'tenants'],
              properties: {
                version: { type: ['string', 'null'] },
                loadedAt: { type: 'string' },
                tenants: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['id'],
                    properties: {
                      id: { type: 'string' },
                      displayName: { type: 'string' },
                      fqdn: { type: 'string' },
                      suspended: { type: 'boolean' },
                      activeCalls: { type: 'integer' },
                    },
                  },
                },
              },
            },
            401: unauthorized,
          },
        },
      },
      async () => api.config(),
    );

    app.get<{ Querystring: { tenant?: string; page: number; pageSize: number } }>(
      '/admin/calls',
      {
        preHandler: requireToken,
        schema: {
          ...secured,
          summary: 'Active calls on this pod, optionally of one tenant, paged (sorted by setup time, then id)',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              tenant: { type: 'string', minLength: 1, description: 'Only calls of this tenant (namespace/name)' },
              page: { type: 'integer', minimum: 1, default: 1, description: '1-based page number' },
              pageSize: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['page', 'pageSize', 'total', 'items'],
              properties: {
                page: { type: 'integer' },
                pageSize: { type: 'integer' },
                total: { type: 'integer' },
                items: { type: 'array', items: callSummarySchema },
              },
            },
            400: { description: 'Bad paging parameters', ...errorBody },
            401: unauthorized,
          },
        },
      },
      async (req) => {
        const { tenant, page, pageSize } = req.query;
        const all = [...api.activeCalls(tenant)].sort(compareCalls);
        const start = (page - 1) * pageSize;
        return { page, pageSize, total: all.length, items: all.slice(start, start + pageSize) };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/admin/calls/:id',
      {
        preHandler: requireToken,
        schema: {
          ...secured,
          summary: "One call's legs and state",
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
          response: {
            200: {
              type: 'object',
              required: [...callSummarySchema.required, 'legs'],
              properties: { ...callSummarySchema.properties, legs: { type: 'array', items: legSchema } },
            },
            401: unauthorized,
            404: { description: 'No such call on this pod', ...errorBody },
          },
        },
      },
      async (req, reply) => {
        const call = api.call(req.params.id);
        if (!call) return reply.code(404).send({ error: 'not-found', message: 'no such call on this pod' });
        return call;
      },
    );

    app.post(
      '/admin/drain',
      {
        preHandler: requireToken,
        schema: {
          ...secured,
          summary: 'Start draining: not ready, refuse new calls, finish live ones (idempotent)',
          response: {
            202: {
              type: 'object',
              required: ['draining', 'activeCalls'],
              properties: { draining: { type: 'boolean' }, activeCalls: { type: 'integer' } },
            },
            401: unauthorized,
          },
        },
      },
      async (_req, reply) => reply.code(202).send(await api.drain()),
    );

    const blocked = api.blockedSources;
    if (blocked) {
      const listSchema = {
        type: 'object',
        required: ['items'],
        properties: { items: { type: 'array', items: blockedSchema } },
      } as const;
      const clearedSchema = { type: 'object', required: ['cleared'], properties: { cleared: { type: 'integer' } } };
      app.get(
        '/admin/blocked-sources',
        {
          preHandler: requireToken,
          schema: {
            ...secured,
            summary: 'Sources blocked by protection',
            response: { 200: listSchema, 401: unauthorized },
          },
        },
        async () => ({ items: await blocked.list() }),
      );
      app.delete(
        '/admin/blocked-sources',
        {
          preHandler: requireToken,
          schema: { ...secured, summary: 'Unblock every source', response: { 200: clearedSchema, 401: unauthorized } },
        },
        async () => ({ cleared: await blocked.clear() }),
      );
      app.delete<{ Params: { source: string } }>(
        '/admin/blocked-sources/:source',
        {
          preHandler: requireToken,
          schema: {
            ...secured,
            summary: 'Unblock one source (address or CIDR, URL-encoded)',
            params: { type: 'object', required: ['source'], properties: { source: { type: 'string', minLength: 1 } } },
            response: { 200: clearedSchema, 401: unauthorized },
          },
        },
        async (req) => ({ cleared: await blocked.clear(req.params.source) }),
      );
    }
  }

  for (const plugin of options.plugins ?? []) await plugin(app, { requireToken });
  await app.ready();
  return app;
}

export async function startAdminServer(
  listen: { host: string; port: number },
  state: AdminState,
  options: AdminOptions = {},
): Promise<AdminServer> {
  const app = await buildAdminApp(state, options);
  await app.listen({ host: listen.host, port: listen.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : listen.port;
  return { app, address: { host: listen.host, port }, close: () => app.close() };
}
