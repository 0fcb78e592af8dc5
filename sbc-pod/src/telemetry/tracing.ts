// Per-call traces (DESIGN.md §10, issue [9/10] part 5): one span per call with child spans for routing, admission,
// media allocation and each outbound attempt. Exported over OTLP/HTTP (JSON) only when OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; otherwise every helper is a cheap no-op.
//
// Attributes: Call-ID and tenant always; never credentials, SRTP keys, tokens or SIP auth headers — every attribute
// passes `redactAttributes` (secret-looking keys dropped, secret-looking values replaced by "[redacted]"). Phone
// numbers are not recorded either (PII; the CDR has them).
import {
  type Attributes,
  type AttributeValue,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { CallDirection } from '../cdr/record.ts';

/** Span names, so dashboards/tests do not spell them twice. */
export const SPAN = {
  call: 'sbc.call',
  routing: 'sbc.routing',
  admission: 'sbc.admission',
  media: 'sbc.media.allocate',
  attempt: 'sbc.attempt',
} as const;

/** Attribute keys. */
export const ATTR = {
  callId: 'sip.call_id',
  tenant: 'switchboard.tenant',
  direction: 'switchboard.direction',
  trunk: 'switchboard.trunk',
  attempt: 'switchboard.attempt',
  disposition: 'switchboard.disposition',
  reason: 'switchboard.reason',
  statusCode: 'sip.status_code',
  target: 'server.address',
  port: 'server.port',
  transport: 'network.transport',
  pod: 'service.instance.id',
} as const;

const SECRET_KEY = /pass(word)?|secret|token|authori[sz]ation|credential|api[-_]?key|private|srtp|crypto|cookie|nonce/i;
const SECRET_VALUE = [
  /\binline:[A-Za-z0-9+/=]{20,}/i, // SDES key (RFC 4568)
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/i,
  /\bDigest\s+.*\bresponse\s*=/i,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i, // credentials in a URL
];

export function looksSecret(value: string): boolean {
  return SECRET_VALUE.some((re) => re.test(value));
}

/** Attributes safe to export: secret-named keys dropped, secret-looking string values redacted. */
export function redactAttributes(attrs: Attributes | undefined): Attributes {
  const out: Attributes = {};
  if (!attrs) return out;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || SECRET_KEY.test(k)) continue;
    if (typeof v === 'string' && looksSecret(v)) out[k] = '[redacted]';
    else if (Array.isArray(v))
      out[k] = v.map((x) => (typeof x === 'string' && looksSecret(x) ? '[redacted]' : x)) as AttributeValue;
    else out[k] = v;
  }
  return out;
}

/** A child operation of a call (routing, admission, media, one outbound attempt). */
export interface CallStep {
  /** Add attributes (redacted like all others). */
  set(attrs: Attributes): void;
  /** End successfully, optionally with result attributes. */
  end(attrs?: Attributes): void;
  /** End as failed with a short reason (no secrets: it is redacted too). */
  fail(reason: string, attrs?: Attributes): void;
}

export interface CallSpan extends CallStep {
  readonly traceId: string | undefined;
  routing(): CallStep;
  admission(): CallStep;
  media(): CallStep;
  /** Outbound attempt n (1-based) toward a trunk target or Teams proxy. */
  attempt(n: number, target: { host: string; port?: number; transport?: string; trunk?: string | undefined }): CallStep;
}

export interface TracingOptions {
  /** Environment to read OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT / OTEL_SERVICE_NAME from. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Overrides the environment: the OTLP base endpoint ("/v1/traces" is appended). */
  endpoint?: string;
  /** Pod name (resource service.instance.id). */
  pod?: string;
  /** Use a synchronous-export processor (tests); default batches. */
  simple?: boolean;
  /** Export somewhere else than OTLP (tests). */
  exporter?: SpanExporter;
}

