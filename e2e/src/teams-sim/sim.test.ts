import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildRequest, getHeader, serializeMessage } from '../../../sbc-pod/src/sip/message/index.ts';
import { createTeamsPki, type IssuedCertificate, type TeamsPki } from '../harness/pki.ts';
import { TeamsSim } from './sim.ts';
import { connectAsSbc, type FakePeer, FakeSbcServer, sipText } from './test-helpers.ts';

const CARRIER = 'customers.example.net';
const CONTOSO = 'sbc1.customers.example.net';
const FABRIKAM = 'sbc2.customers.example.net';
const XMS = 'X-MS-SBC: Switchboard/SBC/0.1.0';

let pki: TeamsPki;
let sbcCert: IssuedCertificate;
let serverAuthOnly: IssuedCertificate;
let sim: TeamsSim;
let seq = 0;

before(async () => {
  pki = await createTeamsPki();
  [sbcCert, serverAuthOnly] = await Promise.all([
    pki.issueSbcCert({ commonName: CARRIER, dnsNames: [CARRIER, `*.${CARRIER}`] }),
    pki.issueSbcCert({ commonName: CARRIER, dnsNames: [CARRIER, `*.${CARRIER}`], eku: ['serverAuth'] }),
  ]);
  sim = await TeamsSim.start({
    pki,
    t1Ms: 40,
    carrierFqdn: CARRIER,
    tenants: {
      [CARRIER]: { name: 'carrier' },
      [CONTOSO]: { name: 'contoso', numbers: ['+15551230001', '+15551230003', '+15551230004'] },
      [FABRIKAM]: { name: 'fabrikam', numbers: ['+15551230002'] },
    },
  });
});

after(async () => {
  await sim.close();
});

function sbc(proxy = 'sip', cert: IssuedCertificate | null = sbcCert, localAddress?: string): Promise<FakePeer> {
  const t = sim.proxy(proxy);
  return connectAsSbc({
    host: t.host,
    port: t.port,
    servername: t.fqdn,
    ca: pki.microsoftRootsPem,
    ...(cert !== null ? { cert } : {}),
    ...(localAddress !== undefined ? { localAddress } : {}),
  });
}

function options(contactHost = CARRIER): string {
  seq++;
  return sipText([
    `OPTIONS sip:sip.pstnhub.microsoft.com:${sim.proxy('sip').port} SIP/2.0`,
    `Via: SIP/2.0/TLS ${CARRIER}:5061;branch=z9hG4bKopt${seq}`,
    'Max-Forwards: 70',
    `From: <sip:${CARRIER}:5061>;tag=o${seq}`,
    `To: <sip:sip.pstnhub.microsoft.com:${sim.proxy('sip').port}>`,
    `Call-ID: opt-${seq}`,
    `CSeq: ${seq} OPTIONS`,
    `Contact: <sip:${contactHost}:5061;transport=tls>`,
    XMS,
  ]);
}

function invite(opts: { number?: string; contactHost?: string; callId?: string; sdp?: boolean } = {}): string {
  seq++;
  const number = opts.number ?? '+15551230001';
  const contactHost = opts.contactHost ?? CONTOSO;
  const body =
    opts.sdp === false
      ? ''
      : 'v=0\r\no=- 1 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/SAVP 0\r\na=sendrecv\r\n';
  return sipText(
    [
      `INVITE sip:${number}@sip.pstnhub.microsoft.com:5061;user=phone;transport=tls SIP/2.0`,
      `Via: SIP/2.0/TLS ${contactHost}:5061;branch=z9hG4bKinv${seq}`,
      'Max-Forwards: 70',
      `From: <sip:+442071234567@${contactHost}:5061;user=phone>;tag=f${seq}`,
      `To: <sip:${number}@sip.pstnhub.microsoft.com:5061;user=phone>`,
      `Call-ID: ${opts.callId ?? `inv-${seq}`}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:+442071234567@${contactHost}:5061;transport=tls>`,
      'Allow: INVITE, ACK, OPTIONS, BYE, CANCEL, REFER, NOTIFY',
      XMS,
      ...(body !== '' ? ['Content-Type: application/sdp'] : []),
    ],
    body,
  );
}

