import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerBindingRequest, buildBindingRequest, generateIceCredentials } from './ice-lite.ts';
import {
  Attr,
  decodeStun,
  decodeXorAddress,
  encodeStun,
  encodeXorAddress,
  getAttribute,
  looksLikeStun,
  METHOD_BINDING,
  StunClass,
  verifyFingerprint,
  verifyMessageIntegrity,
} from './message.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const PWD = 'VOkJxbRl1RmTxUk/WvJxBt';
const TID = hex('b7e7a701bc34d686fa87dfae');

// RFC 5769 §2.1-2.3
const REQ = hex(`0001 0058 2112a442 b7e7a701bc34d686fa87dfae
  8022 0010 ${Buffer.from('STUN test client').toString('hex')}
  0024 0004 6e0001ff
  8029 0008 932ff9b151263b36
  0006 0009 6576746a3a68367659202020
  0008 0014 9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
  8028 0004 e57a3bcf`);
const RESP4 = hex(`0101 003c 2112a442 b7e7a701bc34d686fa87dfae
  8022 000b 7465737420766563746f7220
  0020 0008 0001a147e112a643
  0008 0014 2b91f599fd9e90c38c7489f92af9ba53f06be7d7
  8028 0004 c07d4c96`);
const RESP6 = hex(`0101 0048 2112a442 b7e7a701bc34d686fa87dfae
  8022 000b 7465737420766563746f7220
  0020 0014 0002a147 0113a9faa5d3f179bc25f4b5bed2b9d9
  0008 0014 a382954e4be67bf11784c97c8292c275bfe3ed41
  8028 0004 c8fb0b4c`);

describe('RFC 5769 test vectors', () => {
  it('§2.1 sample request: decodes, integrity and fingerprint verify, re-encodes byte for byte', () => {
    assert.ok(looksLikeStun(REQ));
    const m = decodeStun(REQ);
    assert.ok(m);
    assert.equal(m.method, METHOD_BINDING);
    assert.equal(m.class, StunClass.Request);
    assert.equal(getAttribute(m, Attr.Username)?.value.toString(), 'evtj:h6vY');
    assert.ok(verifyMessageIntegrity(m, PWD));
    assert.ok(!verifyMessageIntegrity(m, 'wrong'));
    assert.ok(verifyFingerprint(m));
    const again = encodeStun({
      method: METHOD_BINDING,
      class: StunClass.Request,
      transactionId: TID,
      attributes: [
        { type: Attr.Software, value: Buffer.from('STUN test client') },
        { type: Attr.Priority, value: hex('6e0001ff') },
        { type: Attr.IceControlled, value: hex('932ff9b151263b36') },
        { type: Attr.Username, value: Buffer.from('evtj:h6vY') },
      ],
      integrityKey: PWD,
      fingerprint: true,
      padByte: 0x20,
    });
    assert.deepEqual(again, REQ);
  });

  for (const [name, vec, addr] of [
    ['§2.2 IPv4 response', RESP4, '192.0.2.1'],
    ['§2.3 IPv6 response', RESP6, '2001:db8:1234:5678:11:2233:4455:6677'],
  ] as const) {
    it(`${name}: XOR-MAPPED-ADDRESS decodes and the encoding is byte-identical`, () => {
      const m = decodeStun(vec);
      assert.ok(m);
      assert.equal(m.class, StunClass.Success);
      assert.ok(verifyMessageIntegrity(m, PWD));
      assert.ok(verifyFingerprint(m));
      const xa = getAttribute(m, Attr.XorMappedAddress)!;
      assert.deepEqual(decodeXorAddress(xa.value, TID), { address: addr, port: 32853 });
      const again = encodeStun({
        method: METHOD_BINDING,
        class: StunClass.Success,
        transactionId: TID,
        attributes: [
          { type: Attr.Software, value: Buffer.from('test vector') },
          { type: Attr.XorMappedAddress, value: encodeXorAddress({ address: addr, port: 32853 }, TID) },
        ],
        integrityKey: PWD,
        fingerprint: true,
        padByte: 0x20,
      });
      assert.deepEqual(again, vec);
    });
  }

  it('rejects malformed messages', () => {
    assert.equal(decodeStun(REQ.subarray(0, 40)), null);
    const bad = Buffer.from(REQ);
    bad[4] = 0;
    assert.equal(decodeStun(bad), null);
    const flipped = Buffer.from(REQ);
    flipped[30]! ^= 1;
    const m = decodeStun(flipped)!;
    assert.ok(!verifyFingerprint(m));
    assert.ok(!verifyMessageIntegrity(m, PWD));
  });
});

