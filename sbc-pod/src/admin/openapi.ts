// A small OpenAPI 3.1 generator: it watches routes as fastify registers them (onRoute) and builds the document from
// their JSON Schemas (params, querystring, body, response) plus summary/description/tags/security keys in the
// route schema — the same keys @fastify/swagger reads, so moving to it later is a drop-in change.
import type { FastifyInstance, RouteOptions } from 'fastify';

type JsonSchema = Record<string, unknown>;

// The OpenAPI keys a route schema may carry (the same ones @fastify/swagger adds to FastifySchema).
declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
    security?: Record<string, string[]>[];
    /** Leave the route out of /openapi.json. */
    hide?: boolean;
  }
}

interface RouteSchema {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema;
  response?: Record<string, JsonSchema>;
  hide?: boolean;
}

export interface CollectedRoute {
  method: string;
  /** fastify path, e.g. /admin/calls/:id */
  url: string;
  schema: RouteSchema | undefined;
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);

/** fastify "/a/:id" → OpenAPI "/a/{id}". */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(where: 'path' | 'query', schema: JsonSchema | undefined): unknown[] {
  if (!schema) return [];
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

export class OpenApiCollector {
  readonly routes: CollectedRoute[] = [];

  /** Call before any route is registered. */
  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (opts: RouteOptions) => {
      const methods = Array.isArray(opts.method) ? opts.method : [opts.method];
      for (const m of methods) {
        const method = String(m).toUpperCase();
        if (!METHODS.has(method)) continue;
        const schema = opts.schema as RouteSchema | undefined;
        if (schema?.hide) continue;
        this.routes.push({ method, url: opts.url, schema });
      }
    });
  }

  document(info: { title: string; version: string; description?: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const s = r.schema ?? {};
      const responses: Record<string, unknown> = {};
      for (const [code, schema] of Object.entries(s.response ?? {})) {
        const { description, ...rest } = schema as JsonSchema;
        const contentType = (rest['x-content-type'] as string | undefined) ?? 'application/json';
        delete rest['x-content-type'];
        responses[code] = {
          description: (description as string | undefined) ?? `HTTP ${code}`,
          content: { [contentType]: { schema: rest } },
        };
      }
      if (Object.keys(responses).length === 0) responses['200'] = { description: 'OK' };
      const op: Record<string, unknown> = {
        operationId: `${r.method.toLowerCase()}${openApiPath(r.url)
          .replace(/[{}]/g, '')
          .split(/[^A-Za-z0-9]+/)
          .filter(Boolean)
          .map((w) => w[0]!.toUpperCase() + w.slice(1))
          .join('')}`,
        ...(s.summary ? { summary: s.summary } : {}),
        ...(s.description ? { description: s.description } : {}),
        ...(s.tags ? { tags: s.tags } : {}),
        ...(s.security ? { security: s.security } : {}),
        responses,
      };
      const params = [...parameters('path', s.params), ...parameters('query', s.querystring)];
      if (params.length) op.parameters = params;
      if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: s.body } } };
      const path = openApiPath(r.url);
      paths[path] ??= {};
      paths[path][r.method.toLowerCase()] = op;
    }
    return {
      openapi: '3.1.0',
      info,
      paths,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    };
  }
}
