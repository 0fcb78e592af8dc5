// SbcMetrics: the pod's OpenTelemetry metrics (DESIGN.md §10, issue [9/10] part 4), exposed in Prometheus text by
// the admin server's /metrics (no separate port). Per tenant and trunk: attempts, answered, ended by disposition,
// talk time (ACD = sum/count), post-dial delay, active calls, admission rejections by reason, outbound attempts by
// result; per pod: Teams target and trunk health, certificate expiry, config version, media loss and jitter.
//
// Label values go through LabelGuard (labels.ts): tenant/trunk/target/certificate names only, bounded in number,
// never phone numbers. The full catalogue is METRICS below; dashboards may only use names from it (tested).
import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableResult,
  ValueType,
} from '@opentelemetry/api';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, InstrumentType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { AdmissionReason } from '../admission/admission.ts';
import type { CallDirection, Cdr, CdrMediaLeg, Disposition } from '../cdr/record.ts';
import { enumLabel, LabelGuard, NONE } from './labels.ts';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricInfo {
  /** The Prometheus name as scraped (counters end in _total; histograms add _bucket/_sum/_count). */
  name: string;
  type: MetricType;
  labels: readonly string[];
  help: string;
}

/** Every metric the facade exports, by its Prometheus name. */
export const METRICS = {
  callAttempts: {
    name: 'switchboard_call_attempts_total',
    type: 'counter',
    labels: ['tenant', 'direction', 'trunk'],
    help: 'Calls offered to the SBC (one per call, not per failover attempt); CPS = rate() of this',
  },
  callsAnswered: {
    name: 'switchboard_calls_answered_total',
    type: 'counter',
    labels: ['tenant', 'direction', 'trunk'],
    help: 'Calls answered; ASR = answered / attempts',
  },
  callsEnded: {
    name: 'switchboard_calls_ended_total',
    type: 'counter',
    labels: ['tenant', 'direction', 'trunk', 'disposition'],
    help: 'Call attempts ended (one per CDR), by disposition',
  },
  callDuration: {
    name: 'switchboard_call_duration_seconds',
    type: 'histogram',
    labels: ['tenant', 'direction', 'trunk'],
    help: 'Talk time of answered calls (answer to end); ACD = sum / count',
  },
  callSetup: {
    name: 'switchboard_call_setup_seconds',
    type: 'histogram',
    labels: ['tenant', 'direction', 'trunk'],
    help: 'Post-dial delay: INVITE received to first ringing or answer',
  },
  activeCalls: {
    name: 'switchboard_active_calls',
    type: 'gauge',
    labels: ['tenant'],
    help: 'Calls in progress on this pod',
  },
  admissionRejections: {
    name: 'switchboard_admission_rejections_total',
    type: 'counter',
    labels: ['tenant', 'reason'],
    help: 'Calls refused by admission control, by reason',
  },
  outboundAttempts: {
    name: 'switchboard_outbound_attempts_total',
    type: 'counter',
    labels: ['tenant', 'trunk', 'result'],
    help: 'Outbound INVITE attempts (each failover attempt counts), by final result class',
  },
  teamsTargetUp: {
    name: 'switchboard_teams_target_up',
    type: 'gauge',
    labels: ['target'],
    help: 'Teams SIP proxy reachable by OPTIONS (1) or not (0)',
  },
  trunkUp: {
    name: 'switchboard_trunk_up',
    type: 'gauge',
    labels: ['trunk'],
    help: 'Carrier trunk has at least one target up by OPTIONS (1) or not (0)',
  },
  certificateExpiry: {
    name: 'switchboard_certificate_expiry_seconds',
    type: 'gauge',
    labels: ['name'],
    help: 'Seconds until the certificate expires (negative when expired)',
  },
  configInfo: {
    name: 'switchboard_config_info',
    type: 'gauge',
    labels: ['version'],
    help: 'The config version this pod runs (value 1)',
  },
  tenantsLoaded: {
    name: 'switchboard_tenants_loaded',
    type: 'gauge',
    labels: [],
    help: 'Tenants in the config this pod runs',
  },
  mediaPackets: {
    name: 'switchboard_media_packets_total',
    type: 'counter',
    labels: ['tenant'],
    help: 'RTP packets received on relayed streams of ended calls',
  },
  mediaPacketsLost: {
    name: 'switchboard_media_packets_lost_total',
    type: 'counter',
    labels: ['tenant'],
    help: 'RTP packets lost (RFC 3550 expected minus received) on relayed streams of ended calls',
  },
  mediaJitter: {
    name: 'switchboard_media_jitter_seconds',
    type: 'histogram',
    labels: ['tenant'],
    help: 'Interarrival jitter (RFC 3550) per stream at the end of the call',
  },
} as const satisfies Record<string, MetricInfo>;

