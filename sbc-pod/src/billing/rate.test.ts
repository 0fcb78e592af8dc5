import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { divRound, formatNano, parseDecimal, type RoundingMode } from './decimal.ts';
import { parseRatePlan, type RatePlan, RatePlanError, ratePlanFromBilling } from './plan.ts';
import { applyRating, billableSeconds, flatMonthlyCharges, type RatableCdr, rate } from './rate.ts';

const answered = (talkMs: number, callee = '+15551230000', direction: RatableCdr['direction'] = 'teams-to-carrier') =>
  ({ direction, callee, talkMs, answerTime: '2026-01-01T00:00:00.000Z' }) satisfies RatableCdr;
const unanswered = (callee = '+15551230000') =>
  ({ direction: 'teams-to-carrier', callee, talkMs: 0 }) satisfies RatableCdr;

const plan6: RatePlan = parseRatePlan({
  accountId: 'acct-1',
  currency: 'USD',
  model: 'PerMinute',
  tariff: { ratePerMinute: '0.10', initialSeconds: 60, incrementSeconds: 6, perCallFee: '0' },
});

describe('decimal arithmetic', () => {
  test('parses decimals exactly and refuses floats in disguise', () => {
    assert.equal(parseDecimal('0.1'), 100_000_000n);
    assert.equal(parseDecimal('12'), 12_000_000_000n);
    assert.equal(parseDecimal('0.000000001'), 1n);
    for (const bad of ['-1', '1e3', '.5', '1.', '01', '0.0000000001', ' 1', 'NaN']) {
      assert.throws(() => parseDecimal(bad), RangeError, bad);
    }
  });

  test('rounding modes on ties and non-ties', () => {
    const table: [bigint, bigint, RoundingMode, bigint][] = [
      [5n, 2n, 'half-up', 3n],
      [5n, 2n, 'half-even', 2n],
      [7n, 2n, 'half-even', 4n],
      [5n, 2n, 'up', 3n],
      [5n, 2n, 'down', 2n],
      [4n, 3n, 'half-up', 1n],
      [4n, 3n, 'up', 2n],
      [5n, 3n, 'half-up', 2n],
      [5n, 3n, 'down', 1n],
      [6n, 3n, 'up', 2n],
      [0n, 7n, 'up', 0n],
    ];
    for (const [n, d, mode, want] of table) assert.equal(divRound(n, d, mode), want, `${n}/${d} ${mode}`);
  });

  test('0.1 + 0.2 is 0.3 here', () => {
    assert.equal(formatNano(parseDecimal('0.1') + parseDecimal('0.2'), 2, 'half-up'), '0.30');
  });
});

describe('billable seconds (initial/increment)', () => {
  const cases: [string, number, number, number, number][] = [
    // name, talkMs, initial, increment, want
    ['0-second call', 0, 60, 6, 0],
    ['sub-second call rounds up to 1 s, then to the initial block', 1, 60, 6, 60],
    ['inside initial block', 30_000, 60, 6, 60],
    ['exactly on the initial boundary', 60_000, 60, 6, 60],
    ['1 ms past the initial boundary', 60_001, 60, 6, 66],
    ['1 s past the initial boundary', 61_000, 60, 6, 66],
    ['exactly on an increment boundary', 66_000, 60, 6, 66],
    ['just past an increment boundary', 66_001, 60, 6, 72],
    ['per-second billing', 61_200, 1, 1, 62],
    ['per-second billing, exact', 61_000, 1, 1, 61],
    ['no initial block, 60 s steps', 61_000, 0, 60, 120],
    ['30/6', 31_000, 30, 6, 36],
  ];
  for (const [name, talkMs, initial, inc, want] of cases) {
    test(name, () => assert.equal(billableSeconds(talkMs, { initialSeconds: initial, incrementSeconds: inc }), want));
  }
  test('grace period: talk at or under graceMs bills nothing', () => {
    const t = { initialSeconds: 60, incrementSeconds: 6 };
    assert.equal(billableSeconds(1_000, t, 1_000), 0);
    assert.equal(billableSeconds(1_001, t, 1_000), 60);
  });
});

