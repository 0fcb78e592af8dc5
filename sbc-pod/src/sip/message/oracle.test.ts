// Differential tests against sip.js's PEG grammar (an independent RFC 3261 grammar) for URIs, name-addr headers and
// Via values: a hand-written corpus plus fast-check-generated values.
//
// Deliberate disagreements (sip.js deviating from RFC 3261, or storing things differently), normalised below:
// - sip.js %-decodes `user` and folds the password into it (`user:password`); we keep both as received.
// - sip.js lower-cases the values of `transport` and `user` URI params; we keep values as received.
// - sip.js keeps a quoted display name's backslash escapes; we resolve quoted-pairs.
// - sip.js Via: protocol is "SIP" (no version), transport keeps its case, `rport` is a string; ours are "SIP/2.0",
//   upper case and a number.
// - sip.js overwrites the host with the value of a `maddr` parameter (URI and Via) — a bug; generators avoid maddr.
// - sip.js fails on URI params whose name starts with a special one (`;lr0`, `;username`) and ignores lr's value.
// - sip.js rejects the addr-spec form for Name_Addr_Header; From is used as the oracle rule for that form.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Grammar } from 'sip.js';
import { parseNameAddr, parseNameAddrList } from './name-addr.ts';
import type { NameAddr, SipUri, Via } from './types.ts';
import { parseUri, unescapeUriText } from './uri.ts';
import { parseVia } from './via.ts';

// biome-ignore lint/suspicious/noExplicitAny: sip.js grammar results are untyped
type Any = any;

function sipjsUri(text: string): Any {
  const r = Grammar.parse(text, 'SIP_URI');
  assert.notEqual(r, -1, `sip.js rejected URI ${text}`);
  return r;
}

function compareUri(ours: SipUri, theirs: Any, text: string): void {
  assert.equal(ours.scheme, theirs.scheme, `scheme of ${text}`);
  const user = ours.user === undefined ? undefined : unescapeUriText(ours.user);
  const withPass = ours.password === undefined ? user : `${user}:${unescapeUriText(ours.password)}`;
  assert.equal(withPass, theirs.user, `user of ${text}`);
  assert.equal(ours.host.toLowerCase(), String(theirs.host).toLowerCase(), `host of ${text}`);
  assert.equal(ours.port, theirs.port ?? undefined, `port of ${text}`);
  const theirParams: Record<string, string | null> = theirs.parameters;
  assert.deepEqual([...ours.params.keys()].sort(), Object.keys(theirParams).sort(), `param names of ${text}`);
  for (const [k, v] of ours.params) {
    const t = theirParams[k];
    if (k === 'transport' || k === 'user') assert.equal(v?.toLowerCase() ?? null, t ?? null, `param ${k} of ${text}`);
    else assert.equal(v, t ?? null, `param ${k} of ${text}`);
  }
  const theirHeaders: Record<string, string[]> = theirs.headers;
  assert.equal(ours.headers.size, Object.keys(theirHeaders).length, `headers of ${text}`);
}

function compareNameAddr(ours: NameAddr, theirs: Any, text: string): void {
  compareUri(ours.uri, theirs.uri, text);
  const theirName: string | undefined = theirs._displayName;
  const ourName = ours.displayName;
  // sip.js keeps quoted-pairs; resolve them the same way to compare.
  const normalised = theirName === undefined ? undefined : theirName.replace(/\\(.)/g, '$1');
  assert.equal(ourName === '' ? undefined : ourName, normalised === '' ? undefined : normalised, `display of ${text}`);
  const tp: Record<string, string | null> = theirs.parameters;
  assert.deepEqual([...ours.params.keys()].sort(), Object.keys(tp).sort(), `params of ${text}`);
  for (const [k, v] of ours.params) assert.equal(v, tp[k] ?? null, `param ${k} of ${text}`);
}

