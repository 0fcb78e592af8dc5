import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FrameEvent, findContentLength, StreamFramer } from './stream-framer.ts';

function msg(body = '', extraHeaders = ''): string {
  return (
    'OPTIONS sip:sbc.example.test SIP/2.0\r\n' +
    'Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1\r\n' +
    extraHeaders +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body
  );
}

function messages(events: FrameEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'message' ? [e.data.toString()] : []));
}

function types(events: FrameEvent[]): string[] {
  return events.map((e) => e.type);
}

describe('StreamFramer', () => {
  test('two messages in one segment', () => {
    const a = msg('v=0\r\n');
    const b = msg();
    const f = new StreamFramer();
    const ev = f.push(Buffer.from(a + b));
    assert.deepEqual(messages(ev), [a, b]);
    assert.equal(f.bufferedBytes, 0);
  });

  test('a message split byte by byte, then the next one', () => {
    const a = msg('hello body');
    const b = msg('x');
    const f = new StreamFramer();
    const out: FrameEvent[] = [];
    const bytes = Buffer.from(a + b);
    for (let i = 0; i < bytes.length; i++) out.push(...f.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(messages(out), [a, b]);
    assert.deepEqual(types(out), ['message', 'message']);
  });

  test('split across segments at every position', () => {
    const a = msg('body-a');
    const b = msg('body-bb');
    const all = Buffer.from(a + b);
    for (let cut = 1; cut < all.length; cut++) {
      const f = new StreamFramer();
      const ev = [...f.push(all.subarray(0, cut)), ...f.push(all.subarray(cut))];
      assert.deepEqual(messages(ev), [a, b], `cut at ${cut}`);
    }
  });

  test('emitted frames stay intact after more input (no aliasing of the reuse buffer)', () => {
    const a = msg('AAAA');
    const b = msg('BBBB');
    const f = new StreamFramer();
    const first = f.push(Buffer.from(a.slice(0, 10)));
    const second = f.push(Buffer.from(a.slice(10) + b.slice(0, 5)));
    const third = f.push(Buffer.from(b.slice(5)));
    assert.deepEqual(messages([...first, ...second, ...third]), [a, b]);
  });

  test('CRLF keep-alives: double CRLF is a ping, lone CRLF is ignored', () => {
    const a = msg();
    const f = new StreamFramer();
    assert.deepEqual(types(f.push(Buffer.from('\r\n\r\n'))), ['ping']);
    assert.deepEqual(types(f.push(Buffer.from(`\r\n${a}`))), ['crlf', 'message']);
    assert.deepEqual(types(f.push(Buffer.from(`${a}\r\n\r\n${a}`))), ['message', 'ping', 'message']);
    // A ping split in two segments is still one ping.
    assert.deepEqual(types(f.push(Buffer.from('\r\n'))), []);
    assert.deepEqual(types(f.push(Buffer.from('\r\n'))), ['ping']);
    // Two pings in a row.
    assert.deepEqual(types(f.push(Buffer.from('\r\n\r\n\r\n\r\n'))), ['ping', 'ping']);
    // Byte-by-byte ping.
    const ev: FrameEvent[] = [];
    for (const c of '\r\n\r\n') ev.push(...f.push(Buffer.from(c)));
    assert.deepEqual(types(ev), ['ping']);
  });

  test('Content-Length variants: compact l, any case, space before colon, folded value', () => {
    const base = 'MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\n';
    const cases = [
      `${base}l: 4\r\n\r\nabcd`,
      `${base}L:4\r\n\r\nabcd`,
      `${base}content-LENGTH   :   4\r\n\r\nabcd`,
      `${base}Content-Length:\r\n   4\r\n\r\nabcd`,
      `${base}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`,
    ];
    for (const c of cases) {
      const f = new StreamFramer();
      assert.deepEqual(messages(f.push(Buffer.from(c + c))), [c, c], JSON.stringify(c));
    }
  });

  test('a header that merely contains "l" or "content-length" text is not mistaken for Content-Length', () => {
    const m = 'INVITE sip:a@b SIP/2.0\r\nX-Content-Length: 99\r\nlx: 5\r\nSubject: l: 7\r\nContent-Length: 2\r\n\r\nok';
    assert.equal(findContentLength(Buffer.from(m.slice(0, m.indexOf('\r\n\r\n') + 4))), 2);
    const f = new StreamFramer();
    assert.deepEqual(messages(f.push(Buffer.from(m))), [m]);
  });

  test('missing Content-Length is an error carrying the headers; the framer then stops', () => {
    const f = new StreamFramer();
    const ev = f.push(Buffer.from(`OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n${msg()}`));
    assert.equal(ev.length, 1);
    const e = ev[0]!;
    assert.equal(e.type, 'error');
    if (e.type !== 'error') return;
    assert.equal(e.code, 'MISSING_CONTENT_LENGTH');
    assert.match(e.headers!.toString(), /^OPTIONS sip:x/);
    assert.equal(f.isFailed, true);
    assert.deepEqual(f.push(Buffer.from(msg())), []);
  });

  test('malformed or conflicting Content-Length', () => {
    for (const v of ['abc', '-1', '1 2', '', '12345678901']) {
      const f = new StreamFramer();
      const ev = f.push(Buffer.from(`OPTIONS sip:x SIP/2.0\r\nContent-Length: ${v}\r\n\r\n`));
      assert.equal(ev[0]?.type, 'error', v);
      assert.equal(ev[0]?.type === 'error' && ev[0].code, 'INVALID_CONTENT_LENGTH', v);
    }
    const f = new StreamFramer();
    const ev = f.push(Buffer.from('OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n'));
    assert.equal(ev[0]?.type === 'error' && ev[0].code, 'INVALID_CONTENT_LENGTH');
  });

  test('header section too large, without ever seeing the end of headers', () => {
    const f = new StreamFramer({ maxHeaderBytes: 256, maxMessageBytes: 1024 });
    const ev: FrameEvent[] = [];
    const line = Buffer.from('X-Filler: 0123456789012345678901234567890123456789\r\n');
    ev.push(...f.push(Buffer.from('OPTIONS sip:x SIP/2.0\r\n')));
    for (let i = 0; i < 10 && ev.length === 0; i++) ev.push(...f.push(line));
    assert.equal(ev.length, 1);
    assert.equal(ev[0]?.type === 'error' && ev[0].code, 'HEADER_TOO_LARGE');
    assert.ok(f.bufferedBytes <= 256 + line.length);
  });

  test('message too large is refused before the body is buffered', () => {
    const f = new StreamFramer({ maxHeaderBytes: 256, maxMessageBytes: 1024 });
    const ev = f.push(Buffer.from('MESSAGE sip:x SIP/2.0\r\nContent-Length: 5000\r\n\r\npartial'));
    assert.equal(ev.length, 1);
    assert.equal(ev[0]?.type === 'error' && ev[0].code, 'MESSAGE_TOO_LARGE');
    assert.equal(f.bufferedBytes, 0);
  });

  test('a message exactly at the size limit passes', () => {
    const head = 'MESSAGE sip:x SIP/2.0\r\nContent-Length: 100\r\n\r\n';
    const f = new StreamFramer({ maxHeaderBytes: head.length, maxMessageBytes: head.length + 100 });
    const m = head + 'x'.repeat(100);
    assert.deepEqual(messages(f.push(Buffer.from(m))), [m]);
  });

  test('bare LF line ends are tolerated for finding the end of headers', () => {
    const m = 'OPTIONS sip:x SIP/2.0\nContent-Length: 2\n\nok';
    const f = new StreamFramer();
    assert.deepEqual(messages(f.push(Buffer.from(m))), [m]);
  });

  test('binary body with CRLFCRLF inside is framed by Content-Length only', () => {
    const body = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0, 1, 2, 0xff]);
    const head = Buffer.from(`MESSAGE sip:x SIP/2.0\r\nContent-Length: ${body.length}\r\n\r\n`);
    const whole = Buffer.concat([head, body, head, body]);
    const f = new StreamFramer();
    const ev = f.push(whole);
    assert.equal(ev.length, 2);
    for (const e of ev) assert.ok(e.type === 'message' && e.data.equals(Buffer.concat([head, body])));
  });
});