describe('rate(): per-minute 60/6 at 0.10/min', () => {
  const cases: [string, RatableCdr, number, string][] = [
    ['unanswered attempt', unanswered(), 0, '0.00'],
    ['answered 0-second call', answered(0), 0, '0.00'],
    ['1 s call bills the initial minute', answered(1_000), 60, '0.10'],
    ['60 s', answered(60_000), 60, '0.10'],
    ['61 s → 66 s = 0.11', answered(61_000), 66, '0.11'],
    ['67 s → 72 s = 0.12', answered(67_000), 72, '0.12'],
    ['1 h', answered(3_600_000), 3600, '6.00'],
  ];
  for (const [name, cdr, seconds, amount] of cases) {
    test(name, () => {
      assert.deepEqual(rate(cdr, plan6), { billableSeconds: seconds, charge: { amount, currency: 'USD' } });
    });
  }
});

describe('rate(): rounding of the charge', () => {
  // 0.0125/min per second: 1 s → 0.000208333…; 61 s → 0.012708333…
  const base = {
    accountId: 'a',
    currency: 'EUR',
    model: 'PerMinute',
    tariff: { ratePerMinute: '0.0125', initialSeconds: 1, incrementSeconds: 1, perCallFee: '0' },
  } as const;
  const cases: [string, Partial<RatePlan>, number, string][] = [
    ['half-up to cents (0.0127 → 0.01)', {}, 61_000, '0.01'],
    ['up to cents (ceiling)', { rounding: 'up' }, 61_000, '0.02'],
    ['down to cents (floor)', { rounding: 'down' }, 119_000, '0.02'],
    ['half-up at 4 decimals', { decimals: 4 }, 61_000, '0.0127'],
    ['down at 4 decimals', { decimals: 4, rounding: 'down' }, 61_000, '0.0127'],
    ['up at 6 decimals', { decimals: 6, rounding: 'up' }, 1_000, '0.000209'],
    ['half-up exact tie (0.025 → 0.03)', { tariff: { ...base.tariff, ratePerMinute: '0.025' } }, 60_000, '0.03'],
    [
      'half-even exact tie (0.025 → 0.02)',
      { rounding: 'half-even', tariff: { ...base.tariff, ratePerMinute: '0.025' } },
      60_000,
      '0.02',
    ],
  ];
  for (const [name, over, talkMs, amount] of cases) {
    test(name, () => {
      const plan = parseRatePlan({ ...base, ...over });
      assert.equal(rate(answered(talkMs), plan).charge.amount, amount);
    });
  }
  test('a zero-decimal currency (JPY) rounds to whole yen', () => {
    const plan = parseRatePlan({ ...base, currency: 'JPY', tariff: { ...base.tariff, ratePerMinute: '3.5' } });
    assert.deepEqual(rate(answered(60_000), plan).charge, { amount: '4', currency: 'JPY' });
  });
  test('a three-decimal currency (KWD)', () => {
    const plan = parseRatePlan({ ...base, currency: 'KWD', tariff: { ...base.tariff, ratePerMinute: '0.0125' } });
    assert.equal(rate(answered(60_000), plan).charge.amount, '0.013');
  });
  test('the charge is rounded once, on the total (fee + duration), not per component', () => {
    // fee 0.004 + 60 s at 0.004 = 0.008 → 0.01; rounding each part first would give 0.00 + 0.00.
    const plan = parseRatePlan({ ...base, tariff: { ...base.tariff, ratePerMinute: '0.004', perCallFee: '0.004' } });
    assert.equal(rate(answered(60_000), plan).charge.amount, '0.01');
  });
  test('no floating-point drift over many small charges', () => {
    const plan = parseRatePlan({ ...base, decimals: 9, tariff: { ...base.tariff, ratePerMinute: '0.6' } });
    let total = 0n;
    for (let i = 0; i < 1000; i++) total += parseDecimal(rate(answered(1_000), plan).charge.amount);
    assert.equal(formatNano(total, 2, 'half-up'), '10.00');
  });
});

