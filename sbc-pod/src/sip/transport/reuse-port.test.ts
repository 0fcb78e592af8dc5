// SWITCHBOARD_SIP_REUSE_PORT: several transport layers (processes, in production) share one listen address through
// SO_REUSEPORT; the kernel spreads UDP flows and accepted connections over them and moves the flows of a closed one to
// the rest. A shared UDP listener's requests leave from a private reply socket named in their Via, so their responses
// come back to the layer that sent them.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { createTeamsPki, type IssuedCertificate } from '../../../../e2e/src/harness/pki.ts';
import { collector, sipRequest, WAIT_MS } from './testkit.ts';
import { TransportLayer, type TransportLayerOptions, withViaPort } from './transport-layer.ts';
import type { InboundMessage } from './types.ts';

const layers: TransportLayer[] = [];
function layer(options: TransportLayerOptions = {}): TransportLayer {
  const l = new TransportLayer(options);
  layers.push(l);
  return l;
}
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.close()));
});

function udpRequest(method = 'OPTIONS', port = 5060): Buffer {
  return Buffer.from(
    sipRequest(method).toString('latin1').replace('SIP/2.0/TCP 127.0.0.1:5060', `SIP/2.0/UDP 127.0.0.1:${port}`),
    'latin1',
  );
}

/** A free port for both UDP and TCP on 127.0.0.1 (held by nobody when it returns). */
async function freePort(): Promise<number> {
  for (;;) {
    const server = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
    await new Promise<void>((r) => server.close(() => r()));
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => (ok ? udp.close(() => r()) : r()));
    if (ok) return port;
  }
}

/** Send one datagram from each of `n` fresh client sockets (n flows) and close them. */
async function flows(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r, j) => s.send(udpRequest(), port, '127.0.0.1', (err) => (err ? j(err) : r())));
    s.close();
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('withViaPort', () => {
  test('rewrites the port of the top UDP Via only', () => {
    const req = Buffer.from(
      'INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n' +
        'Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK2\r\nContact: <sip:a@10.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n',
    );
    const out = withViaPort(req, 5060, 40000).toString();
    assert.match(out, /\r\nVia: SIP\/2\.0\/UDP 10\.0\.0\.1:40000;branch=z9hG4bK1;rport\r\n/);
    assert.match(out, /Via: SIP\/2\.0\/UDP 10\.0\.0\.9:5060;branch=z9hG4bK2/, 'the second Via is not touched');
    assert.match(out, /Contact: <sip:a@10\.0\.0\.1:5060>/, 'the Contact keeps the shared port');
  });

  test('adds the port when the Via has none; IPv6 and compact form', () => {
    const v6 = Buffer.from('BYE sip:b@x SIP/2.0\r\nv: SIP/2.0/UDP [::1];branch=z9hG4bK1\r\n\r\n');
    assert.match(withViaPort(v6, 5060, 40000).toString(), /v: SIP\/2\.0\/UDP \[::1\]:40000;branch/);
  });

  test('leaves other transports, other ports and responses alone', () => {
    const tcp = Buffer.from('BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n\r\n');
    assert.equal(withViaPort(tcp, 5060, 40000), tcp);
    const other = Buffer.from('BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1\r\n\r\n');
    assert.equal(withViaPort(other, 5060, 40000), other);
  });
});

