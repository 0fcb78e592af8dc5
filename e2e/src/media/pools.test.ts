// Media pools for sovereignty: a tenant pinned to a dedicated media pool (`mediaPool: regulated`) has its calls
// anchored only on that pool's media pods; other tenants stay on the shared pool; with the dedicated pool's pods
// gone, the tenant's calls are refused rather than moved onto shared pods.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type MediaPod, startMediaPod } from '../../../media-pod/src/index.ts';
import { MediaPodAnchor } from '../../../sbc-pod/src/media/media-pod-anchor.ts';
import { CONTOSO, FABRIKAM, type Fixture, providerManifests, startFixture } from '../b2bua/fixture.ts';
import { UdpPeer } from '../b2bua/udp-peer.ts';

let shared: MediaPod;
let regulated: MediaPod;
let f: Fixture;
let carrier: UdpPeer;
/** fabrikam's calls go to its dedicated carrier-c (fixture routing). */
let carrierC: UdpPeer;

before(async () => {
  shared = await startMediaPod({ mediaIp: '127.0.0.1', ports: '44000-44099', apiHost: '127.0.0.1', apiPort: 0 });
  regulated = await startMediaPod({ mediaIp: '127.0.0.1', ports: '44200-44299', apiHost: '127.0.0.1', apiPort: 0 });
  const manifests = (p: Parameters<typeof providerManifests>[0]) =>
    providerManifests(p).replace('  displayName: Contoso\n', '  displayName: Contoso\n  mediaPool: regulated\n');
  f = await startFixture({
    manifests,
    media: new MediaPodAnchor({ urls: [shared.url, `regulated=${regulated.url}`], healthIntervalMs: 0 }),
  });
  carrier = await UdpPeer.start({ port: f.ports.a });
  carrierC = await UdpPeer.start({ port: f.ports.c });
});
after(async () => {
  await carrier?.close();
  await carrierC?.close();
  await f?.close();
  await shared?.close();
  await regulated?.close();
});

const audioPort = (body: Buffer) => Number(/^m=audio (\d+) /m.exec(body.toString())?.[1]);

test('the regulated tenant is anchored on its dedicated media pods, the other tenant on the shared pool', async () => {
  assert.match(providerManifests({ a: 1, b: 2, c: 3, dead: 4 }), /displayName: Contoso\n/, 'the fixture shape');
  const contosoCall = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+15559871001' });
  const toCarrier = await carrier.waitForRequest('INVITE', (r) => r.uri.user === '+15559871001');
  const port = audioPort(toCarrier.msg.body);
  assert.ok(port >= 44200 && port <= 44299, `contoso media on the regulated pool (port ${port})`);
  assert.equal((await contosoCall.final()).status, 200);

  const fabrikamCall = await f.sim.placeCall({ tenantFqdn: FABRIKAM, from: '+15551240001', to: '+15559871002' });
  const toCarrier2 = await carrierC.waitForRequest('INVITE', (r) => r.uri.user === '+15559871002');
  const port2 = audioPort(toCarrier2.msg.body);
  assert.ok(port2 >= 44000 && port2 <= 44099, `fabrikam media on the shared pool (port ${port2})`);
  assert.equal((await fabrikamCall.final()).status, 200);

  await contosoCall.bye();
  await fabrikamCall.bye();
  const health = async (pod: MediaPod) => (await (await fetch(`${pod.url}/v1/health`)).json()) as { sessions: number };
  await f.waitForCdr((c) => c.callee === '+15559871002');
  assert.equal((await health(regulated)).sessions, 0);
  assert.equal((await health(shared)).sessions, 0);
});

test('with its dedicated media pool gone, the regulated tenant is refused, never moved onto shared pods', async () => {
  await regulated.close();
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230001', to: '+15559871003' });
  const final = await call.final(15_000);
  assert.ok(final.status >= 500, `refused (${final.status})`);
  const invites = carrier.received.items.filter(
    (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.uri.user === '+15559871003',
  );
  assert.equal(invites.length, 0, 'no carrier leg was started on shared media');
  const health = (await (await fetch(`${shared.url}/v1/health`)).json()) as { sessions: number };
  assert.equal(health.sessions, 0, 'nothing of contoso on the shared pool');
});