/** ACK/BYE/CANCEL for a call the fake SBC placed, built from its INVITE text and the sim's final response. */
function inDialog(method: 'ACK' | 'BYE', inviteText: string, toHeader: string, target: string, cseq: number): string {
  const callId = /Call-ID: (.*)/.exec(inviteText)![1]!;
  const from = /From: (.*)/.exec(inviteText)![1]!;
  seq++;
  return sipText([
    `${method} ${target} SIP/2.0`,
    `Via: SIP/2.0/TLS ${CONTOSO}:5061;branch=z9hG4bK${method}${seq}`,
    'Max-Forwards: 70',
    `From: ${from}`,
    `To: ${toHeader}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    XMS,
  ]);
}

function cancelFor(inviteText: string): string {
  const via = /Via: (.*)/.exec(inviteText)![1]!;
  const ruri = /^INVITE (\S+)/.exec(inviteText)![1]!;
  return sipText([
    `CANCEL ${ruri} SIP/2.0`,
    `Via: ${via}`,
    'Max-Forwards: 70',
    `From: ${/From: (.*)/.exec(inviteText)![1]!}`,
    `To: ${/To: (.*)/.exec(inviteText)![1]!}`,
    `Call-ID: ${/Call-ID: (.*)/.exec(inviteText)![1]!}`,
    'CSeq: 1 CANCEL',
    XMS,
  ]);
}

describe('SBC → Teams', { timeout: 60_000 }, () => {
  test('OPTIONS round trip: 200 in the Teams style (UPPERCASE headers, ALLOW, SERVER)', async () => {
    const peer = await sbc();
    peer.send(options());
    const r = await peer.response((m) => m.cseq.method === 'OPTIONS', '200 to OPTIONS');
    assert.equal(r.msg.status, 200);
    for (const h of ['FROM:', 'TO:', 'CSEQ:', 'CALL-ID:', 'VIA:', 'CONTENT-LENGTH:']) {
      assert.match(r.raw, new RegExp(`^${h} `, 'm'), `${h} missing in\n${r.raw}`);
    }
    assert.match(r.raw, /^ALLOW: INVITE,ACK,OPTIONS,CANCEL,BYE,NOTIFY\r$/m);
    assert.match(r.raw, /^SERVER: Microsoft\.PSTNHub\.SIPProxy v\.2020\.7\.31\.1 i\.USWE2\.3\r$/m);
    const conn = sim.connections.find((e) => e.type === 'open' && e.listener === 'sip');
    assert.equal(conn?.servername, 'sip.pstnhub.microsoft.com');
    peer.close();
    sim.assertNoViolations();
  });

  test('OPTIONS with an IP Contact → 403 and a C2.6 violation', async () => {
    const peer = await sbc();
    peer.send(options('127.0.0.1'));
    const r = await peer.response((m) => m.cseq.method === 'OPTIONS', 'answer to OPTIONS');
    assert.equal(r.msg.status, 403);
    assert.ok(sim.violations.find((v) => v.rule === 'C2.6' && /IP/.test(v.message)));
    peer.close();
    sim.clearViolations();
  });

  test('INVITE to a known tenant number → 100/180/200; 200 retransmitted until ACK; BYE via the Contact host', async () => {
    const peer = await sbc();
    const text = invite();
    peer.send(text);
    const ok = await peer.response((m) => m.status === 200, '200 OK');
    assert.deepEqual(
      peer.received.items
        .filter((r) => r.msg.kind === 'response')
        .map((r) => (r.msg.kind === 'response' ? r.msg.status : 0))
        .slice(0, 3),
      [100, 180, 200],
    );
    assert.equal(getHeader(ok.msg, 'Content-Type'), 'application/sdp');
    assert.match(ok.raw, /^CONTACT: <sip:api-du-b-euwe\.pstnhub\.microsoft\.com:\d+;x-i=[0-9a-f-]{36};x-c=\d+>\r$/m);
    const call = await sim.waitForInboundCall((c) => c.callId === ok.msg.callId);
    assert.equal(call.tenant?.name, 'contoso');
    assert.equal(call.number, '+15551230001');
    // A retransmission of the 200 arrives (T1 = 40 ms) before we ACK.
    const second = await peer.received.waitFor(
      (r) => r.msg.kind === 'response' && r.msg.status === 200,
      'a retransmitted 200',
      5_000,
      peer.received.items.indexOf(ok) + 1,
    );
    assert.ok(second);
    const toHeader = getHeader(ok.msg, 'To')!;
    const target = ok.msg.contacts[0]!.uriText;
    peer.send(inDialog('ACK', text, toHeader, target, 1));
    await call.waitForState('confirmed');
    assert.equal(call.retransmitting, false, 'retransmissions stop on ACK');
    assert.ok(call.okTransmissions >= 2);
    assert.equal(call.acks.length, 1);

    // BYE goes to the Contact host (the api listener via the DNS stub), on a new connection.
    assert.equal(sim.dnsStub['api-du-b-euwe.pstnhub.microsoft.com'], sim.api.host);
    const apiPeer = await connectAsSbc({
      host: sim.dnsStub[ok.msg.contacts[0]!.uri.host]!,
      port: ok.msg.contacts[0]!.uri.port!,
      servername: ok.msg.contacts[0]!.uri.host,
      ca: pki.microsoftRootsPem,
      cert: sbcCert,
    });
    apiPeer.send(inDialog('BYE', text, toHeader, target, 2));
    const byeOk = await apiPeer.response((m) => m.cseq.method === 'BYE', '200 to BYE');
    assert.equal(byeOk.msg.status, 200);
    await call.waitForState('terminated');
    assert.equal(call.requests.find((r) => r.method === 'BYE') !== undefined, true);
    assert.equal(sim.received.find((r) => r.msg.kind === 'request' && r.msg.method === 'BYE')?.listener, 'api');
    peer.close();
    apiPeer.close();
    sim.assertNoViolations();
  });

  test('unknown Contact FQDN → 403 (510532); unknown number → 404 (511404)', async () => {
    const otherCert = await pki.issueSbcCert({
      commonName: 'sbc.unknown.example.org',
      dnsNames: ['*.unknown.example.org'],
    });
    const peer = await sbc('sip', otherCert);
    peer.send(invite({ contactHost: 'sbc.unknown.example.org' }));
    const r403 = await peer.response((m) => m.status >= 200, 'final to INVITE');
    assert.equal(r403.msg.status, 403);
    assert.match(getHeader(r403.msg, 'Reason') ?? '', /510532/);
    assert.ok(sim.violations.find((v) => v.rule === 'H3.5'));
    sim.clearViolations();

    const peer2 = await sbc();
    peer2.send(invite({ number: '+15551239999' }));
    const r404 = await peer2.response((m) => m.status >= 200, 'final to INVITE');
    assert.equal(r404.msg.status, 404);
    assert.match(getHeader(r404.msg, 'Reason') ?? '', /511404/);
    // Routing is by Contact, not by number: a Fabrikam number with Contoso's Contact is unknown.
    peer2.send(invite({ number: '+15551230002' }));
    const again = await peer2.response((m) => m.status >= 200 && m.callId !== r404.msg.callId, 'final to INVITE');
    assert.equal(again.msg.status, 404);
    peer.close();
    peer2.close();
    sim.assertNoViolations();
  });

  test('INVITE without SDP → 488 and M5.5', async () => {
    const peer = await sbc();
    peer.send(invite({ sdp: false }));
    const r = await peer.response((m) => m.status >= 200, 'final');
    assert.equal(r.msg.status, 488);
    assert.ok(sim.violations.find((v) => v.rule === 'M5.5'));
    sim.clearViolations();
    peer.close();
  });

  test('scripts: several 180s with different To tags, 183+SDP, 200; 486; no answer + CANCEL → 200 + 487', async () => {
    sim.setScript(
      [
        { status: 180, toTag: 'endpointA' },
        { status: 180, toTag: 'endpointB' },
        { status: 183, sdp: true, toTag: 'endpointB' },
        { status: 200, sdp: true, toTag: 'endpointB' },
      ],
      { number: '+15551230003' },
    );
    sim.setScript([{ status: 486 }], { number: '+15551230004' });
    sim.setScript([{ status: 180 }], { tenant: 'fabrikam' });
    const peer = await sbc();
    const text = invite({ number: '+15551230003' });
    peer.send(text);
    const ok = await peer.response((m) => m.status === 200, '200');
    const provisionals = peer.received.items
      .filter((r) => r.msg.kind === 'response' && r.msg.callId === ok.msg.callId && r.msg.status < 200)
      .map((r) => `${r.msg.kind === 'response' ? r.msg.status : 0}/${r.msg.to.params.get('tag') ?? '-'}`);
    assert.deepEqual(provisionals, ['100/-', '180/endpointA', '180/endpointB', '183/endpointB']);
    assert.equal(ok.msg.to.params.get('tag'), 'endpointB');
    peer.send(inDialog('ACK', text, getHeader(ok.msg, 'To')!, ok.msg.contacts[0]!.uriText, 1));
    const call = await sim.waitForInboundCall((c) => c.callId === ok.msg.callId);
    await call.waitForState('confirmed');

    peer.send(invite({ number: '+15551230004' }));
    const busy = await peer.response((m) => m.status === 486, '486');
    assert.equal(busy.msg.status, 486);

    const peer2 = await sbc();
    const ring = invite({ number: '+15551230002', contactHost: FABRIKAM });
    peer2.send(ring);
    await peer2.response((m) => m.status === 180, '180');
    const ringing = await sim.waitForInboundCall((c) => c.number === '+15551230002');
    assert.equal(ringing.tenant?.name, 'fabrikam');
    peer2.send(cancelFor(ring));
    const c200 = await peer2.response((m) => m.cseq.method === 'CANCEL', '200 to CANCEL');
    assert.equal(c200.msg.status, 200);
    const r487 = await peer2.response((m) => m.status === 487, '487');
    assert.equal(r487.msg.cseq.method, 'INVITE');
    await ringing.waitForState('cancelled');
    sim.clearScripts();
    peer.close();
    peer2.close();
    sim.assertNoViolations();
  });

  test('re-INVITE from the SBC → 200 with SDP; sim BYE toward the SBC on the same connection', async () => {
    const peer = await sbc();
    const text = invite();
    peer.send(text);
    const ok = await peer.response((m) => m.status === 200, '200');
    const toHeader = getHeader(ok.msg, 'To')!;
    peer.send(inDialog('ACK', text, toHeader, ok.msg.contacts[0]!.uriText, 1));
    const call = await sim.waitForInboundCall((c) => c.callId === ok.msg.callId);
    await call.waitForState('confirmed');
    const reinvite = inDialog('BYE', text, toHeader, ok.msg.contacts[0]!.uriText, 2)
      .replace(/^BYE /, 'INVITE ')
      .replace('CSeq: 2 BYE', 'CSeq: 2 INVITE')
      .replace('Content-Length: 0\r\n\r\n', '');
    const sdp =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/SAVP 0\r\na=inactive\r\n';
    peer.send(
      `${reinvite}Contact: <sip:+442071234567@${CONTOSO}:5061;transport=tls>\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
    );
    const reOk = await peer.response((m) => m.cseq.seq === 2 && m.cseq.method === 'INVITE', '200 to re-INVITE');
    assert.equal(reOk.msg.status, 200);
    assert.match(reOk.msg.body.toString(), /^m=audio /m);
    peer.send(inDialog('ACK', text, toHeader, ok.msg.contacts[0]!.uriText, 2));
    await call.requests.waitFor((r) => r.method === 'ACK' && r.cseq.seq === 2, 'ACK for the re-INVITE 200');

    // Teams hangs up: BYE goes back on the INVITE's connection (SBC's Contact resolved is not needed here).
    const byeDone = call.bye();
    const bye = await peer.request('BYE');
    assert.equal(bye.msg.uriText, `sip:+442071234567@${CONTOSO}:5061;transport=tls`);
    const byeRes = buildRequest({
      method: 'BYE',
      uri: 'sip:x@y',
      vias: [getHeader(bye.msg, 'Via')!],
      from: getHeader(bye.msg, 'From')!,
      to: getHeader(bye.msg, 'To')!,
      callId: bye.msg.callId,
      cseq: bye.msg.cseq,
    });
    peer.send(
      serializeMessage(byeRes)
        .toString()
        .replace(/^BYE sip:x@y SIP\/2\.0/, 'SIP/2.0 200 OK')
        .replace(/\r\n\r\n$/, `\r\n${XMS}\r\n\r\n`)
        .replace('Max-Forwards: 70\r\n', ''),
    );
    const res = await byeDone;
    assert.equal(res.status, 200);
    peer.close();
    sim.assertNoViolations();
  });

  test('503 + Retry-After mode and silent mode', async () => {
    const sip2 = sim.proxy('sip2');
    sip2.mode = 'reject503';
    const peer = await sbc('sip2');
    peer.send(invite());
    const r = await peer.response((m) => m.status >= 200, 'final');
    assert.equal(r.msg.status, 503);
    assert.match(r.raw, /^RETRY-AFTER: 1\r$/m);
    assert.equal(peer.received.items.length, 1, 'no provisional before the 503');

    sip2.mode = 'silent';
    peer.send(invite());
    await sim.waitForInboundCall((c) => c.state === 'ignored');
    // Responses are ordered on the connection: the OPTIONS answer proves the INVITE got none.
    peer.send(options());
    await peer.response((m) => m.cseq.method === 'OPTIONS', '200 OPTIONS');
    assert.deepEqual(
      peer.received.items.map((x) => (x.msg.kind === 'response' ? `${x.msg.status} ${x.msg.cseq.method}` : '')),
      ['503 INVITE', '200 OPTIONS'],
    );
    sip2.mode = 'normal';
    peer.close();
    sim.assertNoViolations();
  });

  test('stop / start a proxy', async () => {
    const sip3 = sim.proxy('sip3');
    const peer = await sbc('sip3');
    await sip3.stop();
    await peer.closedPromise;
    await assert.rejects(sbc('sip3'), /ECONNREFUSED/);
    await sip3.start();
    const again = await sbc('sip3');
    again.send(options());
    assert.equal((await again.response(() => true, 'OPTIONS answer')).msg.status, 200);
    again.close();
  });

  test('TLS: a client without a certificate or with a serverAuth-only certificate is refused', async () => {
    const before = sim.connections.length;
    const noCert = await sbc('sip', null).catch((e: Error) => e);
    if (!(noCert instanceof Error)) {
      noCert.send(options());
      await noCert.closedPromise;
      assert.equal(noCert.received.length, 0);
    }
    await sim.connections.waitFor(
      (e) => e.type === 'refused' && /no client certificate/.test(e.reason ?? ''),
      'refusal',
      5_000,
      before,
    );
    const weak = await sbc('sip', serverAuthOnly).catch((e: Error) => e);
    if (!(weak instanceof Error)) {
      weak.send(options());
      await weak.closedPromise;
      assert.equal(weak.received.length, 0);
    }
    await sim.connections.waitFor(
      (e) => e.type === 'refused' && /EKU/.test(e.reason ?? ''),
      'EKU refusal',
      5_000,
      before,
    );
    assert.ok(sim.violations.find((v) => v.rule === 'T1.5' && /no client certificate/.test(v.message)));
    assert.ok(sim.violations.find((v) => v.rule === 'T1.5' && /EKU/.test(v.message)));
    sim.clearViolations();
  });

  test('TLS with policy "handshake": OpenSSL refuses the serverAuth-only client certificate', async () => {
    const strict = await TeamsSim.start({
      pki,
      clientCertPolicy: 'handshake',
      proxies: [{ name: 'sip', fqdn: 'sip.pstnhub.microsoft.com', host: '127.0.3.1' }],
      contactAddress: '127.0.3.10',
    });
    try {
      const t = strict.proxy('sip');
      const result = await connectAsSbc({
        host: t.host,
        port: t.port,
        servername: t.fqdn,
        ca: pki.microsoftRootsPem,
        cert: serverAuthOnly,
      })
        .then(async (p) => {
          p.send(options());
          await p.closedPromise;
          return p.received.length;
        })
        .catch((e: Error) => e);
      assert.ok(result instanceof Error || result === 0);
      await strict.violations.waitFor((v) => v.rule === 'T1.5', 'a T1.5 handshake violation');
    } finally {
      await strict.close();
    }
  });
});

