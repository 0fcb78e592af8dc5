import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dispositionFor, relayStatus, shouldFailover } from './outcome.ts';

test('failover on 408 and 5xx only, never on 486/600/603 or other 4xx', () => {
  for (const s of [408, 500, 502, 503, 504, 580]) assert.equal(shouldFailover(s), true, String(s));
  for (const s of [400, 403, 404, 480, 484, 486, 487, 488, 600, 603, 604, 200, 180]) {
    assert.equal(shouldFailover(s), false, String(s));
  }
});

test('dispositions and relayed statuses', () => {
  assert.equal(dispositionFor(200), 'answered');
  assert.equal(dispositionFor(486), 'busy');
  assert.equal(dispositionFor(487), 'cancelled');
  assert.equal(dispositionFor(480), 'no-answer');
  assert.equal(dispositionFor(404), 'not-found');
  assert.equal(dispositionFor(603), 'rejected');
  assert.equal(dispositionFor(503), 'failed');
  assert.equal(relayStatus(407), 403);
  assert.equal(relayStatus(302), 480);
  assert.equal(relayStatus(486), 486);
});
