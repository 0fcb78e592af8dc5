import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipRequest } from '../message/types.ts';
import { TransactionLayer } from './layer.ts';
import { createResponse } from './messages.ts';
import { Harness, nameAddr, request, response, UDP_PEER, via } from './test-helpers.ts';

const TO_TAG = 'uas-tag';
const withToTag = (req: SipRequest, tag: string): SipRequest => ({
  ...req,
  to: { ...req.to, params: new Map(req.to.params).set('tag', tag) },
});

describe('server transaction matching with the magic cookie (RFC 3261 §17.2.3)', () => {
  const inv = (spec: Parameters<typeof via>[0] = {}) =>
    request({ vias: [via({ host: 'carrier.example.net', port: 5060, branch: 'z9hG4bKm1', ...spec })] });

  it('matches on branch + sent-by + method; ACK matches its INVITE; CANCEL gets its own transaction', () => {
    const h = new Harness({ tryingDelay: null });
    assert.equal(h.layer.receiveRequest(inv(), UDP_PEER), 'new');
    assert.equal(h.layer.receiveRequest(inv(), UDP_PEER), 'retransmission');
    // Host comparison is case-insensitive and the default port is filled in.
    assert.equal(
      h.layer.receiveRequest(inv({ host: 'CARRIER.example.NET', port: undefined }), UDP_PEER),
      'retransmission',
    );
    // Different sent-by or branch: a different transaction.
    assert.equal(h.layer.receiveRequest(inv({ port: 5070 }), UDP_PEER), 'new');
    assert.equal(h.layer.receiveRequest(inv({ branch: 'z9hG4bKm2' }), UDP_PEER), 'new');
    // The CANCEL shares the INVITE's branch but is its own transaction.
    const cancel = request({ method: 'CANCEL', vias: inv().vias });
    assert.equal(h.layer.receiveRequest(cancel, UDP_PEER), 'new');
    assert.equal(h.layer.sizes().server, 4);
    assert.equal(h.lastServer().kind, 'server-non-invite');
    assert.equal(h.layer.findInviteForCancel(cancel), h.serverTxns[0]);
    assert.equal(h.layer.receiveRequest(cancel, UDP_PEER), 'retransmission');
    // ACK for a non-2xx matches the INVITE transaction.
    const first = h.serverTxns[0]!;
    first.respond(createResponse(first.request, 487, 'Request Terminated', { toTag: TO_TAG }));
    const ack = request({ method: 'ACK', vias: inv().vias, to: withToTag(inv(), TO_TAG).to });
    assert.equal(h.layer.receiveRequest(ack, UDP_PEER), 'ack-absorbed');
    assert.equal(first.state, 'confirmed');
    h.layer.shutdown();
    assert.ok(h.isClean());
  });

  it('findInviteForCancel finds nothing for an unknown or finished INVITE', () => {
    const h = new Harness({ tryingDelay: null });
    const cancel = request({ method: 'CANCEL', vias: inv().vias });
    assert.equal(h.layer.findInviteForCancel(cancel), undefined);
    h.layer.receiveRequest(inv(), { transport: 'TCP', host: '192.0.2.10', port: 5060 });
    const txn = h.lastServer();
    txn.respond(createResponse(txn.request, 486, 'Busy', { toTag: TO_TAG }));
    assert.ok(h.layer.findInviteForCancel(cancel));
    h.layer.receiveRequest(request({ method: 'ACK', vias: inv().vias }), UDP_PEER);
    assert.equal(h.layer.findInviteForCancel(cancel), undefined);
    assert.equal(h.layer.findInviteForCancel(request({ method: 'CANCEL', vias: [] })), undefined);
    assert.ok(h.isClean());
  });

  it('drops a request without Via; an unmatched ACK is stray', () => {
    const h = new Harness();
    assert.equal(h.layer.receiveRequest(request({ vias: [] }), UDP_PEER), 'dropped');
    assert.equal(h.layer.receiveRequest(request({ method: 'ACK' }), UDP_PEER), 'stray-ack');
    assert.deepEqual(h.eventTypes(), ['stray-ack']);
    assert.ok(h.isClean());
  });
});

