import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { parseMessage } from '../../../sbc-pod/src/sip/message/index.ts';
import { createCa, issueLeaf } from '../harness/pki.ts';
import { type CheckContext, checkSbcMessage } from './rules.ts';
import { lookupTenant, TenantDirectory } from './tenants.ts';
import { sipText } from './test-helpers.ts';

const SDP = [
  'v=0',
  'o=- 1 0 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 30000 RTP/SAVP 0 101',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31',
  'a=rtpmap:0 PCMU/8000',
  'a=sendrecv',
  '',
].join('\r\n');

interface InviteParts {
  ruri?: string;
  from?: string;
  to?: string;
  contact?: string[];
  extra?: string[];
  xms?: string | null;
  body?: string;
  method?: string;
}

function invite(p: InviteParts = {}): string {
  const method = p.method ?? 'INVITE';
  const lines = [
    `${method} ${p.ruri ?? 'sip:+15551230001@sip.pstnhub.microsoft.com:5061;user=phone;transport=tls'} SIP/2.0`,
    'Via: SIP/2.0/TLS sbc1.customers.example.net:5061;branch=z9hG4bKgood1',
    'Max-Forwards: 70',
    `From: ${p.from ?? '<sip:+442071234567@sbc1.customers.example.net:5061;user=phone>;tag=abc'}`,
    `To: ${p.to ?? '<sip:+15551230001@sip.pstnhub.microsoft.com:5061;user=phone>'}`,
    'Call-ID: call-1@sbc',
    `CSeq: 1 ${method}`,
    ...(p.contact ?? ['<sip:+442071234567@sbc1.customers.example.net:5061;transport=tls>']).map((c) => `Contact: ${c}`),
    'Allow: INVITE, ACK, OPTIONS, BYE, CANCEL, REFER, NOTIFY',
    ...(p.xms === null ? [] : [`X-MS-SBC: ${p.xms ?? 'Switchboard/SBC/0.1.0'}`]),
    ...(p.extra ?? []),
  ];
  const body = p.body ?? (method === 'INVITE' ? SDP : '');
  if (body !== '') lines.push('Content-Type: application/sdp');
  return sipText(lines, body);
}

function check(text: string, ctx: CheckContext = {}): string[] {
  return checkSbcMessage(parseMessage(Buffer.from(text)), ctx).map((v) => `${v.rule} ${v.message}`);
}

function expectRule(text: string, rule: string, fragment: string, ctx: CheckContext = {}): void {
  const got = check(text, ctx);
  assert.ok(
    got.some((v) => v.startsWith(rule + ' ') && v.includes(fragment)),
    `expected ${rule} "${fragment}", got:\n  ${got.join('\n  ')}`,
  );
}

let sbcCert: X509Certificate;

before(async () => {
  const ca = await createCa('Rules test CA');
  const leaf = await issueLeaf(ca, {
    commonName: 'customers.example.net',
    dnsNames: ['customers.example.net', '*.customers.example.net'],
  });
  sbcCert = new X509Certificate(leaf.certPem);
});

describe('checkSbcMessage: good messages', () => {
  test('a well-formed INVITE to Teams has no violations', () => {
    assert.deepEqual(check(invite(), { peerCert: sbcCert }), []);
  });
  test('a well-formed OPTIONS has no violations', () => {
    const text = sipText([
      'OPTIONS sip:sip.pstnhub.microsoft.com:5061 SIP/2.0',
      'Via: SIP/2.0/TLS customers.example.net:5061;branch=z9hG4bKo1',
      'From: <sip:customers.example.net:5061>;tag=1',
      'To: <sip:sip.pstnhub.microsoft.com:5061>',
      'Call-ID: o1',
      'CSeq: 7 OPTIONS',
      'Contact: <sip:customers.example.net:5061;transport=tls>',
      'Max-Forwards: 70',
      'X-MS-SBC: Switchboard/SBC/0.1.0',
    ]);
    assert.deepEqual(check(text, { peerCert: sbcCert, carrierFqdn: 'customers.example.net' }), []);
  });
  test('a 200 OK to a Teams INVITE with the dialled FQDN in Contact has no violations', () => {
    const text = sipText(
      [
        'SIP/2.0 200 OK',
        'Via: SIP/2.0/TLS 127.0.2.5:5061;branch=z9hG4bKt1',
        'From: <sip:+12065550100@sip.pstnhub.microsoft.com:5061;user=phone>;tag=t',
        'To: <sip:+15551230001@sbc1.customers.example.net:5061;user=phone>;tag=s',
        'Call-ID: c',
        'CSeq: 1 INVITE',
        'Contact: <sip:sbc1.customers.example.net:5061;transport=tls>',
        'X-MS-SBC: Switchboard/SBC/0.1.0',
        'Content-Type: application/sdp',
      ],
      SDP,
    );
    assert.deepEqual(check(text, { peerCert: sbcCert, dialledHost: 'sbc1.customers.example.net' }), []);
  });
  test('anonymous From is allowed', () => {
    assert.deepEqual(check(invite({ from: '<sip:anonymous@anonymous.invalid>;tag=1' })), []);
  });
});

