import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipRequest } from '../message/types.ts';
import { MAGIC_COOKIE } from './branch.ts';
import { flush, Harness, isRequest, nameAddr, request, response, TCP_PEER, UDP_PEER, via } from './test-helpers.ts';

const invite = () => request({ vias: [via({ host: 'sbc.example.com', branch: 'z9hG4bKinv1' })] });
const options = () => request({ method: 'OPTIONS', vias: [via({ host: 'sbc.example.com', branch: 'z9hG4bKopt1' })] });

describe('client INVITE transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  it('retransmits on Timer A (T1 doubling) and reports Timer B at 64·T1 over UDP', () => {
    const h = new Harness();
    const txn = h.send(invite());
    assert.equal(txn.state, 'calling');
    h.timers.advance(31_999);
    assert.deepEqual(h.sendTimes(), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert.deepEqual(h.eventTypes(), []);
    h.timers.advance(1);
    assert.deepEqual(h.eventTypes(), ['timeout', 'terminated']);
    assert.equal(h.events[0]!.at, 32_000);
    assert.equal(txn.state, 'terminated');
    assert.ok(h.isClean());
    h.timers.advance(100_000);
    assert.equal(h.sent.length, 7, 'nothing sent after termination');
  });

  it('honours a configured T1', () => {
    const h = new Harness({ t1: 100 });
    h.send(invite());
    h.timers.runAll();
    assert.deepEqual(h.sendTimes(), [0, 100, 300, 700, 1500, 3100, 6300]);
    assert.equal(h.events[0]!.type, 'timeout');
    assert.equal(h.events[0]!.at, 6400);
    assert.ok(h.isClean());
  });

  it('stops retransmitting on a provisional and does not time out in Proceeding', () => {
    const h = new Harness();
    const req = invite();
    const txn = h.send(req);
    h.timers.advance(700);
    h.layer.receiveResponse(response(req, 100), UDP_PEER);
    h.layer.receiveResponse(response(req, 180, 'to-1'), UDP_PEER);
    assert.equal(txn.state, 'proceeding');
    h.timers.advance(120_000);
    assert.deepEqual(h.sendTimes(), [0, 500]);
    assert.deepEqual(h.eventTypes(), ['provisional', 'provisional']);
    assert.equal(h.timers.pending(), 0);
    txn.abandon();
    assert.ok(h.isClean());
  });

  it('ACKs a non-2xx final itself, absorbs its retransmissions, and waits Timer D', () => {
    const h = new Harness();
    const req = request({
      vias: [via({ host: 'sbc.example.com', branch: 'z9hG4bKinv2' }), via({ host: 'proxy.example.net' })],
      routes: [nameAddr('sip:edge1.example.net;lr'), nameAddr('sip:edge2.example.net;lr')],
      cseq: 42,
      extraHeaders: [{ name: 'Contact', value: '<sip:sbc.example.com>' }],
    });
    const txn = h.send(req);
    h.layer.receiveResponse(response(req, 180, 'callee-tag'), UDP_PEER);
    h.timers.advance(1000);
    const busy = response(req, 486, 'callee-tag', 'Busy Here');
    h.layer.receiveResponse(busy, UDP_PEER);
    assert.equal(txn.state, 'completed');
    assert.deepEqual(h.eventTypes(), ['provisional', 'final']);
    assert.equal(h.events[1]!.msg, busy);

    const acks = h.sent.filter(isRequest('ACK'));
    assert.equal(acks.length, 1);
    const ack = acks[0]!.msg as SipRequest;
    assert.equal(acks[0]!.target, UDP_PEER);
    assert.equal(ack.uriText, req.uriText);
    assert.deepEqual(ack.cseq, { seq: 42, method: 'ACK' });
    assert.equal(ack.callId, req.callId);
    assert.equal(ack.vias.length, 1);
    assert.equal(ack.vias[0]!.branch, 'z9hG4bKinv2');
    assert.equal(ack.to.params.get('tag'), 'callee-tag');
    assert.equal(ack.from.params.get('tag'), 'from-tag-1');
    assert.equal(ack.routes.length, 2);
    const text = acks[0]!.data.toString();
    assert.match(text, /^ACK sip:\+15551234567@sbc\.example\.com;user=phone SIP\/2\.0\r\n/);
    assert.equal(text.match(/^Via:/gm)?.length, 1);
    assert.match(text, /^Via: SIP\/2\.0\/UDP sbc\.example\.com;branch=z9hG4bKinv2\r$/m);
    assert.match(text, /^To: <sip:\+15551234567@sbc\.example\.com>;tag=callee-tag\r$/m);
    assert.match(text, /^CSeq: 42 ACK\r$/m);
    assert.match(text, /^Route: <sip:edge1\.example\.net;lr>\r\nRoute: <sip:edge2\.example\.net;lr>\r$/m);
    assert.doesNotMatch(text, /Contact/);
    assert.doesNotMatch(text, /proxy\.example\.net/);

    // A retransmitted 486 is re-ACKed with the same bytes and not passed up.
    h.timers.advance(2000);
    h.layer.receiveResponse(busy, UDP_PEER);
    const acks2 = h.sent.filter(isRequest('ACK'));
    assert.equal(acks2.length, 2);
    assert.equal(acks2[1]!.data, acks2[0]!.data);
    assert.deepEqual(h.eventTypes(), ['provisional', 'final']);

    // Timer D: 32 s after entering Completed (at t=1000).
    h.timers.advanceTo(32_999);
    assert.equal(txn.state, 'completed');
    h.timers.advance(1);
    assert.equal(txn.state, 'terminated');
    assert.deepEqual(h.eventTypes(), ['provisional', 'final', 'terminated']);
    assert.ok(h.isClean());
    // After termination a retransmitted final is stray.
    h.layer.receiveResponse(busy, UDP_PEER);
    assert.equal(h.events.at(-1)!.type, 'stray-response');
  });

  it('goes to Accepted on 2xx, passes every 2xx to the TU, absorbs others, ends on Timer M', () => {
    const h = new Harness();
    const req = invite();
    const txn = h.send(req);
    h.timers.advance(200);
    const ok = response(req, 200, 'a');
    h.layer.receiveResponse(ok, UDP_PEER);
    assert.equal(txn.state, 'accepted');
    h.timers.advance(1000);
    h.layer.receiveResponse(ok, UDP_PEER); // retransmission
    const forked = response(req, 200, 'b');
    h.layer.receiveResponse(forked, UDP_PEER); // another fork
    h.layer.receiveResponse(response(req, 180, 'c'), UDP_PEER);
    h.layer.receiveResponse(response(req, 486, 'd'), UDP_PEER);
    assert.deepEqual(h.eventTypes(), ['final', 'final', 'final']);
    assert.equal(h.events[1]!.msg, ok);
    assert.equal(h.events[2]!.msg, forked);
    assert.equal(h.sent.filter(isRequest('ACK')).length, 0, 'the transaction never ACKs a 2xx');
    assert.deepEqual(h.sendTimes(), [0], 'no retransmission in Accepted');
    h.timers.advanceTo(200 + 32_000 - 1);
    assert.equal(txn.state, 'accepted');
    h.timers.advance(1);
    assert.equal(txn.state, 'terminated');
    assert.ok(h.isClean());
    h.layer.receiveResponse(ok, UDP_PEER);
    assert.deepEqual(h.eventTypes(), ['final', 'final', 'final', 'terminated', 'stray-response']);
  });

  it('over a reliable transport: no Timer A, Timer B still fires, Timer D is zero', () => {
    const h = new Harness();
    const req = invite();
    h.send(req, TCP_PEER);
    h.timers.advance(31_999);
    assert.deepEqual(h.sendTimes(), [0]);
    h.timers.advance(1);
    assert.deepEqual(h.eventTypes(), ['timeout', 'terminated']);
    assert.ok(h.isClean());

    const h2 = new Harness();
    const txn = h2.send(req, TCP_PEER);
    h2.layer.receiveResponse(response(req, 503, 'x'), TCP_PEER);
    assert.equal(txn.state, 'terminated');
    assert.equal(h2.sent.filter(isRequest('ACK')).length, 1);
    assert.deepEqual(h2.eventTypes(), ['final', 'terminated']);
    assert.ok(h2.isClean());
  });

  it('reports a transport error on the initial send once, and stops', async () => {
    const h = new Harness();
    h.failSend = () => new Error('ECONNREFUSED');
    const txn = h.send(invite(), TCP_PEER);
    await flush();
    assert.equal(txn.state, 'terminated');
    assert.deepEqual(h.eventTypes(), ['transport-error', 'terminated']);
    assert.equal((h.events[0]!.err as Error).message, 'ECONNREFUSED');
    assert.ok(h.isClean());
  });

  it('reports a transport error on a retransmission (e.g. ICMP unreachable)', async () => {
    const h = new Harness();
    h.failSend = (_t, _m) => (h.sent.length === 3 ? new Error('EHOSTUNREACH') : undefined);
    h.send(invite());
    h.timers.advance(500);
    await flush();
    assert.deepEqual(h.eventTypes(), []);
    h.timers.advance(1000);
    await flush();
    assert.deepEqual(h.eventTypes(), ['transport-error', 'terminated']);
    assert.ok(h.isClean());
  });

  it('a send that throws synchronously is a transport error too', async () => {
    const h = new Harness();
    const layer = h.layer;
    // Wrap the harness transport through failSend throwing inside send.
    h.failSend = () => {
      throw new Error('boom');
    };
    layer.sendRequest(invite(), UDP_PEER, h.handlers());
    await flush();
    assert.deepEqual(h.eventTypes(), ['transport-error', 'terminated']);
    assert.ok(h.isClean());
  });

  it('a failed ACK after the final only ends the transaction', async () => {
    const h = new Harness();
    const req = invite();
    h.failSend = (_t, m) => (m.kind === 'request' && m.method === 'ACK' ? new Error('EPIPE') : undefined);
    h.send(req);
    h.layer.receiveResponse(response(req, 404, 't'), UDP_PEER);
    await flush();
    assert.deepEqual(h.eventTypes(), ['final', 'terminated']);
    assert.ok(h.isClean());
  });
});

