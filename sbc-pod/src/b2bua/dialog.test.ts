import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, type SipRequest, type SipResponse } from '../sip/message/index.ts';
import { acceptRemoteCSeq, matchesDialog, nextRequest, uacDialog, uasDialog } from './dialog.ts';

const invite = parseMessage(
  Buffer.from(
    'INVITE sip:+15551230000@contoso.sbc.example.net SIP/2.0\r\n' +
      'Via: SIP/2.0/TLS 52.112.0.10:5061;branch=z9hG4bK-a\r\n' +
      'Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n' +
      'Max-Forwards: 69\r\n' +
      'From: "Alice" <sip:+15559870000@sip.pstnhub.microsoft.com;user=phone>;tag=from-a\r\n' +
      'To: <sip:+15551230000@contoso.sbc.example.net;user=phone>\r\n' +
      'Call-ID: dlg-1\r\n' +
      'CSeq: 7 INVITE\r\n' +
      'Contact: <sip:api-du-b-euwe.pstnhub.microsoft.com:443;x-i=abc;transport=tls>\r\n' +
      'Content-Length: 0\r\n\r\n',
  ),
) as SipRequest;

test('UAS dialog: route set in order, remote target from Contact, tags and CSeq', () => {
  const d = uasDialog(invite, 'our-tag', true);
  assert.equal(d.callId, 'dlg-1');
  assert.equal(d.localTag, 'our-tag');
  assert.equal(d.remoteTag, 'from-a');
  assert.equal(d.remoteSeq, 7);
  assert.equal(d.remoteTarget, 'sip:api-du-b-euwe.pstnhub.microsoft.com:443;x-i=abc;transport=tls');
  assert.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
  const { dialog, lines } = nextRequest(d, 'BYE');
  assert.equal(lines.requestUri, d.remoteTarget);
  assert.deepEqual(lines.routes, d.routeSet);
  assert.equal(lines.cseq, 1);
  assert.equal(dialog.localSeq, 1);
  assert.match(lines.from, /;tag=our-tag$/);
  assert.match(lines.to, /^"Alice" <sip:\+15559870000@sip\.pstnhub\.microsoft\.com;user=phone>;tag=from-a$/);
});

test('UAC dialog: route set reversed, ACK reuses the INVITE CSeq, later requests increment', () => {
  const res = parseMessage(
    Buffer.from(
      'SIP/2.0 200 OK\r\n' +
        'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b\r\n' +
        'Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n' +
        'From: <sip:+15559870000@sbc.example.net>;tag=ours\r\n' +
        'To: <sip:+15551230000@carrier.example>;tag=theirs\r\n' +
        'Call-ID: dlg-2\r\n' +
        'CSeq: 1 INVITE\r\n' +
        'Contact: <sip:uas@192.0.2.5:5080>\r\n' +
        'Content-Length: 0\r\n\r\n',
    ),
  ) as SipResponse;
  const sent = parseMessage(
    Buffer.from(
      'INVITE sip:+15551230000@carrier.example SIP/2.0\r\n' +
        'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b\r\n' +
        'Max-Forwards: 70\r\n' +
        'From: <sip:+15559870000@sbc.example.net>;tag=ours\r\n' +
        'To: <sip:+15551230000@carrier.example>\r\n' +
        'Call-ID: dlg-2\r\n' +
        'CSeq: 1 INVITE\r\n' +
        'Content-Length: 0\r\n\r\n',
    ),
  ) as SipRequest;
  const d = uacDialog(sent, res, false);
  assert.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
  assert.equal(d.remoteTarget, 'sip:uas@192.0.2.5:5080');
  assert.equal(nextRequest(d, 'ACK', 1).lines.cseq, 1);
  assert.equal(nextRequest(d, 'ACK', 1).dialog.localSeq, 1);
  const bye = nextRequest(d, 'BYE');
  assert.equal(bye.lines.cseq, 2);
  assert.match(bye.lines.to, /;tag=theirs$/);
});

test('strict router: first route becomes the Request-URI, remote target goes last', () => {
  const d = { ...uasDialog(invite, 't', false), routeSet: ['<sip:strict.example.com>', '<sip:p2.example.com;lr>'] };
  const { lines } = nextRequest(d, 'BYE');
  assert.equal(lines.requestUri, 'sip:strict.example.com');
  assert.deepEqual(lines.routes, ['<sip:p2.example.com;lr>', `<${d.remoteTarget}>`]);
});

test('remote CSeq must grow; a target refresh updates the remote target; dialog matching uses both tags', () => {
  const d = uasDialog(invite, 'our-tag', true);
  const reinvite = {
    ...invite,
    cseq: { seq: 8, method: 'INVITE' },
    contacts: [{ ...invite.contacts[0]!, uriText: 'sip:new-target.pstnhub.microsoft.com:443;transport=tls' }],
    to: { ...invite.to, params: new Map([['tag', 'our-tag']]) },
  } as SipRequest;
  const ok = acceptRemoteCSeq(d, reinvite);
  assert.equal(ok.check, 'ok');
  assert.equal(ok.dialog.remoteSeq, 8);
  assert.equal(ok.dialog.remoteTarget, 'sip:new-target.pstnhub.microsoft.com:443;transport=tls');
  assert.equal(acceptRemoteCSeq(ok.dialog, reinvite).check, 'retransmission-or-old');
  assert.equal(matchesDialog(d, reinvite), true);
  assert.equal(matchesDialog(d, { ...reinvite, callId: 'other' } as SipRequest), false);
});
