import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipResponse } from '../message/types.ts';
import { createResponse } from './messages.ts';
import { flush, Harness, isResponse, request, TCP_PEER, type TuEvent, UDP_PEER, via } from './test-helpers.ts';
import type { Target } from './types.ts';

const invite = () => request({ vias: [via({ host: 'carrier.example.net', branch: 'z9hG4bKsrv1' })] });
const ackFor = (inv = invite()) =>
  request({
    method: 'ACK',
    vias: inv.vias,
    to: { ...inv.to, params: new Map([['tag', 'our-tag']]) },
  });
const reply = (h: Harness, status: number, reason = 'R'): SipResponse =>
  createResponse(h.lastServer().request, status, reason, status > 100 ? { toTag: 'our-tag' } : {});
const statuses = (h: Harness) => h.sent.map((s) => (s.msg.kind === 'response' ? s.msg.status : s.msg.method));

describe('server INVITE transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  it('sends 100 Trying after the configured delay when the TU is silent', () => {
    const h = new Harness({ tryingDelay: 200 });
    assert.equal(h.layer.receiveRequest(invite(), UDP_PEER), 'new');
    h.timers.advance(199);
    assert.equal(h.sent.length, 0);
    h.timers.advance(1);
    assert.deepEqual(statuses(h), [100]);
    assert.equal(h.sent[0]!.target, UDP_PEER);
    const trying = h.sent[0]!.msg as SipResponse;
    assert.equal(trying.to.params.get('tag'), undefined, '100 carries no To tag');
    assert.equal(trying.vias[0]!.branch, 'z9hG4bKsrv1');
    assert.deepEqual(
      trying.headers.map((x) => x.name),
      ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Content-Length'],
    );
    assert.match(
      h.sent[0]!.data.toString(),
      /^SIP\/2\.0 100 Trying\r\nVia: SIP\/2\.0\/UDP carrier\.example\.net;branch=z9hG4bKsrv1\r\n/,
    );
    h.layer.shutdown();
    assert.ok(h.isClean());
  });

  it('does not send 100 Trying when the TU sent a provisional first', () => {
    const h = new Harness({ tryingDelay: 200 });
    h.layer.receiveRequest(invite(), UDP_PEER);
    h.timers.advance(50);
    assert.equal(h.lastServer().respond(reply(h, 180, 'Ringing')), true);
    h.timers.advance(1000);
    assert.deepEqual(statuses(h), [180]);
    h.layer.shutdown();
  });

  it('by default sends 100 Trying at once, unless the TU answers synchronously', () => {
    const h = new Harness();
    h.layer.receiveRequest(invite(), UDP_PEER);
    h.timers.advance(0);
    assert.deepEqual(statuses(h), [100]);
    h.layer.shutdown();

    const h2 = new Harness();
    h2.onRequest = (txn) => txn.respond(reply(h2, 183));
    h2.layer.receiveRequest(invite(), UDP_PEER);
    h2.timers.advance(500);
    assert.deepEqual(statuses(h2), [183]);
    h2.layer.shutdown();

    const h3 = new Harness({ tryingDelay: null });
    h3.layer.receiveRequest(invite(), UDP_PEER);
    h3.timers.advance(10_000);
    assert.deepEqual(statuses(h3), []);
    h3.layer.shutdown();
  });

  it('absorbs a retransmitted INVITE and resends the last provisional (or a 100 if none yet)', () => {
    const h = new Harness({ tryingDelay: 200 });
    assert.equal(h.layer.receiveRequest(invite(), UDP_PEER), 'new');
    h.timers.advance(100);
    assert.equal(h.layer.receiveRequest(invite(), UDP_PEER), 'retransmission');
    assert.deepEqual(statuses(h), [100]);
    h.timers.advance(500);
    assert.deepEqual(statuses(h), [100], 'the delayed 100 is not sent twice');
    h.lastServer().respond(reply(h, 180));
    h.layer.receiveRequest(invite(), UDP_PEER);
    assert.deepEqual(statuses(h), [100, 180, 180]);
    assert.equal(h.sent[2]!.data, h.sent[1]!.data, 'same bytes resent');
    assert.equal(h.serverTxns.length, 1, 'the TU saw the INVITE once');
    h.layer.shutdown();
  });

  it('retransmits a non-2xx final on Timer G up to T2, resends on INVITE, stops on ACK, then Timer I', () => {
    const h = new Harness();
    h.onRequest = (txn) => h.watch(txn);
    h.layer.receiveRequest(invite(), UDP_PEER);
    const txn = h.lastServerInvite();
    h.timers.advance(1000);
    h.clear();
    txn.respond(reply(h, 486, 'Busy Here'));
    assert.equal(txn.state, 'completed');
    h.timers.advance(20_000);
    assert.deepEqual(
      h.sendTimes().map((t) => t - 1000),
      [0, 500, 1500, 3500, 7500, 11500, 15500, 19500],
    );
    assert.ok(h.sent.every(isResponse(486)));
    h.layer.receiveRequest(invite(), UDP_PEER); // retransmitted INVITE
    assert.equal(h.sent.length, 9);
    assert.equal(h.layer.receiveRequest(ackFor(), UDP_PEER), 'ack-absorbed');
    assert.equal(txn.state, 'confirmed');
    h.timers.advance(4999);
    assert.equal(h.sent.length, 9, 'no retransmission after ACK');
    assert.equal(h.layer.receiveRequest(ackFor(), UDP_PEER), 'ack-absorbed', 'ACK retransmission absorbed');
    assert.equal(h.layer.receiveRequest(invite(), UDP_PEER), 'retransmission', 'INVITE absorbed in Confirmed');
    assert.equal(h.sent.length, 9);
    h.timers.advance(1);
    assert.equal(txn.state, 'terminated');
    assert.deepEqual(h.eventTypes(), ['server-terminated']);
    assert.ok(h.isClean());
  });

  it('reports Timer H when no ACK comes', () => {
    const h = new Harness();
    h.onRequest = (txn) => h.watch(txn);
    h.layer.receiveRequest(invite(), UDP_PEER);
    h.lastServer().respond(reply(h, 404));
    h.timers.advance(31_999);
    assert.deepEqual(h.eventTypes(), []);
    h.timers.advance(1);
    assert.deepEqual(h.eventTypes(), ['server-timeout', 'server-terminated']);
    assert.equal(h.events[0]!.at, 32_000);
    assert.ok(h.isClean());
    // A late ACK is now stray.
    assert.equal(h.layer.receiveRequest(ackFor(), UDP_PEER), 'stray-ack');
  });

  it('on 2xx enters Accepted: INVITE absorbed, TU 2xx retransmissions sent, ACK to TU, Timer L', () => {
    const h = new Harness();
    h.layer.receiveRequest(invite(), UDP_PEER);
    const txn = h.lastServerInvite();
    h.timers.advance(0);
    const ok = reply(h, 200, 'OK');
    txn.respond(ok);
    assert.equal(txn.state, 'accepted');
    h.timers.advance(500);
    assert.deepEqual(statuses(h), [100, 200], 'the transaction does not retransmit 2xx itself');
    assert.equal(h.layer.receiveRequest(invite(), UDP_PEER), 'retransmission');
    assert.deepEqual(statuses(h), [100, 200], 'retransmitted INVITE absorbed without a response');
    assert.equal(txn.respond(ok), true, 'TU retransmission of the 2xx');
    assert.equal(txn.respond(reply(h, 486)), false, 'non-2xx discarded in Accepted');
    assert.deepEqual(statuses(h), [100, 200, 200]);
    // An ACK reusing the INVITE branch (matching the transaction) goes to the TU with the transaction.
    assert.equal(h.layer.receiveRequest(ackFor(), UDP_PEER), 'stray-ack');
    assert.equal(h.events.at(-1)!.type, 'stray-ack');
    assert.equal(h.events.at(-1)!.txn, txn);
    // A proper ACK for 2xx has its own branch: stray, no transaction.
    const ack2 = request({ method: 'ACK', vias: [via({ host: 'carrier.example.net', branch: 'z9hG4bKack2' })] });
    assert.equal(h.layer.receiveRequest(ack2, UDP_PEER), 'stray-ack');
    assert.equal(h.events.at(-1)!.txn, undefined);
    assert.equal(h.layer.size(), 1);
    h.timers.advanceTo(32_000 - 1);
    assert.equal(txn.state, 'accepted');
    h.timers.advance(1);
    assert.equal(txn.state, 'terminated');
    assert.ok(h.isClean());
  });

  it('over a reliable transport: no Timer G, Timer I zero, Timer H still runs', () => {
    const h = new Harness();
    h.layer.receiveRequest(invite(), TCP_PEER);
    const txn = h.lastServerInvite();
    txn.respond(reply(h, 480));
    h.timers.advance(20_000);
    assert.deepEqual(statuses(h), [480]);
    h.layer.receiveRequest(ackFor(), TCP_PEER);
    assert.equal(txn.state, 'terminated');
    assert.ok(h.isClean());

    const h2 = new Harness();
    h2.onRequest = (t) => h2.watch(t);
    h2.layer.receiveRequest(invite(), TCP_PEER);
    h2.lastServer().respond(reply(h2, 480));
    h2.timers.advance(32_000);
    assert.deepEqual(h2.eventTypes(), ['server-timeout', 'server-terminated']);
    assert.deepEqual(statuses(h2), [480]);
    assert.ok(h2.isClean());
  });

  it('rejects invalid statuses and discards responses after termination', () => {
    const h = new Harness();
    h.layer.receiveRequest(invite(), TCP_PEER);
    const txn = h.lastServer();
    assert.throws(() => txn.respond({ ...reply(h, 200), status: 99 }), RangeError);
    txn.respond(reply(h, 486));
    h.layer.receiveRequest(ackFor(), TCP_PEER);
    assert.equal(txn.respond(reply(h, 200)), false);
    assert.ok(h.isClean());
  });
});

