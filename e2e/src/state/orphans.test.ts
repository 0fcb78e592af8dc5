// Orphaned calls adopted without any request (DESIGN.md §8), with real sbc-pod processes on one Redis: the quiet
// calls of a pod killed with `kill -9` — no session timer, nothing arrives for them — are adopted by a survivor once
// the dead pod's heartbeat is older than the grace: the survivor holds them, their admission slots (lapsed meanwhile)
// count again, and a BYE later ends each with one CDR. A live pod's calls are never adopted; a drained pod's
// handed-over calls are adopted once it has exited.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { tenantKey } from '../../../sbc-pod/src/admission/redis-script.ts';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { ownedKey, PODS_KEY, recordKey } from '../../../sbc-pod/src/state/redis-store.ts';
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

interface Placed {
  call: UacCall;
  teams: IncomingCall;
  caller: string;
}

/** A carrier → Teams call through `pod` (no session timer asked for), answered by the simulator and confirmed. */
async function callThrough(pod: PodProcess): Promise<Placed> {
  const caller = `+1555985${String(5000 + seq++)}`;
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

/** Re-point the carrier's in-dialog requests at another pod. */
function via(call: UacCall, pod: PodProcess): UacCall {
  Object.assign(call, { target: pod.udp });
  return call;
}

async function activeCalls(pod: PodProcess): Promise<number> {
  const s = await c.status(pod);
  return Object.values(s.activeCalls ?? {}).reduce((a, b) => a + b, 0);
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many of these calls hold a live slot in their tenant's live-call set (member = inbound Call-ID). */
async function slots(calls: Placed[]): Promise<number> {
  const keys = await c.client.keys(tenantKey('*', 'calls'));
  let n = 0;
  for (const { call } of calls) {
    for (const key of keys) {
      const expiry = await c.client.zscore(key, call.invite.callId);
      if (expiry !== null && Number(expiry) > Date.now()) {
        n++;
        break;
      }
    }
  }
  return n;
}

async function cdrsFor(callers: string[], n: number, timeoutMs = 20_000): Promise<Cdr[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await c.streamCdrs()).filter((x) => callers.includes(x.caller));
    if (found.length >= n || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** BYE from the carrier through `pod`: 200, and the BYE reaches Teams. */
async function hangUp({ call, teams }: Placed, pod: PodProcess): Promise<void> {
  const seen = teams.requests.length;
  assert.equal((await via(call, pod).request('BYE', { timeoutMs: 15_000 })).status, 200, `BYE through ${pod.name}`);
  await teams.waitForRequest('BYE', 15_000, seen);
}

test('kill -9: a survivor adopts the quiet calls of the dead pod without any request; slots count again; BYE later', async () => {
  // Pod A's slot leases are short (they lapse soon after it dies), pod B's long; the grace (8 s) is well past A's
  // lease, so the slots are seen lapsing before B adopts the calls.
  const orphans = { SB_TEST_ORPHAN_GRACE_MS: '8000', SB_TEST_ORPHAN_SWEEP_MS: '500' };
  const a = await c.startPod('sbc-o1', { ...orphans, SB_TEST_ADMISSION_LEASE_MS: '3000' });
  const b = await c.startPod('sbc-o2', { ...orphans, SB_TEST_ADMISSION_LEASE_MS: '120000' });
  const calls: Placed[] = [];
  for (let i = 0; i < 3; i++) calls.push(await callThrough(a));
  assert.equal(await activeCalls(a), 3);
  assert.equal(await activeCalls(b), 0);
  assert.equal(await slots(calls), 3, 'each call holds its slot while pod A lives');
  assert.equal((await c.client.smembers(ownedKey('sbc-o1'))).length, 3, "pod A's owner index");

  await a.kill9();
  await until(async () => (await slots(calls)) === 0, "pod A's slot leases to lapse (nobody renews them)", 30_000);
  await until(async () => (await activeCalls(b)) === 3, 'pod B to adopt the three calls (no request sent)');
  await until(async () => (await slots(calls)) === 3, 'the slots reinstated by pod B');
  const ids = await c.client.smembers(ownedKey('sbc-o2'));
  assert.equal(ids.length, 3, "the calls are in pod B's owner index");
  const owners = await Promise.all(ids.map((id) => c.client.hget(recordKey(id), 'o')));
  assert.deepEqual(owners, ['sbc-o2', 'sbc-o2', 'sbc-o2'], 'pod B owns them in the store');
  await until(async () => (await c.client.hget(PODS_KEY, 'sbc-o1')) === null, 'pod A dropped from the pod record');
  assert.equal(await c.client.scard(ownedKey('sbc-o1')), 0);

  // Later, the carrier hangs up through pod B: each call ends there, both legs, one CDR naming both pods.
  for (const placed of calls) await hangUp(placed, b);
  await until(async () => (await activeCalls(b)) === 0, 'pod B to hold no call');
  const callers = calls.map((x) => x.caller);
  const cdrs = await cdrsFor(callers, calls.length);
  assert.equal(cdrs.length, calls.length, 'one CDR per call');
  assert.equal(new Set(cdrs.map((x) => x.id)).size, calls.length, 'no CDR twice');
  for (const cdr of cdrs) {
    assert.deepEqual(cdr.pods, ['sbc-o1', 'sbc-o2']);
    assert.equal(cdr.takenOverBy, 'sbc-o2');
    assert.equal(cdr.disposition, 'answered');
    assert.equal(cdr.endedBy, 'caller');
  }
  await until(async () => (await slots(calls)) === 0, 'the slots given back when the calls ended', 30_000);
  assert.equal(await c.client.scard(ownedKey('sbc-o2')), 0, "pod B's owner index is empty again");
});

test("a live pod's calls are never adopted, however long they stay quiet", async () => {
  // A short grace and frequent sweeps: pod B looks at the pod record many times while pod A lives.
  const orphans = { SB_TEST_ORPHAN_GRACE_MS: '2000', SB_TEST_ORPHAN_SWEEP_MS: '250' };
  const a = await c.startPod('sbc-o3', orphans);
  const b = await c.startPod('sbc-o4', orphans);
  const calls = [await callThrough(a), await callThrough(a)];
  // A lower bound only: many graces and sweeps pass.
  await new Promise((r) => setTimeout(r, 10_000));
  assert.equal(await activeCalls(a), 2, 'pod A still holds its calls');
  assert.equal(await activeCalls(b), 0, 'pod B adopted none');
  const ids = await c.client.smembers(ownedKey('sbc-o3'));
  assert.equal(ids.length, 2);
  for (const id of ids) assert.equal(await c.client.hget(recordKey(id), 'o'), 'sbc-o3');
  for (const placed of calls) await hangUp(placed, a);
  const cdrs = await cdrsFor(
    calls.map((x) => x.caller),
    calls.length,
  );
  assert.equal(cdrs.length, calls.length);
  for (const cdr of cdrs) assert.deepEqual(cdr.pods, ['sbc-o3'], 'ended where it was set up (no takeover)');
});

test('drain: the handed-over calls of a pod that exited are adopted by the survivors without any request', async () => {
  // Batch 1 a sweep: the two survivors share the calls (each adoption happens once: lock + compare-and-set).
  const orphans = { SB_TEST_ORPHAN_GRACE_MS: '8000', SB_TEST_ORPHAN_SWEEP_MS: '300', SB_TEST_ORPHAN_BATCH: '1' };
  const draining = await c.startPod('sbc-o5', orphans);
  const survivors = [await c.startPod('sbc-o6', orphans), await c.startPod('sbc-o7', orphans)];
  const calls: Placed[] = [];
  for (let i = 0; i < 4; i++) calls.push(await callThrough(draining));
  assert.equal(await draining.terminate(30_000), 0, 'the draining pod handed its calls over and exited');
  let counts: number[] = [];
  await until(async () => {
    counts = await Promise.all(survivors.map(activeCalls));
    return counts[0]! + counts[1]! === calls.length;
  }, 'the survivors to adopt the four handed-over calls');
  console.log(`# orphan adoption after drain: calls=${calls.length} adopted-by=${counts.join('/')}`);
  await new Promise((r) => setTimeout(r, 1_000));
  counts = await Promise.all(survivors.map(activeCalls));
  assert.equal(counts[0]! + counts[1]!, calls.length, 'each call held by exactly one survivor');
  for (const placed of calls) await hangUp(placed, survivors[0]!);
  const cdrs = await cdrsFor(
    calls.map((x) => x.caller),
    calls.length,
  );
  assert.equal(cdrs.length, calls.length, 'one CDR per call');
  assert.equal(new Set(cdrs.map((x) => x.id)).size, calls.length, 'no CDR twice');
  for (const cdr of cdrs) assert.equal(cdr.pods?.[0], 'sbc-o5');
});
