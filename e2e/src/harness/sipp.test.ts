// Proves the sipp harness against a tiny UDP SIP responder written here (plain strings, no SIP library),
// so a broken statistics reader or argument list shows up as wrong call counts.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, test } from 'node:test';
import { runSipp } from './sipp.ts';

const sockets: Socket[] = [];
after(() => {
  for (const s of sockets) s.close();
});

/** Answers INVITE with `inviteStatus`, BYE with 200, ignores ACK. Returns its port. */
async function tinyResponder(inviteStatus: number, seen: string[]): Promise<number> {
  const sock = createSocket('udp4');
  sockets.push(sock);
  sock.on('message', (buf, rinfo) => {
    const text = buf.toString('latin1');
    const method = text.slice(0, text.indexOf(' '));
    seen.push(method);
    if (method === 'ACK') return;
    const head = text.slice(0, text.indexOf('\r\n\r\n'));
    const lines = head.split('\r\n');
    const keep = lines.filter((l) => /^(via|from|to|call-id|cseq)\s*:/i.test(l));
    const status = method === 'INVITE' ? inviteStatus : 200;
    const reason = status === 200 ? 'OK' : 'Busy Here';
    const withTag = keep.map((l) => (/^to\s*:/i.test(l) && !/;tag=/i.test(l) ? `${l};tag=tiny` : l));
    const response = [
      `SIP/2.0 ${status} ${reason}`,
      ...withTag,
      `Contact: <sip:tiny@127.0.0.1:${(sock.address() as { port: number }).port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    sock.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return sock.address().port;
}

test('sipp statistics count calls answered by a real SIP responder', async () => {
  const seen: string[] = [];
  const port = await tinyResponder(200, seen);
  const result = await runSipp({ scenario: 'uac', target: `127.0.0.1:${port}`, calls: 5, rate: 50, timeoutMs: 30_000 });
  assert.equal(result.stats.successful, 5, result.stderr);
  assert.equal(result.stats.failed, 0);
  assert.equal(result.stats.created, 5);
  assert.equal(result.exitCode, 0);
  assert.equal(seen.filter((m) => m === 'INVITE').length, 5);
  assert.equal(seen.filter((m) => m === 'BYE').length, 5);
});

test('sipp statistics count rejected calls as failures', async () => {
  const seen: string[] = [];
  const port = await tinyResponder(486, seen);
  const result = await runSipp({ scenario: 'uac', target: `127.0.0.1:${port}`, calls: 3, rate: 50, timeoutMs: 30_000 });
  assert.equal(result.stats.successful, 0);
  assert.equal(result.stats.failed, 3);
  assert.notEqual(result.exitCode, 0);
  assert.equal(seen.filter((m) => m === 'BYE').length, 0);
});
