// Property and robustness tests: round trips of generated messages, random/mutated bytes, pathological inputs.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SipParseError } from './errors.ts';
import { parseMessage } from './parse.ts';
import { serializeMessage } from './serialize.ts';
import { TEAMS_200_OK, TEAMS_INVITE } from './test-fixtures.ts';
import { checkUriRange, formatUri, LazySipUri, parseUri, URI_HAS_HEADERS } from './uri.ts';

/** parseMessage either returns a message or throws SipParseError — never anything else. */
function parseOrRefuse(buf: Buffer): 'ok' | 'refused' {
  try {
    parseMessage(buf);
    return 'ok';
  } catch (e) {
    if (e instanceof SipParseError) return 'refused';
    throw e;
  }
}

const token = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,10}$/);
/** token chars that are also valid unescaped in a URI user / parameter (no % or `). */
const uriTok = fc.stringMatching(/^[A-Za-z0-9.!*_+'~-]{1,10}$/);
const host = fc.oneof(
  fc.stringMatching(/^[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,2}$/),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.')),
  fc.constantFrom('[2001:db8::1]', '[::ffff:192.0.2.1]'),
);
const hostport = fc
  .tuple(host, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }))
  .map(([h, p]) => (p === undefined ? h : `${h}:${p}`));
const uri = fc
  .tuple(
    fc.constantFrom('sip', 'sips'),
    fc.option(uriTok, { nil: undefined }),
    hostport,
    fc.array(uriTok, { maxLength: 2 }),
  )
  .map(
    ([s, u, hp, ps]) => `${s}:${u === undefined ? '' : `${u}@`}${hp}${ps.map((p) => `;${p.toLowerCase()}`).join('')}`,
  );
const nameAddr = fc
  .tuple(
    fc.option(fc.stringMatching(/^[A-Za-z ,;<>]{0,10}$/), { nil: undefined }),
    uri,
    fc.option(token, { nil: undefined }),
  )
  .map(([d, u, tag]) => `${d === undefined ? '' : `"${d}" `}<${u}>${tag === undefined ? '' : `;tag=${tag}`}`);
const via = fc
  .tuple(fc.constantFrom('UDP', 'TCP', 'TLS', 'WSS'), hostport, token, fc.boolean())
  .map(([t, hp, b, rport]) => `SIP/2.0/${t} ${hp};branch=z9hG4bK${b}${rport ? ';rport' : ''}`);
const method = fc.constantFrom('INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REFER', 'UPDATE', 'PRACK', 'NEWMETHOD');
const extra = fc.array(
  fc.tuple(
    fc.stringMatching(/^X-[A-Za-z0-9-]{1,10}$/),
    fc.stringMatching(/^[ -~]{0,30}$/).map((s) => s.trim()),
  ),
  { maxLength: 5 },
);

const messageText = fc
  .record({
    request: fc.boolean(),
    method,
    ruri: uri,
    status: fc.integer({ min: 100, max: 699 }),
    reason: fc.stringMatching(/^[A-Za-z ]{0,20}$/),
    vias: fc.array(via, { minLength: 1, maxLength: 3 }),
    from: nameAddr,
    to: nameAddr,
    callId: fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~()<>:\\"/?{}-]{1,20}(@[a-z0-9.]{1,10})?$/),
    seq: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    contacts: fc.array(nameAddr, { maxLength: 2 }),
    extra,
    body: fc.uint8Array({ maxLength: 200 }),
  })
  .map((m) => {
    const lines = [m.request ? `${m.method} ${m.ruri} SIP/2.0` : `SIP/2.0 ${m.status} ${m.reason}`];
    for (const v of m.vias) lines.push(`Via: ${v}`);
    lines.push(`From: ${m.from}`, `To: ${m.to}`, `Call-ID: ${m.callId}`, `CSeq: ${m.seq} ${m.method}`);
    if (m.contacts.length > 0) lines.push(`Contact: ${m.contacts.join(', ')}`);
    for (const [n, v] of m.extra) lines.push(`${n}: ${v}`);
    lines.push(`Content-Length: ${m.body.length}`);
    return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), Buffer.from(m.body)]);
  });