describe('server non-INVITE transaction (RFC 3261 §17.2.2)', () => {
  const bye = () =>
    request({
      method: 'BYE',
      cseq: 2,
      to: { ...invite().to, params: new Map([['tag', 'our-tag']]) },
      vias: [via({ host: 'carrier.example.net', branch: 'z9hG4bKbye1' })],
    });

  it('absorbs in Trying, resends provisional/final later, waits Timer J = 64·T1', () => {
    const h = new Harness();
    h.onRequest = (txn) => h.watch(txn);
    assert.equal(h.layer.receiveRequest(bye(), UDP_PEER), 'new');
    const txn = h.lastServer();
    assert.equal(txn.state, 'trying');
    h.timers.advance(300);
    assert.deepEqual(statuses(h), [], 'no automatic 100 for non-INVITE');
    assert.equal(h.layer.receiveRequest(bye(), UDP_PEER), 'retransmission');
    assert.deepEqual(statuses(h), []);
    txn.respond(createResponse(bye(), 100, 'Trying'));
    assert.equal(txn.state, 'proceeding');
    h.layer.receiveRequest(bye(), UDP_PEER);
    assert.deepEqual(statuses(h), [100, 100]);
    h.timers.advance(200);
    assert.equal(txn.respond(createResponse(bye(), 200, 'OK')), true);
    assert.equal(txn.state, 'completed');
    assert.equal(txn.respond(createResponse(bye(), 500, 'X')), false, 'second final discarded');
    h.layer.receiveRequest(bye(), UDP_PEER);
    assert.deepEqual(statuses(h), [100, 100, 200, 200]);
    h.timers.advance(31_999);
    assert.equal(txn.state, 'completed');
    assert.deepEqual(statuses(h), [100, 100, 200, 200], 'no response retransmission timer');
    h.timers.advance(1);
    assert.equal(txn.state, 'terminated');
    assert.deepEqual(h.eventTypes(), ['server-terminated']);
    assert.ok(h.isClean());
  });

  it('over a reliable transport Timer J is zero (terminates once the send settled)', async () => {
    const h = new Harness();
    h.layer.receiveRequest(bye(), TLS());
    h.lastServer().respond(createResponse(bye(), 200, 'OK'));
    await flush();
    assert.equal(h.lastServer().state, 'terminated');
    assert.ok(h.isClean());
  });

  it('gives up on a TU that never answers (safety net) and reports it', () => {
    const h = new Harness({ serverNonInviteTimeout: 10_000 });
    h.onRequest = (txn) => h.watch(txn);
    h.layer.receiveRequest(bye(), UDP_PEER);
    h.timers.advance(10_000);
    assert.deepEqual(h.eventTypes(), ['server-timeout', 'server-terminated']);
    assert.ok(h.isClean());
  });
});

