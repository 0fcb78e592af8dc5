import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SipParseError } from './errors.ts';
import { canonicalName, getHeader, getHeaders, removeHeader, setHeader } from './headers.ts';
import { formatNameAddr, parseNameAddr, parseNameAddrList } from './name-addr.ts';
import { parseMessage } from './parse.ts';
import { buildRequest, buildResponse, serializeMessage } from './serialize.ts';
import { TEAMS_200_OK, TEAMS_INVITE, TEAMS_INVITE_SDP } from './test-fixtures.ts';
import type { SipRequest, SipResponse } from './types.ts';
import { formatUri, parseUri } from './uri.ts';
import { formatVia, parseVia } from './via.ts';

const msg = (lines: string[], body = ''): Buffer => Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body);
const BASE = [
  'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1',
  'From: <sip:a@example.com>;tag=f1',
  'To: <sip:b@example.com>',
  'Call-ID: c1',
  'CSeq: 1 OPTIONS',
];
const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SipParseError, String(e));
    return e.code;
  }
  return 'ok';
};

describe('parseMessage: Teams golden messages', () => {
  it('INVITE: hot fields', () => {
    const m = parseMessage(Buffer.from(TEAMS_INVITE)) as SipRequest;
    assert.equal(m.kind, 'request');
    assert.equal(m.method, 'INVITE');
    assert.equal(m.uriText, 'sip:+12065551234@sbc1.contoso.com:5061;user=phone;transport=tls');
    assert.deepEqual(
      [m.uri.user, m.uri.host, m.uri.port, m.uri.params.get('transport')],
      ['+12065551234', 'sbc1.contoso.com', 5061, 'tls'],
    );
    assert.equal(m.from.params.get('tag'), 'b4d13b2a0e9e4e08a2ab9c5b0d8f1e2c');
    assert.equal(m.to.params.get('tag'), undefined);
    assert.deepEqual(m.cseq, { seq: 1, method: 'INVITE' });
    assert.equal(m.callId, '9a3f8e2b1c4d4e5f8a7b6c5d4e3f2a1b');
    assert.equal(m.maxForwards, 70);
    assert.deepEqual(
      [m.vias[0]!.transport, m.vias[0]!.host, m.vias[0]!.port, m.vias[0]!.branch, m.vias[0]!.rport],
      ['TLS', '52.114.148.0', 5061, 'z9hG4bKe2b5a7c1', null],
    );
    assert.equal(m.recordRoutes[0]!.uri.params.get('lr'), null);
    assert.equal(m.contacts[0]!.uri.host, 'api-du-b-usea.pstnhub.microsoft.com');
    assert.equal(m.contacts[0]!.uri.params.get('x-i'), '4f1b1c4e-5b6a-4c3d-9e8f-7a6b5c4d3e2f');
    assert.equal(m.body.toString(), TEAMS_INVITE_SDP);
    assert.equal(getHeader(m, 'p-asserted-identity'), '<tel:+14255550199>');
    assert.equal(m.headers[0]!.name, 'FROM');
  });

  it('200 OK: status line and tags', () => {
    const m = parseMessage(Buffer.from(TEAMS_200_OK)) as SipResponse;
    assert.equal(m.kind, 'response');
    assert.equal(m.status, 200);
    assert.equal(m.reason, 'OK');
    assert.equal(m.to.params.get('tag'), '8f2e1d0c');
    assert.equal(m.vias[0]!.rport, 5061);
    assert.equal(m.vias[0]!.received, '52.114.148.0');
  });

  it('serialize reproduces the received bytes of a well-formed message', () => {
    for (const t of [TEAMS_INVITE, TEAMS_200_OK])
      assert.equal(serializeMessage(parseMessage(Buffer.from(t))).toString(), t);
  });
});

