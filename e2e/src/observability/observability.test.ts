// Issue [9/10] end to end on one signalling pod (the B2BUA fixture: Teams simulator ⇄ pod ⇄ sipp carriers):
// /metrics after a sipp run matches the calls made; the admin API refuses requests without the bearer token; a call's
// trace (call span + routing, admission, media and attempt children) reaches a local OTLP/HTTP receiver; CDRs of a
// tenant with a rate plan carry billable seconds and a charge (every CDR is schema-checked by the fixture); the
// per-tenant SIP trace logs that tenant's messages only, and stops when switched off.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { parsePrometheusText, type Sample } from '../../../sbc-pod/src/telemetry/prom-text.ts';
import { type CarrierPorts, type Fixture, providerManifests, startFixture } from '../b2bua/fixture.ts';
import { scenario } from '../b2bua/helpers.ts';
import { runSipp } from '../harness/sipp.ts';

const TOKEN = 'observability-test-token';
let f: Fixture;
let otlp: Server;
const exported: unknown[] = [];
const logLines: Record<string, unknown>[] = [];

function rateCatalogue(): string {
  const file = join(tmpdir(), `sb-rate-plans-${process.pid}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      gold: {
        tariff: { ratePerMinute: '0.60', initialSeconds: 60, incrementSeconds: 6, perCallFee: '0.05' },
        prefixRates: [{ prefix: '+1555124', ratePerMinute: '1.20' }],
      },
    }),
  );
  return file;
}

before(async () => {
  otlp = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') exported.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  otlp.listen(0, '127.0.0.1');
  await once(otlp, 'listening');
  const addr = otlp.address();
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  f = await startFixture({
    manifests: (p: CarrierPorts) =>
      providerManifests(p).replace(
        'billing: { accountId: ACC-CONTOSO }',
        'billing: { accountId: ACC-CONTOSO, currency: EUR, ratePlan: gold }',
      ),
    env: { SWITCHBOARD_ADMIN_TOKEN: TOKEN, SWITCHBOARD_RATE_PLANS: rateCatalogue() },
    logger: pino({ level: 'info' }, sink),
  });
});

after(async () => {
  await f?.close();
  otlp?.close();
});

function adminUrl(path: string): string {
  const a = f.pod.element.admin.address;
  return `http://${a.host}:${a.port}${path}`;
}

function admin(path: string, init: RequestInit = {}, token: string | null = TOKEN): Promise<Response> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(adminUrl(path), { ...init, headers });
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(adminUrl('/metrics'));
  assert.equal(res.status, 200);
  return parsePrometheusText(await res.text());
}

function sum(samples: Sample[], name: string, labels: Record<string, string>): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** Carrier → Teams calls with sipp (answered by the Teams simulator), to `number`. */
async function carrierCalls(number: string, calls: number): Promise<void> {
  const result = await runSipp({
    scenario: scenario('uac-call.xml'),
    target: `127.0.0.1:${f.udpPort}`,
    calls,
    rate: 5,
    limit: 5,
    extraArgs: ['-s', number, '-key', 'caller', '+15559870001', '-d', '200'],
    timeoutMs: 60_000,
  });
  assert.equal(result.stats.successful, calls, result.stdout + result.stderr);
}