describe('rate(): per-call fee and models', () => {
  const tariff = { ratePerMinute: '0.10', initialSeconds: 60, incrementSeconds: 6, perCallFee: '0.05' };
  test('PerMinute adds the fee to answered calls only (default perCallFeeOn answered)', () => {
    const plan = parseRatePlan({ accountId: 'a', currency: 'USD', model: 'PerMinute', tariff });
    assert.equal(rate(answered(61_000), plan).charge.amount, '0.16');
    assert.equal(rate(unanswered(), plan).charge.amount, '0.00');
    assert.equal(rate(answered(0), plan).charge.amount, '0.00');
  });
  test('perCallFeeOn attempt charges the fee on unanswered attempts too', () => {
    const plan = parseRatePlan({
      accountId: 'a',
      currency: 'USD',
      model: 'PerMinute',
      tariff,
      perCallFeeOn: 'attempt',
    });
    assert.deepEqual(rate(unanswered(), plan), { billableSeconds: 0, charge: { amount: '0.05', currency: 'USD' } });
  });
  test('PerCall charges the fee only, but still reports billable seconds', () => {
    const plan = parseRatePlan({ accountId: 'a', currency: 'USD', model: 'PerCall', tariff });
    assert.deepEqual(rate(answered(3_600_000), plan), {
      billableSeconds: 3600,
      charge: { amount: '0.05', currency: 'USD' },
    });
  });
  test('Flat charges 0 per call and reports billable seconds', () => {
    const plan = parseRatePlan({
      accountId: 'a',
      currency: 'USD',
      model: 'Flat',
      tariff,
      flat: { perTrunkMonthly: '100' },
    });
    assert.deepEqual(rate(answered(61_000), plan), {
      billableSeconds: 66,
      charge: { amount: '0.00', currency: 'USD' },
    });
  });
  test('directions outside chargedDirections are not charged', () => {
    const plan = parseRatePlan({
      accountId: 'a',
      currency: 'USD',
      model: 'PerMinute',
      tariff,
      chargedDirections: ['teams-to-carrier'],
    });
    assert.equal(rate(answered(61_000, '+15550000000', 'carrier-to-teams'), plan).charge.amount, '0.00');
    assert.equal(rate(answered(61_000, '+15550000000', 'carrier-to-teams'), plan).billableSeconds, 66);
    assert.equal(rate(answered(61_000, '+15550000000', 'teams-to-carrier'), plan).charge.amount, '0.16');
  });
});

describe('rate(): per-prefix rates', () => {
  const plan = parseRatePlan({
    accountId: 'a',
    currency: 'GBP',
    model: 'PerMinute',
    tariff: { ratePerMinute: '0.01', initialSeconds: 60, incrementSeconds: 60, perCallFee: '0' },
    prefixRates: [
      { prefix: '+44', ratePerMinute: '0.02' },
      { prefix: '+447', ratePerMinute: '0.10', initialSeconds: 1, incrementSeconds: 1 },
      { prefix: '4479', ratePerMinute: '0.50' },
      { prefix: '+1900', perCallFee: '1.00' },
    ],
  });
  const cases: [string, string, number, string, string | undefined][] = [
    // name, callee, talkMs, amount, prefix
    ['no prefix matches → plan tariff', '+33123456789', 90_000, '0.02', undefined],
    ['+44 landline', '+442071234567', 90_000, '0.04', '+44'],
    ['longest prefix wins (+447 mobile), its own increments', '+447700900123', 90_000, '0.15', '+447'],
    ['longer still (4479), inherits +447? no: fields fall back to the plan', '+447912345678', 90_000, '1.00', '4479'],
    ['prefix with only a fee', '+19005550100', 60_000, '1.01', '+1900'],
    ['callee formatting ignored', 'tel:+44-20-7123-4567', 30_000, '0.02', '+44'],
  ];
  for (const [name, callee, talkMs, amount, prefix] of cases) {
    test(name, () => {
      const r = rate(answered(talkMs, callee), plan);
      assert.equal(r.charge.amount, amount);
      assert.equal(r.prefix, prefix);
    });
  }
});

