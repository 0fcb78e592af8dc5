// RFC 4475 (SIP torture messages) and RFC 5118 (IPv6 torture messages): every message either parses with the
// expected key fields or fails with the expected SipParseError code. Files: testdata/torture/*.dat (see README).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SipParseError, type SipParseErrorCode, suggestedStatus } from './errors.ts';
import { getHeader, getHeaders } from './headers.ts';
import { parseMessage } from './parse.ts';
import { buildErrorResponse, serializeMessage } from './serialize.ts';
import type { SipMessage, SipRequest, SipResponse } from './types.ts';

const dir = join(import.meta.dirname, 'testdata', 'torture');
const load = (name: string): Buffer => readFileSync(join(dir, `${name}.dat`));

type Check = (m: SipMessage) => void;
const req = (m: SipMessage): SipRequest => {
  assert.equal(m.kind, 'request');
  return m as SipRequest;
};
const res = (m: SipMessage): SipResponse => {
  assert.equal(m.kind, 'response');
  return m as SipResponse;
};

const VALID: Record<string, Check> = {
  // §3.1.1.1 A Short Tortuous INVITE
  wsinv: (m) => {
    const r = req(m);
    assert.equal(r.method, 'INVITE');
    assert.equal(r.uri.host, 'chair-dnrc.example.com');
    assert.equal(r.uri.params.get('unknownparam'), null);
    assert.equal(r.to.params.get('tag'), '1918181833n');
    assert.equal(r.to.uri.user, 'vivekg');
    assert.equal(r.from.displayName, 'J Rosenberg \\"');
    assert.equal(r.from.params.get('tag'), '98asjd8');
    assert.equal(r.maxForwards, 68);
    assert.equal(r.callId, 'wsinv.ndaksdj@192.0.2.1');
    assert.deepEqual(r.cseq, { seq: 9, method: 'INVITE' });
    assert.equal(r.vias.length, 3);
    assert.deepEqual(
      r.vias.map((v) => [v.protocol, v.transport, v.host, v.branch]),
      [
        ['SIP/2.0', 'UDP', '192.0.2.2', '390skdjuw'],
        ['SIP/2.0', 'TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['SIP/2.0', 'UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    assert.equal(getHeader(r, 'Subject'), '');
    assert.equal(getHeader(r, 'NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(getHeader(r, 'UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    assert.equal(r.routes.length, 1);
    assert.equal(r.routes[0]!.uri.params.get('unknown-no-value'), null);
    assert.equal(r.routes[0]!.uri.params.get('unknownwith'), 'value');
    assert.equal(r.contacts.length, 1);
    assert.equal(r.contacts[0]!.displayName, 'Quoted string ""');
    assert.equal(r.contacts[0]!.params.get('newparam'), 'newvalue');
    assert.equal(r.contacts[0]!.params.get('secondparam'), null);
    assert.equal(r.contacts[0]!.params.get('q'), '0.33');
    assert.equal(r.contentLength, 150);
    assert.equal(r.body.length, 150);
    // the original header names are kept for forwarding
    assert.deepEqual(
      r.headers.slice(0, 3).map((h) => h.name),
      ['TO', 'from', 'MaX-fOrWaRdS'],
    );
  },
  // §3.1.1.2 Wide Range of Valid Characters
  intmeth: (m) => {
    const r = req(m);
    assert.equal(r.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert.equal(r.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(r.uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(r.uri.host, 'example.com');
    assert.equal(r.vias[0]!.branch, "z9hG4bK-.!%66*_+`'~");
    assert.equal(r.to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7F');
    assert.equal(r.from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(r.from.params.get("fromparam''~+*_!.-%"), '"работающий"');
    assert.equal(r.from.params.get('tag'), "_token~1'+`*%!-.");
    assert.equal(r.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.equal(r.cseq.method, r.method);
    assert.equal(r.maxForwards, 255);
    assert.equal(getHeader(r, "extensionHeader-!.%*+_`'~"), '\uFEFF大停電');
  },
  // §3.1.1.3 Valid Use of the % Escaping Mechanism
  esc01: (m) => {
    const r = req(m);
    assert.equal(r.uri.user, 'sips%3Auser%40example.com');
    assert.equal(r.uri.host, 'example.net');
    assert.equal(r.to.uri.user, '%75se%72');
    assert.equal(r.from.uri.user, 'I%20have%20spaces');
    assert.equal(r.callId, 'esc01.239409asdfakjkn23onasd0-3234');
    assert.equal(getHeader(r, 'Content-Type'), 'application/sdp');
    assert.equal(r.contacts[0]!.uri.user, 'cal%6Cer');
    assert.equal(r.contacts[0]!.uri.params.get('%6c%72'), null);
    assert.equal(r.contacts[0]!.uri.params.get('n%61me'), 'v%61lue%25%34%31');
  },
  // §3.1.1.4 Escaped Nulls in URIs
  escnull: (m) => {
    const r = req(m);
    assert.equal(r.to.uri.user, 'null-%00-null');
    assert.deepEqual(
      r.contacts.map((c) => c.uri.user),
      ['%00', '%00%00'],
    );
    assert.equal(r.contentLength, 0);
  },
  // §3.1.1.5 Use of % When It Is Not an Escape
  esc02: (m) => {
    const r = req(m);
    assert.equal(r.method, 'RE%47IST%45R');
    assert.equal(r.to.displayName, '%Z%45');
    assert.equal(r.vias[0]!.branch, 'z9hG4bK209%fzsnel234');
    // C%6Fntact is an unknown header, not Contact
    assert.equal(r.contacts.length, 2);
    assert.equal(getHeader(r, 'C%6Fntact'), '<sip:alias2@host2.example.com>');
  },
  // §3.1.1.6 Message with No LWS between Display Name and <
  lwsdisp: (m) => {
    const r = req(m);
    assert.equal(r.from.displayName, 'caller');
    assert.equal(r.from.uri.user, 'caller');
    assert.equal(r.from.params.get('tag'), '323');
  },
  // §3.1.1.7 Long Values in Header Fields
  longreq: (m) => {
    const r = req(m);
    assert.equal(r.to.uri.port, 6000);
    assert.equal(r.to.displayName, `I have a user name of ${'extreme'.repeat(10)} proportion`);
    assert.equal(r.to.uri.params.get(`very${'long'.repeat(25)}parameternamewithnovalue`), null);
    assert.equal(r.from.params.get('tag'), `12${'982'.repeat(50)}424`);
    assert.equal(r.vias.length, 34);
    assert.equal(r.vias[0]!.host, 'sip33.example.com');
    assert.equal(r.vias[33]!.branch, `very${'long'.repeat(50)}branchvalue`);
    assert.equal(r.vias[33]!.received, '192.0.2.5');
    assert.equal(getHeaders(r, 'via').length, 34);
  },
  // §3.1.1.8 Extra Trailing Octets in a UDP Datagram
  dblreq: (m) => {
    const r = req(m);
    assert.equal(r.method, 'REGISTER');
    assert.equal(r.body.length, 0);
    assert.equal(r.contacts[0]!.uri.user, 'j.user');
  },
  // §3.1.1.9 Semicolon-Separated Parameters in URI User Part
  semiuri: (m) => {
    const r = req(m);
    assert.equal(r.uri.user, 'user;par=u%40example.net');
    assert.equal(r.uri.host, 'example.com');
    assert.equal(r.uri.params.size, 0);
    assert.equal(
      getHeader(r, 'accept'),
      'application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, message/sip, message/sipfrag',
    );
  },
  // §3.1.1.10 Varied and Unknown Transport Types
  transports: (m) => {
    assert.deepEqual(
      m.vias.map((v) => v.transport),
      ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
    );
    assert.equal(m.callId, 'transports.kijh4akdnaqjkwendsasfdj');
  },
  // §3.1.1.11 Multipart MIME Message (binary body)
  mpart01: (m) => {
    const r = req(m);
    assert.equal(r.method, 'MESSAGE');
    assert.equal(r.body.length, r.contentLength);
    assert.ok(r.body.includes(readFileSync(join(dir, 'mpart01.bin'))));
    assert.equal(r.vias[0]!.rport, null);
    assert.equal(r.vias[0]!.port, 5070);
    assert.equal(r.routes[0]!.uri.host, '127.0.0.1');
    assert.equal(r.routes[0]!.uri.port, 5080);
  },
  // §3.1.1.12 Unusual Reason Phrase
  unreason: (m) => {
    const r = res(m);
    assert.equal(r.status, 200);
    assert.equal(r.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
    assert.equal(r.body.length, 154);
  },
  // §3.1.1.13 Empty Reason Phrase
  noreason: (m) => {
    const r = res(m);
    assert.equal(r.status, 100);
    assert.equal(r.reason, '');
  },
  // §3.1.2.12 Invalid Time Zone in Date Header Field: syntactically fine for us (Date stays raw)
  baddate: (m) => assert.equal(getHeader(m, 'Date'), 'Fri, 01 Jan 2010 16:00:00 EST'),
  // §3.2.1 Missing Transaction Identifier: a transaction-layer matter
  badbranch: (m) => assert.equal(m.vias[0]!.branch, 'z9hG4bK'),
  // §3.3.4 Unknown URI Schemes in Header Fields
  unksm2: (m) => {
    assert.equal(m.to.uri.scheme, 'other');
    assert.equal(m.to.uri.otherScheme, 'isbn');
    assert.equal(m.to.uri.opaque, '2983792873');
    assert.equal(m.from.uri.otherScheme, 'http');
    assert.equal(m.from.params.get('tag'), '3234233');
    assert.equal(m.contacts[0]!.uri.otherScheme, 'name');
  },
  // §3.3.5 Proxy-Require and Require
  bext01: (m) => assert.equal(getHeader(m, 'Proxy-Require'), 'noProxiesSupportThis, norDoAnyProxiesSupportThis'),
  // §3.3.6 Unknown Content-Type
  invut: (m) => assert.equal(m.body.toString(), '<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n'),
  // §3.3.7 Unknown Authorization Scheme
  regaut01: (m) => assert.equal(getHeader(m, 'authorization'), 'NoOneKnowsThisScheme opaque-data=here'),
  // §3.3.10 200 OK Response with Broadcast Via Header Field Value
  bcast: (m) => assert.equal(m.vias[1]!.host, '255.255.255.255'),
  // §3.3.11 Max-Forwards of Zero
  zeromf: (m) => assert.equal(m.maxForwards, 0),
  // §3.3.12 REGISTER with a Contact Header Parameter
  cparam01: (m) => {
    assert.equal(m.contacts[0]!.params.get('unknownparam'), null);
    assert.equal(m.contacts[0]!.uri.params.size, 0);
  },
  // §3.3.13 REGISTER with a url-parameter
  cparam02: (m) => {
    assert.equal(m.contacts[0]!.uri.params.get('unknownparam'), null);
    assert.equal(m.contacts[0]!.params.size, 0);
  },
  // §3.3.14 REGISTER with a URL Escaped Header
  regescrt: (m) => assert.equal(m.contacts[0]!.uri.headers.get('Route'), '%3Csip:sip.example.com%3E'),
  // §3.3.15 Unacceptable Accept Offering
  sdp01: (m) => assert.equal(getHeader(m, 'Accept'), 'text/nobodyKnowsThis'),
  // §3.4.1 INVITE with RFC 2543 Syntax (no branch, no Max-Forwards, no Content-Length)
  inv2543: (m) => {
    assert.equal(m.vias[0]!.branch, undefined);
    assert.equal(m.maxForwards, undefined);
    assert.equal(m.contentLength, undefined);
    assert.ok(m.body.toString().startsWith('v=0'));
    assert.equal(m.recordRoutes[0]!.uri.params.get('maddr'), 'ss1.example.com');
    // addr-spec form: ";user=phone" is a header parameter of To, not a URI parameter (RFC 3261 §20.10)
    assert.equal(m.to.params.get('user'), 'phone');
    assert.equal(m.to.uri.params.size, 0);
  },
  // RFC 5118 §4.1 Valid SIP Message with an IPv6 Reference
  'ipv6-good': (m) => {
    assert.equal(req(m).uri.host, '[2001:db8::10]');
    assert.equal(m.vias[0]!.host, '[2001:db8::9:1]');
    assert.equal(m.contacts[0]!.uri.host, '[2001:db8::1]');
  },
  // §4.3 Port Ambiguous in a SIP URI
  'port-ambiguous': (m) => {
    assert.equal(req(m).uri.host, '[2001:db8::10:5070]');
    assert.equal(req(m).uri.port, undefined);
  },
  // §4.4 Port Unambiguous in a SIP URI
  'port-unambiguous': (m) => {
    assert.equal(req(m).uri.host, '[2001:db8::10]');
    assert.equal(req(m).uri.port, 5070);
  },
  // §4.5 IPv6 Reference Delimiters in Via Header (both forms accepted)
  'via-received-param-with-delim': (m) => assert.equal(m.vias[0]!.received, '[2001:db8::9:255]'),
  'via-received-param-no-delim': (m) => assert.equal(m.vias[0]!.received, '2001:db8::9:255'),
  // §4.6 SIP Request with IPv6 Addresses in SDP Body
  'ipv6-in-sdp': (m) => assert.ok(m.body.toString().includes('c=IN IP6 2001:db8::20')),
  // §4.7 Multiple IP Addresses in SIP Headers
  'mult-ip-in-header': (m) => {
    assert.deepEqual(
      m.vias.map((v) => [v.host, v.port]),
      [
        ['[2001:db8::9:1]', 6050],
        ['192.0.2.1', undefined],
        ['[2001:db8::9:255]', undefined],
      ],
    );
    assert.equal(m.vias[2]!.received, '192.0.2.200');
  },
  // §4.8 Multiple IP Addresses in SDP
  'mult-ip-in-sdp': (m) => assert.ok(m.body.toString().includes('c=IN IP6 2001:db8::1')),
  // §4.9 IPv4-Mapped IPv6 Addresses
  'ipv4-mapped-ipv6': (m) => {
    assert.equal(m.vias[0]!.host, '[::ffff:192.0.2.10]');
    assert.equal(m.vias[0]!.port, 19823);
    assert.equal(m.contacts[0]!.uri.host, '[::ffff:192.0.2.2]');
  },
  // §4.10 IPv6 Reference Bug in RFC 3261 ABNF: be liberal, accept the 3-colon form too
  'ipv6-bug-abnf-3-colons': (m) => assert.equal(req(m).uri.host, '[2001:db8:::192.0.2.1]'),
  'ipv6-correct-abnf-2-colons': (m) => assert.equal(req(m).uri.host, '[2001:db8::192.0.2.1]'),
};

/** Messages that must be refused: the code, and the header named in the error when there is one. */
const INVALID: Record<string, { code: SipParseErrorCode; header?: string; status?: number }> = {
  badinv01: { code: 'bad_via', header: 'Via' }, // §3.1.2.1 Extraneous Header Field Separators
  clerr: { code: 'body_truncated' }, // §3.1.2.2 Content Length Larger Than Message
  ncl: { code: 'bad_content_length', header: 'Content-Length' }, // §3.1.2.3 Negative Content-Length
  scalar02: { code: 'bad_cseq', header: 'CSeq' }, // §3.1.2.4 Request Scalar Fields with Overlarge Values
  scalarlg: { code: 'bad_cseq', header: 'CSeq' }, // §3.1.2.5 Response Scalar Fields with Overlarge Values
  quotbal: { code: 'bad_name_addr', header: 'To' }, // §3.1.2.6 Unterminated Quoted String in Display Name
  ltgtruri: { code: 'bad_uri' }, // §3.1.2.7 <> Enclosing Request-URI
  lwsruri: { code: 'bad_start_line' }, // §3.1.2.8 Malformed SIP Request-URI (embedded LWS)
  lwsstart: { code: 'bad_start_line' }, // §3.1.2.9 Multiple SP Separating Request-Line Elements
  trws: { code: 'bad_start_line' }, // §3.1.2.10 SP Characters at End of Request-Line
  escruri: { code: 'bad_uri' }, // §3.1.2.11 Escaped Headers in SIP Request-URI
  regbadct: { code: 'bad_name_addr', header: 'Contact' }, // §3.1.2.13 Failure to Enclose name-addr URI in <>
  badaspec: { code: 'bad_name_addr', header: 'To' }, // §3.1.2.14 Spaces within addr-spec
  baddn: { code: 'bad_name_addr', header: 'From' }, // §3.1.2.15 Non-token Characters in Display Name
  badvers: { code: 'bad_version', status: 505 }, // §3.1.2.16 Unknown Protocol Version
  mismatch01: { code: 'cseq_method_mismatch' }, // §3.1.2.17 Start Line and CSeq Method Mismatch
  mismatch02: { code: 'cseq_method_mismatch' }, // §3.1.2.18 Unknown Method with CSeq Method Mismatch
  bigcode: { code: 'bad_status' }, // §3.1.2.19 Overlarge Response Code
  insuf: { code: 'missing_header', header: 'To' }, // §3.3.1 Missing Required Header Fields
  unkscm: { code: 'unsupported_uri_scheme', status: 416 }, // §3.3.2 Request-URI with Unknown Scheme
  novelsc: { code: 'unsupported_uri_scheme', status: 416 }, // §3.3.3 Request-URI with Known but Atypical Scheme
  multi01: { code: 'duplicate_header', header: 'CSeq' }, // §3.3.8 Multiple Values in Single Value Required Fields
  mcl01: { code: 'duplicate_header', header: 'Content-Length' }, // §3.3.9 Multiple Content-Length Values
  'ipv6-bad': { code: 'bad_uri' }, // RFC 5118 §4.2 Invalid SIP Message with an IPv6 Reference
};

describe('torture corpus (RFC 4475, RFC 5118)', () => {
  it('covers every file in testdata/torture exactly once', () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.dat'))
      .map((f) => f.slice(0, -4))
      .sort();
    assert.deepEqual(files, [...Object.keys(VALID), ...Object.keys(INVALID)].sort());
    assert.equal(files.length, 61);
  });

  for (const [name, check] of Object.entries(VALID)) {
    it(`${name} parses`, () => {
      const m = parseMessage(load(name));
      check(m);
      // and survives a serialize → parse round trip with the same fields
      const again = parseMessage(serializeMessage(m));
      // (serialize adds the Content-Length an RFC 2543-style message lacked, so only re-check complete ones)
      if (m.contentLength !== undefined) check(again);
      assert.deepEqual(again.vias, m.vias);
      assert.deepEqual(again.from, m.from);
      assert.deepEqual(again.to, m.to);
      assert.deepEqual(again.body, m.body);
    });
  }

  for (const [name, want] of Object.entries(INVALID)) {
    it(`${name} is refused with ${want.code}`, () => {
      let err: unknown;
      try {
        parseMessage(load(name));
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SipParseError, `expected SipParseError, got ${String(err)}`);
      assert.equal(err.code, want.code);
      if (want.header !== undefined) assert.equal(err.header, want.header);
      assert.equal(suggestedStatus(err), want.status ?? 400);
      assert.match(err.reason, /^[\x20-\x7e]+$/);
    });
  }

  it('a refused request still carries what is needed to answer it', () => {
    let err: SipParseError | undefined;
    try {
      parseMessage(load('badvers'));
    } catch (e) {
      err = e as SipParseError;
    }
    assert.ok(err);
    assert.equal(err.isRequest, true);
    assert.equal(err.method, 'OPTIONS');
    assert.equal(err.callId, 'badvers.31417@c.example.com');
    assert.equal(err.vias?.[0]?.branch, 'z9hG4bKkdjuw');
    const answer = buildErrorResponse(err, suggestedStatus(err), undefined, 'x1');
    assert.ok(answer);
    const r = parseMessage(answer) as SipResponse;
    assert.equal(r.status, 505);
    assert.equal(r.reason, 'Version Not Supported');
    assert.equal(r.callId, 'badvers.31417@c.example.com');
    assert.equal(r.to.params.get('tag'), 'x1');
    assert.equal(r.vias[0]!.branch, 'z9hG4bKkdjuw');
  });

  it('the stream variant refuses clerr as an incomplete message and inv2543 for its missing Content-Length', () => {
    assert.throws(() => parseMessage(load('clerr'), { stream: true }), { code: 'body_truncated' });
    assert.throws(() => parseMessage(load('inv2543'), { stream: true }), { code: 'missing_content_length' });
  });
});
