// Pods that share one listen address (SWITCHBOARD_SIP_REUSE_PORT=true, SO_REUSEPORT), as separate processes with one
// Redis: the kernel spreads the carrier's UDP flows (sipp -t un: one socket per call) and Teams' TLS connections over
// them; `kill -9` one mid-call and the kernel re-hashes its flows to the survivors, whose in-dialog requests (re-INVITE,
// UPDATE, INFO, BYE) take the calls over — with exactly one CDR per call.
//
// Why sipp -t un (not u1): with one socket per call every call is its own flow, so the kernel's flow hash spreads the
// calls over the pods (with -t u1 every call would land on one pod, and a kill would test nothing but one pod).
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { Cdr } from '../../../sbc-pod/src/cdr/record.ts';
import { CONTOSO } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { runSipp } from '../harness/sipp.ts';
import { type Cluster, type PodProcess, startCluster } from './cluster.ts';

const SCENARIO = new URL('../../scenarios/uac-indialog.xml', import.meta.url).pathname;
const TEAMS_USER = '+15551230001';

let c: Cluster;
/** carrier-a (the trunk's address), bound before any pod starts: a pod's reply socket takes an ephemeral port. */
let carrier: UdpPeer;

before(async () => {
  c = await startCluster();
  carrier = await UdpPeer.start({ port: c.ports.a });
});
after(async () => {
  await carrier?.close();
  await c?.close();
});
// Every pod of a test goes when it ends (pass or fail): a pod left on the shared address would take the next test's
// calls.
afterEach(async () => {
  await Promise.all(c.pods.map((p) => p.kill9()));
});

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function activeCalls(pod: PodProcess): Promise<number> {
  const s = await c.status(pod);
  return Object.values(s.activeCalls ?? {}).reduce((a, b) => a + b, 0);
}

/** CDRs of this caller from the Redis streams, once there are `n` (bounded wait: Redis has no event for it). */
async function cdrsOf(caller: string, n: number, timeoutMs = 30_000): Promise<Cdr[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await c.streamCdrs()).filter((x) => x.caller === caller);
    if (found.length >= n || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('3 pods on one address, sipp load, kill -9 one mid-call: re-INVITE, UPDATE, INFO, BYE succeed; one CDR per call', async () => {
  const pods = [
    await c.startPod('sbc-r1', c.sharedEnv()),
    await c.startPod('sbc-r2', c.sharedEnv()),
    await c.startPod('sbc-r3', c.sharedEnv()),
  ];
  const N = 30;
  const caller = '+15558001000';
  const teamsCalls = () => c.sim.inboundCalls.filter((x) => x.invite.from.uriText.includes(caller));
  // Every call: set up, then held 25 s (the kill happens then), then re-INVITE, UPDATE, INFO and BYE.
  const sipp = runSipp({
    scenario: SCENARIO,
    target: `127.0.0.1:${c.shared.udp.port}`,
    transport: 'un',
    calls: N,
    rate: 10,
    limit: N,
    extraArgs: ['-s', TEAMS_USER, '-key', 'caller', caller, '-d', '25000', '-max_socket', '200'],
    timeoutMs: 150_000,
  });
  await until(
    async () => (teamsCalls().filter((x) => x.state === 'confirmed').length >= N ? true : undefined),
    `${N} calls confirmed at Teams`,
  );
  const counts = await Promise.all(pods.map(activeCalls));
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    N,
    `every call is up on one pod (${counts})`,
  );
  assert.ok(counts.filter((n) => n > 0).length >= 2, `the kernel spread the calls over the pods (${counts})`);
  const victimIndex = counts.indexOf(Math.max(...counts));
  const victim = pods[victimIndex]!;
  const orphaned = counts[victimIndex]!;
  await victim.kill9();

  const result = await sipp;
  const teams = teamsCalls();
  const cdrs = await cdrsOf(caller, N);
  const ids = new Set(cdrs.map((x) => x.id));
  const failedOver = cdrs.filter((x) => x.pods?.includes(victim.name));
  // Losing a socket re-hashes flows among the survivors too: some of their own calls move between them (taken over
  // from a live pod).
  const moved = cdrs.filter((x) => !x.pods?.includes(victim.name) && (x.pods?.length ?? 0) > 1);
  console.log(
    `# shared-address figures: pods=3 calls=${N} on-killed-pod=${orphaned} sipp-ok=${result.stats.successful} ` +
      `sipp-failed=${result.stats.failed} lost=${N - result.stats.successful} CDRs=${cdrs.length} ` +
      `lost=${N - ids.size} doubled=${cdrs.length - ids.size} failed-over=${failedOver.length} ` +
      `moved-between-survivors=${moved.length}`,
  );
  assert.equal(result.stats.failed, 0, `no sipp call failed:\n${result.stdout.slice(-2000)}`);
  assert.equal(result.stats.successful, N, 'every call: re-INVITE, UPDATE, INFO and BYE answered 200');
  for (const t of teams) {
    const methods = t.requests.items.map((r) => r.method);
    assert.ok(methods.includes('INFO'), `INFO reached Teams (${methods})`);
    assert.ok(methods.includes('BYE'), `BYE reached Teams (${methods})`);
    assert.equal(methods.filter((m) => m === 'INVITE').length, 1, 're-INVITE reached Teams');
  }
  assert.equal(cdrs.length, N, 'one CDR per call');
  assert.equal(ids.size, N, 'no CDR twice');
  assert.equal(failedOver.length, orphaned, 'every call of the killed pod has its CDR, written by a survivor');
  for (const cdr of failedOver) {
    assert.equal(cdr.pods?.[0], victim.name);
    assert.ok(cdr.takenOverBy && cdr.takenOverBy !== victim.name, `taken over by a survivor (${cdr.takenOverBy})`);
    assert.equal(cdr.disposition, 'answered');
    assert.equal(cdr.endedBy, 'caller');
  }
});

