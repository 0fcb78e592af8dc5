// SWITCHBOARD_SIP_ADVERTISED_FQDN (the chart's sbc.advertise.fqdn): a region's SBC FQDN goes into the Contact of the
// keep-alive OPTIONS toward Teams instead of the base domain (one install per region, docs/operations.md).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SipRequest } from '../../../sbc-pod/src/sip/message/index.ts';
import { BASE, type Fixture, startFixture } from '../b2bua/fixture.ts';
import { waitForCount } from './helpers.ts';

const REGION_FQDN = `eu.${BASE}`;
let f: Fixture;

before(async () => {
  f = await startFixture({
    env: { SWITCHBOARD_TEAMS_OPTIONS_INTERVAL: '0.2', SWITCHBOARD_SIP_ADVERTISED_FQDN: REGION_FQDN.toUpperCase() },
  });
});
after(async () => {
  await f?.close();
});

test('the keep-alive OPTIONS toward every Teams proxy carry the advertised FQDN in Contact and From', async () => {
  for (const name of ['sip', 'sip2', 'sip3']) {
    const seen = await waitForCount(
      f.sim.received,
      (r) => r.listener === name && r.msg.kind === 'request' && (r.msg as SipRequest).method === 'OPTIONS',
      2,
      `OPTIONS on ${name}`,
    );
    for (const r of seen) {
      const req = r.msg as SipRequest;
      assert.equal(req.contacts[0]?.uri.host, REGION_FQDN);
      assert.equal(req.contacts[0]?.uri.port, f.tlsPort);
      assert.equal(req.from.uri.host, REGION_FQDN);
    }
  }
});
