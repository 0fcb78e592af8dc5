// Topology hiding (nothing of one leg's addressing or unknown headers leaks onto the other) and a hairpin through the
// SBC itself (Teams → SBC → SBC → Teams), which ends instead of looping and spends one Max-Forwards hop per pass.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { headerKey, type SipMessage as Msg, type SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { freeUdpTcpPort } from '../harness/ports.ts';
import { type CarrierPorts, CONTOSO, type Fixture, providerManifests, startFixture } from './fixture.ts';
import { nextInboundCall } from './helpers.ts';
import { UdpPeer } from './udp-peer.ts';

let f: Fixture;
let peer: UdpPeer;

before(async () => {
  const udpPort = await freeUdpTcpPort();
  // contoso reaches fabrikam's numbers through a "carrier" that is this SBC itself: a hairpin.
  const manifests = (p: CarrierPorts) =>
    providerManifests(p).replace(
      '    - name: failover\n',
      `    - name: hairpin
      match: { destinationPrefix: "+1555124" }
      action: { trunks: [{ name: hairpin, namespace: carriers }] }
    - name: failover
`,
    ) +
    `---
apiVersion: switchboard.dev/v1alpha1
kind: Trunk
metadata: { name: hairpin, namespace: carriers }
spec:
  targets: [{ host: 127.0.0.1, port: ${udpPort}, transport: UDP }]
  healthCheck: { enabled: false }
  numberNormalisation: { countryCode: "1" }
  sharing: { mode: Dedicated, tenantRef: { namespace: contoso, name: contoso } }
`;
  f = await startFixture({ manifests, udpPort });
  peer = await UdpPeer.start({ port: f.ports.b });
});
after(async () => {
  await peer?.close();
  await f?.close();
});

const INTERNAL = [
  { name: 'X-Internal', value: 'secret-topology' },
  { name: 'P-Asserted-Identity', value: '<sip:+15550000000@pbx.internal.corp>' },
  { name: 'Record-Route', value: '<sip:edge.internal.corp;lr>' },
  { name: 'Server', value: 'InternalPBX/9.9' },
];

/** Everything of `leaked` that appears anywhere in the headers of `msg` (start-line and SDP excluded). */
function leaks(msg: Msg, leaked: string[]): string[] {
  const text = msg.headers.map((h) => `${h.name}: ${h.value}`).join('\n');
  return leaked.filter((l) => l !== '' && text.includes(l));
}

function identity(req: SipRequest): string[] {
  return [
    req.callId,
    req.from.params.get('tag') ?? '',
    ...req.vias.flatMap((v) => [v.host, v.branch ?? '']),
    ...req.contacts.map((c) => c.uriText),
  ];
}

test('carrier → Teams: Teams sees none of the carrier leg’s Call-ID, tags, Vias, Contact, Record-Route or unknown headers', async () => {
  const sbc = { address: '127.0.0.1', port: f.udpPort };
  const inbound = nextInboundCall(f, '+15551230001');
  const call = peer.invite(sbc, { to: '+15551230001', from: '+15559874001', headers: INTERNAL });
  const teams = await inbound;
  const invite = teams.invite;
  const secrets = [...identity(call.invite), 'secret-topology', 'internal.corp', 'InternalPBX', `:${peer.port}`];
  assert.deepEqual(leaks(invite, secrets), []);
  for (const h of invite.headers) {
    assert.ok(!['x-internal', 'p-asserted-identity', 'record-route', 'server'].includes(headerKey(h.name)), h.name);
  }
  assert.equal(invite.vias.length, 1, 'only our Via');
  assert.equal(invite.contacts[0]?.uri.host, CONTOSO);
  // The answer back to the carrier hides Teams the same way.
  const ok = await call.final(10_000);
  assert.equal(ok.status, 200);
  const teamsSide = ['api-du-b-euwe', 'pstnhub', invite.callId, invite.from.params.get('tag') ?? ''];
  const teamsTag = teams.dialog?.localTag;
  if (teamsTag) teamsSide.push(teamsTag);
  assert.deepEqual(leaks(ok, teamsSide), []);
  assert.equal(ok.recordRoutes.length, 0);
  // In-dialog requests too.
  const seen = teams.requests.length;
  await call.request('INFO', { headers: INTERNAL.slice(0, 2) });
  const info = await teams.waitForRequest('INFO', 5_000, seen);
  assert.deepEqual(leaks(info, secrets), []);
  await call.request('BYE');
  await teams.waitForRequest('BYE', 5_000, seen);
});

test('Teams → carrier: the carrier sees none of Teams’ Call-ID, tags, Vias, Contact, Record-Route or X- headers', async () => {
  const mark = peer.received.length;
  const call = await f.sim.placeCall({
    tenantFqdn: CONTOSO,
    from: '+15551230002',
    to: '+16665554002',
    recordRoute: true,
    headers: [
      { name: 'X-MS-Internal', value: 'teams-secret' },
      { name: 'P-Asserted-Identity', value: '<sip:+15551230002@internal.teams.corp>' },
    ],
  });
  assert.equal((await call.final(10_000)).status, 200);
  const invite = (
    await peer.received.waitFor(
      (r) => r.msg.kind === 'request' && r.msg.method === 'INVITE',
      'the INVITE at the carrier',
      5_000,
      mark,
    )
  ).msg as SipRequest;
  const secrets = [
    ...identity(call.invite),
    'pstnhub',
    'teams-secret',
    'internal.teams.corp',
    CONTOSO,
    f.sim.targets[0]!.fqdn,
  ];
  assert.deepEqual(leaks(invite, secrets), []);
  assert.equal(invite.vias.length, 1);
  assert.equal(invite.recordRoutes.length, 0);
  assert.ok(!invite.headers.some((h) => /^x-ms-/i.test(h.name) && h.name.toLowerCase() !== 'x-ms-sbc'));
  await call.bye();
  await peer.waitForRequest('BYE', (r) => r.callId === invite.callId);
});

test('hairpin Teams → SBC → SBC → Teams: two calls, one hop less per pass, and it ends', async () => {
  const inbound = nextInboundCall(f, '+15551240001');
  const call = await f.sim.placeCall({ tenantFqdn: CONTOSO, from: '+15551230003', to: '+15551240001' });
  const teams = await inbound;
  assert.equal(teams.invite.maxForwards, 68, '70 from Teams, one hop per B2BUA pass');
  assert.equal(teams.tenant?.name, 'fabrikam');
  assert.equal((await call.final(10_000)).status, 200);
  await teams.waitForState('confirmed');
  await call.bye();
  await teams.waitForRequest('BYE');
  const out = await f.waitForCdr((c) => c.caller === '+15551230003' && c.direction === 'teams-to-carrier');
  const back = await f.waitForCdr((c) => c.callee === '+15551240001' && c.direction === 'carrier-to-teams');
  assert.equal(out.tenant, 'contoso/contoso');
  assert.equal(out.trunk, 'carriers/hairpin');
  assert.equal(back.tenant, 'fabrikam/fabrikam');
  assert.equal(out.disposition, 'answered');
  assert.equal(back.disposition, 'answered');
  assert.equal(f.pod.b2bua.activeCalls().length, 0);
});