test('Teams after a kill: the simulator reconnects to the shared address; re-INVITE and BYE go through a survivor', async () => {
  const pods = [await c.startPod('sbc-t1', c.sharedEnv()), await c.startPod('sbc-t2', c.sharedEnv())];
  const onPod = async (): Promise<PodProcess> =>
    until(async () => {
      for (const p of pods) {
        if (p.child.exitCode !== null || p.child.signalCode !== null) continue; // killed
        if ((await activeCalls(p)) > 0) return p;
      }
      return undefined;
    }, 'the pod holding the call');

  // Teams → carrier: Teams' TLS connection lands on one pod; its UDP INVITE to the carrier leaves from that pod's
  // reply socket, so the carrier's answer comes back to it (not to whichever pod its flow hashes to).
  const out = await c.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: TEAMS_USER,
    to: '+12125550101',
    sbc: { host: '127.0.0.1', port: c.shared.tlsPort },
  });
  assert.equal((await out.final(15_000)).status, 200);
  await out.waitForState('confirmed');
  const first = await onPod();
  await first.kill9();
  // As Teams would: it notices the TCP connection go (FIN/RST from the dead pod's kernel) before its next request.
  await until(async () => (out.dialog?.conn.closed ? true : undefined), 'the sim to see its connection close', 15_000);
  const survivor = pods.find((p) => p !== first)!;
  const invitesAtCarrier = carrier.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE');
  // The connection is gone: the sim reconnects to the SBC's Contact (the shared address) and lands on the survivor.
  assert.equal((await out.reinvite(undefined, { timeoutMs: 15_000 })).status, 200, 're-INVITE after the kill');
  assert.ok(
    carrier.received.filter((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE').length >
      invitesAtCarrier.length,
    'the re-INVITE reached the carrier',
  );
  const byeAtCarrier = carrier.waitForRequest('BYE', () => true, 15_000);
  assert.equal((await out.bye({ timeoutMs: 15_000 })).status, 200, 'BYE after the kill');
  await byeAtCarrier;

  // Carrier → Teams: the Teams leg is the SBC's own connection to Teams; after the kill Teams' BYE goes to the SBC's
  // Contact on a new connection.
  const caller = '+15558002000';
  const atTeams = c.sim.inboundCalls.waitFor(
    (x) => x.invite.from.uriText.includes(caller),
    'the INVITE at Teams',
    30_000,
  );
  const uac = carrier.invite(c.shared.udp, { to: TEAMS_USER, from: caller });
  const teams = await atTeams;
  assert.equal((await uac.final(15_000)).status, 200);
  await teams.waitForState('confirmed');
  const holder = await onPod();
  assert.equal(holder, survivor);
  const third = await c.startPod('sbc-t3', c.sharedEnv());
  pods.push(third);
  await holder.kill9();
  await until(
    async () => (teams.dialog?.conn.closed ? true : undefined),
    'the sim to see its connection close',
    15_000,
  );
  const byeAtCarrier2 = carrier.waitForRequest('BYE', (r) => r.callId === uac.invite.callId, 15_000);
  assert.equal((await teams.bye({ timeoutMs: 15_000 })).status, 200, 'Teams BYE after the kill');
  await byeAtCarrier2;

  const [fromTeams] = await cdrsOf(TEAMS_USER, 1);
  const [toTeams] = await cdrsOf(caller, 1);
  assert.ok(fromTeams && toTeams, 'a CDR for each call');
  assert.deepEqual(fromTeams.pods, [first.name, survivor.name]);
  assert.equal(fromTeams.endedBy, 'caller');
  assert.deepEqual(toTeams.pods, [survivor.name, third.name]);
  assert.equal(toTeams.endedBy, 'callee');
  assert.equal(
    (await cdrsOf(TEAMS_USER, 2, 1_000)).length + (await cdrsOf(caller, 2, 1_000)).length,
    2,
    'no CDR twice',
  );
});

