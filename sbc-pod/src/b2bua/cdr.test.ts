// buildCdr: what ended an answered call survives into the CDR (endReason); unanswered attempts keep it in sipReason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertValidCdr } from '../cdr/schema/validate.ts';
import type { Call } from './call.ts';
import { buildCdr } from './cdr.ts';

function call(answered: boolean): Call {
  const setup = Date.parse('2026-11-29T10:00:00Z');
  return {
    tenant: { id: 'contoso/contoso', billing: { accountId: 'ACC-1' } },
    direction: 'carrier-to-teams',
    inbound: { req: { callId: 'in-1', from: { params: new Map([['tag', 'f1']]) } } },
    caller: '+15550000001',
    callee: '+15551230001',
    attempt: 1,
    times: answered ? { setup, answer: setup + 2000, end: setup + 62_000 } : { setup, end: setup + 5000 },
  } as unknown as Call;
}

test('an answered call the SBC ended: sipCode 200, endReason is the SBC’s reason', () => {
  const cdr = buildCdr(call(true), { status: 408, reason: 'Media Timeout', endedBy: 'sbc' }, 'pod-a');
  assert.equal(cdr.sipCode, 200);
  assert.equal(cdr.disposition, 'answered');
  assert.equal(cdr.endReason, 'Media Timeout');
  assert.equal(cdr.talkMs, 60_000);
  assertValidCdr(cdr);
});

test('an answered call ended by a BYE with a Reason header: that header is the endReason, its Q.850 cause the cause', () => {
  const reason = 'SIP;cause=200;text="Call completed elsewhere", Q.850;cause=31;text="Normal, unspecified"';
  const cdr = buildCdr(call(true), { status: 200, reason: 'OK', endedBy: 'callee', byeReason: reason }, 'pod-a');
  assert.equal(cdr.endReason, reason);
  assert.equal(cdr.q850Cause, 31, 'the Q.850 cause of the Reason header');
  const plain = buildCdr(call(true), { status: 200, reason: 'OK', endedBy: 'callee' }, 'pod-a');
  assert.equal(plain.q850Cause, 16, 'normal clearing without a Reason header');
  assertValidCdr(cdr);
});

test('a plain BYE leaves no endReason; an unanswered attempt says why in sipCode/sipReason only', () => {
  assert.equal(buildCdr(call(true), { status: 200, reason: 'OK', endedBy: 'caller' }, 'p').endReason, undefined);
  const failed = buildCdr(call(false), { status: 486, reason: 'Busy Here', endedBy: 'callee' }, 'p');
  assert.equal(failed.sipCode, 486);
  assert.equal(failed.sipReason, 'Busy Here');
  assert.equal(failed.endReason, undefined);
  assertValidCdr(failed);
});