async function cdrsFor(pred: (c: Cdr) => boolean, n: number, timeoutMs = 15_000): Promise<Cdr[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = f.cdrs().filter(pred);
    if (found.length >= n) return found;
    if (Date.now() > deadline) throw new Error(`only ${found.length} of ${n} CDRs within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25)); // polling a file: there is no event to wait on
  }
}

test('/metrics after a sipp run matches the calls made: attempts, answered, ended by disposition, active 0', async () => {
  const labels = { tenant: 'contoso/contoso', direction: 'carrier-to-teams' };
  const before = await scrape();
  const seen = f.cdrs().length;
  await carrierCalls('+15551230001', 6);
  await cdrsFor((c) => c.callee === '+15551230001', 6);
  await cdrsFor(() => true, seen + 6);
  const now = await scrape();
  const delta = (name: string, extra: Record<string, string> = {}) =>
    sum(now, name, { ...labels, ...extra }) - sum(before, name, { ...labels, ...extra });
  const figures = {
    attempts: delta('switchboard_call_attempts_total'),
    answered: delta('switchboard_calls_answered_total'),
    endedAnswered: delta('switchboard_calls_ended_total', { disposition: 'answered' }),
    ended: delta('switchboard_calls_ended_total'),
    durationCount: delta('switchboard_call_duration_seconds_count'),
  };
  console.log(`metrics after 6 sipp calls: ${JSON.stringify(figures)}`);
  assert.deepEqual(figures, { attempts: 6, answered: 6, endedAnswered: 6, ended: 6, durationCount: 6 });
  assert.equal(sum(now, 'switchboard_active_calls', { tenant: 'contoso/contoso' }), 0);
  assert.ok(now.some((s) => s.name === 'switchboard_active_calls' && s.labels.tenant === 'contoso/contoso'));
  assert.equal(sum(now, 'switchboard_call_attempts_total', { trunk: 'carriers/carrier-a' }) >= 6, true);
  assert.ok(now.some((s) => s.name === 'switchboard_config_info' && s.value === 1));
  assert.equal(sum(now, 'switchboard_tenants_loaded', {}), 2);
  assert.ok(
    now.some((s) => s.name === 'switchboard_certificate_expiry_seconds' && s.value > 0),
    'certificate expiry gauge',
  );
  // No phone number ever becomes a label value (the config version is a hex hash: it may hold digit runs).
  const labelValues = now.flatMap((s) => Object.entries(s.labels).filter(([k]) => k !== 'version'));
  assert.ok(!labelValues.some(([, v]) => /\+?\d{7,}/.test(v)));
});

test('admin API: protected routes answer 401 without the bearer token, 200 with it; /metrics and health are open', async () => {
  for (const [method, path] of [
    ['GET', '/admin/config'],
    ['GET', '/admin/calls'],
    ['GET', '/admin/blocked-sources'],
    ['GET', '/admin/blocks'],
    ['GET', '/admin/admission'],
    ['GET', '/admin/trace'],
    ['POST', '/admin/drain'],
  ] as const) {
    const res = await admin(path, { method }, null);
    assert.equal(res.status, 401, `${method} ${path} without a token`);
    const wrong = await admin(path, { method }, 'not-the-token');
    assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`);
  }
  const config = await admin('/admin/config');
  assert.equal(config.status, 200);
  const body = (await config.json()) as { version: string; tenants: { id: string; activeCalls: number }[] };
  assert.match(body.version, /^[0-9a-f]{16}$/);
  assert.deepEqual(body.tenants.map((t) => t.id).sort(), ['contoso/contoso', 'fabrikam/fabrikam']);
  assert.equal((await admin('/admin/calls')).status, 200);
  assert.equal((await admin('/admin/admission')).status, 200);
  assert.equal((await fetch(adminUrl('/healthz'))).status, 200);
  assert.equal((await fetch(adminUrl('/readyz'))).status, 200);
  const openapi = (await (await fetch(adminUrl('/openapi.json'))).json()) as { paths: Record<string, unknown> };
  for (const p of ['/admin/config', '/admin/calls', '/admin/trace', '/admin/blocked-sources', '/metrics']) {
    assert.ok(openapi.paths[p], `${p} in /openapi.json`);
  }
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

function spans(): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  for (const doc of exported as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }[]) {
    for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) out.push(...ss.spans);
  }
  return out;
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
};

test('a call’s trace reaches the OTLP/HTTP receiver: call span with routing, admission, media and attempt children', async () => {
  await carrierCalls('+15551230002', 1);
  const [cdr] = await cdrsFor((c) => c.callee === '+15551230002', 1);
  await f.pod.tracing.flush();
  const root = spans().find((s) => s.name === 'sbc.call' && attr(s, 'sip.call_id') === cdr!.inboundCallId);
  assert.ok(root, `no sbc.call span for ${cdr!.inboundCallId}; got ${spans().map((s) => s.name)}`);
  assert.equal(attr(root, 'switchboard.tenant'), 'contoso/contoso');
  assert.equal(attr(root, 'switchboard.disposition'), 'answered');
  const children = spans().filter((s) => s.traceId === root.traceId && s.parentSpanId === root.spanId);
  const names = children.map((s) => s.name).sort();
  console.log(`trace ${root.traceId}: ${['sbc.call', ...names].join(', ')}`);
  for (const n of ['sbc.routing', 'sbc.admission', 'sbc.media.allocate', 'sbc.attempt']) {
    assert.ok(names.includes(n), `${n} child span`);
  }
  const attempt = children.find((s) => s.name === 'sbc.attempt')!;
  assert.equal(attr(attempt, 'sip.status_code'), 200);
  for (const s of children) assert.equal(attr(s, 'sip.call_id'), cdr!.inboundCallId);
  // No secrets and no phone numbers in any exported attribute.
  const text = JSON.stringify(exported);
  assert.ok(!text.includes(TOKEN) && !text.includes('+15559870001') && !/inline:/.test(text));
});