describe('server transaction matching without the magic cookie (RFC 2543 fallback)', () => {
  const legacyVia = via({ host: 'old-pbx.example.org', branch: null });
  const inv = (over: Parameters<typeof request>[0] = {}) => request({ vias: [legacyVia], ...over });

  it('matches on Request-URI, From tag, To tag, Call-ID, CSeq and top Via', () => {
    const h = new Harness({ tryingDelay: null });
    assert.equal(h.layer.receiveRequest(inv(), UDP_PEER), 'new');
    assert.equal(h.serverTxns[0]!.legacy, true);
    assert.equal(h.layer.receiveRequest(inv(), UDP_PEER), 'retransmission');
    assert.equal(h.layer.receiveRequest(inv({ cseq: 2 }), UDP_PEER), 'new');
    assert.equal(h.layer.receiveRequest(inv({ callId: 'other' }), UDP_PEER), 'new');
    assert.equal(h.layer.receiveRequest(inv({ uri: 'sip:other@sbc.example.com' }), UDP_PEER), 'new');
    assert.equal(
      h.layer.receiveRequest(inv({ from: nameAddr('sip:alice@carrier.example.net', 'other-from') }), UDP_PEER),
      'new',
    );
    assert.equal(h.layer.receiveRequest(inv({ vias: [via({ host: 'elsewhere', branch: null })] }), UDP_PEER), 'new');
    // A non-cookie branch is part of the top Via comparison.
    assert.equal(
      h.layer.receiveRequest(inv({ vias: [via({ host: 'old-pbx.example.org', branch: '1' })] }), UDP_PEER),
      'new',
    );
    assert.equal(h.layer.sizes().server, 7);
    h.layer.shutdown();
    assert.ok(h.isClean());
  });

  it('an ACK matches when its To tag is the one of our final response', () => {
    const h = new Harness({ tryingDelay: null });
    h.layer.receiveRequest(inv(), UDP_PEER);
    const txn = h.lastServerInvite();
    txn.respond(createResponse(txn.request, 404, 'Not Found', { toTag: TO_TAG }));
    const wrongTag = request({ method: 'ACK', vias: [legacyVia], to: nameAddr(inv().to.uriText, 'someone-else') });
    assert.equal(h.layer.receiveRequest(wrongTag, UDP_PEER), 'stray-ack');
    assert.equal(txn.state, 'completed');
    const ack = request({ method: 'ACK', vias: [legacyVia], to: nameAddr(inv().to.uriText, TO_TAG) });
    assert.equal(h.layer.receiveRequest(ack, UDP_PEER), 'ack-absorbed');
    assert.equal(txn.state, 'confirmed');
    h.timers.runAll();
    assert.ok(h.isClean());
  });

  it('CANCEL lookup compares the To tag with the INVITE', () => {
    const h = new Harness({ tryingDelay: null });
    const reinvite = inv({ to: nameAddr(inv().to.uriText, 'dialog-tag') });
    h.layer.receiveRequest(reinvite, UDP_PEER);
    const cancel = request({ method: 'CANCEL', vias: [legacyVia], to: reinvite.to });
    assert.equal(h.layer.findInviteForCancel(cancel), h.serverTxns[0]);
    const other = request({ method: 'CANCEL', vias: [legacyVia], to: nameAddr(inv().to.uriText, 'x') });
    assert.equal(h.layer.findInviteForCancel(other), undefined);
    h.layer.shutdown();
  });
});

describe('client transaction matching (RFC 3261 §17.1.3)', () => {
  it('matches responses by top Via branch and CSeq method; the rest is stray', () => {
    const h = new Harness();
    const req = request({ method: 'OPTIONS', vias: [via({ branch: 'z9hG4bKc1' })] });
    h.send(req);
    h.layer.receiveResponse(
      response(request({ method: 'OPTIONS', vias: [via({ branch: 'z9hG4bKzz' })] }), 200),
      UDP_PEER,
    );
    h.layer.receiveResponse(response({ ...req, cseq: { seq: 1, method: 'INFO' } }, 200), UDP_PEER);
    h.layer.receiveResponse(response(request({ method: 'OPTIONS', vias: [] }), 200), UDP_PEER);
    assert.deepEqual(h.eventTypes(), ['stray-response', 'stray-response', 'stray-response']);
    assert.equal(h.layer.receiveResponse(response(req, 200), UDP_PEER), 'matched');
    assert.equal(h.events.at(-1)!.type, 'final');
    h.timers.runAll();
    assert.ok(h.isClean());
  });
});

