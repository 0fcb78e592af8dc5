// Control API (sbc-pod → media-pod), JSON over HTTP. Idempotent by (call id, leg): a repeated request with the same
// body returns the same response without side effects. SDP bodies carry SRTP keys: they are never logged.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { EngineError, type MediaEngine, type OfferRequest } from '../relay/engine.ts';
import type { PoolSet } from '../relay/pool.ts';

const NAME = '^[A-Za-z0-9._~@:+-]{1,200}$';
/** Tenant ids are "namespace/name" (Kubernetes names: lower-case letters, digits, '-', '.'). */
const TENANT = '^[A-Za-z0-9._~@:+/-]{1,253}$';
const params = {
  type: 'object',
  required: ['callId', 'leg'],
  properties: { callId: { type: 'string', pattern: NAME }, leg: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' } },
} as const;
const profile = {
  type: 'object',
  additionalProperties: false,
  properties: {
    srtp: { type: 'boolean' },
    ice: { type: 'boolean' },
    rtcpMux: { type: 'boolean' },
    symmetricRtp: { type: 'boolean' },
  },
} as const;
const offerBody = {
  type: 'object',
  required: ['sdp'],
  additionalProperties: false,
  properties: {
    tenant: { type: 'string', pattern: TENANT },
    sdp: { type: 'string', minLength: 10, maxLength: 65_536 },
    to: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' },
    profiles: { type: 'object', additionalProperties: profile },
    transcode: { type: 'boolean' },
  },
} as const;
const answerBody = {
  type: 'object',
  required: ['sdp'],
  additionalProperties: false,
  properties: { sdp: { type: 'string', minLength: 10, maxLength: 65_536 } },
} as const;

interface LegParams {
  callId: string;
  leg: string;
}

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof EngineError) return reply.code(err.status).send({ error: err.code, message: err.message });
  throw err;
}

export function registerRoutes(
  app: FastifyInstance,
  engine: MediaEngine,
  pools: PoolSet,
  pod: { mediaPool: string; instance?: string; url: () => string } = { mediaPool: 'default', url: () => engine.podUrl },
): void {
  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string }, _req, reply) => {
    if (err.validation) return reply.code(400).send({ error: 'bad_request', message: err.message });
    app.log.error({ err }, 'control API error');
    return reply.code(err.statusCode ?? 500).send({ error: 'internal', message: 'internal error' });
  });

  const offer =
    (requireExisting: boolean) => async (req: { params: LegParams; body: OfferRequest }, reply: FastifyReply) => {
      if (requireExisting && !engine.sessions.has(req.params.callId)) {
        return reply.code(404).send({ error: 'no_session', message: `no media session for call ${req.params.callId}` });
      }
      try {
        return await engine.offer(req.params.callId, req.params.leg, req.body);
      } catch (err) {
        return fail(reply, err);
      }
    };

  app.post<{ Params: LegParams; Body: OfferRequest }>(
    '/v1/sessions/:callId/legs/:leg/offer',
    { schema: { params, body: offerBody } },
    offer(false),
  );
  // re-INVITE: same as offer, but the session must exist
  app.post<{ Params: LegParams; Body: OfferRequest }>(
    '/v1/sessions/:callId/legs/:leg/update',
    { schema: { params, body: offerBody } },
    offer(true),
  );
  app.post<{ Params: LegParams; Body: { sdp: string } }>(
    '/v1/sessions/:callId/legs/:leg/answer',
    { schema: { params, body: answerBody } },
    async (req, reply) => {
      try {
        return await engine.answer(req.params.callId, req.params.leg, req.body);
      } catch (err) {
        return fail(reply, err);
      }
    },
  );
  // take over a call from a media pod that stopped answering (state from the session store)
  app.post<{ Params: { callId: string } }>('/v1/sessions/:callId/reanchor', async (req, reply) => {
    try {
      return await engine.reanchor(req.params.callId);
    } catch (err) {
      return fail(reply, err);
    }
  });
  app.get<{ Params: { callId: string } }>('/v1/sessions/:callId', async (req, reply) => {
    const info = engine.query(req.params.callId);
    if (!info)
      return reply.code(404).send({ error: 'no_session', message: `no media session for call ${req.params.callId}` });
    return info;
  });
  app.delete<{ Params: { callId: string } }>('/v1/sessions/:callId', async (req) => {
    const final = await engine.delete(req.params.callId);
    return { callId: req.params.callId, deleted: final !== null, final };
  });
  // Probed every second or so by each sbc-pod: cheap (no I/O; the silent calls are kept by the watchdog).
  app.get('/v1/health', async () => ({
    ok: true,
    podId: engine.podId,
    /** Changes with every start of the process: a restart lost the sessions even if the pod id is the same. */
    instance: pod.instance ?? null,
    pool: pod.mediaPool,
    url: pod.url(),
    sessions: engine.sessions.size,
    /** Calls the no-media watchdog finds silent now: the sbc-pod holding each ends it ("Media Timeout"). */
    noMedia: engine.silentCalls(),
    storeErrors: engine.storeErrors,
    pools: pools.pools.map((p) => ({
      name: p.name,
      low: p.low,
      high: p.high,
      tenants: p.tenants ? [...p.tenants] : null,
      available: p.available,
      used: p.used,
    })),
  }));
}