describe('server transport errors (RFC 3261 §17.2.4, §18.2.2)', () => {
  const FALLBACK: Target = { transport: 'TCP', host: '198.51.100.7', port: 5060 };

  it('retries a failed response at the §18.2.2 fallback target and keeps using it', async () => {
    const h = new Harness({}, { responseFallback: () => FALLBACK });
    h.onRequest = (txn) => h.watch(txn);
    h.failSend = (t) => (t === UDP_PEER ? new Error('ECONNRESET') : undefined);
    h.layer.receiveRequest(invite(), UDP_PEER);
    const txn = h.lastServerInvite();
    txn.respond(reply(h, 180));
    await flush();
    assert.deepEqual(
      h.sent.map((s) => s.target),
      [UDP_PEER, FALLBACK],
    );
    assert.equal(txn.responseTarget, FALLBACK);
    txn.respond(reply(h, 603));
    h.timers.advance(500);
    assert.deepEqual(
      h.sent.slice(2).map((s) => s.target),
      [FALLBACK, FALLBACK],
      'final and its retransmission to the fallback',
    );
    assert.deepEqual(h.eventTypes(), []);
    h.layer.shutdown();
  });

  it('reports to the TU and terminates when there is no fallback or it fails too', async () => {
    for (const fallback of [undefined, FALLBACK]) {
      const h = new Harness({}, fallback ? { responseFallback: () => fallback } : {});
      h.onRequest = (txn) => h.watch(txn);
      h.failSend = () => new Error('EPIPE');
      h.layer.receiveRequest(invite(), TCP_PEER);
      h.lastServer().respond(reply(h, 486));
      await flush();
      await flush();
      assert.deepEqual(
        h.events.map((e: TuEvent) => e.type),
        ['server-transport-error', 'server-terminated'],
      );
      assert.equal(h.sent.length, fallback ? 2 : 1);
      assert.ok(h.isClean());
    }
  });

  it('in Accepted, a failed 2xx is reported but the transaction stays to absorb retransmissions', async () => {
    const h = new Harness();
    h.onRequest = (txn) => h.watch(txn);
    h.failSend = () => new Error('EPIPE');
    h.layer.receiveRequest(invite(), TCP_PEER);
    const txn = h.lastServerInvite();
    txn.respond(reply(h, 200));
    await flush();
    assert.deepEqual(h.eventTypes(), ['server-transport-error']);
    assert.equal(txn.state, 'accepted');
    h.timers.runAll();
    assert.ok(h.isClean());
  });

  it('a non-INVITE final over a reliable transport that fails is still reported', async () => {
    const h = new Harness();
    h.onRequest = (txn) => h.watch(txn);
    h.failSend = () => new Error('EPIPE');
    h.layer.receiveRequest(request({ method: 'OPTIONS' }), TCP_PEER);
    h.lastServer().respond(createResponse(request({ method: 'OPTIONS' }), 200, 'OK'));
    await flush();
    assert.deepEqual(h.eventTypes(), ['server-transport-error', 'server-terminated']);
    assert.ok(h.isClean());
  });
});

function TLS(): Target {
  return { transport: 'TLS', host: '52.114.14.70', port: 5061 };
}
