// Drain in local mode (in-memory dialog store, no Redis): not ready, new INVITEs get 503 + Retry-After, the live call
// finishes normally and drain() resolves once it has.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Fixture, startFixture } from '../b2bua/fixture.ts';
import { nextInboundCall } from '../b2bua/helpers.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';
import { withTimeout } from '../teams-sim/wait.ts';

let f: Fixture;
let peer: UdpPeer;

before(async () => {
  f = await startFixture({ env: { SWITCHBOARD_DRAIN_SECONDS: '30' } });
  peer = await UdpPeer.start();
});
after(async () => {
  await peer?.close();
  await f?.close();
});

test('drain: readiness false, new calls 503, the live call finishes, then drain resolves', async () => {
  assert.equal(f.pod.store.shared, false, 'local mode without Redis keeps the in-memory store');
  const sbc = { address: '127.0.0.1', port: f.udpPort };
  const inbound = nextInboundCall(f, '+15551230001');
  const live = peer.invite(sbc, { to: '+15551230001', from: '+15559877001' });
  const teams = await inbound;
  assert.equal((await live.final(10_000)).status, 200);
  await teams.waitForState('confirmed');

  let drained = false;
  const drain = f.pod.drain().then(() => {
    drained = true;
  });
  assert.equal(f.pod.draining(), true);
  const ready = await fetch(`http://127.0.0.1:${f.pod.element.admin.address.port}/readyz`);
  assert.notEqual(ready.status, 200, 'not ready while draining');
  const refused = await peer.invite(sbc, { to: '+15551230002', from: '+15559877002' }).final(10_000);
  assert.equal(refused.status, 503);
  assert.ok(refused.headers.some((h) => h.name.toLowerCase() === 'retry-after'));
  assert.equal(drained, false, 'the live call keeps the pod up');
  assert.equal((await live.request('BYE')).status, 200);
  await withTimeout(drain, 'drain to finish once the last call ended', 10_000);
  const cdr = await f.waitForCdr((c) => c.caller === '+15559877001');
  assert.equal(cdr.disposition, 'answered');
});