const noopStep: CallStep = { set() {}, end() {}, fail() {} };
const noopCall: CallSpan = {
  traceId: undefined,
  set() {},
  end() {},
  fail() {},
  routing: () => noopStep,
  admission: () => noopStep,
  media: () => noopStep,
  attempt: () => noopStep,
};

function step(span: Span): CallStep {
  let done = false;
  return {
    set: (attrs) => span.setAttributes(redactAttributes(attrs)),
    end(attrs) {
      if (done) return;
      done = true;
      if (attrs) span.setAttributes(redactAttributes(attrs));
      span.end();
    },
    fail(reason, attrs) {
      if (done) return;
      done = true;
      if (attrs) span.setAttributes(redactAttributes(attrs));
      span.setStatus({ code: SpanStatusCode.ERROR, message: looksSecret(reason) ? '[redacted]' : reason });
      span.end();
    },
  };
}

/** Resolve the OTLP traces URL per the OTel spec: the signal-specific variable as is, else base + "/v1/traces". */
export function otlpTracesUrl(env: Record<string, string | undefined>, endpoint?: string): string | undefined {
  if (endpoint) return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return specific;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}

export class CallTracing {
  readonly enabled: boolean;
  readonly url: string | undefined;
  readonly #provider: BasicTracerProvider | undefined;
  readonly #tracer: Tracer | undefined;

  constructor(opts: TracingOptions = {}) {
    const env = opts.env ?? process.env;
    this.url = opts.exporter ? undefined : otlpTracesUrl(env, opts.endpoint);
    const exporter = opts.exporter ?? (this.url ? new OTLPTraceExporter({ url: this.url }) : undefined);
    this.enabled = exporter !== undefined;
    if (!exporter) return;
    const processor: SpanProcessor = opts.simple ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': env.OTEL_SERVICE_NAME || 'switchboard-sbc',
        ...(opts.pod ? { [ATTR.pod]: opts.pod } : {}),
      }),
      spanProcessors: [processor],
    });
    this.#tracer = this.#provider.getTracer('switchboard');
  }

  /** Start the span of one call (when the INVITE arrives). Everything else hangs off the returned handle. */
  startCallSpan(
    callId: string,
    tenant: string,
    attrs?: { direction?: CallDirection; [k: string]: AttributeValue | undefined },
  ): CallSpan {
    const tracer = this.#tracer;
    if (!tracer) return noopCall;
    const { direction, ...extra } = attrs ?? {};
    const root = tracer.startSpan(SPAN.call, {
      kind: SpanKind.SERVER,
      attributes: redactAttributes({
        ...extra,
        [ATTR.callId]: callId,
        [ATTR.tenant]: tenant,
        ...(direction ? { [ATTR.direction]: direction } : {}),
      }),
    });
    const ctx: Context = trace.setSpan(context.active(), root);
    const child = (name: string, kind: SpanKind, a?: Attributes) =>
      step(
        tracer.startSpan(
          name,
          { kind, attributes: redactAttributes({ [ATTR.callId]: callId, [ATTR.tenant]: tenant, ...a }) },
          ctx,
        ),
      );
    const rootStep = step(root);
    return {
      traceId: root.spanContext().traceId,
      ...rootStep,
      routing: () => child(SPAN.routing, SpanKind.INTERNAL),
      admission: () => child(SPAN.admission, SpanKind.INTERNAL),
      media: () => child(SPAN.media, SpanKind.CLIENT),
      attempt: (n, target) =>
        child(SPAN.attempt, SpanKind.CLIENT, {
          [ATTR.attempt]: n,
          [ATTR.target]: target.host,
          ...(target.port !== undefined ? { [ATTR.port]: target.port } : {}),
          ...(target.transport ? { [ATTR.transport]: target.transport.toLowerCase() } : {}),
          ...(target.trunk ? { [ATTR.trunk]: target.trunk } : {}),
        }),
    };
  }

  /** Export everything ended so far (resolves when the exporter has answered). */
  async flush(): Promise<void> {
    await this.#provider?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.#provider?.shutdown();
  }
}
