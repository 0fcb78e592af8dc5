// Pure Teams interop rules of the B2BUA: hold SDP toward Teams (M5.22/M5.27), session timers (RFC 4028), caller
// identity (M5.17/M5.18/H3.11) and the SIP ⇄ Q.850 mapping (M5.13).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  callerNumber,
  diversionToHistoryInfo,
  historyInfoToDiversion,
  parseHistoryInfo,
  privacyRequested,
  screenCallerId,
} from './identity.ts';
import { q850ForStatus, q850Of, reasonTowardCarrier, statusFromCarrier } from './q850.ts';
import { answeredCodec, sendrecvSdp, toTeamsSdp } from './sdp-policy.ts';
import {
  answerSessionTimer,
  expiryAfterMs,
  parseMinSe,
  parseSessionExpires,
  refreshAfterMs,
  supportsTimer,
} from './session-timer.ts';

const sdp = (dir: string, c = '192.0.2.10') =>
  Buffer.from(`v=0\r\no=x 1 1 IN IP4 ${c}\r\ns=-\r\nc=IN IP4 ${c}\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=${dir}\r\n`);

test('M5.22: sendonly/recvonly become inactive and c=0.0.0.0 keeps the previous address toward Teams', () => {
  const prev = sdp('sendrecv', '192.0.2.10');
  for (const dir of ['sendonly', 'recvonly']) {
    const out = toTeamsSdp(sdp(dir, '0.0.0.0'), prev).toString();
    assert.match(out, /^a=inactive\r$/m);
    assert.doesNotMatch(out, /sendonly|recvonly|^c=IN IP4 0\.0\.0\.0/m);
    assert.match(out, /^c=IN IP4 192\.0\.2\.10\r$/m);
  }
  const same = sdp('sendrecv');
  assert.equal(toTeamsSdp(same), same, 'untouched SDP is the same buffer');
  assert.match(sendrecvSdp(sdp('inactive')).toString(), /^a=sendrecv\r$/m, 'M5.27: the transfer offer is active');
});

test('RFC 4028: Session-Expires/Min-SE parsing, 422 below Min-SE, refresher choice, refresh and expiry times', () => {
  assert.deepEqual(parseSessionExpires('1800;refresher=uac'), { interval: 1800, refresher: 'uac' });
  assert.deepEqual(parseSessionExpires('90'), { interval: 90 });
  assert.equal(parseSessionExpires('x'), undefined);
  assert.equal(parseMinSe('1800'), 1800);
  assert.deepEqual(answerSessionTimer({ interval: 60 }, 90), { reject422: true });
  assert.deepEqual(answerSessionTimer({ interval: 1800, refresher: 'uac' }, 90), {
    reject422: false,
    se: { interval: 1800, refresher: 'uac' },
  });
  assert.deepEqual(answerSessionTimer({ interval: 1800, refresher: 'uac' }, 90, false), {
    reject422: false,
    se: { interval: 1800, refresher: 'uas' },
  });
  assert.equal(answerSessionTimer(undefined, 90).reject422, false);
  assert.equal(refreshAfterMs(1800), 900_000);
  assert.equal(expiryAfterMs(1800), 1_768_000);
  assert.equal(expiryAfterMs(3), 2000);
  assert.ok(supportsTimer(['100rel, Timer']));
});

test('M5.17: the caller comes from P-Asserted-Identity when present; Privacy: id is recognised', () => {
  assert.equal(callerNumber('<sip:anonymous@anonymous.invalid>;tag=1', ['<tel:+15551230003>']), '+15551230003');
  assert.equal(
    callerNumber('"A" <sip:+15551230001@x;user=phone>', ['<sip:+15551230002@sip.pstnhub.microsoft.com;user=phone>']),
    '+15551230002',
  );
  assert.equal(callerNumber('<sip:+15551230001@x>', []), '+15551230001');
  assert.equal(callerNumber('<sip:anonymous@x>', []), 'anonymous');
  assert.ok(privacyRequested('id'));
  assert.ok(privacyRequested('header; id'));
  assert.ok(!privacyRequested('none'));
});