describe('Teams → SBC', { timeout: 60_000 }, () => {
  let fake: FakeSbcServer;
  before(async () => {
    fake = new FakeSbcServer({ cert: sbcCert, ca: pki.microsoftRootsPem });
    await fake.listen('127.0.0.1');
    sim.sbc = { host: '127.0.0.1', port: fake.port };
  });
  after(async () => {
    await fake.close();
  });

  test('placeCall: SNI = tenant FQDN, Teams client certificate, source address, Teams-shaped INVITE; BYE from SBC', async () => {
    const call = await sim.placeCall({
      tenantFqdn: CONTOSO,
      from: '+12065550100',
      to: '+15551230000',
      localAddress: '127.0.2.5',
      recordRoute: true,
    });
    const peer = await fake.peers.waitFor(() => true, 'a TLS connection from Teams');
    const sock = peer.socket as typeof peer.socket & { servername?: string };
    assert.equal(sock.servername, CONTOSO);
    assert.equal(peer.socket.remoteAddress, '127.0.2.5');
    const client = peer.socket.getPeerX509Certificate();
    assert.match(client?.subjectAltName ?? '', /DNS:sip\.pstnhub\.microsoft\.com/);
    assert.equal(peer.socket.authorized, true);

    const inv = await peer.request('INVITE');
    assert.equal(inv.msg.uriText, `sip:+15551230000@${CONTOSO}:${fake.port};user=phone;transport=tls`);
    assert.match(
      getHeader(inv.msg, 'Contact')!,
      /^<sip:api-du-b-euwe\.pstnhub\.microsoft\.com:\d+;x-i=[0-9a-f-]+;x-c=\d+>$/,
    );
    assert.equal(getHeader(inv.msg, 'Session-Expires'), '1800;refresher=uac');
    assert.match(getHeader(inv.msg, 'Record-Route')!, /^<sip:sip\.pstnhub\.microsoft\.com:\d+;transport=tls;lr>$/);
    assert.match(inv.msg.body.toString(), /RTP\/SAVP/);

    const resp = (status: number, extra: string[] = []): string => {
      const lines = [
        `SIP/2.0 ${status} ${status === 200 ? 'OK' : status === 180 ? 'Ringing' : 'Other'}`,
        `Via: ${getHeader(inv.msg, 'Via')!}`,
        `Record-Route: ${getHeader(inv.msg, 'Record-Route')!}`,
        `From: ${getHeader(inv.msg, 'From')!}`,
        `To: ${getHeader(inv.msg, 'To')!};tag=sbc1`,
        `Call-ID: ${inv.msg.callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:${CONTOSO}:${fake.port};transport=tls>`,
        XMS,
        ...extra,
      ];
      return sipText(lines);
    };
    peer.send(resp(180));
    await call.waitFor(180);
    assert.equal(call.provisionals.length, 1);
    peer.send(resp(200));
    const ok = await call.final();
    assert.equal(ok.status, 200);
    const ack = await peer.request('ACK');
    assert.equal(ack.msg.uriText, `sip:${CONTOSO}:${fake.port};transport=tls`);
    assert.equal(ack.msg.routes.length, 0, "the sim's own Record-Route is not a route toward the SBC");

    // The SBC hangs up on the same connection.
    peer.send(
      sipText([
        `BYE sip:api-du-b-euwe.pstnhub.microsoft.com:${sim.api.port} SIP/2.0`,
        `Via: SIP/2.0/TLS ${CONTOSO}:${fake.port};branch=z9hG4bKsbcbye1`,
        'Max-Forwards: 70',
        `From: ${getHeader(inv.msg, 'To')!};tag=sbc1`,
        `To: ${getHeader(inv.msg, 'From')!}`,
        `Call-ID: ${inv.msg.callId}`,
        'CSeq: 5 BYE',
        XMS,
      ]),
    );
    const byeOk = await peer.response((m) => m.cseq.method === 'BYE', '200 to BYE');
    assert.equal(byeOk.msg.status, 200);
    await call.waitForState('terminated');
    sim.assertNoViolations();
  });

  test('in-dialog BYE from Teams on a new connection from another source address (T1.14); CANCEL', async () => {
    sim.sbcHosts[CONTOSO] = '127.0.0.1';
    const peersBefore0 = fake.peers.length;
    const call = await sim.placeCall({
      tenantFqdn: CONTOSO,
      from: '+12065550100',
      to: '+15551230000',
      uppercase: true,
    });
    // A new connection: the pool is keyed by address, SNI and source address (the first call used 127.0.2.5).
    const peer = await fake.peers.waitFor(() => true, 'a connection for call 2', 5_000, peersBefore0);
    const inv = await peer.received.waitFor((r) => r.msg.callId === call.callId, 'INVITE');
    assert.match(inv.raw, /^CALL-ID: /m, 'uppercase header names');
    const ok = sipText([
      'SIP/2.0 200 OK',
      `Via: ${getHeader(inv.msg, 'Via')!}`,
      `From: ${getHeader(inv.msg, 'From')!}`,
      `To: ${getHeader(inv.msg, 'To')!};tag=sbc2`,
      `Call-ID: ${call.callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:${CONTOSO}:${fake.port};transport=tls>`,
      XMS,
    ]);
    peer.send(ok);
    await call.final();
    await peer.request('ACK');
    const peersBefore = fake.peers.length;
    const byeDone = call.bye({ newConnection: true, localAddress: '127.0.2.9' });
    const newPeer = await fake.peers.waitFor(() => true, 'a new TLS connection', 5_000, peersBefore);
    assert.equal(newPeer.socket.remoteAddress, '127.0.2.9');
    assert.equal((newPeer.socket as typeof newPeer.socket & { servername?: string }).servername, CONTOSO);
    const bye = await newPeer.request('BYE');
    newPeer.send(
      sipText([
        'SIP/2.0 200 OK',
        `Via: ${getHeader(bye.msg, 'Via')!}`,
        `From: ${getHeader(bye.msg, 'From')!}`,
        `To: ${getHeader(bye.msg, 'To')!}`,
        `Call-ID: ${bye.msg.callId}`,
        `CSeq: ${bye.msg.cseq.seq} BYE`,
        XMS,
      ]),
    );
    assert.equal((await byeDone).status, 200);

    // CANCEL of an unanswered call: same branch, same connection.
    const peersBefore2 = fake.peers.length;
    const c2 = await sim.placeCall({ tenantFqdn: FABRIKAM, from: '+12065550100', to: '+15551230002' });
    const p2 = await fake.peers.waitFor(() => true, 'a connection with SNI sbc2', 5_000, peersBefore2);
    const inv2 = await p2.received.waitFor((r) => r.msg.callId === c2.callId, 'INVITE 2');
    const cancelDone = c2.cancel();
    const cancel = await p2.request('CANCEL');
    assert.equal(cancel.msg.vias[0]?.branch, inv2.msg.vias[0]?.branch);
    const answer = (status: number, method: string): string =>
      sipText([
        `SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Request Terminated'}`,
        `Via: ${getHeader(inv2.msg, 'Via')!}`,
        `From: ${getHeader(inv2.msg, 'From')!}`,
        `To: ${getHeader(inv2.msg, 'To')!};tag=sbc3`,
        `Call-ID: ${c2.callId}`,
        `CSeq: 1 ${method}`,
        XMS,
      ]);
    p2.send(answer(200, 'CANCEL'));
    assert.equal((await cancelDone).status, 200);
    p2.send(answer(487, 'INVITE'));
    assert.equal((await c2.final()).status, 487);
    const ack = await p2.request('ACK');
    assert.equal(ack.msg.vias[0]?.branch, inv2.msg.vias[0]?.branch, 'non-2xx ACK reuses the INVITE branch');
    sim.assertNoViolations();
  });

  test('sendOptions to the SBC, and T1.8 when the SBC certificate does not cover the dialled FQDN', async () => {
    const peersBefore = fake.peers.length;
    const done = sim.sendOptions(CARRIER, { newConnection: true });
    const peer = await fake.peers.waitFor(() => true, 'a new connection for OPTIONS', 5_000, peersBefore);
    const opt = await peer.request('OPTIONS');
    assert.equal(opt.msg.uriText, `sip:${CARRIER}:${fake.port};transport=tls`);
    peer.send(
      sipText([
        'SIP/2.0 200 OK',
        `Via: ${getHeader(opt.msg, 'Via')!}`,
        `From: ${getHeader(opt.msg, 'From')!}`,
        `To: ${getHeader(opt.msg, 'To')!};tag=o`,
        `Call-ID: ${opt.msg.callId}`,
        'CSeq: 1 OPTIONS',
        XMS,
      ]),
    );
    assert.equal((await done).status, 200);
    await assert.rejects(sim.sendOptions('sbc.wrong.example.org', { newConnection: true }), /failed/);
    assert.ok(sim.violations.find((v) => v.rule === 'T1.8'));
    sim.clearViolations();
  });
});
