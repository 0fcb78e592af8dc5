import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startAdminServer } from '../admin/server.ts';
import { CDR_SCHEMA_VERSION, type Cdr } from '../cdr/record.ts';
import { LabelGuard, OTHER, safeLabelValue } from './labels.ts';
import { exportedSeriesNames, METRICS, PROMETHEUS_CONTENT_TYPE, SbcMetrics } from './metrics.ts';
import { parsePrometheusText, type Sample, sampleValue } from './prom-text.ts';

const T1 = 'contoso/contoso';
const T2 = 'fabrikam/fabrikam';
const TRUNK = 'carriers/uk-1';

function cdr(over: Partial<Cdr>): Cdr {
  return {
    schema: CDR_SCHEMA_VERSION,
    id: 'abcdefghij',
    tenant: T1,
    direction: 'teams-to-carrier',
    inboundCallId: 'c1@x',
    caller: '+15551230001',
    callee: '+442071234567',
    trunk: TRUNK,
    setupTime: '2026-03-01T10:00:00.000Z',
    endTime: '2026-03-01T10:00:10.000Z',
    durationMs: 10_000,
    talkMs: 0,
    disposition: 'busy',
    sipCode: 486,
    ...over,
  };
}

describe('label guard', () => {
  test('numbers never become labels', () => {
    for (const v of ['+15551230001', '15551230001', 'tenant-4155550100', 'a@b.c 1', 'x'.repeat(129), '"quoted"']) {
      assert.equal(safeLabelValue(v), false, v);
      assert.equal(new LabelGuard(10).value(v), OTHER, v);
    }
    for (const v of ['contoso/contoso', 'sip.pstnhub.microsoft.com:5061', 'carriers/uk-1', 'tenant-42']) {
      assert.equal(safeLabelValue(v), true, v);
    }
  });
  test('too many distinct values fold into "other"; known sets restrict to config', () => {
    const g = new LabelGuard(2);
    assert.deepEqual(
      ['a', 'b', 'c', 'a'].map((v) => g.value(v)),
      ['a', 'b', OTHER, 'a'],
    );
    g.setKnown(['x', 'y']);
    assert.deepEqual(
      ['x', 'a', 'y', undefined].map((v) => g.value(v)),
      ['x', OTHER, 'y', 'none'],
    );
  });
});