test('M5.18: History-Info ⇄ Diversion with reason mapping (302 unconditional, 486 user-busy)', () => {
  const hi = [
    '<sip:+14257123456@sip.pstnhub.microsoft.com:5061;user=phone?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%20temporarily%22>;index=1',
    '<sip:+14257000000@sip.pstnhub.microsoft.com:5061;user=phone?Reason=SIP%3Bcause%3D486>;index=1.1,<sip:+14257999999@sip.pstnhub.microsoft.com;user=phone>;index=1.1.1',
  ];
  assert.equal(parseHistoryInfo(hi).length, 3);
  assert.equal(
    historyInfoToDiversion(hi, (n) => n),
    '<sip:+14257000000@sip.pstnhub.microsoft.com:5061>;reason=user-busy, <sip:+14257123456@sip.pstnhub.microsoft.com:5061>;reason=unconditional',
  );
  assert.equal(
    historyInfoToDiversion(['<sip:+1@x>;index=1'], (n) => n),
    undefined,
  );
  const back = diversionToHistoryInfo(
    ['<sip:+15550001111@carrier>;reason=user-busy'],
    'contoso.example',
    '+15551230001',
  );
  assert.equal(
    back,
    '<sip:+15550001111@contoso.example;user=phone?Reason=SIP%3Bcause%3D486>;index=1,<sip:+15551230001@contoso.example;user=phone>;index=1.1',
  );
});

test('H3.11: caller-ID screening Pass | Replace | Reject against the tenant numbers', () => {
  const owns = (n: string) => n.startsWith('+1555123');
  assert.deepEqual(screenCallerId('+15559990000', 'Pass', owns, null), { kind: 'pass', caller: '+15559990000' });
  assert.deepEqual(screenCallerId('+15559990000', 'Reject', owns, null), { kind: 'reject' });
  assert.deepEqual(screenCallerId('+15551230001', 'Reject', owns, null), { kind: 'pass', caller: '+15551230001' });
  assert.deepEqual(screenCallerId('+15559990000', 'Replace', owns, '+15551230000'), {
    kind: 'pass',
    caller: '+15551230000',
  });
  assert.deepEqual(screenCallerId('+15559990000', 'Replace', owns, null), { kind: 'reject' });
  assert.deepEqual(screenCallerId('anonymous', 'Reject', owns, null), { kind: 'pass', caller: 'anonymous' });
});

test('M5.13: SIP ⇄ Q.850 the Direct Routing way (486 ⇄ 17), Teams’ own cause kept', () => {
  assert.equal(q850ForStatus(486), 17);
  assert.equal(q850ForStatus(603), 21);
  assert.equal(q850ForStatus(404), 1);
  assert.equal(q850ForStatus(480), 18);
  assert.equal(reasonTowardCarrier(486, undefined), 'Q.850;cause=17');
  const lbr = 'Q.850;cause=63;text="10500;Current call site state prevents fork"';
  assert.equal(reasonTowardCarrier(403, lbr), lbr);
  assert.equal(q850Of('SIP;cause=200, Q.850;cause=16;text="x"'), 16);
  assert.equal(statusFromCarrier(500, 'Q.850;cause=17'), 486);
  assert.equal(statusFromCarrier(500, 'Q.850;cause=34'), 503);
  assert.equal(statusFromCarrier(480, undefined), 480);
});

test('the CDR codec is the first audio payload of the answer, by rtpmap name or static number', () => {
  assert.equal(answeredCodec('v=0\r\nm=audio 4000 RTP/SAVP 96 0\r\na=rtpmap:96 SILK/16000\r\n'), 'SILK');
  assert.equal(answeredCodec('v=0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n'), 'PCMA');
  assert.equal(answeredCodec('v=0\r\nm=video 4000 RTP/AVP 96\r\n'), undefined);
});