describe('TU callback errors', () => {
  it('are contained and reported, never thrown into the transport or timers', () => {
    const h = new Harness();
    h.onRequest = () => {
      throw new Error('tu bug');
    };
    assert.equal(h.layer.receiveRequest(request(), UDP_PEER), 'new');
    assert.equal(h.callbackErrors.length, 1);
    const req = request({ method: 'OPTIONS' });
    h.layer.sendRequest(req, UDP_PEER, {
      onFinal: () => {},
      onTimeout: () => {
        throw new Error('timeout handler bug');
      },
      onTransportError: () => {},
    });
    assert.doesNotThrow(() => h.timers.runAll());
    assert.equal(h.callbackErrors.length, 2);
    h.layer.shutdown();
    assert.ok(h.isClean());
  });

  it('a layer without a TU reports the missing TU as a callback error', () => {
    const h = new Harness();
    h.layer.tu = { onRequest: h.layer.tu.onRequest };
    assert.equal(
      h.layer.receiveRequest(request({ method: 'ACK', vias: [via({ branch: 'z9hG4bKnone' })] }), UDP_PEER),
      'stray-ack',
    );
    assert.equal(h.callbackErrors.length, 0, 'optional callbacks may be absent');
  });
});

describe('no leaks', () => {
  it('many mixed scenarios leave no transaction and no timer behind', () => {
    const h = new Harness();
    for (let i = 0; i < 50; i++) {
      const branch = `z9hG4bKleak${i}`;
      const inv = request({ vias: [via({ branch })], callId: `c${i}` });
      h.layer.receiveRequest(inv, UDP_PEER);
      const st = h.lastServerInvite();
      if (i % 3 === 0) st.respond(createResponse(inv, 200, 'OK', { toTag: 't' }));
      else st.respond(createResponse(inv, 486, 'Busy', { toTag: 't' }));
      if (i % 2 === 0) h.layer.receiveRequest(request({ method: 'ACK', vias: inv.vias, callId: `c${i}` }), UDP_PEER);
      const out = request({ method: i % 2 ? 'INVITE' : 'OPTIONS', vias: [via({ host: 'sbc', branch: null })] });
      const ct = h.send(out);
      if (i % 4 === 0) h.layer.receiveResponse(response(ct.request, 200, 'x'), UDP_PEER);
      else if (i % 4 === 1) h.layer.receiveResponse(response(ct.request, 503, 'x'), UDP_PEER);
    }
    assert.ok(h.layer.size() > 0);
    h.timers.runAll();
    assert.ok(h.isClean());
  });
});

describe('real timers', () => {
  it('drive a client non-INVITE to Timer F on setTimeout', async () => {
    const sends: number[] = [];
    const start = Date.now();
    const layer = new TransactionLayer({
      transport: {
        send: async () => {
          sends.push(Date.now() - start);
        },
        reliable: () => false,
      },
      serialize: () => Buffer.from('x'),
      config: { t1: 2, t2: 8 },
    });
    const outcome = await new Promise<string>((resolve) => {
      layer.sendRequest(request({ method: 'OPTIONS' }), UDP_PEER, {
        onFinal: () => resolve('final'),
        onTimeout: () => resolve('timeout'),
        onTransportError: () => resolve('error'),
      });
    });
    assert.equal(outcome, 'timeout');
    assert.ok(Date.now() - start >= 120);
    // Timer E fires before Timer F even when a loaded machine stalls the loop past both, so at least one
    // retransmission always happens; how many more depends on the machine, not on the code.
    assert.ok(sends.length >= 2, `retransmitted ${sends.length - 1} times`);
    assert.equal(layer.size(), 0);
  });
});