/** Every series name that can appear in a scrape (histograms expand to _bucket/_sum/_count). */
export function exportedSeriesNames(): string[] {
  const out: string[] = [];
  for (const m of Object.values(METRICS) as MetricInfo[]) {
    if (m.type === 'histogram') out.push(`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`);
    else out.push(m.name);
  }
  return out.sort();
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const DIRECTIONS = [
  'teams-to-carrier',
  'carrier-to-teams',
  'teams-to-teams',
] as const satisfies readonly CallDirection[];
const DISPOSITIONS = [
  'answered',
  'busy',
  'no-answer',
  'cancelled',
  'rejected',
  'blocked',
  'not-found',
  'admission-rejected',
  'failed',
] as const satisfies readonly Disposition[];
const REASONS = [
  'unknown-tenant',
  'unknown-trunk',
  'trunk-not-allowed',
  'tenant-cps',
  'tenant-concurrency',
  'trunk-channels',
  'trunk-priority',
  'trunk-cps',
  'unavailable',
] as const satisfies readonly AdmissionReason[];
const RESULTS = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx', 'timeout', 'error'] as const;

export interface CallLabels {
  tenant: string;
  direction: CallDirection;
  /** Carrier trunk id, when known; absent → "none". */
  trunk?: string | undefined;
}

export interface SbcMetricsOptions {
  /** Resource attributes (service.instance.id = pod name); not put on series (no target_info). */
  pod?: string;
  /** Distinct tenant label values before "other" (when no known set is given). Default 10000. */
  maxTenants?: number;
  /** Distinct trunk label values. Default 2000. */
  maxTrunks?: number;
  /** Distinct Teams target label values. Default 32. */
  maxTargets?: number;
  /** Distinct certificate names. Default 10000. */
  maxCertificates?: number;
  /** Clock for certificate expiry (ms since epoch). Default Date.now. */
  now?: () => number;
}

/** Reads the cumulative state on demand. Observable gauges use DELTA so a series that is no longer observed
 * (a removed Teams target, an old config version) disappears instead of repeating its last value. */
class PullReader extends MetricReader {
  constructor() {
    super({
      aggregationTemporalitySelector: (t) =>
        t === InstrumentType.OBSERVABLE_GAUGE ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
    });
  }
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const DURATION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
const SETUP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30];
const JITTER_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2];

/** Media figures of one stream (a CDR media leg). */
export type MediaFigures = CdrMediaLeg;

export class SbcMetrics {
  readonly meter: Meter;
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  readonly tenants: LabelGuard;
  readonly trunks: LabelGuard;
  readonly #targets: LabelGuard;
  readonly #certNames: LabelGuard;
  readonly #provider: MeterProvider;
  readonly #reader = new PullReader();
  readonly #serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  readonly #now: () => number;

  readonly #attempts: Counter;
  readonly #answered: Counter;
  readonly #ended: Counter;
  readonly #duration: Histogram;
  readonly #setup: Histogram;
  readonly #rejections: Counter;
  readonly #outbound: Counter;
  readonly #mediaPackets: Counter;
  readonly #mediaLost: Counter;
  readonly #jitter: Histogram;

  #activeSource: (() => Iterable<[string, number]>) | undefined;
  readonly #targetUp = new Map<string, boolean>();
  readonly #trunkUp = new Map<string, boolean>();
  readonly #certs = new Map<string, number>();
  #config: { version: string; tenants: number } | undefined;