describe('ICE-lite responder', () => {
  const local = generateIceCredentials();
  const from = { address: '192.0.2.33', port: 50_002 };

  it('answers an authenticated check with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT', () => {
    const req = buildBindingRequest({
      localUfrag: 'teamsA',
      remoteUfrag: local.ufrag,
      remotePwd: local.pwd,
      useCandidate: true,
      extra: [{ type: 0x8055, value: Buffer.from('unknown but optional') }],
    });
    const out = answerBindingRequest(req, from, local);
    assert.equal(out.kind, 'success');
    if (out.kind !== 'success') return;
    assert.equal(out.useCandidate, true);
    assert.equal(out.remoteUfrag, 'teamsA');
    const resp = decodeStun(out.response)!;
    assert.equal(resp.class, StunClass.Success);
    assert.deepEqual(resp.transactionId, decodeStun(req)!.transactionId);
    assert.ok(verifyMessageIntegrity(resp, local.pwd));
    assert.ok(verifyFingerprint(resp));
    assert.deepEqual(decodeXorAddress(getAttribute(resp, Attr.XorMappedAddress)!.value, resp.transactionId), from);
  });

  it('accepts checks from forked endpoints (different remote ufrags)', () => {
    for (const ufrag of ['fork1', 'fork2']) {
      const req = buildBindingRequest({ localUfrag: ufrag, remoteUfrag: local.ufrag, remotePwd: local.pwd });
      const out = answerBindingRequest(req, from, local);
      assert.equal(out.kind, 'success');
      assert.equal(out.kind === 'success' && out.useCandidate, false);
    }
  });

  it('401 for a wrong password or ufrag, 400 without credentials, 420 for unknown required attributes', () => {
    const wrongPwd = buildBindingRequest({
      localUfrag: 'x',
      remoteUfrag: local.ufrag,
      remotePwd: 'nope-nope-nope-nope-nope',
    });
    assert.deepEqual(
      [answerBindingRequest(wrongPwd, from, local)].map((o) => (o.kind === 'error' ? o.code : o.kind)),
      [401],
    );
    const wrongUfrag = buildBindingRequest({ localUfrag: 'x', remoteUfrag: 'other', remotePwd: local.pwd });
    const o2 = answerBindingRequest(wrongUfrag, from, local);
    assert.equal(o2.kind === 'error' && o2.code, 401);
    const bare = encodeStun({ method: METHOD_BINDING, class: StunClass.Request, transactionId: TID, attributes: [] });
    const o3 = answerBindingRequest(bare, from, local);
    assert.equal(o3.kind === 'error' && o3.code, 400);
    const req420 = buildBindingRequest({
      localUfrag: 'x',
      remoteUfrag: local.ufrag,
      remotePwd: local.pwd,
      extra: [{ type: 0x0055, value: Buffer.alloc(4) }],
    });
    const o4 = answerBindingRequest(req420, from, local);
    assert.equal(o4.kind === 'error' && o4.code, 420);
    if (o4.kind === 'error') assert.ok(verifyFingerprint(decodeStun(o4.response)!));
  });

  it('drops malformed packets and bad fingerprints without answering', () => {
    assert.equal(answerBindingRequest(Buffer.from('garbage that is not stun!'), from, local).kind, 'drop');
    const req = buildBindingRequest({ localUfrag: 'x', remoteUfrag: local.ufrag, remotePwd: local.pwd });
    req[req.length - 1]! ^= 0xff;
    assert.equal(answerBindingRequest(req, from, local).kind, 'drop');
  });

  it('generates ufrag/pwd of RFC 8839 lengths', () => {
    const c = generateIceCredentials();
    assert.match(c.ufrag, /^[A-Za-z0-9+/]{8}$/);
    assert.match(c.pwd, /^[A-Za-z0-9+/]{24}$/);
  });
});