describe('client non-INVITE transaction (RFC 3261 §17.1.2)', () => {
  it('retransmits on Timer E capped at T2 and reports Timer F at 64·T1', () => {
    const h = new Harness();
    h.send(options());
    h.timers.advance(31_999);
    assert.deepEqual(h.sendTimes(), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    h.timers.advance(1);
    assert.deepEqual(h.eventTypes(), ['timeout', 'terminated']);
    assert.equal(h.events[0]!.at, 32_000);
    assert.ok(h.isClean());
  });

  it('in Proceeding, Timer E continues at T2', () => {
    const h = new Harness();
    const req = options();
    const txn = h.send(req);
    h.timers.advance(600); // sent at 0 and 500; next E due at 1500
    h.layer.receiveResponse(response(req, 100), UDP_PEER);
    assert.equal(txn.state, 'proceeding');
    h.timers.advance(12_000);
    assert.deepEqual(h.sendTimes(), [0, 500, 1500, 5500, 9500]);
    assert.deepEqual(h.eventTypes(), ['provisional']);
    h.timers.runAll();
    assert.deepEqual(h.eventTypes(), ['provisional', 'timeout', 'terminated']);
    assert.ok(h.isClean());
  });

  it('passes the final, absorbs its retransmissions, and waits Timer K = T4', () => {
    const h = new Harness({ t4: 5000 });
    const req = options();
    const txn = h.send(req);
    h.timers.advance(100);
    const ok = response(req, 200, 'x');
    h.layer.receiveResponse(ok, UDP_PEER);
    assert.equal(txn.state, 'completed');
    h.layer.receiveResponse(ok, UDP_PEER);
    h.layer.receiveResponse(response(req, 180), UDP_PEER);
    assert.deepEqual(h.eventTypes(), ['final']);
    h.timers.advance(4999);
    assert.equal(txn.state, 'completed');
    assert.deepEqual(h.sendTimes(), [0]);
    h.timers.advance(1);
    assert.equal(txn.state, 'terminated');
    assert.ok(h.isClean());
  });

  it('over a reliable transport: no Timer E, Timer K is zero', () => {
    const h = new Harness();
    const req = options();
    const txn = h.send(req, TCP_PEER);
    h.timers.advance(10_000);
    assert.deepEqual(h.sendTimes(), [0]);
    h.layer.receiveResponse(response(req, 200, 'x'), TCP_PEER);
    assert.equal(txn.state, 'terminated');
    assert.deepEqual(h.eventTypes(), ['final', 'terminated']);
    assert.ok(h.isClean());
  });

  it('reports transport errors', async () => {
    const h = new Harness();
    h.failSend = () => new Error('ECONNRESET');
    h.send(options(), TCP_PEER);
    await flush();
    assert.deepEqual(h.eventTypes(), ['transport-error', 'terminated']);
    assert.ok(h.isClean());
  });
});

describe('TransactionLayer.sendRequest', () => {
  it('generates a magic-cookie branch when the Via has none, in the parsed and raw Via', () => {
    const h = new Harness();
    const req = request({ method: 'OPTIONS', vias: [via({ host: 'sbc.example.com', branch: null })] });
    const txn = h.send(req);
    assert.ok(txn.branch.startsWith(MAGIC_COOKIE));
    assert.equal(txn.request.vias[0]!.branch, txn.branch);
    assert.equal(req.vias[0]!.branch, undefined, 'the caller request is not mutated');
    const text = h.sent[0]!.data.toString();
    assert.match(text, new RegExp(`^Via: SIP/2\\.0/UDP sbc\\.example\\.com;branch=${txn.branch}\\r$`, 'm'));
    // Responses route to it by the generated branch.
    h.layer.receiveResponse(response(txn.request, 200, 't'), UDP_PEER);
    assert.deepEqual(h.eventTypes(), ['final']);
    h.layer.shutdown();
    assert.ok(h.isClean());
  });

  it('replaces an RFC 2543 branch in a comma-joined Via line and keeps the other Via values', () => {
    const h = new Harness({}, { generateBranch: () => 'z9hG4bKfixed' });
    const req = request({
      method: 'OPTIONS',
      joinVias: true,
      vias: [via({ host: 'sbc.example.com', branch: 'old2543' }), via({ host: 'p.example.net', branch: 'z9hG4bKp' })],
    });
    const txn = h.send(req);
    assert.equal(txn.branch, 'z9hG4bKfixed');
    assert.equal(
      txn.request.headers[0]!.value,
      'SIP/2.0/UDP sbc.example.com;branch=z9hG4bKfixed, SIP/2.0/UDP p.example.net;branch=z9hG4bKp',
    );
    h.layer.shutdown();
  });

  it('keeps INVITE and CANCEL with the same branch apart, and routes each response by CSeq method', () => {
    const h = new Harness();
    const inv = invite();
    const cancel = request({ method: 'CANCEL', vias: inv.vias });
    const ti = h.send(inv);
    const tc = h.send(cancel);
    assert.equal(h.layer.size(), 2);
    assert.equal(h.layer.findClientTransaction(ti.branch, 'CANCEL'), tc);
    h.layer.receiveResponse(response(cancel, 200, 't'), UDP_PEER);
    assert.equal(tc.state, 'completed');
    assert.equal(ti.state, 'calling');
    h.layer.receiveResponse(response(inv, 487, 't'), UDP_PEER);
    assert.equal(ti.state, 'completed');
    h.timers.runAll();
    assert.ok(h.isClean());
  });

  it('rejects ACK, a duplicate transaction, a request without Via, and a CSeq/method mismatch', () => {
    const h = new Harness();
    assert.throws(() => h.send(request({ method: 'ACK' })), /sendStateless/);
    assert.throws(() => h.send(request({ method: 'BYE', cseqMethod: 'INVITE' })), /CSeq/);
    assert.throws(() => h.send(request({ vias: [] })), /no Via/);
    h.send(invite());
    assert.throws(() => h.send(invite()), /already exists/);
    h.layer.shutdown();
    assert.ok(h.isClean());
  });

  it('sendStateless serializes and sends outside any transaction', async () => {
    const h = new Harness();
    await h.layer.sendStateless(request({ method: 'ACK' }), UDP_PEER);
    assert.equal(h.sent.length, 1);
    assert.equal(h.layer.size(), 0);
    h.failSend = () => new Error('x');
    await assert.rejects(h.layer.sendStateless(request({ method: 'ACK' }), UDP_PEER), /x/);
  });
});
