// The shipped Grafana dashboard may only query metrics SbcMetrics exports, with labels those metrics carry.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportedSeriesNames, METRICS, type MetricInfo } from '../metrics.ts';

const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, 'switchboard-grafana.json'), 'utf8')) as {
  uid: string;
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
};

const PROMQL_WORDS = new Set([
  // aggregations and modifiers
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  // functions
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'histogram_quantile',
  'abs',
  'ceil',
  'floor',
  'round',
  'clamp_min',
  'clamp_max',
  'clamp',
  'time',
  'vector',
  'scalar',
  'sort',
  'sort_desc',
  'label_replace',
  'label_join',
  'absent',
  'changes',
  'resets',
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'sum_over_time',
  'last_over_time',
  // Grafana templating functions
  'label_values',
  'query_result',
  'metrics',
]);

/** Metric names and label names a PromQL expression refers to (a small tokenizer, enough for dashboard queries). */
function promqlReferences(expr: string): { metrics: string[]; labels: string[] } {
  const labels: string[] = [];
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ') // Grafana variables ($tenant, $__rate_interval)
    .replace(/\[[^\]]*\]/g, ' '); // range selectors
  rest = rest.replace(/\{([^}]*)\}/g, (_m, inner: string) => {
    for (const l of inner.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.push(l[1]!);
    return ' ';
  });
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, _kw, inner: string) => {
    for (const l of inner.split(',')) if (l.trim()) labels.push(l.trim());
    return ' ';
  });
  // label_values(metric, label): the second argument is a label.
  rest = rest.replace(
    /label_values\(([^,()]*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)/g,
    (_m, metric: string, label: string) => {
      labels.push(label);
      return ` ${metric} `;
    },
  );
  const metrics: string[] = [];
  for (const m of rest.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    if (PROMQL_WORDS.has(word)) continue;
    const after = rest.slice(m.index! + word.length).trimStart();
    if (after.startsWith('(')) {
      throw new Error(`unknown PromQL function ${word} in ${expr}`);
    }
    metrics.push(word);
  }
  return { metrics, labels };
}

function allQueries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of dashboard.panels) {
    for (const t of p.targets ?? []) out.push({ where: p.title, expr: t.expr });
    if (p.type !== 'row') assert.ok(p.targets?.length, `panel ${p.title} has a query`);
  }
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q) out.push({ where: `variable ${v.name}`, expr: q });
  }
  return out;
}

test('every dashboard query references only exported metrics and their labels', () => {
  const exported = new Set(exportedSeriesNames());
  const labelsOf = new Map<string, Set<string>>();
  for (const m of Object.values(METRICS) as MetricInfo[]) {
    const names = m.type === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name];
    for (const n of names) labelsOf.set(n, new Set([...m.labels, ...(n.endsWith('_bucket') ? ['le'] : [])]));
  }
  const queries = allQueries();
  assert.ok(queries.length >= 15, 'the dashboard has queries');
  const used = new Set<string>();
  for (const { where, expr } of queries) {
    const { metrics, labels } = promqlReferences(expr);
    assert.ok(metrics.length > 0, `${where}: ${expr} references a metric`);
    for (const m of metrics) {
      assert.ok(exported.has(m), `${where}: ${m} is not exported by SbcMetrics`);
      used.add(m);
    }
    // Every label the query names is carried by at least one of the metrics it queries.
    for (const l of labels) {
      assert.ok(
        metrics.some((m) => labelsOf.get(m)?.has(l)),
        `${where}: label ${l} is not on ${metrics.join(', ')}`,
      );
    }
  }
  // And the KPIs of the issue are all on the dashboard.
  for (const m of [
    'switchboard_call_attempts_total',
    'switchboard_calls_answered_total',
    'switchboard_call_duration_seconds_sum',
    'switchboard_active_calls',
    'switchboard_admission_rejections_total',
    'switchboard_teams_target_up',
    'switchboard_certificate_expiry_seconds',
    'switchboard_media_packets_lost_total',
    'switchboard_config_info',
  ]) {
    assert.ok(used.has(m), `dashboard shows ${m}`);
  }
});

test('the PromQL reference extractor', () => {
  assert.deepEqual(
    promqlReferences(
      'histogram_quantile(0.95, sum by (le, tenant) (rate(switchboard_call_setup_seconds_bucket{tenant=~"$tenant"}[$__rate_interval])))',
    ),
    { metrics: ['switchboard_call_setup_seconds_bucket'], labels: ['tenant', 'le', 'tenant'] },
  );
  assert.deepEqual(promqlReferences('label_values(switchboard_call_attempts_total{tenant=~"$tenant"}, trunk)'), {
    metrics: ['switchboard_call_attempts_total'],
    labels: ['tenant', 'trunk'],
  });
  assert.deepEqual(promqlReferences('up / other_metric').metrics, ['up', 'other_metric']);
  assert.throws(() => promqlReferences('made_up_fn(x)'), /unknown PromQL function/);
});
