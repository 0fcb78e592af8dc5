import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanNumber, fromE164, type NumberPlan, toE164 } from './e164.ts';

const uk = { countryCode: '44', nationalPrefix: '0', internationalPrefix: '00' };
const us = { countryCode: '1', internationalPrefix: '011' };

test('golden vectors: national and international forms to E.164', () => {
  const vectors: [string, NumberPlan, string | undefined][] = [
    ['+442079460000', uk, '+442079460000'],
    ['02079460000', uk, '+442079460000'],
    ['00331234567', uk, '+331234567'],
    ['442079460000', uk, '+442079460000'],
    ['+1 (555) 123-4567', us, '+15551234567'],
    ['5551234567', us, '+15551234567'],
    ['15551234567', us, '+15551234567'],
    ['011442079460000', us, '+442079460000'],
    ['+15551234567;ext=22', us, '+15551234567'],
    ['', us, undefined],
    ['+', us, undefined],
  ];
  for (const [input, plan, want] of vectors) assert.equal(toE164(input, plan), want, input);
});

test('E.164 rendered per carrier format', () => {
  assert.equal(fromE164('+442079460000', uk, 'national'), '02079460000');
  assert.equal(fromE164('+15551234567', uk, 'national'), '0015551234567');
  assert.equal(fromE164('+442079460000', uk, 'e164-no-plus'), '442079460000');
  assert.equal(fromE164('+442079460000', us, 'international-prefix'), '011442079460000');
  assert.equal(fromE164('442079460000', us, 'e164'), '+442079460000');
  assert.equal(cleanNumber('1-555+2'), '15552'); // a "+" counts only in front
});
