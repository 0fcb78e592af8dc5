// The admin/health HTTP server every pod runs (fastify): liveness, readiness, and a status document.
// Readiness is owned by the pod: false until the first valid config is live, false again while draining.
import Fastify, { type FastifyInstance } from 'fastify';

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

export async function startAdminServer(
  listen: { host: string; port: number },
  state: AdminState,
): Promise<AdminServer> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (state.ready()) return { status: 'ready' };
    return reply.code(503).send({ status: 'not-ready', reason: state.notReadyReason() });
  });
  app.get('/status', async () => state.status());
  await app.listen({ host: listen.host, port: listen.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : listen.port;
  return { app, address: { host: listen.host, port }, close: () => app.close() };
}