describe('properties', () => {
  it('parse(serialize(m)) deep-equals m for generated messages', () => {
    fc.assert(
      fc.property(messageText, (buf) => {
        const m = parseMessage(buf);
        const again = parseMessage(serializeMessage(m));
        assert.deepEqual(again, m);
        assert.deepEqual(serializeMessage(again), serializeMessage(m));
      }),
      { numRuns: 300 },
    );
  });
});

const seeds = [
  Buffer.from(TEAMS_INVITE),
  Buffer.from(TEAMS_200_OK),
  ...readdirSync(join(import.meta.dirname, 'testdata', 'torture'))
    .filter((f) => f.endsWith('.dat'))
    .map((f) => readFileSync(join(import.meta.dirname, 'testdata', 'torture', f))),
];

const INTERESTING = [0, 9, 10, 13, 32, 34, 44, 58, 59, 60, 62, 64, 91, 92, 93, 0x7f, 0x80, 0xc3, 0xff].concat(
  Array.from(';,:<>"\\[]@%=/ ', (c) => c.charCodeAt(0)),
);

describe('fuzz: never anything but a message or a SipParseError', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        parseOrRefuse(Buffer.from(bytes));
      }),
      { numRuns: 2000, interruptAfterTimeLimit: 8000 },
    );
  });

  it('random text around a SIP skeleton', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.constantFrom('\r\n', ': ', ';', ',', '<sip:', '>', '"', 'SIP/2.0')), {
          maxLength: 40,
        }),
        (parts) => {
          parseOrRefuse(Buffer.from(`INVITE sip:a@b SIP/2.0\r\nVia: ${parts.join('')}\r\n\r\n`));
          parseOrRefuse(Buffer.from(parts.join('')));
        },
      ),
      { numRuns: 1500, interruptAfterTimeLimit: 6000 },
    );
  });

  it('mutated valid messages (byte flips, insertions, deletions, truncation)', () => {
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        at: fc.nat(),
        byte: fc.oneof(fc.nat(255), fc.constantFrom(...INTERESTING)),
      }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.constantFrom(...INTERESTING) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    let refused = 0;
    let accepted = 0;
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.array(mutation, { minLength: 1, maxLength: 6 }), (i, muts) => {
        let b = Buffer.from(seeds[i]!);
        for (const m of muts) {
          const at = b.length === 0 ? 0 : m.at % b.length;
          if (m.kind === 'set') b[at] = m.byte;
          else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
          else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
          else b = b.subarray(0, at);
        }
        if (parseOrRefuse(b) === 'ok') accepted++;
        else refused++;
      }),
      { numRuns: 3000, interruptAfterTimeLimit: 10000 },
    );
    // the mutations must have exercised both outcomes
    assert.ok(accepted > 0 && refused > 0, `accepted ${accepted}, refused ${refused}`);
  });
});