  constructor(opts: SbcMetricsOptions = {}) {
    this.tenants = new LabelGuard(opts.maxTenants ?? 10000);
    this.trunks = new LabelGuard(opts.maxTrunks ?? 2000);
    this.#targets = new LabelGuard(opts.maxTargets ?? 32);
    this.#certNames = new LabelGuard(opts.maxCertificates ?? 10000);
    this.#now = opts.now ?? Date.now;
    this.#provider = new MeterProvider({
      resource: resourceFromAttributes({
        'service.name': 'switchboard-sbc',
        ...(opts.pod ? { 'service.instance.id': opts.pod } : {}),
      }),
      readers: [this.#reader],
    });
    const m = this.#provider.getMeter('switchboard');
    this.meter = m;
    const base = (info: MetricInfo) => info.name.replace(/_total$/, '');
    const counter = (info: MetricInfo) =>
      m.createCounter(base(info), { description: info.help, valueType: ValueType.INT });
    const histogram = (info: MetricInfo, buckets: number[]) =>
      m.createHistogram(info.name, {
        description: info.help,
        unit: 's',
        advice: { explicitBucketBoundaries: buckets },
      });
    this.#attempts = counter(METRICS.callAttempts);
    this.#answered = counter(METRICS.callsAnswered);
    this.#ended = counter(METRICS.callsEnded);
    this.#rejections = counter(METRICS.admissionRejections);
    this.#outbound = counter(METRICS.outboundAttempts);
    this.#mediaPackets = counter(METRICS.mediaPackets);
    this.#mediaLost = counter(METRICS.mediaPacketsLost);
    this.#duration = histogram(METRICS.callDuration, DURATION_BUCKETS);
    this.#setup = histogram(METRICS.callSetup, SETUP_BUCKETS);
    this.#jitter = histogram(METRICS.mediaJitter, JITTER_BUCKETS);

