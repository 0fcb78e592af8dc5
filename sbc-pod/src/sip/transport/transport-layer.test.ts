import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { collector, rawTcpClient, sipRequest, sipResponse, unusedTcpPort, waitForEvent } from './testkit.ts';
import { TransportLayer, type TransportLayerOptions } from './transport-layer.ts';
import type { CloseReason, ConnectionInfo, InboundMessage, RejectedConnection } from './types.ts';
import { TransportError } from './types.ts';

const layers: TransportLayer[] = [];
function layer(options: TransportLayerOptions = {}): TransportLayer {
  const l = new TransportLayer(options);
  layers.push(l);
  return l;
}
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.close()));
});

async function assertRejects(p: Promise<unknown>, code: string): Promise<TransportError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TransportError, `expected TransportError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}

describe('UDP', () => {
  for (const [family, host] of [
    ['IPv4', '127.0.0.1'],
    ['IPv6', '::1'],
  ] as const) {
    test(`send and receive over ${family}`, async () => {
      const a = layer();
      const b = layer();
      const [la] = await a.start([`udp:${family === 'IPv6' ? `[${host}]` : host}:0`]);
      const [lb] = await b.start([`udp:${family === 'IPv6' ? `[${host}]` : host}:0`]);
      const atB = collector<InboundMessage>(b, 'message');
      const req = sipRequest();
      const sent = await a.send({ transport: 'UDP', address: host, port: lb!.port }, req);
      assert.deepEqual(sent, { transport: 'UDP', local: { address: host, port: la!.port }, opened: false });
      const [m] = await atB.waitFor(1);
      assert.ok(m!.data.equals(req));
      assert.deepEqual(m!.source, { transport: 'UDP', address: host, port: la!.port, family });
      assert.deepEqual(m!.local, { address: host, port: lb!.port });
      assert.equal(m!.connectionId, undefined);
      // Reply to the source: it arrives from B's listening port.
      const atA = collector<InboundMessage>(a, 'message');
      await b.send({ transport: 'UDP', address: m!.source.address, port: m!.source.port }, sipResponse());
      const [r] = await atA.waitFor(1);
      assert.equal(r!.source.port, lb!.port);
      assert.match(r!.data.toString(), /^SIP\/2\.0 200 OK/);
    });
  }

  test('no listener of the target family is reported as NO_TRANSPORT', async () => {
    const a = layer();
    await a.start(['udp:127.0.0.1:0']);
    await assertRejects(a.send({ transport: 'UDP', address: '::1', port: 5060 }, sipRequest()), 'NO_TRANSPORT');
  });

  test('a large request switches to TCP to the same address and port when allowed', async () => {
    const b = layer();
    // UDP and TCP on the same port number (retry if the TCP port happens to be taken).
    let port = 0;
    for (let attempt = 0; attempt < 10 && port === 0; attempt++) {
      const [u] = await b.start(['udp:127.0.0.1:0']);
      try {
        await b.listen(`tcp:127.0.0.1:${u!.port}`);
        port = u!.port;
      } catch {
        // try another port
      }
    }
    assert.ok(port > 0);
    const a = layer();
    await a.start(['udp:127.0.0.1:0']);
    const atB = collector<InboundMessage>(b, 'message');
    const big = sipRequest('MESSAGE', 'x'.repeat(2000));
    const rewrites: string[] = [];
    const sent = await a.send({ transport: 'UDP', address: '127.0.0.1', port }, big, {
      allowTransportSwitch: true,
      rewriteForTransport: (t, data) => {
        rewrites.push(t);
        return Buffer.from(data.toString().replace('SIP/2.0/TCP', 'SIP/2.0/TCP'));
      },
    });
    assert.equal(sent.transport, 'TCP');
    assert.ok(sent.connectionId);
    assert.deepEqual(rewrites, ['TCP']);
    const [m] = await atB.waitFor(1);
    assert.equal(m!.source.transport, 'TCP');
    assert.ok(m!.data.equals(big));
    assert.equal(a.stats.transportSwitches, 1);
    // Small requests, large responses, and large requests without permission stay on UDP.
    assert.equal((await a.send({ transport: 'UDP', address: '127.0.0.1', port }, sipRequest())).transport, 'UDP');
    const bigResponse = Buffer.concat([sipResponse(), Buffer.alloc(1500, 0x20)]);
    const r = await a.send({ transport: 'UDP', address: '127.0.0.1', port }, bigResponse, {
      allowTransportSwitch: true,
    });
    assert.equal(r.transport, 'UDP');
    assert.equal((await a.send({ transport: 'UDP', address: '127.0.0.1', port }, big)).transport, 'UDP');
    await atB.waitFor(4);
    assert.deepEqual(
      atB.items.map((x) => x.source.transport),
      ['TCP', 'UDP', 'UDP', 'UDP'],
    );
  });
});

describe('TCP', () => {
  test('framing: two messages in one segment, byte-by-byte, IPv4 and IPv6', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const b = layer();
      const [lb] = await b.start([host.includes(':') ? `tcp:[${host}]:0` : `tcp:${host}:0`]);
      const atB = collector<InboundMessage>(b, 'message');
      const client = await rawTcpClient(lb!.port, host);
      const m1 = sipRequest('OPTIONS');
      const m2 = sipRequest('MESSAGE', 'hello');
      client.socket.write(Buffer.concat([m1, m2]));
      await atB.waitFor(2);
      const m3 = sipRequest('INFO', 'byte by byte body');
      for (let i = 0; i < m3.length; i++) client.socket.write(m3.subarray(i, i + 1));
      const all = await atB.waitFor(3);
      assert.ok(all[0]!.data.equals(m1));
      assert.ok(all[1]!.data.equals(m2));
      assert.ok(all[2]!.data.equals(m3));
      assert.equal(all[0]!.source.family, host.includes(':') ? 'IPv6' : 'IPv4');
      assert.equal(all[0]!.source.address, host);
      assert.equal(all[0]!.source.transport, 'TCP');
      assert.ok(all[0]!.connectionId);
      assert.equal(new Set(all.map((m) => m.connectionId)).size, 1);
      client.socket.destroy();
    }
  });

  test('CRLF ping gets a CRLF pong; a lone CRLF is ignored', async () => {
    const b = layer();
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    const client = await rawTcpClient(lb!.port);
    const keepalives = collector<{ connectionId: string; kind: string }>(b, 'keepalive');
    client.socket.write('\r\n\r\n');
    await client.waitForData((d) => d.toString() === '\r\n');
    const atB = collector<InboundMessage>(b, 'message');
    client.socket.write(Buffer.concat([Buffer.from('\r\n'), sipRequest()]));
    await atB.waitFor(1);
    await keepalives.waitFor(2);
    assert.deepEqual(
      keepalives.items.map((k) => k.kind),
      ['ping', 'crlf'],
    );
    assert.equal(client.received().toString(), '\r\n', 'only one pong');
    assert.equal(b.stats.keepalivePings, 1);
  });

  test('missing Content-Length: the caller may answer 400, then the connection is closed', async () => {
    const b = layer({
      onFramingError: (info) =>
        info.headers
          ? Buffer.from(`SIP/2.0 400 Missing Content-Length (${info.code})\r\nContent-Length: 0\r\n\r\n`)
          : undefined,
    });
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    const client = await rawTcpClient(lb!.port);
    const closing = waitForEvent<[ConnectionInfo, CloseReason]>(b, 'connectionClose');
    client.socket.write('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n');
    await client.closed;
    assert.match(client.received().toString(), /^SIP\/2\.0 400 Missing Content-Length \(MISSING_CONTENT_LENGTH\)/);
    const [, reason] = await closing;
    assert.equal(reason, 'framing');
    assert.equal(b.stats.framingErrors, 1);
  });

  test('oversize message and oversize header section close the connection', async () => {
    const b = layer({ limits: { maxMessageBytes: 2048, maxHeaderBytes: 1024 } });
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    const errors = collector<{ code: string }>(b, 'framingError');
    const c1 = await rawTcpClient(lb!.port);
    c1.socket.write('MESSAGE sip:x SIP/2.0\r\nContent-Length: 100000\r\n\r\nabc');
    await c1.closed;
    const c2 = await rawTcpClient(lb!.port);
    c2.socket.write(`MESSAGE sip:x SIP/2.0\r\nX-Pad: ${'p'.repeat(1500)}\r\n`);
    await c2.closed;
    await errors.waitFor(2);
    assert.deepEqual(
      errors.items.map((e) => e.code),
      ['MESSAGE_TOO_LARGE', 'HEADER_TOO_LARGE'],
    );
  });

  test('connection reuse: the second send uses the same connection; replies go back on it', async () => {
    const a = layer();
    const b = layer();
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    const atB = collector<InboundMessage>(b, 'message');
    const target = { transport: 'TCP', address: '127.0.0.1', port: lb!.port } as const;
    const [s1, s2] = await Promise.all([a.send(target, sipRequest()), a.send(target, sipRequest())]);
    const s3 = await a.send(target, sipRequest());
    assert.equal(s1.connectionId, s2.connectionId);
    assert.equal(s1.connectionId, s3.connectionId);
    assert.equal([s1, s2, s3].filter((s) => s.opened).length, 1);
    await atB.waitFor(3);
    assert.equal(b.stats.connectionsAccepted, 1);
    assert.equal(new Set(atB.items.map((m) => m.connectionId)).size, 1);
    // B answers toward the message source (ephemeral port): it reuses the inbound connection.
    const atA = collector<InboundMessage>(a, 'message');
    const m = atB.items[0]!;
    const r1 = await b.send({ transport: 'TCP', address: m.source.address, port: m.source.port }, sipResponse());
    const r2 = await b.send(
      { transport: 'TCP', address: '0.0.0.0', port: 1, connectionId: m.connectionId },
      sipResponse(),
    );
    assert.equal(r1.connectionId, m.connectionId);
    assert.equal(r2.connectionId, m.connectionId);
    await atA.waitFor(2);
    assert.equal(atA.items[0]!.connectionId, s1.connectionId);
    assert.equal(b.stats.connectionsOpened, 0);
    assert.equal(a.stats.connectionsAccepted, 0);
  });

  test('alias reuse (RFC 5923): a peer connection is reused toward its advertised address', async () => {
    const a = layer();
    const b = layer();
    const [la] = await a.start(['tcp:127.0.0.1:0']);
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    const atB = collector<InboundMessage>(b, 'message');
    const sent = await a.send({ transport: 'TCP', address: '127.0.0.1', port: lb!.port }, sipRequest());
    const [m] = await atB.waitFor(1);
    assert.notEqual(m!.source.port, la!.port, 'the connection comes from an ephemeral port');
    // The Via said "127.0.0.1:<la.port>;alias": B records the alias and reuses the connection for its own requests.
    assert.equal(b.addAlias(m!.connectionId!, '127.0.0.1', la!.port), true);
    assert.deepEqual(b.getConnection(m!.connectionId!)?.aliases, [`127.0.0.1:${la!.port}`]);
    const atA = collector<InboundMessage>(a, 'message');
    const r = await b.send({ transport: 'TCP', address: '127.0.0.1', port: la!.port }, sipRequest('BYE'));
    assert.equal(r.connectionId, m!.connectionId);
    assert.equal(r.opened, false);
    const [back] = await atA.waitFor(1);
    assert.equal(back!.connectionId, sent.connectionId);
    assert.equal(a.stats.connectionsAccepted, 0);
    // Without an alias a new connection would be opened: a third layer shows it.
    const c = layer();
    const [lc] = await c.start(['tcp:127.0.0.1:0']);
    const atC = collector<InboundMessage>(c, 'message');
    await a.send({ transport: 'TCP', address: '127.0.0.1', port: lc!.port }, sipRequest());
    const [mc] = await atC.waitFor(1);
    const r2 = await c.send({ transport: 'TCP', address: '127.0.0.1', port: la!.port }, sipRequest());
    assert.notEqual(r2.connectionId, mc!.connectionId);
    assert.equal(r2.opened, true);
    assert.equal(b.addAlias('nope', '127.0.0.1', 1), false);
  });

  test('per-peer and global connection limits close excess connections immediately', async () => {
    const b = layer({ limits: { maxConnectionsPerPeer: 2, maxConnections: 3 } });
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    const rejected = collector<RejectedConnection>(b, 'connectionRejected');
    const opened = collector<ConnectionInfo>(b, 'connectionOpen');
    const c1 = await rawTcpClient(lb!.port, '127.0.0.1', '127.0.0.1');
    const c2 = await rawTcpClient(lb!.port, '127.0.0.1', '127.0.0.1');
    await opened.waitFor(2);
    const c3 = await rawTcpClient(lb!.port, '127.0.0.1', '127.0.0.1');
    await c3.closed;
    await rejected.waitFor(1);
    assert.equal(rejected.items[0]!.reason, 'peer-limit');
    // Another source address still gets in, up to the global limit.
    const d1 = await rawTcpClient(lb!.port, '127.0.0.1', '127.0.0.2');
    await opened.waitFor(3);
    const d2 = await rawTcpClient(lb!.port, '127.0.0.1', '127.0.0.3');
    await d2.closed;
    await rejected.waitFor(2);
    assert.equal(rejected.items[1]!.reason, 'global-limit');
    assert.equal(b.stats.connectionsRejected['peer-limit'], 1);
    assert.equal(b.stats.connectionsRejected['global-limit'], 1);
    // Closing one frees a slot for that peer.
    const closed = waitForEvent(b, 'connectionClose');
    c1.socket.destroy();
    await closed;
    const c4 = await rawTcpClient(lb!.port, '127.0.0.1', '127.0.0.1');
    await opened.waitFor(4);
    const atB = collector<InboundMessage>(b, 'message');
    c4.socket.write(sipRequest());
    await atB.waitFor(1);
    for (const c of [c2, d1, c4]) c.socket.destroy();
  });

  test('idle connections are closed after the idle timeout', async () => {
    const b = layer({ limits: { idleTimeoutMs: 150 } });
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    const client = await rawTcpClient(lb!.port);
    const atB = collector<InboundMessage>(b, 'message');
    client.socket.write(sipRequest());
    await atB.waitFor(1);
    const [info, reason] = await waitForEvent<[ConnectionInfo, CloseReason]>(b, 'connectionClose');
    assert.equal(reason, 'idle');
    assert.equal(info.messagesIn, 1);
    await client.closed;
    assert.equal(b.stats.connectionsClosed.idle, 1);
  });

  test('connect refused is a rejected send with code ECONNREFUSED; closed connection ids', async () => {
    const a = layer();
    const port = await unusedTcpPort();
    const err = await assertRejects(
      a.send({ transport: 'TCP', address: '127.0.0.1', port }, sipRequest()),
      'ECONNREFUSED',
    );
    assert.equal(err.target?.port, port);
    await assertRejects(a.send({ transport: 'TLS', address: '127.0.0.1', port }, sipRequest()), 'ECONNREFUSED');
    await assertRejects(
      a.send({ transport: 'TCP', address: '127.0.0.1', port, connectionId: 'gone' }, sipRequest(), {
        connectionOnly: true,
      }),
      'CLOSED',
    );
    await assertRejects(a.send({ transport: 'TCP', address: 'example.test', port }, sipRequest()), 'INVALID_TARGET');
  });

  test('close() stops listeners and destroys connections; later sends fail with CLOSED', async () => {
    const a = layer();
    const b = layer();
    const [lb] = await b.start(['tcp:127.0.0.1:0', 'udp:127.0.0.1:0']);
    await a.send({ transport: 'TCP', address: '127.0.0.1', port: lb!.port }, sipRequest());
    const aClosed = waitForEvent<[ConnectionInfo, CloseReason]>(a, 'connectionClose');
    await b.close();
    const [, reason] = await aClosed;
    assert.ok(reason === 'peer-closed' || reason === 'error', reason);
    await assertRejects(b.send({ transport: 'UDP', address: '127.0.0.1', port: 9 }, sipRequest()), 'CLOSED');
    await assertRejects(
      a.send({ transport: 'TCP', address: '127.0.0.1', port: lb!.port }, sipRequest()),
      'ECONNREFUSED',
    );
  });

  test('a throwing message handler does not break the connection', async () => {
    const b = layer();
    const [lb] = await b.start(['tcp:127.0.0.1:0']);
    let calls = 0;
    b.on('message', () => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
    });
    const errors = collector<unknown>(b, 'handlerError');
    const client = await rawTcpClient(lb!.port);
    client.socket.write(Buffer.concat([sipRequest(), sipRequest()]));
    await errors.waitFor(1);
    const atB = collector<InboundMessage>(b, 'message');
    client.socket.write(sipRequest());
    await atB.waitFor(1);
    assert.equal(b.stats.handlerErrors, 1);
    client.socket.destroy();
  });
});
