import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRatePlan } from '../../billing/plan.ts';
import { applyRating } from '../../billing/rate.ts';
import { CDR_SCHEMA_VERSION, type Cdr, cdrId, q850ForSipStatus } from '../record.ts';
import { assertValidCdr, CDR_V1_SCHEMA, InvalidCdrError, validateCdr } from './validate.ts';

const answered: Cdr = {
  schema: CDR_SCHEMA_VERSION,
  id: cdrId('contoso/contoso', 'abc@10.0.0.1', 'tag1'),
  tenant: 'contoso/contoso',
  account: 'ACME-1',
  direction: 'teams-to-carrier',
  inboundCallId: 'abc@10.0.0.1',
  outboundCallId: 'sbc-123',
  caller: '+15551230001',
  callee: '+442071234567',
  trunk: 'carriers/uk-1',
  setupTime: '2026-03-01T10:00:00.000Z',
  ringTime: '2026-03-01T10:00:01.000Z',
  answerTime: '2026-03-01T10:00:05.000Z',
  endTime: '2026-03-01T10:01:06.500Z',
  durationMs: 66_500,
  talkMs: 61_500,
  disposition: 'answered',
  sipCode: 200,
  sipReason: 'OK',
  q850Cause: 16,
  endedBy: 'caller',
  attempts: 2,
  failover: true,
  pods: ['sbc-0', 'media-1'],
  codec: 'PCMA/8000',
  media: {
    inbound: { packetsReceived: 3000, packetsSent: 2990, packetsLost: 3, jitterMs: 1.5 },
    outbound: { packetsReceived: 2990, packetsLost: 0, jitterMs: 0.25, bytesReceived: 478400 },
  },
};

const rejected: Cdr = {
  schema: CDR_SCHEMA_VERSION,
  id: cdrId('fabrikam/fabrikam', 'x@y', 't'),
  tenant: 'fabrikam/fabrikam',
  direction: 'carrier-to-teams',
  inboundCallId: 'x@y',
  caller: 'anonymous',
  callee: '+15550000000',
  setupTime: '2026-03-01T10:00:00.000Z',
  endTime: '2026-03-01T10:00:00.002Z',
  durationMs: 2,
  talkMs: 0,
  disposition: 'admission-rejected',
  admissionReason: 'tenant-cps',
  sipCode: 503,
  sipReason: 'Service Unavailable',
  q850Cause: q850ForSipStatus(503)!,
  endedBy: 'sbc',
};

const plan = parseRatePlan({
  accountId: 'ACME-1',
  currency: 'EUR',
  model: 'PerMinute',
  tariff: { ratePerMinute: '0.01', initialSeconds: 60, incrementSeconds: 6, perCallFee: '0' },
  prefixRates: [{ prefix: '+44', ratePerMinute: '0.02' }],
});

test('sample CDRs validate, rated or not', () => {
  for (const cdr of [answered, rejected, applyRating(answered, plan), applyRating(rejected, plan)]) {
    assert.deepEqual(validateCdr(cdr), { valid: true }, JSON.stringify(cdr));
    assertValidCdr(JSON.parse(JSON.stringify(cdr)));
  }
  const rated = applyRating(answered, plan);
  assert.equal(rated.billableSeconds, 66);
  assert.deepEqual(rated.charge, { amount: '0.02', currency: 'EUR' });
  assert.equal(rated.ratedPrefix, '+44');
});

test('invalid CDRs are refused with a pointer to the field', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'cdr', /must be object/],
    ['missing tenant', { ...answered, tenant: undefined }, /must have required property 'tenant'/],
    ['unknown field', { ...answered, secret: 'x' }, /additional properties \(secret\)/],
    [
      'float charge',
      { ...answered, billableSeconds: 60, charge: { amount: 0.1, currency: 'EUR' } },
      /\/charge\/amount/,
    ],
    [
      'charge without billable seconds',
      { ...answered, charge: { amount: '0.10', currency: 'EUR' } },
      /billableSeconds/,
    ],
    ['bad time', { ...answered, endTime: 'yesterday' }, /\/endTime must match format/],
    ['wrong schema version', { ...answered, schema: 'switchboard.dev/cdr-v0' }, /\/schema/],
    ['end before setup', { ...answered, endTime: '2026-03-01T09:00:00.000Z' }, /endTime is before setupTime/],
    ['answered without answerTime', { ...answered, answerTime: undefined }, /answerTime is required/],
    ['talk without answer', { ...rejected, talkMs: 5 }, /talkMs must be 0/],
    ['talk longer than the call', { ...answered, talkMs: 70_000 }, /talkMs exceeds durationMs/],
    ['answered with a 4xx', { ...answered, sipCode: 486 }, /sipCode must be 2xx/],
    ['admission reason on a normal call', { ...answered, admissionReason: 'tenant-cps' }, /admissionReason/],
    ['negative duration', { ...answered, durationMs: -1 }, /\/durationMs must be >= 0/],
  ];
  for (const [name, cdr, re] of cases) {
    const r = validateCdr(JSON.parse(JSON.stringify(cdr)));
    assert.equal(r.valid, false, name);
    assert.match(r.valid ? '' : r.errors.join('\n'), re, name);
    assert.throws(() => assertValidCdr(cdr), InvalidCdrError, name);
  }
});

test('schema, Cdr type and docs/cdr.md agree on the field list', () => {
  const props = Object.keys((CDR_V1_SCHEMA as { properties: Record<string, unknown> }).properties).sort();
  // Field names of `interface Cdr` in record.ts (source is the truth for the TS type).
  const source = readFileSync(join(import.meta.dirname, '..', 'record.ts'), 'utf8');
  const body = /export interface Cdr \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? '';
  const fields = [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]!).sort();
  assert.deepEqual(fields, props, 'every Cdr field is in the schema and vice versa');
  const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'cdr.md'), 'utf8');
  for (const p of props) assert.match(doc, new RegExp(`\\| \`${p}\` \\|`), `docs/cdr.md documents ${p}`);
  assert.equal(
    (CDR_V1_SCHEMA as { properties: { schema: { const: string } } }).properties.schema.const,
    CDR_SCHEMA_VERSION,
  );
});
