import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ATTR, CallTracing, otlpTracesUrl, redactAttributes, SPAN } from './tracing.ts';

interface OtlpRequest {
  path: string;
  contentType: string;
  body: {
    resourceSpans: {
      resource: { attributes: OtlpAttr[] };
      scopeSpans: { spans: OtlpSpan[] }[];
    }[];
  };
}
interface OtlpAttr {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: OtlpAttr[];
  status?: { code?: number; message?: string };
}

/** A local OTLP/HTTP receiver: records every request body. */
async function otlpReceiver() {
  const requests: OtlpRequest[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { requests, endpoint: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

const attrValue = (a: OtlpAttr) => a.value.stringValue ?? a.value.intValue ?? a.value.boolValue;
const attrs = (s: { attributes: OtlpAttr[] }) => Object.fromEntries(s.attributes.map((a) => [a.key, attrValue(a)]));

test('a call trace is exported as OTLP JSON to the configured endpoint, with no secrets', async () => {
  const receiver = await otlpReceiver();
  const tracing = new CallTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }, pod: 'sbc-0' });
  try {
    assert.equal(tracing.enabled, true);
    assert.equal(tracing.url, `${receiver.endpoint}/v1/traces`);
    const call = tracing.startCallSpan('a84b4c76e66710@pc33.example.com', 'contoso/contoso', {
      direction: 'teams-to-carrier',
    });
    const routing = call.routing();
    routing.end({ 'switchboard.route': 'uk' });
    const admission = call.admission();
    admission.end();
    const media = call.media();
    media.set({ srtpKey: 'inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2VuZGlu', note: 'offer' });
    media.end({
      sdp: 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2VuZGlu',
    });
    const first = call.attempt(1, {
      host: 'sbc1.carrier.example',
      port: 5060,
      transport: 'UDP',
      trunk: 'carriers/uk-1',
    });
    first.fail('503 Service Unavailable', {
      [ATTR.statusCode]: 503,
      authorization: 'Digest username="u", response="x"',
    });
    const second = call.attempt(2, {
      host: 'sbc2.carrier.example',
      port: 5061,
      transport: 'TLS',
      trunk: 'carriers/uk-2',
    });
    second.end({ [ATTR.statusCode]: 200, header: 'Bearer abcdefghijklmnopqrstuvwxyz' });
    call.end({ [ATTR.statusCode]: 200, [ATTR.disposition]: 'answered' });
    await tracing.flush();

    assert.ok(receiver.requests.length >= 1, 'the exporter posted to the receiver');
    for (const r of receiver.requests) {
      assert.equal(r.path, '/v1/traces');
      assert.match(r.contentType, /application\/json/);
    }
    const resource = attrs(receiver.requests[0]!.body.resourceSpans[0]!.resource);
    assert.equal(resource['service.name'], 'switchboard-sbc');
    assert.equal(resource['service.instance.id'], 'sbc-0');
    const spans = receiver.requests.flatMap((r) =>
      r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)),
    );
    assert.deepEqual(
      spans.map((s) => s.name).sort(),
      [SPAN.admission, SPAN.attempt, SPAN.attempt, SPAN.call, SPAN.media, SPAN.routing].sort(),
    );
    const root = spans.find((s) => s.name === SPAN.call)!;
    assert.equal(root.parentSpanId ? root.parentSpanId.length : 0, 0, 'the call span is a root');
    for (const s of spans) {
      assert.equal(s.traceId, root.traceId, `${s.name} is in the call's trace`);
      if (s !== root) assert.equal(s.parentSpanId, root.spanId, `${s.name} is a child of the call span`);
      const a = attrs(s);
      assert.equal(a[ATTR.callId], 'a84b4c76e66710@pc33.example.com', `${s.name} has the Call-ID`);
      assert.equal(a[ATTR.tenant], 'contoso/contoso', `${s.name} has the tenant`);
    }
    assert.equal(attrs(root)[ATTR.direction], 'teams-to-carrier');
    const attempts = spans
      .filter((s) => s.name === SPAN.attempt)
      .map((s) => attrs(s))
      .map((a) => [
        String(a[ATTR.attempt]),
        a[ATTR.trunk],
        a[ATTR.target],
        a[ATTR.transport],
        String(a[ATTR.statusCode]),
      ])
      .sort();
    assert.deepEqual(attempts, [
      ['1', 'carriers/uk-1', 'sbc1.carrier.example', 'udp', '503'],
      ['2', 'carriers/uk-2', 'sbc2.carrier.example', 'tls', '200'],
    ]);
    const failed = spans.find((s) => s.name === SPAN.attempt && String(attrs(s)[ATTR.attempt]) === '1')!;
    assert.equal(failed.status?.code, 2, 'a failed attempt has status ERROR');
    // No secret anywhere in what left the process.
    const wire = JSON.stringify(receiver.requests.map((r) => r.body));
    assert.doesNotMatch(wire, /inline:WVNf/);
    assert.doesNotMatch(wire, /Bearer abcdef/);
    assert.doesNotMatch(wire, /Digest username/);
    assert.doesNotMatch(wire, /srtpKey|authorization/i);
    assert.match(wire, /\[redacted\]/);
  } finally {
    await tracing.shutdown();
    await receiver.close();
  }
});

test('tracing is off without OTEL_EXPORTER_OTLP_ENDPOINT, and the helpers are no-ops', async () => {
  const tracing = new CallTracing({ env: {} });
  assert.equal(tracing.enabled, false);
  const call = tracing.startCallSpan('x@y', 't/t');
  assert.equal(call.traceId, undefined);
  call.routing().end();
  call.attempt(1, { host: 'h' }).fail('x');
  call.end();
  await tracing.flush();
  await tracing.shutdown();
});

test('OTLP endpoint resolution follows the OTel environment spec', () => {
  assert.equal(otlpTracesUrl({}), undefined);
  assert.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }), 'http://c:4318/v1/traces');
  assert.equal(
    otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/x' }),
    'http://t/x',
  );
});

test('redaction drops secret keys and masks secret values', () => {
  assert.deepEqual(
    redactAttributes({
      password: 'p',
      'sip.auth.nonce': 'n',
      ok: 'fine',
      url: 'https://user:pw@host/path',
      list: ['a', 'Basic dXNlcjpwYXNzd29yZA=='],
      n: 5,
    }),
    { ok: 'fine', url: '[redacted]', list: ['a', '[redacted]'], n: 5 },
  );
});