test('a survivor cancels a dead pod’s ringing call toward a UDP carrier with the INVITE’s own Via (RFC 3261 §9.1)', async (t) => {
  const RINGING = '+12125550177';
  // The carrier rings and never answers this number; a CANCEL it matches by branch *and* sent-by (§17.2.3).
  carrier.onRequest = (req, from) => {
    if (req.method !== 'INVITE' || !req.uri.user?.includes(RINGING.slice(1))) return false;
    if (!req.to.params.has('tag')) carrier.respond(req, from, { status: 180 });
    return true;
  };
  t.after(() => {
    carrier.onRequest = undefined;
  });
  const pods = [await c.startPod('sbc-x1', c.sharedEnv()), await c.startPod('sbc-x2', c.sharedEnv())];
  const out = await c.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: TEAMS_USER,
    to: RINGING,
    sbc: { host: '127.0.0.1', port: c.shared.tlsPort },
  });
  await out.waitFor(180, 15_000);
  const invite = await carrier.received.waitFor(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.uri.user?.includes(RINGING.slice(1)) === true,
    'the INVITE at the carrier',
  );
  const holder = await until(async () => {
    for (const p of pods) if ((await activeCalls(p)) > 0) return p;
    return undefined;
  }, 'the pod holding the call');
  await holder.kill9();
  await until(async () => (out.tx.conn.closed ? true : undefined), 'the sim to see its connection close', 15_000);
  // Teams reconnects (the shared address, now only the survivor) and cancels; the survivor takes the call over.
  assert.equal((await out.cancel(15_000)).status, 200, 'CANCEL answered by the survivor');
  const cancel = await carrier.waitForRequest('CANCEL', (r) => r.callId === invite.msg.callId, 15_000);
  const inviteVia = invite.msg.vias[0]!;
  const cancelVia = cancel.msg.vias[0]!;
  assert.equal(cancelVia.branch, inviteVia.branch, 'same branch');
  assert.equal(`${cancelVia.host}:${cancelVia.port}`, `${inviteVia.host}:${inviteVia.port}`, 'same sent-by');
  // The INVITE's 487 cannot reach Teams (its transaction lived on the dead connection; Teams' Via names that
  // connection's ephemeral port): the survivor still ends the call, once, with the CDR.
  const cdr = await until(
    async () => (await c.streamCdrs()).find((x) => x.callee.includes(RINGING.slice(2))),
    'the CDR of the cancelled call',
    30_000,
  );
  assert.equal(cdr.disposition, 'cancelled');
  assert.equal(cdr.pods?.[0], holder.name);
  assert.ok(cdr.takenOverBy && cdr.takenOverBy !== holder.name, 'written by the survivor');
});