test('rating: a tenant with a rate plan gets billable seconds and a charge; a tenant without one a zero charge', async () => {
  await carrierCalls('+15551230003', 1);
  await carrierCalls('+15551240001', 1);
  const [contoso] = await cdrsFor((c) => c.callee === '+15551230003', 1);
  const [fabrikam] = await cdrsFor((c) => c.callee === '+15551240001', 1);
  // gold: 60/6 at 0.60 per minute + 0.05 per answered call; a sub-second call bills the first 60 s.
  assert.equal(contoso!.disposition, 'answered');
  assert.equal(contoso!.billableSeconds, 60);
  assert.deepEqual(contoso!.charge, { amount: '0.65', currency: 'EUR' });
  assert.equal(contoso!.account, 'ACC-CONTOSO');
  // fabrikam has no plan in the catalogue: its CDRs are rated with a zero tariff in its default currency.
  assert.equal(fabrikam!.billableSeconds, Math.ceil(fabrikam!.talkMs / 1000));
  assert.deepEqual(fabrikam!.charge, { amount: '0.00', currency: 'USD' });
});

test('per-tenant SIP trace: POST /admin/trace logs that tenant’s messages with tenant and Call-ID, nobody else’s', async () => {
  const on = await admin('/admin/trace', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: 'contoso/contoso' }),
  });
  assert.equal(on.status, 200);
  const unknown = await admin('/admin/trace', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: 'nobody/nobody' }),
  });
  assert.equal(unknown.status, 404);
  const mark = logLines.length;
  const had = f.cdrs().filter((c) => c.callee === '+15551230001').length;
  await carrierCalls('+15551230001', 1);
  await carrierCalls('+15551240001', 1);
  const traced = await cdrsFor((c) => c.callee === '+15551230001', had + 1);
  const contoso = traced.at(-1)!;
  const fabrikam = (await cdrsFor((c) => c.callee === '+15551240001', 2)).at(-1)!;
  const lines = () => logLines.slice(mark).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('SIP '));
  const deadline = Date.now() + 5_000;
  while (!lines().some((l) => l.callId === contoso.inboundCallId && String(l.sip).startsWith('BYE'))) {
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 25)); // log lines arrive asynchronously through pino
  }
  const mine = lines().filter((l) => l.callId === contoso.inboundCallId || l.callId === contoso.outboundCallId);
  assert.ok(mine.length >= 6, `traced lines: ${mine.length}`);
  for (const l of lines()) {
    assert.equal(l.tenant, 'contoso/contoso');
    assert.equal(l.level, 30, 'info');
  }
  assert.ok(mine.some((l) => l.direction === 'in' && String(l.sip).startsWith('INVITE ')));
  assert.ok(mine.some((l) => l.callId === contoso.outboundCallId && l.direction === 'out'));
  assert.ok(!lines().some((l) => l.callId === fabrikam.inboundCallId || l.callId === fabrikam.outboundCallId));
  console.log(`SIP trace: ${mine.length} messages of ${contoso.inboundCallId} logged`);
  const off = await admin('/admin/trace', { method: 'DELETE' });
  assert.equal(off.status, 200);
  const mark2 = logLines.length;
  await carrierCalls('+15551230001', 1);
  await cdrsFor((c) => c.callee === '+15551230001', had + 2);
  assert.equal(logLines.slice(mark2).filter((l) => String(l.msg).startsWith('SIP ')).length, 0);
});
