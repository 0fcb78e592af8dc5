// Pieces of the signalling pod's admin API: call summaries for /admin/calls, and the per-tenant SIP trace switch
//   GET    /admin/trace            → { tenant, since, calls, messagesLogged }
//   POST   /admin/trace {tenant}   → 200 (that tenant's calls are traced; any other tenant's trace stops) | 404
//   DELETE /admin/trace            → 200 (trace off)
// All under the bearer token (not registered without one, like the other protected routes).
import type { FastifyInstance } from 'fastify';
import type { Call, Leg } from '../b2bua/call.ts';
import type { SipTrace } from '../telemetry/sip-trace.ts';
import type { AdminPluginContext, CallDetail, CallSummary, LegSummary } from './server.ts';

export function callSummary(call: Call): CallSummary {
  return {
    id: call.id,
    tenant: call.tenant.id,
    direction: call.direction,
    state: call.state,
    inboundCallId: call.inbound.req.callId,
    ...(call.outbound ? { outboundCallId: call.outbound.req.callId } : {}),
    caller: call.caller,
    callee: call.callee,
    ...(call.trunk ? { trunk: call.trunk.id } : {}),
    setupTime: new Date(call.times.setup).toISOString(),
    ...(call.times.answer ? { answerTime: new Date(call.times.answer).toISOString() } : {}),
    attempt: call.attempt,
  };
}

function legSummary(name: 'inbound' | 'outbound', leg: Leg, callId: string | undefined): LegSummary {
  const d = leg.dialog;
  return {
    name,
    side: leg.side,
    transport: leg.transport,
    ...((d?.callId ?? callId) ? { callId: d?.callId ?? callId } : {}),
    ...(d ? { localTag: d.localTag, remoteTag: d.remoteTag, remoteTarget: d.remoteTarget } : {}),
    state: d ? 'dialog' : 'pending',
  };
}

export function callDetail(call: Call): CallDetail {
  const legs: LegSummary[] = [legSummary('inbound', call.inbound.leg, call.inbound.req.callId)];
  if (call.outbound) legs.push(legSummary('outbound', call.outbound.leg, call.outbound.req.callId));
  return { ...callSummary(call), legs };
}

export function sipTraceRoutes(
  trace: SipTrace,
  tenantExists: (id: string) => boolean,
): (app: FastifyInstance, ctx: AdminPluginContext) => void {
  return (app, ctx) => {
    const requireToken = ctx.requireToken;
    if (!requireToken) return;
    const secured = { security: [{ bearer: [] as string[] }], tags: ['admin'] };
    app.get(
      '/admin/trace',
      { preHandler: requireToken, schema: { ...secured, summary: 'The per-call SIP trace: which tenant, if any' } },
      async () => trace.status(),
    );
    app.post<{ Body: { tenant: string } }>(
      '/admin/trace',
      {
        preHandler: requireToken,
        schema: {
          ...secured,
          summary: "Log every SIP message of one tenant's calls (one tenant at a time)",
          body: {
            type: 'object',
            required: ['tenant'],
            additionalProperties: false,
            properties: { tenant: { type: 'string', minLength: 1, description: 'Tenant id (namespace/name)' } },
          },
        },
      },
      async (req, reply) => {
        if (!tenantExists(req.body.tenant)) {
          return reply.code(404).send({ error: 'not-found', message: `no tenant ${req.body.tenant} in the config` });
        }
        trace.enable(req.body.tenant);
        return trace.status();
      },
    );
    app.delete(
      '/admin/trace',
      { preHandler: requireToken, schema: { ...secured, summary: 'Switch the SIP trace off' } },
      async () => {
        trace.disable();
        return trace.status();
      },
    );
  };
}