describe('SbcMetrics scraped from the admin /metrics', () => {
  test('what was recorded is what Prometheus reads', async () => {
    let now = Date.parse('2026-03-01T00:00:00Z');
    const metrics = new SbcMetrics({ pod: 'sbc-0', now: () => now });
    metrics.configLoaded('v42-abc', [T1, T2], [TRUNK]);
    const active = new Map([
      [T1, 3],
      [T2, 1],
      ['ghost/tenant', 2],
    ]);
    metrics.setActiveCallsSource(() => active);

    // Three calls of T1 to the UK trunk: one answered (61 s talk), one busy, one refused by admission.
    for (let i = 0; i < 3; i++) metrics.callAttempt({ tenant: T1, direction: 'teams-to-carrier', trunk: TRUNK });
    metrics.callAnswered({ tenant: T1, direction: 'teams-to-carrier', trunk: TRUNK });
    metrics.outboundAttempt(T1, TRUNK, 503);
    metrics.outboundAttempt(T1, TRUNK, 200);
    metrics.outboundAttempt(T1, TRUNK, 'timeout');
    metrics.callEnded(
      cdr({
        disposition: 'answered',
        sipCode: 200,
        ringTime: '2026-03-01T10:00:00.500Z',
        answerTime: '2026-03-01T10:00:02.000Z',
        endTime: '2026-03-01T10:01:03.000Z',
        durationMs: 63_000,
        talkMs: 61_000,
        media: {
          inbound: { packetsReceived: 3000, packetsLost: 30, jitterMs: 4 },
          outbound: { packetsReceived: 2000, packetsLost: 0, jitterMs: 25 },
        },
      }),
    );
    metrics.callEnded(cdr({ ringTime: '2026-03-01T10:00:03.000Z' }));
    metrics.admissionRejected(T1, 'tenant-cps');
    metrics.callEnded(cdr({ disposition: 'admission-rejected', sipCode: 503, trunk: undefined }));
    // An unknown tenant and a number where a tenant should be both fold into "other".
    metrics.callAttempt({ tenant: 'evil/new', direction: 'carrier-to-teams' });
    metrics.callAttempt({ tenant: '+15551230001', direction: 'carrier-to-teams' });
    metrics.admissionRejected('evil/new', 'unknown-tenant');

    metrics.setTeamsTargetUp('sip.pstnhub.microsoft.com:5061', true);
    metrics.setTeamsTargetUp('sip2.pstnhub.microsoft.com:5061', false);
    metrics.setTrunkUp(TRUNK, true);
    metrics.setCertificate('wildcard-sbc-example-net', new Date('2026-03-31T00:00:00Z'));

    const server = await startAdminServer(
      { host: '127.0.0.1', port: 0 },
      { ready: () => true, notReadyReason: () => '', status: () => ({}) },
      { metrics },
    );
    try {
      const scrape = async (): Promise<Sample[]> => {
        const res = await fetch(`http://127.0.0.1:${server.address.port}/metrics`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
        return parsePrometheusText(await res.text());
      };
      const s = await scrape();
      const call = { tenant: T1, direction: 'teams-to-carrier', trunk: TRUNK };
      assert.equal(sampleValue(s, 'switchboard_call_attempts_total', call), 3);
      assert.equal(sampleValue(s, 'switchboard_calls_answered_total', call), 1);
      assert.equal(sampleValue(s, 'switchboard_calls_ended_total', { ...call, disposition: 'answered' }), 1);
      assert.equal(sampleValue(s, 'switchboard_calls_ended_total', { ...call, disposition: 'busy' }), 1);
      assert.equal(
        sampleValue(s, 'switchboard_calls_ended_total', { ...call, trunk: 'none', disposition: 'admission-rejected' }),
        1,
      );
      // ACD from the histogram: one answered call of 61 s.
      assert.equal(sampleValue(s, 'switchboard_call_duration_seconds_count', call), 1);
      assert.equal(sampleValue(s, 'switchboard_call_duration_seconds_sum', call), 61);
      assert.equal(sampleValue(s, 'switchboard_call_duration_seconds_bucket', { ...call, le: '60' }), 0);
      assert.equal(sampleValue(s, 'switchboard_call_duration_seconds_bucket', { ...call, le: '120' }), 1);
      // Post-dial delay: 0.5 s (ring) and 3 s.
      assert.equal(sampleValue(s, 'switchboard_call_setup_seconds_count', call), 2);
      assert.equal(sampleValue(s, 'switchboard_call_setup_seconds_sum', call), 3.5);
      assert.equal(sampleValue(s, 'switchboard_admission_rejections_total', { tenant: T1, reason: 'tenant-cps' }), 1);
      assert.equal(
        sampleValue(s, 'switchboard_admission_rejections_total', { tenant: OTHER, reason: 'unknown-tenant' }),
        1,
      );
      assert.equal(
        sampleValue(s, 'switchboard_call_attempts_total', { tenant: OTHER, direction: 'carrier-to-teams' }),
        2,
      );
      assert.equal(sampleValue(s, 'switchboard_outbound_attempts_total', { tenant: T1, result: '5xx' }), 1);
      assert.equal(sampleValue(s, 'switchboard_outbound_attempts_total', { tenant: T1, result: 'timeout' }), 1);
      assert.equal(sampleValue(s, 'switchboard_active_calls', { tenant: T1 }), 3);
      assert.equal(sampleValue(s, 'switchboard_active_calls', { tenant: T2 }), 1);
      assert.equal(sampleValue(s, 'switchboard_active_calls', { tenant: OTHER }), 2);
      assert.equal(sampleValue(s, 'switchboard_teams_target_up', { target: 'sip.pstnhub.microsoft.com:5061' }), 1);
      assert.equal(sampleValue(s, 'switchboard_teams_target_up', { target: 'sip2.pstnhub.microsoft.com:5061' }), 0);
      assert.equal(sampleValue(s, 'switchboard_trunk_up', { trunk: TRUNK }), 1);
      assert.equal(
        sampleValue(s, 'switchboard_certificate_expiry_seconds', { name: 'wildcard-sbc-example-net' }),
        30 * 86400,
      );
      assert.equal(sampleValue(s, 'switchboard_config_info', { version: 'v42-abc' }), 1);
      assert.equal(sampleValue(s, 'switchboard_tenants_loaded'), 2);
      assert.equal(sampleValue(s, 'switchboard_media_packets_total', { tenant: T1 }), 5000);
      assert.equal(sampleValue(s, 'switchboard_media_packets_lost_total', { tenant: T1 }), 30);
      assert.equal(sampleValue(s, 'switchboard_media_jitter_seconds_count', { tenant: T1 }), 2);
      assert.equal(sampleValue(s, 'switchboard_media_jitter_seconds_bucket', { tenant: T1, le: '0.005' }), 1);

      // No label anywhere carries a phone number; every series is in the catalogue.
      const names = new Set(exportedSeriesNames());
      for (const sample of s) {
        assert.ok(names.has(sample.name), `${sample.name} is in METRICS`);
        for (const v of Object.values(sample.labels)) assert.doesNotMatch(v, /[0-9]{7,}/, `${sample.name} ${v}`);
      }

      // Gauges follow state: a removed target and an old config version disappear; time moves expiry.
      now += 86_400_000;
      metrics.setTeamsTargetUp('sip2.pstnhub.microsoft.com:5061', undefined);
      metrics.configLoaded('v43', [T1]);
      active.delete(T2);
      const s2 = await scrape();
      assert.equal(
        sampleValue(s2, 'switchboard_teams_target_up', { target: 'sip2.pstnhub.microsoft.com:5061' }),
        undefined,
      );
      assert.equal(sampleValue(s2, 'switchboard_config_info', { version: 'v42-abc' }), undefined);
      assert.equal(sampleValue(s2, 'switchboard_config_info', { version: 'v43' }), 1);
      assert.equal(sampleValue(s2, 'switchboard_active_calls', { tenant: T2 }), undefined);
      assert.equal(
        sampleValue(s2, 'switchboard_certificate_expiry_seconds', { name: 'wildcard-sbc-example-net' }),
        29 * 86400,
      );
      // Counters are cumulative across scrapes.
      assert.equal(sampleValue(s2, 'switchboard_call_attempts_total', call), 3);
    } finally {
      await server.close();
      await metrics.shutdown();
    }
  });

  test('the catalogue names follow Prometheus conventions', () => {
    for (const m of Object.values(METRICS)) {
      assert.match(m.name, /^switchboard_[a-z_]+$/);
      if (m.type === 'counter') assert.match(m.name, /_total$/);
      if (m.type === 'histogram') assert.match(m.name, /_seconds$/);
      assert.ok(!(m.labels as readonly string[]).some((l) => /number|caller|callee|call_id/.test(l)), m.name);
    }
  });
});
