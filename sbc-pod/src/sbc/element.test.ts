// The listening SIP element over real sockets: OPTIONS over UDP/TCP (sipp) and TLS (node:tls), policy answers,
// malformed input answered with 400 or dropped, Via received/rport stamping, IPv6.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { connect } from 'node:tls';
import { createCa, issueLeaf } from '../../../e2e/src/harness/pki.ts';
import { runSipp } from '../../../e2e/src/harness/sipp.ts';
import { loadSettings } from '../config/settings.ts';
import { createLogger } from '../log.ts';
import { parseMessage, type SipResponse } from '../sip/message/index.ts';
import { type SbcElement, startSbc } from './app.ts';

const scenario = new URL('../../../e2e/scenarios/options-uac.xml', import.meta.url).pathname;
let element: SbcElement;
let caPem: string;
const ports: Record<string, number> = {};
let client: Socket;
let client6: Socket;

before(async () => {
  const ca = await createCa('Element Test Root');
  const leaf = await issueLeaf(ca, { commonName: 'sbc.example.net', dnsNames: ['sbc.example.net'] });
  caPem = ca.certPem;
  const settings = loadSettings({
    SWITCHBOARD_SIP_LISTEN: 'udp:127.0.0.1:0,tcp:127.0.0.1:0,tls:127.0.0.1:0,udp:[::1]:0',
    SWITCHBOARD_ADMIN_LISTEN: '127.0.0.1:0',
  });
  element = await startSbc({
    settings,
    logger: createLogger('silent'),
    certificates: [{ certPem: leaf.chainPem, keyPem: leaf.keyPem, default: true }],
  });
  element.setReady(true);
  for (const l of element.stack.listeners()) ports[`${l.transport}-${l.family}`] = l.port;
  client = createSocket('udp4');
  client6 = createSocket('udp6');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => client6.bind(0, '::1', r));
});

after(async () => {
  client?.close();
  client6?.close();
  await element?.close();
});

function request(method: string, opts: { via?: string; cseq?: string; extra?: string } = {}): string {
  return (
    `${method} sip:ping@sbc.example.net SIP/2.0\r\n` +
    `Via: ${opts.via ?? 'SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-' + Math.random().toString(36).slice(2)}\r\n` +
    'Max-Forwards: 70\r\n' +
    'From: <sip:tester@example.org>;tag=t1\r\n' +
    'To: <sip:ping@sbc.example.net>\r\n' +
    `Call-ID: ${Math.random().toString(36).slice(2)}@test\r\n` +
    `CSeq: ${opts.cseq ?? `1 ${method}`}\r\n` +
    (opts.extra ?? '') +
    'Content-Length: 0\r\n\r\n'
  );
}

/** Send over UDP and wait for the next datagram back (bounded). */
async function udpRaw(sock: Socket, port: number, host: string, text: string): Promise<string> {
  const reply = once(sock, 'message', { signal: AbortSignal.timeout(5000) }) as Promise<[Buffer]>;
  sock.send(text, port, host);
  const [buf] = await reply;
  return buf.toString('latin1');
}

async function udpExchange(sock: Socket, port: number, host: string, text: string): Promise<SipResponse> {
  const msg = parseMessage(Buffer.from(await udpRaw(sock, port, host, text), 'latin1'));
  assert.equal(msg.kind, 'response');
  return msg as SipResponse;
}

const header = (res: SipResponse, name: string) =>
  res.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

test('sipp OPTIONS over UDP and TCP are all answered 200', async () => {
  const udp = await runSipp({
    scenario,
    target: `127.0.0.1:${ports['UDP-IPv4']}`,
    calls: 50,
    rate: 200,
    timeoutMs: 30_000,
  });
  assert.equal(udp.stats.successful, 50, udp.stderr);
  const tcp = await runSipp({
    scenario,
    target: `127.0.0.1:${ports['TCP-IPv4']}`,
    transport: 't1',
    calls: 50,
    rate: 200,
    timeoutMs: 30_000,
  });
  assert.equal(tcp.stats.successful, 50, tcp.stderr);
  assert.equal(tcp.stats.failed, 0);
});