function compareVia(ours: Via, theirs: Any, text: string): void {
  assert.equal(ours.protocol.split('/')[0], theirs.protocol, `protocol of ${text}`);
  assert.equal(ours.transport, String(theirs.transport).toUpperCase(), `transport of ${text}`);
  assert.equal(ours.host.toLowerCase(), String(theirs.host).toLowerCase(), `host of ${text}`);
  assert.equal(ours.port, theirs.port ?? undefined, `port of ${text}`);
  assert.equal(ours.branch, theirs.branch ?? undefined, `branch of ${text}`);
  assert.equal(ours.received, theirs.received ?? undefined, `received of ${text}`);
  if (theirs.rport !== undefined) assert.equal(ours.rport, theirs.rport === null ? null : Number(theirs.rport));
  for (const [k, v] of Object.entries((theirs.params ?? {}) as Record<string, string | null | undefined>)) {
    if (v === undefined) continue; // sip.js lists a valueless rport as undefined
    assert.equal(ours.params.get(k), v, `param ${k} of ${text}`);
  }
}

const URI_CORPUS = [
  'sip:alice@atlanta.com',
  'sip:alice:secretword@atlanta.com;transport=tcp',
  'sips:alice@atlanta.com?subject=project%20x&priority=urgent',
  'sip:+1-212-555-1212:1234@gateway.com;user=phone',
  'sips:1212@gateway.com',
  'sip:alice@192.0.2.4',
  'sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com',
  'sip:alice;day=tuesday@atlanta.com',
  'sip:+14255550100@sbc.contoso.com:5061;user=phone;transport=tls',
  'sip:api-du-b-usea.pstnhub.microsoft.com:443;x-i=4f1b1c4e;x-c=9a3f/s/1/2b3c',
  'sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr',
  'sip:user@[2001:db8::10]:5070;lr',
  'sip:[::1]',
  'sip:%61lice@EXAMPLE.com',
  'sip:user;par=u%40example.net@example.com',
];

const NAME_ADDR_CORPUS = [
  '"Alice" <sip:alice@atlanta.com>;tag=1928301774',
  'Bob <sips:bob@biloxi.com>;tag=a6c85cf',
  '<sip:+14255550199@sip.pstnhub.microsoft.com:5061;user=phone>;tag=b4d13b2a',
  '"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8',
  'caller<sip:caller@example.com>;tag=323',
  '"" <sip:anonymous@anonymous.invalid>;tag=x;expires=60;flag',
  '"Zoë Ü" <sip:zoe@example.com>',
];