describe('SO_REUSEPORT', () => {
  let cert: IssuedCertificate;
  before(async () => {
    const pki = await createTeamsPki();
    cert = await pki.issueSbcCert({ commonName: 'sbc.example.test', dnsNames: ['sbc.example.test'] });
  });

  test('two layers bind the same UDP, TCP and TLS address; without reusePort the address is taken', async () => {
    const udpPort = await freePort();
    const tlsPort = await freePort();
    const tlsOpts = { certificates: [{ certPem: cert.chainPem, keyPem: cert.keyPem, default: true }] };
    const specs = [`udp:127.0.0.1:${udpPort}`, `tcp:127.0.0.1:${udpPort}`, `tls:127.0.0.1:${tlsPort}`];
    const a = layer({ reusePort: true, tls: tlsOpts });
    const b = layer({ reusePort: true, tls: tlsOpts });
    const la = await a.start(specs);
    const lb = await b.start(specs);
    for (const ls of [la, lb]) {
      assert.deepEqual(
        ls.map((l) => [l.transport, l.port, l.reusePort]),
        [
          ['UDP', udpPort, true],
          ['TCP', udpPort, true],
          ['TLS', tlsPort, true],
        ],
      );
      assert.ok(ls[0]!.replyPort! > 0 && ls[0]!.replyPort !== udpPort, 'a private reply port per layer');
    }
    assert.notEqual(la[0]!.replyPort, lb[0]!.replyPort);
    for (const spec of specs) {
      await assert.rejects(layer({ tls: tlsOpts }).listen(spec), /EADDRINUSE/, `${spec} without reusePort`);
    }
    // A TLS handshake on the shared address is answered (by one of them).
    const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'sbc.example.test', ca: cert.rootPem });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    socket.destroy();
  });

  test('the kernel spreads UDP flows over the sharers and moves them to the survivor when one closes', async () => {
    const port = await freePort();
    const a = layer({ reusePort: true });
    const b = layer({ reusePort: true });
    await a.start([`udp:127.0.0.1:${port}`]);
    await b.start([`udp:127.0.0.1:${port}`]);
    let atA = 0;
    let atB = 0;
    a.on('message', () => atA++);
    b.on('message', () => atB++);
    await flows(port, 40);
    await until(() => atA + atB === 40, '40 datagrams');
    assert.ok(atA > 0 && atB > 0, `both sharers got flows (A ${atA}, B ${atB})`);
    await a.close();
    atB = 0;
    await flows(port, 20);
    await until(() => atB === 20, 'every flow at B once A is gone');
  });

  test('the kernel spreads accepted TCP connections over the sharers', async () => {
    const port = await freePort();
    const a = layer({ reusePort: true });
    const b = layer({ reusePort: true });
    await a.start([`tcp:127.0.0.1:${port}`]);
    await b.start([`tcp:127.0.0.1:${port}`]);
    let atA = 0;
    let atB = 0;
    a.on('message', () => atA++);
    b.on('message', () => atB++);
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 30; i++) {
      const s = net.connect(port, '127.0.0.1');
      sockets.push(s);
      s.write(sipRequest());
    }
    await until(() => atA + atB === 30, '30 requests over TCP');
    for (const s of sockets) s.destroy();
    assert.ok(atA > 0 && atB > 0, `both sharers accepted connections (A ${atA}, B ${atB})`);
  });

  test('a shared UDP listener sends requests from its reply port (in the Via): the answer comes back to it', async (t) => {
    const port = await freePort();
    const a = layer({ reusePort: true });
    const b = layer({ reusePort: true });
    await a.start([`udp:127.0.0.1:${port}`]);
    const [lb] = await b.start([`udp:127.0.0.1:${port}`]);
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    t.after(() => peer.close());
    const got = new Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo }>((r) =>
      peer.once('message', (msg, rinfo) => r({ msg, rinfo })),
    );
    const sent = await b.send(
      { transport: 'UDP', address: '127.0.0.1', port: peer.address().port },
      udpRequest('INVITE', port),
    );
    assert.equal(sent.local.port, lb!.replyPort);
    const { msg, rinfo } = await got;
    assert.equal(rinfo.port, lb!.replyPort, 'the request left from the reply socket');
    const via = /\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:(\d+);/.exec(msg.toString())?.[1];
    assert.equal(Number(via), lb!.replyPort, 'its Via names the reply port');
    // The peer answers to the Via port; every answer reaches B (none is hashed to A).
    const atA = collector<InboundMessage>(a, 'message');
    const atB = collector<InboundMessage>(b, 'message');
    const response = Buffer.from(msg.toString().replace(/^INVITE [^\r]*/, 'SIP/2.0 200 OK'));
    for (let i = 0; i < 10; i++) peer.send(response, Number(via), '127.0.0.1');
    await atB.waitFor(10);
    assert.equal(atA.items.length, 0);
    // Responses B sends go from the shared port, as the peer expects.
    await b.send({ transport: 'UDP', address: '127.0.0.1', port: peer.address().port }, response);
    const r2 = await new Promise<dgram.RemoteInfo>((r) => peer.once('message', (_m, ri) => r(ri)));
    assert.equal(r2.port, port);
  });
});
