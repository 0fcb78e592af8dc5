// Takeover by methods other than BYE and re-INVITE (DESIGN.md §8), with real sbc-pod processes and Redis: UPDATE
// (a session refresh, and one with an offer), INFO, and the ACK of a re-INVITE without SDP (it carries the answer to
// the 2xx offer the dead pod relayed) each reach a pod that did not set the call up, which takes the call over. And a
// taken-over call's admission slot: reinstated on the new pod, renewed there, given back when the call ends.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { tenantKey } from '../../../sbc-pod/src/admission/redis-script.ts';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { buildRequest, getHeader, type RawHeader, type SipResponse } from '../../../sbc-pod/src/sip/message/index.ts';
import { generateBranch } from '../../../sbc-pod/src/sip/transaction/index.ts';
import { type UacCall, UdpPeer } from '../b2bua/udp-peer.ts';
import type { IncomingCall } from '../teams-sim/calls.ts';
import { type Cluster, type PodProcess, startCluster } from './cluster.ts';

let c: Cluster;
let peer: UdpPeer;

before(async () => {
  c = await startCluster();
  peer = await UdpPeer.start();
});
after(async () => {
  await peer?.close();
  await c?.close();
});
afterEach(async () => {
  await Promise.all(c.pods.map((p) => p.kill9()));
});

let seq = 0;

/** A carrier → Teams call through `pod`, answered by the simulator and confirmed. */
async function callThrough(pod: PodProcess): Promise<{ call: UacCall; teams: IncomingCall; caller: string }> {
  const caller = `+1555986${String(5000 + seq++)}`;
  const teamsP = c.sim.inboundCalls.waitFor(
    (x) => x.invite.from.uriText.includes(caller),
    `the INVITE of ${caller} at Teams`,
    30_000,
  );
  const call = peer.invite(pod.udp, { to: '+15551230001', from: caller });
  const teams = await teamsP;
  assert.equal((await call.final(30_000)).status, 200);
  await teams.waitForState('confirmed');
  return { call, teams, caller };
}

/**
 * In-dialog requests of the carrier leg with our own CSeqs (from 100 up: above what UacCall used) sent to any pod,
 * so a test decides where each request — and each ACK — goes.
 */
function dialog(call: UacCall) {
  let cseq = 100;
  const build = (method: string, n: number, opts: { body?: string; headers?: RawHeader[] } = {}) =>
    buildRequest({
      method,
      uri: call.remoteTarget,
      vias: [`SIP/2.0/UDP ${peer.sentBy};branch=${generateBranch()};rport`],
      from: getHeader(call.invite, 'From')!,
      to: `${getHeader(call.invite, 'To')!};tag=${call.remoteTag}`,
      callId: call.invite.callId,
      cseq: { seq: n, method },
      routes: call.routeSet,
      ...(method === 'INVITE' || method === 'UPDATE' ? { contacts: [call.invite.contacts[0]!.uriText] } : {}),
      headers: opts.headers ?? [],
      ...(opts.body !== undefined ? { contentType: 'application/sdp', body: opts.body } : {}),
    });
  return {
    /** Send and wait for the final response (no automatic ACK). */
    async request(
      pod: PodProcess,
      method: string,
      opts: { body?: string; headers?: RawHeader[] } = {},
    ): Promise<{ res: SipResponse; cseq: number }> {
      const n = ++cseq;
      peer.send(build(method, n, opts), pod.udp);
      const res = await peer.waitForResponse(
        (r) => r.callId === call.invite.callId && r.cseq.seq === n && r.cseq.method === method && r.status >= 200,
        `final response to ${method} ${n}`,
        15_000,
      );
      return { res, cseq: n };
    },
    ack(pod: PodProcess, n: number, body?: string): void {
      peer.send(build('ACK', n, body === undefined ? {} : { body }), pod.udp);
    },
  };
}

