// A small raw JSON client for the Kubernetes API on top of a client-node KubeConfig (auth, TLS, server).
//
// Why not the generated clients: client-node serialises request bodies through its typed models, which silently
// drops keys it does not know by their JSON name (e.g. `x-kubernetes-validations` in a CRD sent through
// KubernetesObjectApi), and server-side apply / merge-patch need per-call content types. Here bodies go out
// byte-for-byte as JSON, with explicit content types, and errors carry the API server's Status message.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export const CONTENT_TYPE = {
  json: 'application/json',
  apply: 'application/apply-patch+yaml',
  merge: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
} as const;

/** A failed API call: `code` is the HTTP status, `reason` the Status reason (NotFound, Conflict, …). */
export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly status: Record<string, unknown> | undefined;
  constructor(code: number, message: string, reason: string, status?: Record<string, unknown>) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
    this.reason = reason;
    this.status = status;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface KubeList<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export interface RequestOpts {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

export class KubeClient {
  readonly kc: KubeConfig;
  readonly server: string;

  constructor(kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.kc = kc;
    this.server = cluster.server.replace(/\/$/, '');
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const reqOpts: RequestOptions = { method, headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(reqOpts);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers = reqOpts.headers as Record<string, string | number>;
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? CONTENT_TYPE.json;
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, reqOpts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (status >= 200 && status < 300) return parsed as T;
    const st = (parsed ?? {}) as Record<string, unknown>;
    const message = typeof st.message === 'string' ? st.message : text.slice(0, 500) || `HTTP ${status}`;
    throw new KubeApiError(status, `${method} ${path}: ${message}`, String(st.reason ?? ''), st);
  }

  get<T = KubeObject>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  /** GET, or undefined on 404. */
  async find<T = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
  list<T = KubeObject>(path: string, query?: RequestOpts['query']): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, query ? { query } : {});
  }
  /** Server-side apply: the body must carry apiVersion, kind and metadata.name. */
  apply<T = KubeObject>(path: string, body: unknown, fieldManager: string, force = true): Promise<T> {
    return this.request<T>('PATCH', path, {
      body,
      contentType: CONTENT_TYPE.apply,
      query: { fieldManager, force },
    });
  }
  mergePatch<T = KubeObject>(path: string, body: unknown, fieldManager?: string): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: CONTENT_TYPE.merge, query: { fieldManager } });
  }
  jsonPatch<T = KubeObject>(path: string, ops: unknown[], fieldManager?: string): Promise<T> {
    return this.request<T>('PATCH', path, { body: ops, contentType: CONTENT_TYPE.jsonPatch, query: { fieldManager } });
  }
  create<T = KubeObject>(path: string, body: unknown, fieldManager?: string): Promise<T> {
    return this.request<T>('POST', path, { body, query: { fieldManager } });
  }
  replace<T = KubeObject>(path: string, body: unknown, fieldManager?: string): Promise<T> {
    return this.request<T>('PUT', path, { body, query: { fieldManager } });
  }
  /** DELETE; a 404 counts as done. */
  async delete(path: string, query?: RequestOpts['query']): Promise<void> {
    try {
      await this.request('DELETE', path, query ? { query } : {});
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/** The REST path of a resource: `/api/v1/...` for the core group, `/apis/<group>/<version>/...` otherwise. */
export function resourcePath(
  apiVersion: string,
  plural: string,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  let p = base + (namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '') + `/${plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}