describe('parseMessage: grammar features', () => {
  it('folding, compact forms, case-insensitive names', () => {
    const m = parseMessage(
      msg([
        'OPTIONS sip:b@example.com SIP/2.0',
        'v: SIP/2.0/UDP h1;branch=z9hG4bKa,',
        ' SIP/2.0/TCP h2;branch=z9hG4bKb',
        'f: <sip:a@example.com>;tag=1',
        't: sip:b@example.com',
        'i: cid',
        'CSEQ: 7',
        '\tOPTIONS',
        'm: <sip:a@h1>, <sip:a@h2>',
        'l: 0',
      ]),
    );
    assert.deepEqual(
      m.vias.map((v) => v.host),
      ['h1', 'h2'],
    );
    assert.equal(m.cseq.seq, 7);
    assert.equal(m.callId, 'cid');
    assert.equal(m.contacts.length, 2);
    assert.equal(getHeader(m, 'Call-ID'), 'cid');
    assert.equal(getHeader(m, 'CALL-id'), 'cid');
    assert.equal(getHeader(m, 'i'), 'cid');
    assert.equal(m.headers[0]!.value, 'SIP/2.0/UDP h1;branch=z9hG4bKa, SIP/2.0/TCP h2;branch=z9hG4bKb');
  });

  it('commas inside quotes and <> do not split Contact/Route', () => {
    const l = parseNameAddrList('"Doe, J" <sip:a,b@h;lr>;q=1, <sip:c@d>', true);
    assert.equal(l.length, 2);
    assert.equal(l[0]!.displayName, 'Doe, J');
    assert.equal(l[0]!.uri.user, 'a,b');
  });

  it('quoted strings with escapes', () => {
    assert.equal(parseNameAddr('"a \\"b\\" \\\\ c" <sip:x@y>').displayName, 'a "b" \\ c');
    assert.equal(
      code(() => parseNameAddr('"unterminated <sip:x@y>')),
      'bad_name_addr',
    );
    assert.equal(formatNameAddr(parseNameAddr('"a \\"b\\"" <sip:x@y>;tag=1')), '"a \\"b\\"" <sip:x@y>;tag=1');
  });

  it('URIs: sip, sips, tel, IPv6, escapes, headers, other schemes', () => {
    const u = parseUri('sips:al%20ice:pw@[2001:db8::1]:5061;transport=TLS;lr?subject=hi&x=%20');
    assert.deepEqual([u.scheme, u.user, u.password, u.host, u.port], ['sips', 'al%20ice', 'pw', '[2001:db8::1]', 5061]);
    assert.deepEqual(
      [...u.params],
      [
        ['transport', 'TLS'],
        ['lr', null],
      ],
    );
    assert.deepEqual(
      [...u.headers],
      [
        ['subject', 'hi'],
        ['x', '%20'],
      ],
    );
    assert.equal(formatUri(u), 'sips:al%20ice:pw@[2001:db8::1]:5061;transport=TLS;lr?subject=hi&x=%20');
    const t = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    assert.deepEqual(
      [t.scheme, t.user, t.host, t.params.get('phone-context')],
      ['tel', '+1-201-555-0123', '', 'example.com'],
    );
    assert.equal(formatUri(t), 'tel:+1-201-555-0123;phone-context=example.com');
    const o = parseUri('urn:service:sos');
    assert.deepEqual([o.scheme, o.otherScheme, o.opaque], ['other', 'urn', 'service:sos']);
    for (const bad of [
      'sip:',
      'sip:a@',
      'sip:h:99999',
      'sip:h:',
      'sip:[::1',
      'sip:a%zz@h',
      'sip:h;=x',
      'sip:h x',
      'tel:',
      ':x',
    ]) {
      assert.equal(
        code(() => parseUri(bad)),
        'bad_uri',
        bad,
      );
    }
  });

  it('Via: params, rport, IPv6, formatting', () => {
    const [v] = parseVia('SIP/2.0/udp [2001:db8::1]:5060;branch=z9hG4bKx;received=10.0.0.1;rport=1234;foo');
    assert.ok(v);
    assert.deepEqual(
      [v.transport, v.host, v.port, v.branch, v.received, v.rport],
      ['UDP', '[2001:db8::1]', 5060, 'z9hG4bKx', '10.0.0.1', 1234],
    );
    assert.equal(v.params.get('foo'), null);
    v.branch = 'z9hG4bKnew';
    assert.equal(formatVia(v), 'SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKnew;received=10.0.0.1;rport=1234;foo');
    for (const bad of [
      'SIP/2.0/UDP',
      'SIP/2.0 UDP h',
      'SIP/2.0/UDP h;',
      'SIP/2.0/UDP h;rport=x',
      'SIP/2.0/UDP h,',
      'SIP/2.0/UDP h:0x1',
    ]) {
      assert.equal(
        code(() => parseVia(bad)),
        'bad_via',
        bad,
      );
    }
  });

  it('mandatory headers are named when missing; Max-Forwards may be missing', () => {
    for (const [i, name] of ['Via', 'From', 'To', 'Call-ID', 'CSeq'].entries()) {
      const lines = BASE.filter((_, j) => j !== i);
      try {
        parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...lines]));
        assert.fail('should throw');
      } catch (e) {
        assert.ok(e instanceof SipParseError);
        assert.equal(e.code, 'missing_header');
        assert.equal(e.header, name);
        assert.equal(e.reason, `Missing ${name} Header`);
      }
    }
    assert.equal(parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...BASE])).maxForwards, undefined);
  });

  it('limits: size, header count, line length', () => {
    const big = Buffer.alloc(70 * 1024, 0x61);
    assert.equal(
      code(() => parseMessage(big)),
      'too_large',
    );
    const many = ['OPTIONS sip:b@example.com SIP/2.0', ...BASE, ...Array.from({ length: 200 }, (_, i) => `X-H${i}: v`)];
    assert.equal(
      code(() => parseMessage(msg(many))),
      'too_many_headers',
    );
    assert.equal(parseMessage(msg(many), { maxHeaders: 300 }).headers.length, 205);
    const long = ['OPTIONS sip:b@example.com SIP/2.0', ...BASE, `X-Long: ${'a'.repeat(9000)}`];
    assert.equal(
      code(() => parseMessage(msg(long))),
      'line_too_long',
    );
    assert.equal(
      code(() => parseMessage(Buffer.from('OPTIONS sip:b@example.com SIP/2.0\r\nVia: x'))),
      'incomplete_headers',
    );
    assert.equal(
      code(() => parseMessage(Buffer.from('\r\n\r\n'))),
      'empty',
    );
  });

  it('Content-Length: truncation per RFC 3261 §18.3, errors, stream mode', () => {
    const lines = ['OPTIONS sip:b@example.com SIP/2.0', ...BASE];
    assert.equal(parseMessage(msg([...lines, 'Content-Length: 3'], 'abcdef')).body.toString(), 'abc');
    assert.equal(parseMessage(msg(lines, 'abcdef')).body.toString(), 'abcdef');
    assert.equal(
      code(() => parseMessage(msg([...lines, 'Content-Length: 9'], 'abc'))),
      'body_truncated',
    );
    assert.equal(
      code(() => parseMessage(msg([...lines, 'Content-Length: x'], ''))),
      'bad_content_length',
    );
    assert.equal(
      code(() => parseMessage(msg(lines, 'abc'), { stream: true })),
      'missing_content_length',
    );
  });

  it('start line errors and CSeq checks', () => {
    const h = BASE;
    assert.equal(
      code(() => parseMessage(msg(['OPTIONS sip:b@example.com SIP/3.0', ...h]))),
      'bad_version',
    );
    assert.equal(
      code(() => parseMessage(msg(['OPTIONS sip:b@example.com', ...h]))),
      'bad_start_line',
    );
    assert.equal(
      code(() => parseMessage(msg(['OPT<IONS sip:b@example.com SIP/2.0', ...h]))),
      'bad_start_line',
    );
    assert.equal(
      code(() => parseMessage(msg(['INVITE sip:b@example.com SIP/2.0', ...h]))),
      'cseq_method_mismatch',
    );
    assert.equal(
      code(() => parseMessage(msg(['SIP/2.0 99 Odd', ...h]))),
      'bad_status',
    );
    assert.equal(
      code(() => parseMessage(msg(['SIP/2.0 2000 OK', ...h]))),
      'bad_status',
    );
    assert.equal(
      (parseMessage(msg(['SIP/2.0 200 OK', ...h.slice(0, 4), 'CSeq: 1 INVITE'])) as SipResponse).status,
      200,
    );
    assert.equal(
      code(() =>
        parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...h.slice(0, 4), 'CSeq: 2147483648 OPTIONS'])),
      ),
      'bad_cseq',
    );
    assert.equal(
      code(() => parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...h, 'Bad Header: x']))),
      'bad_header',
    );
    assert.equal(
      code(() => parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...h, 'X: a\rb']))),
      'bad_header',
    );
  });

  it('LF-only line ends and leading CRLFs are tolerated', () => {
    const m = parseMessage(Buffer.from(`\r\n\r\nOPTIONS sip:b@example.com SIP/2.0\n${BASE.join('\n')}\n\nbody`));
    assert.equal(m.callId, 'c1');
    assert.equal(m.body.toString(), 'body');
  });

  it('non-UTF-8 header bytes are kept byte-for-byte', () => {
    const raw = Buffer.concat([
      Buffer.from(`OPTIONS sip:b@example.com SIP/2.0\r\n${BASE.join('\r\n')}\r\nX-Bin: `),
      Buffer.from([0xff, 0xfe, 0x41]),
      Buffer.from('\r\nContent-Length: 0\r\n\r\n'),
    ]);
    const m = parseMessage(raw);
    assert.equal(m.headerEncoding, 'latin1');
    assert.deepEqual(serializeMessage(m), raw);
  });
});