async function cdrsFor(caller: string, n = 1, timeoutMs = 15_000): Promise<Cdr[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await c.streamCdrs()).filter((x) => x.caller === caller);
    if (found.length >= n || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The dialog-store record of this caller's call (sbc-pod/src/state/redis-store.ts keys). */
async function storedCall(caller: string): Promise<{ state: string; outbound?: { provisional: boolean } } | undefined> {
  for (const key of await c.client.keys('sb:{call:*}:dialog')) {
    const json = await c.client.hget(key, 'j');
    const rec = json
      ? (JSON.parse(json) as { caller: string; state: string; outbound?: { provisional: boolean } })
      : undefined;
    if (rec?.caller === caller) return rec;
  }
  return undefined;
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('UPDATE reaches a pod that did not set the call up: a refresh is answered there, an offer goes to Teams', async () => {
  const a = await c.startPod('sbc-u1');
  const b = await c.startPod('sbc-u2');
  const { call, teams, caller } = await callThrough(a);
  await a.kill9();
  const d = dialog(call);
  const refresh = await d.request(b, 'UPDATE', { headers: [{ name: 'Session-Expires', value: '1800;refresher=uac' }] });
  assert.equal(refresh.res.status, 200, 'a session refresh (UPDATE without SDP) answered by pod B');
  const seen = teams.requests.length;
  const offer = await d.request(b, 'UPDATE', { body: peer.sdp() });
  assert.equal(offer.res.status, 200, 'an UPDATE with an offer, through pod B');
  assert.ok(offer.res.body.length > 0, 'the answer comes back');
  const reinvite = await teams.waitForRequest('INVITE', 10_000, seen);
  assert.ok(reinvite.body.length > 0, 'Teams (which takes no UPDATE) got the offer as a re-INVITE');
  assert.equal((await d.request(b, 'BYE')).res.status, 200);
  const cdrs = await cdrsFor(caller);
  assert.equal(cdrs.length, 1);
  assert.deepEqual(cdrs[0]!.pods, ['sbc-u1', 'sbc-u2']);
  assert.equal(cdrs[0]!.takenOverBy, 'sbc-u2');
});

test('INFO reaches a pod that did not set the call up: relayed to Teams, 200 back; one CDR', async () => {
  const a = await c.startPod('sbc-i1');
  const b = await c.startPod('sbc-i2');
  const { call, teams, caller } = await callThrough(a);
  await a.kill9();
  const seen = teams.requests.length;
  const d = dialog(call);
  const info = await d.request(b, 'INFO', { headers: [{ name: 'Content-Type', value: 'application/dtmf-relay' }] });
  assert.equal(info.res.status, 200, 'INFO answered through pod B');
  await teams.waitForRequest('INFO', 10_000, seen);
  const bye = teams.requests.length;
  assert.equal((await d.request(b, 'BYE')).res.status, 200);
  await teams.waitForRequest('BYE', 10_000, bye);
  const cdrs = await cdrsFor(caller);
  assert.equal(cdrs.length, 1);
  assert.deepEqual(cdrs[0]!.pods, ['sbc-i1', 'sbc-i2']);
});

test('the ACK of a re-INVITE reaches a pod that did not relay its 2xx: it takes the call over and relays the answer', async () => {
  const a = await c.startPod('sbc-k1');
  const b = await c.startPod('sbc-k2');
  const { call, teams, caller } = await callThrough(a);
  const d = dialog(call);
  // A re-INVITE without SDP through A: Teams answers 200 with an offer; its answer comes in the carrier's ACK.
  const seen = teams.requests.length;
  const re = await d.request(a, 'INVITE');
  assert.equal(re.res.status, 200);
  assert.ok(re.res.body.length > 0, 'the 2xx carries the offer');
  await teams.waitForRequest('INVITE', 10_000, seen);
  await a.kill9();
  const acks = teams.requests.items.filter((r) => r.method === 'ACK').length;
  d.ack(b, re.cseq, peer.sdp());
  const ack = await teams.requests.waitFor(
    (r) => r.method === 'ACK' && r.body.length > 0,
    'the ACK with the answer at Teams',
    15_000,
    seen,
  );
  assert.ok(teams.requests.items.filter((r) => r.method === 'ACK').length > acks);
  assert.equal(ack.cseq.method, 'ACK');
  assert.match(ack.body.toString(), /m=audio/);
  assert.equal((await d.request(b, 'BYE')).res.status, 200, 'pod B carries the call on');
  const cdrs = await cdrsFor(caller);
  assert.equal(cdrs.length, 1);
  assert.deepEqual(cdrs[0]!.pods, ['sbc-k1', 'sbc-k2']);
  assert.equal(cdrs[0]!.takenOverBy, 'sbc-k2');
});

test("admission on takeover: the call's slot is reinstated on the new pod, kept, and released when the call ends", async () => {
  // Pod A's leases are short (they lapse soon after it dies); pod B's are long, so only B's release can end its lease.
  const a = await c.startPod('sbc-l1', { SB_TEST_ADMISSION_LEASE_MS: '3000' });
  const b = await c.startPod('sbc-l2', { SB_TEST_ADMISSION_LEASE_MS: '120000' });
  const { call, caller } = await callThrough(a);
  const keys = await c.client.keys(tenantKey('*', 'calls'));
  assert.equal(keys.length, 1, `one tenant holds slots (${keys})`);
  const key = keys[0]!;
  // The call's slot in the tenant's live-call set (member = inbound Call-ID, score = lease expiry): 1 while it counts.
  // (Only this call's member: a call an earlier failed test left behind must not change the answer.)
  const live = async () => {
    const expiry = await c.client.zscore(key, call.invite.callId);
    return expiry !== null && Number(expiry) > Date.now() ? 1 : 0;
  };
  assert.equal(await live(), 1, 'the call holds a slot while pod A lives');
  await a.kill9();
  await until(async () => (await live()) === 0, "pod A's lease to lapse (nobody renews it)");
  const d = dialog(call);
  const re = await d.request(b, 'INVITE', { body: peer.sdp() });
  assert.equal(re.res.status, 200, 're-INVITE through pod B (takeover)');
  d.ack(b, re.cseq);
  await until(async () => (await live()) === 1, 'the slot reinstated by pod B');
  // Past pod A's lease: still counted (pod B holds it now).
  await new Promise((r) => setTimeout(r, 4_000));
  assert.equal(await live(), 1, 'the taken-over call is still counted');
  assert.equal((await d.request(b, 'BYE')).res.status, 200);
  // B's lease is 120 s: only its release at the end of the call frees the slot within the wait.
  await until(async () => (await live()) === 0, 'the slot given back when the call ended', 30_000);
  assert.equal((await cdrsFor(caller)).length, 1);
});

test("CANCEL reaching another pod than its INVITE: the INVITE's pod cancels it while it lives, else a survivor does", async (t) => {
  const RINGING = '+15551230002';
  c.sim.setScript([{ status: 180 }], { number: RINGING }); // Teams rings and never answers
  t.after(() => c.sim.clearScripts());
  const a = await c.startPod('sbc-c1');
  const b = await c.startPod('sbc-c2');
  const ringing = async (pod: PodProcess) => {
    const caller = `+1555986${String(5000 + seq++)}`;
    const atTeams = c.sim.inboundCalls.waitFor(
      (x) => x.invite.from.uriText.includes(caller),
      'INVITE at Teams',
      30_000,
    );
    const call = peer.invite(pod.udp, { to: RINGING, from: caller });
    const teams = await atTeams;
    await call.waitFor(180, 15_000);
    return { call, teams, caller };
  };
  const cancelVia = async (call: UacCall, pod: PodProcess) => {
    Object.assign(call, { target: pod.udp });
    call.cancel();
    return peer.waitForResponse(
      (r) => r.callId === call.invite.callId && r.cseq.method === 'CANCEL',
      'the answer to the CANCEL',
      15_000,
    );
  };

  // The INVITE's pod is alive: pod B passes the CANCEL on (Redis pub/sub); pod A cancels the call.
  const one = await ringing(a);
  assert.equal((await cancelVia(one.call, b)).status, 200, 'CANCEL answered 200 by pod B (not 481)');
  assert.equal((await one.call.waitFor(487, 15_000)).status, 487, 'the INVITE ends 487');
  await one.teams.waitForState('cancelled', 15_000);
  const [cdr1] = await cdrsFor(one.caller);
  assert.equal(cdr1?.disposition, 'cancelled');
  assert.deepEqual(cdr1?.pods, ['sbc-c1'], 'pod A ended it (no takeover)');

  // The INVITE's pod is dead: nobody listens on its channel, so pod B takes the call over and cancels it.
  const two = await ringing(a);
  // The store knows the call rings (state early, a provisional seen): the survivor may CANCEL at once.
  let stored: { state: string; outbound?: { provisional: boolean } } | undefined;
  await until(async () => {
    stored = await storedCall(two.caller);
    return stored?.state === 'early';
  }, 'the ringing state in the store');
  assert.equal(stored?.outbound?.provisional, true);
  await a.kill9();
  assert.equal((await cancelVia(two.call, b)).status, 200, 'CANCEL answered 200 by pod B');
  assert.equal((await two.call.waitFor(487, 15_000)).status, 487, 'the INVITE ends 487 (sent by pod B)');
  await two.teams.waitForState('cancelled', 15_000);
  const [cdr2] = await cdrsFor(two.caller);
  assert.equal(cdr2?.disposition, 'cancelled');
  assert.deepEqual(cdr2?.pods, ['sbc-c1', 'sbc-c2']);
  assert.equal((await cdrsFor(two.caller, 2, 1_000)).length, 1, 'one CDR');
});
