// Metrics (Prometheus via the admin /metrics) and per-call traces (OTLP when configured).
export { enumLabel, LabelGuard, NONE, OTHER, safeLabelValue } from './labels.ts';
export {
  type CallLabels,
  exportedSeriesNames,
  METRICS,
  type MediaFigures,
  type MetricInfo,
  PROMETHEUS_CONTENT_TYPE,
  SbcMetrics,
  type SbcMetricsOptions,
} from './metrics.ts';
export { parsePrometheusText, type Sample, sampleValue } from './prom-text.ts';
export { redactSip, SipTrace, type SipTraceOptions } from './sip-trace.ts';
export {
  ATTR,
  type CallSpan,
  type CallStep,
  CallTracing,
  looksSecret,
  otlpTracesUrl,
  redactAttributes,
  SPAN,
  type TracingOptions,
} from './tracing.ts';
