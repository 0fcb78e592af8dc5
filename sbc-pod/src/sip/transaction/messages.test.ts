import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateBranch, hasMagicCookie, MAGIC_COOKIE } from './branch.ts';
import {
  buildNon2xxAck,
  canonicalHeaderName,
  createResponse,
  firstListComma,
  formatNameAddr,
  formatVia,
  topViaText,
  withTopViaBranch,
} from './messages.ts';
import { nameAddr, request, response, via } from './test-helpers.ts';
import { ManualTimers } from './timers.ts';

describe('branch ids', () => {
  it('carry the magic cookie and are unique', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const b = generateBranch();
      assert.ok(b.startsWith(MAGIC_COOKIE));
      assert.match(b, /^z9hG4bK[A-Za-z0-9_-]{16}$/);
      seen.add(b);
    }
    assert.equal(seen.size, 10_000);
    assert.equal(hasMagicCookie('z9hG4bK'), false);
    assert.equal(hasMagicCookie('z9hg4bk123'), false);
    assert.equal(hasMagicCookie(undefined), false);
    assert.equal(hasMagicCookie('z9hG4bK1'), true);
  });
});

describe('raw header helpers', () => {
  it('canonicalises compact names', () => {
    assert.equal(canonicalHeaderName('v'), 'via');
    assert.equal(canonicalHeaderName('I'), 'call-id');
    assert.equal(canonicalHeaderName('CSeq'), 'cseq');
  });

  it('splits list values outside quotes and angle brackets', () => {
    assert.equal(firstListComma('a;x="1,2", b'), 9);
    assert.equal(firstListComma('"a\\",b" <sip:x,y>;p, c'), 19);
    assert.equal(firstListComma('abc'), -1);
    assert.equal(
      topViaText([{ name: 'v', value: 'SIP/2.0/UDP a;branch=z9hG4bK1 ,SIP/2.0/TCP b' }]),
      'SIP/2.0/UDP a;branch=z9hG4bK1',
    );
  });

  it('formats Via and name-addr values', () => {
    const v = via({ transport: 'TLS', host: '[2001:db8::1]', port: 5061, branch: 'z9hG4bKx' });
    v.rport = null;
    assert.equal(formatVia(v), 'SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKx;rport');
    assert.equal(formatNameAddr(nameAddr('sip:a@b', 't1', 'A "q"')), '"A \\"q\\"" <sip:a@b>;tag=t1');
  });

  it('withTopViaBranch replaces only the first Via value, including compact names', () => {
    const req = request({
      vias: [via({ branch: 'z9hG4bKold' }), via({ host: 'p', branch: 'z9hG4bKp' })],
      joinVias: true,
    });
    req.headers[0] = { name: 'v', value: req.headers[0]!.value };
    const out = withTopViaBranch(req, 'z9hG4bKnew');
    assert.equal(out.headers[0]!.name, 'v');
    assert.equal(out.headers[0]!.value, 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKnew, SIP/2.0/UDP p;branch=z9hG4bKp');
    assert.equal(out.vias[0]!.branch, 'z9hG4bKnew');
    assert.equal(out.vias[1]!.branch, 'z9hG4bKp');
    assert.equal(req.vias[0]!.branch, 'z9hG4bKold');
  });
});

describe('buildNon2xxAck (RFC 3261 §17.1.1.3)', () => {
  it('uses the top Via text, To from the response, the INVITE Routes, CSeq number with ACK', () => {
    const inv = request({
      cseq: 7,
      joinVias: true,
      vias: [via({ host: 'sbc', branch: 'z9hG4bKtop' }), via({ host: 'lower', branch: 'z9hG4bKlow' })],
      routes: [nameAddr('sip:r1;lr')],
    });
    inv.headers[0] = { name: 'v', value: `${inv.headers[0]!.value.replace(';branch', ' ;branch')}` };
    const res = response(inv, 603, 'callee');
    const ack = buildNon2xxAck(inv, res);
    assert.equal(ack.method, 'ACK');
    assert.deepEqual(
      ack.headers.map((h) => `${h.name}: ${h.value}`),
      [
        'Via: SIP/2.0/UDP sbc ;branch=z9hG4bKtop',
        'Route: <sip:r1;lr>',
        'Max-Forwards: 70',
        'From: "Alice" <sip:alice@carrier.example.net>;tag=from-tag-1',
        'To: <sip:+15551234567@sbc.example.com>;tag=callee',
        'Call-ID: call-1@carrier.example.net',
        'CSeq: 7 ACK',
        'Content-Length: 0',
      ],
    );
    assert.equal(ack.body.length, 0);
  });
});

describe('createResponse', () => {
  it('copies Via/From/To/Call-ID/CSeq (and Timestamp on 100) and adds a To tag when asked', () => {
    const req = request({
      extraHeaders: [
        { name: 'Timestamp', value: '54' },
        { name: 'Subject', value: 'x' },
      ],
    });
    const trying = createResponse(req, 100, 'Trying');
    assert.deepEqual(
      trying.headers.map((h) => h.name),
      ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Timestamp', 'Content-Length'],
    );
    const ringing = createResponse(req, 180, 'Ringing', { toTag: 'abc' });
    assert.equal(ringing.to.params.get('tag'), 'abc');
    assert.equal(ringing.headers.find((h) => h.name === 'To')!.value, '<sip:+15551234567@sbc.example.com>;tag=abc');
    assert.equal(
      ringing.headers.some((h) => h.name === 'Timestamp'),
      false,
    );
    assert.equal(req.to.params.has('tag'), false, 'request untouched');
  });
});

describe('ManualTimers', () => {
  it('fires in time then creation order, including timers set while advancing, and supports clear', () => {
    const t = new ManualTimers();
    const log: string[] = [];
    t.set(10, () => log.push('a10'));
    const b = t.set(5, () => log.push('b5'));
    t.set(10, () => {
      log.push('c10');
      t.set(0, () => log.push(`d@${t.now}`));
    });
    t.set(20, () => log.push('e20'));
    t.clear(b);
    t.clear(b);
    t.advance(10);
    assert.deepEqual(log, ['a10', 'c10', 'd@10']);
    assert.equal(t.now, 10);
    assert.equal(t.pending(), 1);
    assert.equal(t.nextAt(), 20);
    assert.throws(() => t.advanceTo(5));
    assert.equal(t.runAll(), 20);
    assert.deepEqual(log, ['a10', 'c10', 'd@10', 'e20']);
  });
});