describe('headers helpers', () => {
  it('canonicalName / getHeaders / setHeader / removeHeader', () => {
    assert.equal(canonicalName('v'), 'Via');
    assert.equal(canonicalName('CALL-ID'), 'Call-ID');
    assert.equal(canonicalName('X-Custom'), 'X-Custom');
    const m = parseMessage(
      msg(['OPTIONS sip:b@example.com SIP/2.0', ...BASE, 'v: SIP/2.0/UDP h2;branch=z9hG4bK2', 'l: 0']),
    );
    assert.deepEqual(getHeaders(m, 'VIA'), ['SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1', 'SIP/2.0/UDP h2;branch=z9hG4bK2']);
    setHeader(m, 'Via', 'SIP/2.0/TLS h3;branch=z9hG4bK3');
    assert.deepEqual(getHeaders(m, 'v'), ['SIP/2.0/TLS h3;branch=z9hG4bK3']);
    assert.equal(m.headers[0]!.name, 'Via');
    setHeader(m, 'X-New', '1');
    assert.equal(m.headers.at(-1)!.name, 'X-New');
    assert.equal(removeHeader(m, 'content-length'), 1);
    assert.equal(getHeader(m, 'l'), undefined);
  });
});

describe('serialize and builders', () => {
  it('Content-Length is rewritten to the real body length', () => {
    const m = parseMessage(msg(['OPTIONS sip:b@example.com SIP/2.0', ...BASE, 'l: 2'], 'ab'));
    m.body = Buffer.from('hello');
    const out = serializeMessage(m).toString();
    assert.match(out, /\r\nl: 5\r\n\r\nhello$/);
  });

  it('buildRequest gives a consistent parsed request', () => {
    const r = buildRequest({
      method: 'OPTIONS',
      uri: 'sip:sip.pstnhub.microsoft.com:5061;transport=tls',
      vias: ['SIP/2.0/TLS sbc1.contoso.com:5061;branch=z9hG4bKopt1'],
      from: '<sip:sbc1.contoso.com>;tag=o1',
      to: parseNameAddr('<sip:sip.pstnhub.microsoft.com>'),
      callId: 'opt-1',
      cseq: 5,
      contacts: ['<sip:sbc1.contoso.com:5061;transport=tls>'],
      headers: [{ name: 'User-Agent', value: 'Switchboard' }],
    });
    assert.equal(r.method, 'OPTIONS');
    assert.deepEqual(r.cseq, { seq: 5, method: 'OPTIONS' });
    assert.equal(r.maxForwards, 70);
    assert.equal(r.contentLength, 0);
    assert.equal(getHeader(r, 'user-agent'), 'Switchboard');
    assert.deepEqual(parseMessage(serializeMessage(r)), r);
  });

  it('buildResponse copies Via/From/To/Call-ID/CSeq and adds the to-tag (RFC 3261 §8.2.6)', () => {
    const inv = parseMessage(Buffer.from(TEAMS_INVITE)) as SipRequest;
    const r = buildResponse(inv, 180, undefined, {
      toTag: 'tt1',
      headers: [{ name: 'Contact', value: '<sip:sbc1.contoso.com>' }],
    });
    assert.equal(r.reason, 'Ringing');
    assert.equal(r.to.params.get('tag'), 'tt1');
    assert.equal(inv.to.params.get('tag'), undefined, 'request untouched');
    const wire = parseMessage(serializeMessage(r)) as SipResponse;
    assert.equal(wire.status, 180);
    assert.equal(wire.to.params.get('tag'), 'tt1');
    assert.deepEqual(wire.vias, inv.vias);
    assert.deepEqual(wire.from, inv.from);
    assert.deepEqual(wire.cseq, inv.cseq);
    assert.equal(wire.callId, inv.callId);
    assert.equal(getHeader(wire, 'contact'), '<sip:sbc1.contoso.com>');
    const trying = buildResponse(inv, 100, 'Trying', [{ name: 'Server', value: 'x' }]);
    assert.equal(trying.to.params.get('tag'), undefined);
    assert.equal(getHeader(trying, 'server'), 'x');
  });
});