    const gauge = (info: MetricInfo, cb: (r: ObservableResult) => void) =>
      m.createObservableGauge(info.name, { description: info.help }).addCallback(cb);
    gauge(METRICS.activeCalls, (r) => {
      if (!this.#activeSource) return;
      const sums = new Map<string, number>();
      for (const [tenant, n] of this.#activeSource()) {
        const t = this.tenants.value(tenant);
        sums.set(t, (sums.get(t) ?? 0) + n);
      }
      for (const [tenant, n] of sums) r.observe(n, { tenant });
    });
    gauge(METRICS.teamsTargetUp, (r) => {
      for (const [target, up] of this.#targetUp) r.observe(up ? 1 : 0, { target });
    });
    gauge(METRICS.trunkUp, (r) => {
      for (const [trunk, up] of this.#trunkUp) r.observe(up ? 1 : 0, { trunk });
    });
    gauge(METRICS.certificateExpiry, (r) => {
      const now = this.#now();
      for (const [name, notAfter] of this.#certs) r.observe(Math.floor((notAfter - now) / 1000), { name });
    });
    gauge(METRICS.configInfo, (r) => {
      if (this.#config) r.observe(1, { version: this.#config.version });
    });
    gauge(METRICS.tenantsLoaded, (r) => {
      if (this.#config) r.observe(this.#config.tenants);
    });
  }

  #call(l: CallLabels): Attributes {
    return {
      tenant: this.tenants.value(l.tenant),
      direction: enumLabel(DIRECTIONS, l.direction),
      trunk: this.trunks.value(l.trunk),
    };
  }

  // --- config ---------------------------------------------------------------------------------------------------

  /** A config snapshot went live: its version, and the tenants/trunks it knows (these become the only label
   * values besides "other" and "none"). */
  configLoaded(version: string, tenantIds: readonly string[], trunkIds?: readonly string[]): void {
    this.#config = { version: version.length <= 64 ? version : version.slice(0, 64), tenants: tenantIds.length };
    this.tenants.setKnown(tenantIds);
    if (trunkIds) this.trunks.setKnown(trunkIds);
  }

  // --- per call -------------------------------------------------------------------------------------------------

  /** A call was offered (after tenant resolution and routing, before admission); trunk = the routed carrier trunk
   * (teams-to-carrier) or the trunk it came from (carrier-to-teams). One per call, failovers excluded. */
  callAttempt(l: CallLabels): void {
    this.#attempts.add(1, this.#call(l));
  }

  /** The call was answered (2xx passed to the caller); trunk = the trunk that answered. */
  callAnswered(l: CallLabels): void {
    this.#answered.add(1, this.#call(l));
  }

  /** Admission control refused a call. */
  admissionRejected(tenant: string, reason: AdmissionReason | string): void {
    this.#rejections.add(1, { tenant: this.tenants.value(tenant), reason: enumLabel(REASONS, reason) });
  }

  /** One outbound INVITE attempt finished: its final status, or timeout / transport error. */
  outboundAttempt(tenant: string, trunk: string | undefined, result: number | 'timeout' | 'error'): void {
    const cls = typeof result === 'number' ? `${Math.floor(result / 100)}xx` : result;
    this.#outbound.add(1, {
      tenant: this.tenants.value(tenant),
      trunk: this.trunks.value(trunk),
      result: enumLabel(RESULTS, cls),
    });
  }

  /** The call attempt ended; call once per CDR. Counts the disposition, talk time, post-dial delay and media. */
  callEnded(cdr: Cdr): void {
    const attrs = this.#call(cdr);
    this.#ended.add(1, { ...attrs, disposition: enumLabel(DISPOSITIONS, cdr.disposition) });
    if (cdr.answerTime !== undefined) this.#duration.record(cdr.talkMs / 1000, attrs);
    const setup = Date.parse(cdr.setupTime);
    const first = Math.min(
      cdr.ringTime ? Date.parse(cdr.ringTime) : Number.POSITIVE_INFINITY,
      cdr.answerTime ? Date.parse(cdr.answerTime) : Number.POSITIVE_INFINITY,
    );
    if (Number.isFinite(first) && first >= setup) this.#setup.record((first - setup) / 1000, attrs);
    const media = cdr.media as Record<string, CdrMediaLeg | undefined> | undefined;
    if (media) for (const leg of Object.values(media)) if (leg && typeof leg === 'object') this.media(cdr.tenant, leg);
  }

  /** Figures of one media stream (callEnded does this for the CDR's media legs). */
  media(tenant: string, figures: MediaFigures): void {
    const t = { tenant: this.tenants.value(tenant) };
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
    const received = num(figures.packetsReceived);
    const lost = num(figures.packetsLost);
    const jitter = num(figures.jitterMs);
    if (received !== undefined) this.#mediaPackets.add(received, t);
    if (lost !== undefined) this.#mediaLost.add(lost, t);
    if (jitter !== undefined && received) this.#jitter.record(jitter / 1000, t);
  }

  /** Where active calls per tenant come from (e.g. the B2BUA's call table); read at every scrape. */
  setActiveCallsSource(source: () => Iterable<[tenant: string, count: number]>): void {
    this.#activeSource = source;
  }

  // --- pod state ------------------------------------------------------------------------------------------------

  /** OPTIONS health of a Teams SIP proxy ("host:port"); undefined removes the series. */
  setTeamsTargetUp(target: string, up: boolean | undefined): void {
    const key = this.#targets.value(target);
    if (up === undefined) this.#targetUp.delete(key);
    else if (key !== NONE) this.#targetUp.set(key, up);
  }

  /** Health of a carrier trunk; undefined removes the series. */
  setTrunkUp(trunk: string, up: boolean | undefined): void {
    const key = this.trunks.value(trunk);
    if (up === undefined) this.#trunkUp.delete(key);
    else if (key !== NONE) this.#trunkUp.set(key, up);
  }

  /** A served certificate and its notAfter (Date or ms); undefined removes it. */
  setCertificate(name: string, notAfter: Date | number | undefined): void {
    const key = this.#certNames.value(name);
    if (notAfter === undefined) this.#certs.delete(key);
    else if (key !== NONE) {
      const ms = typeof notAfter === 'number' ? notAfter : notAfter.getTime();
      // Several certificates folded into "other": report the one expiring first.
      const prev = this.#certs.get(key);
      this.#certs.set(key, prev !== undefined && key !== name ? Math.min(prev, ms) : ms);
    }
  }

  // --- exposition -----------------------------------------------------------------------------------------------

  /** The Prometheus text exposition of everything recorded so far. */
  async scrape(): Promise<string> {
    const { resourceMetrics } = await this.#reader.collect();
    return this.#serializer.serialize(resourceMetrics);
  }

  async shutdown(): Promise<void> {
    await this.#provider.shutdown();
  }
}
