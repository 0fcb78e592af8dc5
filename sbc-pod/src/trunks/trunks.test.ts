import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, type SipResponse } from '../sip/message/index.ts';
import { credentialsFromSecret } from './credentials.ts';
import { nextHealth, probeSucceeded } from './health.ts';
import { grantedExpires, refreshDelayMs } from './registration.ts';

test('health: threshold failures in a row mark a target down, one answer brings it back', () => {
  let h = nextHealth({ state: 'unknown', failures: 0 }, false, 3);
  assert.deepEqual([h.state, h.failures], ['unknown', 1]);
  h = nextHealth(nextHealth(h, false, 3), false, 3);
  assert.deepEqual([h.state, h.failures], ['down', 3]);
  h = nextHealth(h, true, 3);
  assert.deepEqual([h.state, h.failures], ['up', 0]);
  assert.equal(nextHealth(h, false, 1).state, 'down');
});

test('health: any answer but 408 and a 5xx of a busy/broken server proves the target alive', () => {
  for (const s of [200, 404, 405, 403, 501]) assert.equal(probeSucceeded(s), true, String(s));
  for (const s of [408, 500, 503, 504]) assert.equal(probeSucceeded(s), false, String(s));
});

test('registration: refresh well before expiry; the granted expiry comes from Contact, else Expires', () => {
  assert.equal(refreshDelayMs(3600), 3540_000);
  assert.equal(refreshDelayMs(60), 30_000);
  assert.equal(refreshDelayMs(2), 1000);
  const res = (headers: string[]) =>
    parseMessage(
      Buffer.from(
        [
          'SIP/2.0 200 OK',
          'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
          'From: <sip:a@h>;tag=1',
          'To: <sip:a@h>;tag=2',
          'Call-ID: c',
          'CSeq: 1 REGISTER',
          ...headers,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      ),
    ) as SipResponse;
  assert.equal(
    grantedExpires(res(['Contact: <sip:a@1.2.3.4>;expires=120', 'Expires: 300']), 'sip:a@1.2.3.4', 600),
    120,
  );
  assert.equal(grantedExpires(res(['Expires: 300']), 'sip:a@1.2.3.4', 600), 300);
  assert.equal(grantedExpires(res([]), 'sip:a@1.2.3.4', 600), 600);
});

test('credentials from a v1 Secret: stringData wins, data is base64', () => {
  assert.deepEqual(credentialsFromSecret({ stringData: { username: 'u', password: 'p' } }), {
    username: 'u',
    password: 'p',
  });
  assert.deepEqual(credentialsFromSecret({ data: { username: 'dQ==', password: 'cA==' } }), {
    username: 'u',
    password: 'p',
  });
  assert.equal(credentialsFromSecret({ stringData: { username: 'u' } }), undefined);
});
