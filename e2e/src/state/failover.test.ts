// Calls that survive their pod (DESIGN.md §8), with real processes sharing one Redis: `kill -9` a pod mid-call, then
// re-INVITE and BYE reach both legs through another pod and the CDR is written exactly once, naming both pods; the
// session timer of a call whose pod died still fires (on a survivor); SIGTERM drains under load and loses no call.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { CONTOSO } from '../b2bua/fixture.ts';
import { type UacCall, UdpPeer } from '../b2bua/udp-peer.ts';
import type { IncomingCall } from '../teams-sim/calls.ts';
import { type Cluster, type PodProcess, startCluster } from './cluster.ts';

let c: Cluster;
let peer: UdpPeer;

before(async () => {
  // Min-SE 3 s so a test can ask for a 6 s session; the survivor acts 1 s after a dead pod's deadline.
  c = await startCluster({ env: { SWITCHBOARD_SESSION_MIN_SE: '3' } });
  peer = await UdpPeer.start();
});
after(async () => {
  await peer?.close();
  await c?.close();
});

let seq = 0;

/** A carrier → Teams call through `pod`, answered by the simulator and confirmed. */
async function callThrough(
  pod: PodProcess,
  headers: Array<{ name: string; value: string }> = [],
): Promise<{ call: UacCall; teams: IncomingCall; caller: string }> {
  const caller = `+1555987${String(5000 + seq++)}`;
  const teamsP = c.sim.inboundCalls.waitFor(
    (x) => x.invite.from.uriText.includes(caller),
    `the INVITE of ${caller} at Teams`,
    30_000,
  );
  const call = peer.invite(pod.udp, { to: '+15551230001', from: caller, headers });
  const teams = await teamsP;
  assert.equal((await call.final(30_000)).status, 200);
  await teams.waitForState('confirmed');
  return { call, teams, caller };
}

/** Re-point the carrier's in-dialog requests at another pod (its Contact would be a shared address in production). */
function via(call: UacCall, pod: PodProcess): UacCall {
  Object.assign(call, { target: pod.udp });
  return call;
}

/** CDRs of these callers from the Redis streams, once there are `n` (bounded wait: Redis has no event for it). */
async function cdrsFor(callers: string[], n: number, timeoutMs = 15_000): Promise<Cdr[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await c.streamCdrs()).filter((x) => callers.includes(x.caller));
    if (found.length >= n || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('kill -9 mid-call: re-INVITE (CSeq continues) and BYE through another pod reach both legs; one CDR per call', async () => {
  const a = await c.startPod('sbc-a');
  const b = await c.startPod('sbc-b');
  const calls = [];
  for (let i = 0; i < 6; i++) calls.push(await callThrough(a));
  await a.kill9();

  let reinvites = 0;
  let byes = 0;
  for (const [i, { call, teams }] of calls.entries()) {
    via(call, b);
    if (i % 2 === 0) {
      const seen = teams.requests.length;
      const re = await call.request('INVITE', { sdp: true, timeoutMs: 10_000 });
      assert.equal(re.status, 200, 're-INVITE answered through pod B');
      const atTeams = await teams.waitForRequest('INVITE', 5_000, seen);
      assert.ok(atTeams.cseq.seq > teams.invite.cseq.seq, 'the Teams leg CSeq goes on from where pod A left it');
      reinvites++;
    }
    const seen = teams.requests.length;
    assert.equal((await call.request('BYE', { timeoutMs: 10_000 })).status, 200, 'BYE answered through pod B');
    await teams.waitForRequest('BYE', 5_000, seen);
    byes++;
  }
  const callers = calls.map((x) => x.caller);
  const cdrs = await cdrsFor(callers, calls.length);
  const ids = new Set(cdrs.map((x) => x.id));
  console.log(
    `# failover figures: calls=${calls.length} re-INVITEs=${reinvites} BYEs=${byes} lost=${calls.length - byes} ` +
      `CDRs=${cdrs.length} lost=${calls.length - ids.size} doubled=${cdrs.length - ids.size}`,
  );
  assert.equal(cdrs.length, calls.length, 'one CDR per call');
  assert.equal(ids.size, calls.length, 'no CDR twice');
  for (const cdr of cdrs) {
    assert.deepEqual(cdr.pods, ['sbc-a', 'sbc-b']);
    assert.equal(cdr.takenOverBy, 'sbc-b');
    assert.equal(cdr.disposition, 'answered');
    assert.equal(cdr.endedBy, 'caller');
    assert.ok(cdr.talkMs > 0);
  }
  await b.kill9();
});

test('the session timer of a call whose pod died fires on a survivor: both legs get BYE, one CDR', async () => {
  const victim = await c.startPod('sbc-c');
  const survivor = await c.startPod('sbc-d');
  // The carrier refreshes (and will not): the session expires 4 s after the answer (6 − 6/3).
  const { call, teams, caller } = await callThrough(victim, [
    { name: 'Session-Expires', value: '6;refresher=uac' },
    { name: 'Supported', value: 'timer' },
  ]);
  const answeredAt = Date.now();
  await victim.kill9();
  const seen = teams.requests.length;
  const carrierBye = peer.waitForRequest('BYE', (r) => r.callId === call.invite.callId, 30_000);
  await teams.waitForRequest('BYE', 30_000, seen);
  await carrierBye;
  const after = Date.now() - answeredAt;
  // Not before the session expired; the upper bound only says "by the survivor's timer, not never" (a loaded CI
  // machine may be slow to schedule the claim).
  assert.ok(after >= 3_500 && after < 30_000, `torn down ${after} ms after the answer (expiry 4 s + grace 1 s)`);
  const cdrs = await cdrsFor([caller], 1);
  assert.equal(cdrs.length, 1);
  assert.deepEqual(cdrs[0]!.pods, ['sbc-c', 'sbc-d']);
  assert.equal(cdrs[0]!.endedBy, 'sbc');
  assert.equal(cdrs[0]!.takenOverBy, 'sbc-d');
  await survivor.kill9();
});

test('SIGTERM drains under load: not ready, calls handed over, the pod exits; no call or CDR lost', async () => {
  const draining = await c.startPod('sbc-e');
  const other = await c.startPod('sbc-f');
  const calls = [];
  for (let i = 0; i < 8; i++) calls.push(await callThrough(draining));
  const code = await draining.terminate(30_000);
  assert.equal(code, 0, 'the draining pod exited by itself');
  let ended = 0;
  for (const { call, teams } of calls) {
    const seen = teams.requests.length;
    assert.equal((await via(call, other).request('BYE', { timeoutMs: 10_000 })).status, 200);
    await teams.waitForRequest('BYE', 5_000, seen);
    ended++;
  }
  const callers = calls.map((x) => x.caller);
  const cdrs = await cdrsFor(callers, calls.length);
  const ids = new Set(cdrs.map((x) => x.id));
  console.log(
    `# drain figures: calls=${calls.length} lost=${calls.length - ended} CDRs=${cdrs.length} ` +
      `lost=${calls.length - ids.size} doubled=${cdrs.length - ids.size}`,
  );
  assert.equal(cdrs.length, calls.length);
  assert.equal(ids.size, calls.length);
  for (const cdr of cdrs) assert.deepEqual(cdr.pods, ['sbc-e', 'sbc-f']);
  await other.kill9();
});

void CONTOSO;
