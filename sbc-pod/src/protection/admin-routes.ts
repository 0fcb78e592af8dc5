// Admin endpoints for the protection layer, as a fastify plugin for the pod's admin server:
//   GET    /admin/blocks           → 200 { blocks: BlockEntry[], stats: SourceGuardStats }
//   DELETE /admin/blocks/:source   → 200 { cleared: 1 } | 404 { error } when the source is not blocked
//   DELETE /admin/blocks           → 200 { cleared: n } (all)
//   GET    /admin/admission        → 200 admission counters (when an `admission` stats source is given)
// Every route needs `Authorization: Bearer <token>` (401 otherwise, with WWW-Authenticate). An empty token disables
// the routes (always 401). IPv6 sources go URL-encoded in the path.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { SourceGuard } from './source-guard.ts';

export interface ProtectionAdminOptions {
  guard: SourceGuard;
  /** The bearer token (or a getter, for rotation from a Secret). */
  token: string | (() => string);
  admission?: { stats(): unknown };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!token || !header) return false;
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}

export const protectionAdminRoutes: FastifyPluginAsync<ProtectionAdminOptions> = async (app, opts) => {
  const token = typeof opts.token === 'function' ? opts.token : () => opts.token as string;
  const authorise = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!bearerMatches(req.headers.authorization, token())) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="switchboard-admin"')
        .send({ error: 'unauthorised' });
    }
  };
  app.addHook('onRequest', authorise);

  app.get('/admin/blocks', async () => ({ blocks: opts.guard.list(), stats: opts.guard.stats() }));

  app.delete<{ Params: { source: string } }>('/admin/blocks/:source', async (req, reply) => {
    const cleared = opts.guard.clear(req.params.source);
    if (cleared === 0) return reply.code(404).send({ error: 'not blocked', source: req.params.source });
    return { cleared };
  });

  app.delete('/admin/blocks', async () => ({ cleared: opts.guard.clear() }));

  if (opts.admission) {
    const admission = opts.admission;
    app.get('/admin/admission', async () => admission.stats());
  }
};