describe('rate plans', () => {
  test('invalid plans are refused with a reason', () => {
    const good = {
      accountId: 'a',
      currency: 'USD',
      model: 'PerMinute',
      tariff: { ratePerMinute: '0.1', initialSeconds: 60, incrementSeconds: 6, perCallFee: '0' },
    };
    const bad: [string, unknown][] = [
      ['float money', { ...good, tariff: { ...good.tariff, ratePerMinute: 0.1 } }],
      ['negative money', { ...good, tariff: { ...good.tariff, perCallFee: '-1' } }],
      ['zero increment', { ...good, tariff: { ...good.tariff, incrementSeconds: 0 } }],
      ['lowercase currency', { ...good, currency: 'usd' }],
      ['unknown field', { ...good, colour: 'red' }],
      ['duplicate prefixes', { ...good, prefixRates: [{ prefix: '+44' }, { prefix: '44' }] }],
      ['Flat without flat', { ...good, model: 'Flat' }],
      ['number-ish prefix', { ...good, prefixRates: [{ prefix: '+44*' }] }],
    ];
    for (const [name, doc] of bad) assert.throws(() => parseRatePlan(doc), RatePlanError, name);
    assert.doesNotThrow(() => parseRatePlan(good));
  });

  test('from the rendered billing block: account/currency/model from the tenant, tariff from the catalogue', () => {
    const catalogue = new Map([
      ['standard', { tariff: { ratePerMinute: '0.02', initialSeconds: 60, incrementSeconds: 6, perCallFee: '0' } }],
    ]);
    const plan = ratePlanFromBilling(
      { accountId: 'ACME-1', currency: 'EUR', model: 'PerMinute', ratePlan: 'standard' },
      catalogue,
    );
    assert.equal(plan.accountId, 'ACME-1');
    assert.equal(rate(answered(61_000), plan).charge.amount, '0.02');
    const none = ratePlanFromBilling({ accountId: 'X', currency: 'EUR', model: 'Flat', ratePlan: null });
    assert.deepEqual(rate(answered(61_000), none), {
      billableSeconds: 61,
      charge: { amount: '0.00', currency: 'EUR' },
    });
  });

  test('applyRating fills account, billable seconds and charge without touching the input', () => {
    const cdr = { ...answered(61_000), tenant: 't1' };
    const out = applyRating(cdr, plan6);
    assert.equal(out.account, 'acct-1');
    assert.equal(out.billableSeconds, 66);
    assert.deepEqual(out.charge, { amount: '0.11', currency: 'USD' });
    assert.equal((cdr as { billableSeconds?: number }).billableSeconds, undefined);
  });
});

describe('flat rate per trunk per month', () => {
  const plan = parseRatePlan({
    accountId: 'acct-9',
    currency: 'USD',
    model: 'Flat',
    tariff: { ratePerMinute: '0', initialSeconds: 1, incrementSeconds: 1, perCallFee: '0' },
    flat: { perTrunkMonthly: '100.00', trunks: { 'ns/premium': '250' } },
  });
  test('whole month, per-trunk override, pro rata by UTC day, total adds up', () => {
    const inv = flatMonthlyCharges(
      plan,
      [
        { id: 'ns/b-trunk' },
        { id: 'ns/premium', activeFrom: '2025-12-01T00:00:00Z' },
        { id: 'ns/a-new', activeFrom: '2026-02-15T12:00:00Z' },
        { id: 'ns/gone', activeUntil: '2026-02-01T00:00:00Z' },
        { id: 'ns/one-day', activeFrom: '2026-02-10T01:00:00Z', activeUntil: '2026-02-10T02:00:00Z' },
      ],
      '2026-02',
    );
    assert.deepEqual(
      inv.lines.map((l) => [l.trunk, l.days, l.amount]),
      [
        ['ns/a-new', 14, '50.00'],
        ['ns/b-trunk', 28, '100.00'],
        ['ns/gone', 0, '0.00'],
        ['ns/one-day', 1, '3.57'],
        ['ns/premium', 28, '250.00'],
      ],
    );
    assert.equal(inv.total, '403.57');
    assert.equal(inv.accountId, 'acct-9');
  });
  test('31-day month and bad month strings', () => {
    const inv = flatMonthlyCharges(plan, [{ id: 'x', activeFrom: '2026-01-31T23:00:00Z' }], '2026-01');
    assert.equal(inv.lines[0]!.days, 1);
    assert.equal(inv.lines[0]!.amount, '3.23');
    assert.throws(() => flatMonthlyCharges(plan, [], '2026-13'), RangeError);
  });
});