describe('lazy URIs: checkUriRange + LazySipUri behave like parseUri', () => {
  const outcome = (fn: () => unknown): unknown => {
    try {
      return fn();
    } catch (e) {
      assert.ok(e instanceof SipParseError);
      return e.code;
    }
  };
  const plain = (u: { scheme: string }) => {
    const v = u as ReturnType<typeof parseUri>;
    return {
      scheme: v.scheme,
      otherScheme: v.otherScheme,
      opaque: v.opaque,
      user: v.user,
      password: v.password,
      host: v.host,
      port: v.port,
      params: [...v.params],
      headers: [...v.headers],
    };
  };
  const uriChars = fc.constantFrom(
    ...'sip:SIPStel+@:;=?&%[]./-_!~*()abcAZ0159, <>"\\'.split(''),
    '%41',
    '%zz',
    'sip:',
    'sips:',
    'tel:',
    '[::1]',
    ':5060',
    ';lr',
    '?h=v',
  );
  const text = fc.oneof(
    fc.array(uriChars, { maxLength: 16 }).map((a) => a.join('')),
    fc.array(uriChars, { maxLength: 12 }).map((a) => `sip:${a.join('')}`),
    fc
      .tuple(fc.array(uriChars, { maxLength: 6 }), fc.array(uriChars, { maxLength: 6 }))
      .map(([a, b]) => `sip:${a.join('')}@${b.join('')}`),
    fc.string({ maxLength: 30 }),
  );

  it('accept the same texts, with the same fields', () => {
    fc.assert(
      fc.property(text, (t) => {
        const eager = outcome(() => parseUri(t));
        const kind = outcome(() => checkUriRange(t, 0, t.length));
        if (typeof eager === 'string') {
          assert.equal(kind, eager, `check of ${JSON.stringify(t)}`);
          return;
        }
        assert.equal(typeof kind, 'number', `check of ${JSON.stringify(t)}`);
        const e = eager as ReturnType<typeof parseUri>;
        assert.equal(((kind as number) & URI_HAS_HEADERS) !== 0, e.headers.size > 0);
        const lazy = new LazySipUri(t, kind as number);
        assert.equal(lazy.scheme, e.scheme);
        assert.deepEqual(plain(lazy), plain(e));
        assert.equal(formatUri(lazy), formatUri(e));
        assert.deepEqual(JSON.parse(JSON.stringify(lazy)), JSON.parse(JSON.stringify(e)));
      }),
      { numRuns: 3000 },
    );
  });

  it('assigning a field re-formats the text', () => {
    const u = new LazySipUri('sip:alice@example.com;transport=tls', 0);
    u.host = 'example.net';
    u.port = 5061;
    assert.equal(u.text, 'sip:alice@example.net:5061;transport=tls');
    assert.equal(u.params.get('transport'), 'tls');
    const v = new LazySipUri('tel:+1555', checkUriRange('tel:+1555', 0, 9));
    v.scheme = 'sip';
    assert.equal(v.scheme, 'sip');
  });
});

describe('pathological inputs finish (linear scanning)', () => {
  const head = `INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n`;
  const cases: Array<[string, string]> = [
    ['60 KiB of ;', `${head}Contact: <sip:a@b>${';'.repeat(60_000)}\r\n\r\n`],
    ['60 KiB of ; in Via', `Via: ${';'.repeat(60_000)}`],
    ['10k commas in Route', `${head}Route: ${','.repeat(10_000)}\r\n\r\n`],
    ['10k name-addrs', `${head}Route: ${Array.from({ length: 3000 }, () => '<sip:r@h;lr>').join(',')}\r\n\r\n`],
    ['nested quotes', `${head}To: ${'"\\"'.repeat(15_000)} <sip:a@b>\r\n\r\n`],
    ['nested brackets', `${head}From: ${'<'.repeat(30_000)}sip:a@b${'>'.repeat(30_000)}\r\n\r\n`],
    ['huge folded header', `${head}X-F: a${'\r\n b'.repeat(15_000)}\r\n\r\n`],
    ['many tiny headers', `${head}${'a:\r\n'.repeat(15_000)}\r\n`],
    ['no blank line', `${head}${'X: y\r\n'.repeat(10_000)}`],
    ['long request line', `INVITE sip:${'a'.repeat(60_000)}@b SIP/2.0\r\n\r\n`],
    ['many colons in IPv6', `${head}Contact: <sip:[${':'.repeat(50_000)}]>\r\n\r\n`],
    ['many %', `INVITE sip:${'%'.repeat(50_000)}@b SIP/2.0\r\n\r\n`],
  ];
  for (const [name, text] of cases) {
    it(name, { timeout: 5000 }, () => {
      const buf = Buffer.from(text);
      // generous limits so the scanners themselves are exercised on the whole input
      const limits = { maxLineLength: 1 << 20, maxHeaders: 1 << 20, maxMessageSize: 1 << 20 };
      for (let i = 0; i < 20; i++) parseOrRefuse(buf);
      for (let i = 0; i < 20; i++) {
        try {
          parseMessage(buf, limits);
        } catch (e) {
          assert.ok(e instanceof SipParseError);
        }
      }
    });
  }
});