describe('differential: sip.js grammar as oracle', () => {
  it('URI corpus', () => {
    for (const t of URI_CORPUS) compareUri(parseUri(t), sipjsUri(t), t);
  });

  it('name-addr corpus', () => {
    for (const t of NAME_ADDR_CORPUS) {
      const theirs = Grammar.parse(t, 'Name_Addr_Header');
      assert.notEqual(theirs, -1, t);
      compareNameAddr(parseNameAddr(t), theirs, t);
    }
  });

  it('addr-spec From values', () => {
    for (const t of [
      'sip:caller@example.org;tag=33242',
      'sip:+1972@gw1.example.net;unknownparam',
      'sip:a@b ; tag = x',
    ]) {
      const theirs = Grammar.parse(t, 'From');
      assert.notEqual(theirs, -1, t);
      compareNameAddr(parseNameAddr(t), theirs, t);
    }
  });

  it('Contact lists split on the same commas', () => {
    const t = '<sip:a,b@host;x=1>;q=0.5, "Doe, John" <sip:c@d>, sip:e@f;expires=3';
    const theirs = Grammar.parse(t, 'Contact') as Any[];
    const ours = parseNameAddrList(t, true);
    assert.equal(ours.length, theirs.length);
    for (let i = 0; i < ours.length; i++) compareNameAddr(ours[i]!, theirs[i].parsed, t);
  });

  it('Via corpus', () => {
    for (const t of [
      'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds',
      'SIP/2.0/TLS 52.114.148.0:5061;branch=z9hG4bKe2b5a7c1;rport',
      'SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.207;branch=z9hG4bK77asjd;rport=5060',
      'SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK1;x-foo=bar',
      'SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111',
      'SIP / 2.0 / TCP host.example.com ; branch = z9hG4bKx',
    ]) {
      const theirs = Grammar.parse(t, 'Via');
      assert.notEqual(theirs, -1, t);
      const ours = parseVia(t);
      assert.equal(ours.length, 1);
      compareVia(ours[0]!, theirs, t);
    }
  });

  // ---- generated values
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
  const domain = fc
    .tuple(fc.array(label, { minLength: 1, maxLength: 3 }), fc.constantFrom('com', 'net', 'example', 'invalid'))
    .map(([ls, tld]) => [...ls, tld].join('.'));
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
  const ipv6 = fc
    .tuple(fc.array(fc.nat(0xffff), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(0xffff), { maxLength: 3 }))
    .map(([a, b]) => `[${a.map((x) => x.toString(16)).join(':')}::${b.map((x) => x.toString(16)).join(':')}]`);
  const host = fc.oneof(domain, ipv4, ipv6);
  const userChar = fc.constantFrom(..."abcXYZ019-_.!~*'()&=+$,;?/".split(''), '%41', '%2F', '%40');
  const user = fc.array(userChar, { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
  // sip.js special-cases these names, and its PEG choice also breaks on names that merely start with them (`;lr0`)
  const pname = fc
    .stringMatching(/^[a-z][a-z0-9-]{0,6}$/)
    .filter((n) => !/^(lr|maddr|ttl|method|transport|user)/.test(n));
  const pvalue = fc.stringMatching(/^[A-Za-z0-9.!~*'()_-]{1,8}$/);
  const uriParam = fc.tuple(pname, fc.option(pvalue, { nil: undefined }));
  const uriText = fc
    .record({
      scheme: fc.constantFrom('sip', 'sips'),
      user: fc.option(user, { nil: undefined }),
      host,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      params: fc.uniqueArray(uriParam, { selector: (p) => p[0], maxLength: 4 }),
    })
    .map(
      (u) =>
        `${u.scheme}:${u.user !== undefined ? `${u.user}@` : ''}${u.host}${u.port !== undefined ? `:${u.port}` : ''}` +
        u.params.map(([k, v]) => (v === undefined ? `;${k}` : `;${k}=${v}`)).join(''),
    );

  it('generated URIs agree', () => {
    fc.assert(
      fc.property(uriText, (t) => {
        compareUri(parseUri(t), sipjsUri(t), t);
      }),
      { numRuns: 400 },
    );
  });

  const displayName = fc.oneof(
    fc.constant(''),
    fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,8}( [A-Za-z0-9.!%*_+`'~-]{1,8}){0,2}$/).map((s) => `${s} `),
    fc
      .array(fc.constantFrom('a', 'B', ' ', ',', ';', '<', '>', '\\\\', '\\"', 'é', '@', ':'), { maxLength: 10 })
      .map((a) => `"${a.join('')}" `),
  );
  const headerParam = fc.tuple(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/),
    fc.option(fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,10}$/), { nil: undefined }),
  );
  const nameAddrText = fc
    .tuple(displayName, uriText, fc.uniqueArray(headerParam, { selector: (p) => p[0], maxLength: 3 }))
    .map(([d, u, ps]) => `${d}<${u}>` + ps.map(([k, v]) => (v === undefined ? `;${k}` : `;${k}=${v}`)).join(''));

  it('generated name-addr headers agree', () => {
    fc.assert(
      fc.property(nameAddrText, (t) => {
        const theirs = Grammar.parse(t, 'Name_Addr_Header');
        assert.notEqual(theirs, -1, t);
        compareNameAddr(parseNameAddr(t), theirs, t);
      }),
      { numRuns: 400 },
    );
  });

  const viaText = fc
    .record({
      transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS', 'udp'),
      host,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      branch: fc.option(fc.stringMatching(/^z9hG4bK[A-Za-z0-9.!%*_+`'~-]{1,12}$/), { nil: undefined }),
      received: fc.option(ipv4, { nil: undefined }),
      rport: fc.option(fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }), { nil: undefined }),
      sp: fc.constantFrom('', ' '),
    })
    .map(
      (v) =>
        `SIP${v.sp}/${v.sp}2.0${v.sp}/${v.sp}${v.transport} ${v.host}${v.port !== undefined ? `:${v.port}` : ''}` +
        (v.branch !== undefined ? `${v.sp};${v.sp}branch=${v.branch}` : '') +
        (v.received !== undefined ? `;received=${v.received}` : '') +
        (v.rport === undefined ? '' : v.rport === null ? ';rport' : `;rport=${v.rport}`),
    );

  it('generated Via values agree', () => {
    fc.assert(
      fc.property(viaText, (t) => {
        const theirs = Grammar.parse(t, 'Via');
        assert.notEqual(theirs, -1, t);
        const ours = parseVia(t);
        assert.equal(ours.length, 1);
        compareVia(ours[0]!, theirs, t);
      }),
      { numRuns: 400 },
    );
  });
});