describe('checkSbcMessage: each rule on a bad message', () => {
  test('T1.2 sips: URI in Contact / Request-URI', () => {
    expectRule(invite({ contact: ['<sips:+44@sbc1.customers.example.net:5061>'] }), 'T1.2', 'sips: URI in Contact');
    expectRule(invite({ ruri: 'sips:+15551230001@sip.pstnhub.microsoft.com' }), 'T1.2', 'Request-URI');
  });
  test('H3.6 more than one Contact', () => {
    const c = '<sip:+44@sbc1.customers.example.net:5061;transport=tls>';
    expectRule(invite({ contact: [c, c] }), 'H3.6', 'more than one Contact');
  });
  test('C2.6 Contact host is an IP', () => {
    expectRule(invite({ contact: ['<sip:+44@192.0.2.10:5061;transport=tls>'] }), 'C2.6', 'Contact host is an IP');
  });
  test('C2.6 Contact FQDN not covered by the SBC certificate', () => {
    expectRule(
      invite({ contact: ['<sip:+44@sbc1.other.example.org:5061;transport=tls>'] }),
      'C2.6',
      'not covered by the SBC certificate',
      { peerCert: sbcCert },
    );
    expectRule(
      invite({ contact: ['<sip:+44@a.sbc1.customers.example.net:5061;transport=tls>'] }),
      'C2.6',
      'not covered',
      { peerCert: sbcCert },
    );
  });
  test('M5.4 Contact lacks port or transport=tls', () => {
    expectRule(invite({ contact: ['<sip:+44@sbc1.customers.example.net;transport=tls>'] }), 'M5.4', 'port');
    expectRule(invite({ contact: ['<sip:+44@sbc1.customers.example.net:5061>'] }), 'M5.4', 'transport=tls');
  });
  test('M5.4 INVITE without Contact', () => {
    expectRule(invite({ contact: [] }), 'M5.4', 'without Contact');
  });
  test('O4.2 OPTIONS without Contact, H3.3 OPTIONS Contact not the carrier FQDN', () => {
    const base = [
      'OPTIONS sip:sip.pstnhub.microsoft.com:5061 SIP/2.0',
      'Via: SIP/2.0/TLS customers.example.net:5061;branch=z9hG4bKo2',
      'From: <sip:customers.example.net:5061>;tag=1',
      'To: <sip:sip.pstnhub.microsoft.com:5061>',
      'Call-ID: o2',
      'CSeq: 1 OPTIONS',
      'X-MS-SBC: Switchboard/SBC/0.1.0',
    ];
    expectRule(sipText(base), 'O4.2', 'OPTIONS without Contact');
    expectRule(
      sipText([...base, 'Contact: <sip:sbc1.customers.example.net:5061;transport=tls>']),
      'H3.3',
      'carrier trunk FQDN',
      { carrierFqdn: 'customers.example.net' },
    );
    expectRule(sipText([...base, 'Contact: <sip:customers.example.net:5061>']), 'O4.2', 'transport=tls');
  });
  test('M5.1 Request-URI user not E.164 with +', () => {
    expectRule(
      invite({
        ruri: 'sip:15551230001@sip.pstnhub.microsoft.com;user=phone',
        to: '<sip:15551230001@sip.pstnhub.microsoft.com>',
      }),
      'M5.1',
      'not E.164',
    );
  });
  test('M5.2 To user differs from the Request-URI user, M5.3 From not E.164', () => {
    expectRule(invite({ to: '<sip:+15559999999@sip.pstnhub.microsoft.com>' }), 'M5.2', 'differs');
    expectRule(invite({ from: '<sip:02071234567@sbc1.customers.example.net>;tag=1' }), 'M5.3', 'From user');
  });
  test('M5.5 INVITE without SDP', () => {
    expectRule(invite({ body: '' }), 'M5.5', 'without SDP');
  });
  test('M5.6 Replaces sent to Teams (header and URI header)', () => {
    expectRule(invite({ extra: ['Replaces: abc;to-tag=1;from-tag=2'] }), 'M5.6', 'Replaces header');
    expectRule(
      invite({ contact: ['<sip:+44@sbc1.customers.example.net:5061;transport=tls?Replaces=abc%3Bto-tag%3D1>'] }),
      'M5.6',
      'URI header',
    );
  });
  test('M5.20 Require: 100rel / UPDATE / PRACK sent to Teams', () => {
    expectRule(invite({ extra: ['Require: timer, 100rel'] }), 'M5.20', '100rel');
    expectRule(
      invite({ method: 'UPDATE', to: '<sip:+15551230001@sip.pstnhub.microsoft.com>;tag=x' }),
      'M5.20',
      'UPDATE',
    );
    expectRule(invite({ method: 'PRACK', to: '<sip:+15551230001@sip.pstnhub.microsoft.com>;tag=x' }), 'M5.20', 'PRACK');
  });
  test('X7.1 X-MS-SBC missing or not Vendor/Model/Version', () => {
    expectRule(invite({ xms: null }), 'X7.1', 'missing');
    expectRule(invite({ xms: 'Switchboard 0.1' }), 'X7.1', 'not Vendor/Model/Version');
  });
  test('M5.7 top Record-Route differs from Contact', () => {
    expectRule(
      invite({ extra: ['Record-Route: <sip:edge.customers.example.net:5061;transport=tls;lr>'] }),
      'M5.7',
      'differs',
    );
  });
  test('H3.8 Contact of a 200 OK is not the dialled FQDN', () => {
    const text = sipText([
      'SIP/2.0 180 Ringing',
      'Via: SIP/2.0/TLS 127.0.2.5:5061;branch=z9hG4bKt1',
      'From: <sip:+12065550100@sip.pstnhub.microsoft.com>;tag=t',
      'To: <sip:+15551230001@sbc1.customers.example.net>;tag=s',
      'Call-ID: c',
      'CSeq: 1 INVITE',
      'Contact: <sip:sbc2.customers.example.net:5061;transport=tls>',
      'X-MS-SBC: Switchboard/SBC/0.1.0',
    ]);
    expectRule(text, 'H3.8', 'differs from the dialled trunk FQDN', { dialledHost: 'sbc1.customers.example.net' });
  });
  test('M5.22 sendonly / c=0.0.0.0 hold, D6.1 non-SRTP profile', () => {
    expectRule(invite({ body: SDP.replace('a=sendrecv', 'a=sendonly') }), 'M5.22', 'sendonly');
    expectRule(invite({ body: SDP.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 0.0.0.0') }), 'M5.22', '0.0.0.0');
    expectRule(invite({ body: SDP.replace('RTP/SAVP', 'RTP/AVP') }), 'D6.1', 'RTP/AVP');
  });
  test('disabled rules are not reported', () => {
    assert.deepEqual(check(invite({ xms: null }), { disabledRules: ['X7.1'] }), []);
  });
});

describe('tenant lookup (H3.5)', () => {
  const dir = new TenantDirectory({
    'sbc1.customers.example.net': { name: 'contoso', numbers: ['+15551230001'] },
    'fabrikam.example.org': { name: 'fabrikam', numbers: ['+15551230002'] },
  });
  test('full FQDN, then the number', () => {
    assert.deepEqual(lookupTenant(dir, 'SBC1.customers.example.net', '+15551230001').ok, true);
  });
  test('parent domain when the full FQDN is unknown', () => {
    const r = lookupTenant(dir, 'sbc.fabrikam.example.org', '+15551230002;ext=12');
    assert.ok(r.ok);
    assert.equal(r.tenant.name, 'fabrikam');
    assert.equal(r.domain, 'fabrikam.example.org');
  });
  test('unknown FQDN → 403 510532, unknown number → 404 511404', () => {
    assert.deepEqual(lookupTenant(dir, 'x.y.example.com', '+15551230001'), {
      ok: false,
      status: 403,
      msCode: '510532',
      text: 'No trunk config was found',
    });
    const nf = lookupTenant(dir, 'sbc1.customers.example.net', '+15551230002');
    assert.equal(nf.ok, false);
    assert.equal(!nf.ok && nf.status, 404);
    assert.equal(lookupTenant(dir, 'sbc1.customers.example.net', '15551230001').ok, false);
  });
});
