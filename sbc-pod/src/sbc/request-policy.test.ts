import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage } from '../sip/message/index.ts';
import { classifyRequest } from './request-policy.ts';

function request(method: string, extra = '', toTag = ''): ReturnType<typeof parseMessage> {
  const text =
    `${method} sip:+15551230000@sbc.example.net SIP/2.0\r\n` +
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n' +
    'Max-Forwards: 70\r\n' +
    'From: <sip:+15559870000@carrier.example>;tag=abc\r\n' +
    `To: <sip:+15551230000@sbc.example.net>${toTag}\r\n` +
    'Call-ID: policy-1\r\n' +
    `CSeq: 1 ${method}\r\n` +
    extra +
    'Content-Length: 0\r\n\r\n';
  return parseMessage(Buffer.from(text));
}

function classify(method: string, extra = '', toTag = '') {
  const msg = request(method, extra, toTag);
  assert.equal(msg.kind, 'request');
  return classifyRequest(msg as Extract<typeof msg, { kind: 'request' }>);
}

test('table: what happens to each request before call logic', () => {
  const rows: Array<[string, string, string, string | number]> = [
    ['OPTIONS', '', '', 'options'],
    ['INVITE', '', '', 'invite'],
    ['INVITE', '', ';tag=x', 'in-dialog'],
    ['BYE', '', ';tag=x', 'in-dialog'],
    ['BYE', '', '', 481],
    ['REFER', '', '', 481],
    ['CANCEL', '', '', 'cancel'],
    ['ACK', '', '', 'ack'],
    ['REGISTER', '', '', 405],
    ['SUBSCRIBE', '', '', 405],
    ['FOOBAR', '', '', 501],
    ['INVITE', 'Require: foo, timer\r\n', '', 420],
    ['INVITE', 'Require: timer, 100rel\r\n', '', 'invite'],
    ['INVITE', '', '', 'invite'],
  ];
  for (const [method, extra, tag, want] of rows) {
    const got = classify(method, extra, tag);
    if (typeof want === 'number') {
      assert.equal(got.kind, 'respond', `${method} ${extra}`);
      assert.equal(got.kind === 'respond' && got.status, want, `${method} ${extra}`);
    } else assert.equal(got.kind, want, `${method} ${extra} ${tag}`);
  }
});

test('420 names the unsupported option tags; 405 and 501 carry Allow', () => {
  const bad = classify('INVITE', 'Require: foo, timer, bar\r\n');
  assert.ok(bad.kind === 'respond');
  assert.deepEqual(bad.headers, [{ name: 'Unsupported', value: 'foo, bar' }]);
  const r405 = classify('MESSAGE');
  assert.ok(r405.kind === 'respond' && r405.headers[0]?.name === 'Allow' && r405.headers[0].value.includes('INVITE'));
});

test('Max-Forwards 0 ends a request that would travel on, but OPTIONS is answered', () => {
  const mf0 = (m: string) => {
    const msg = request(m);
    assert.ok(msg.kind === 'request');
    msg.maxForwards = 0;
    return classifyRequest(msg);
  };
  const invite = mf0('INVITE');
  assert.ok(invite.kind === 'respond' && invite.status === 483);
  assert.equal(mf0('OPTIONS').kind, 'options');
});