test('OPTIONS answer carries Allow, Accept and Supported', async () => {
  const res = await udpExchange(client, ports['UDP-IPv4']!, '127.0.0.1', request('OPTIONS'));
  assert.equal(res.status, 200);
  assert.match(header(res, 'Allow') ?? '', /INVITE.*OPTIONS.*REFER.*NOTIFY/);
  assert.equal(header(res, 'Accept'), 'application/sdp');
  assert.match(header(res, 'Supported') ?? '', /timer/);
  assert.ok(res.to.params.get('tag'), 'a final response carries a To tag');
});

test('OPTIONS over TLS on IPv4 and over UDP on IPv6', async () => {
  const sock = connect({ host: '127.0.0.1', port: ports['TLS-IPv4']!, ca: caPem, servername: 'sbc.example.net' });
  await once(sock, 'secureConnect');
  sock.write(request('OPTIONS', { via: 'SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-tls1' }));
  let data = Buffer.alloc(0);
  while (!data.includes('\r\n\r\n')) {
    const [chunk] = (await once(sock, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    data = Buffer.concat([data, chunk]);
  }
  sock.destroy();
  const res = parseMessage(data) as SipResponse;
  assert.equal(res.status, 200);
  const v6 = await udpExchange(
    client6,
    ports['UDP-IPv6']!,
    '::1',
    request('OPTIONS', { via: 'SIP/2.0/UDP [::1]:5999;rport;branch=z9hG4bK-v6' }),
  );
  assert.equal(v6.status, 200);
});

test('unknown method gets 501, a refused one 405, an out-of-dialog BYE 481', async () => {
  assert.equal((await udpExchange(client, ports['UDP-IPv4']!, '127.0.0.1', request('FOOBAR'))).status, 501);
  assert.equal((await udpExchange(client, ports['UDP-IPv4']!, '127.0.0.1', request('REGISTER'))).status, 405);
  assert.equal((await udpExchange(client, ports['UDP-IPv4']!, '127.0.0.1', request('BYE'))).status, 481);
});

test('a malformed request gets 400 naming the problem; a malformed response is dropped', async () => {
  // The 400 copies the request's (bad) CSeq line, so read its status line rather than parse it.
  const bad = await udpRaw(client, ports['UDP-IPv4']!, '127.0.0.1', request('OPTIONS', { cseq: 'abc OPTIONS' }));
  const statusLine = bad.slice(0, bad.indexOf('\r\n'));
  assert.match(statusLine, /^SIP\/2\.0 400 .*CSeq/i);
  const before = element.stack.counters.malformedResponses;
  // A response with no CSeq: must be dropped silently. The OPTIONS sent right after proves nothing came back for it.
  client.send(
    'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x\r\nContent-Length: 0\r\n\r\n',
    ports['UDP-IPv4']!,
    '127.0.0.1',
  );
  const next = await udpExchange(client, ports['UDP-IPv4']!, '127.0.0.1', request('OPTIONS'));
  assert.equal(next.status, 200);
  assert.equal(next.cseq.method, 'OPTIONS');
  assert.equal(element.stack.counters.malformedResponses, before + 1);
});

test('top Via gets received and rport so the answer retraces the path (RFC 3581)', async () => {
  const local = client.address().port;
  const res = await udpExchange(
    client,
    ports['UDP-IPv4']!,
    '127.0.0.1',
    request('OPTIONS', { via: 'SIP/2.0/UDP 192.0.2.55:5060;rport;branch=z9hG4bK-nat1' }),
  );
  assert.equal(res.status, 200);
  assert.equal(res.vias[0]?.received, '127.0.0.1');
  assert.equal(res.vias[0]?.rport, local);
});

test('readiness and counters are visible on the admin API', async () => {
  const base = `http://127.0.0.1:${element.admin.address.port}`;
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const status = (await (await fetch(`${base}/status`)).json()) as { sip: { optionsAnswered: number } };
  assert.ok(status.sip.optionsAnswered >= 100);
  element.setReady(false, 'draining');
  const nr = await fetch(`${base}/readyz`);
  assert.equal(nr.status, 503);
  element.setReady(true);
});
