// The control API over real HTTP, driving real UDP media through the pod.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type MediaPod, optionsFromEnv, startMediaPod } from '../app.ts';
import { carrierSdp, Endpoint, g711Packet, teamsSdp } from '../relay/testing.ts';
import { describeRemote } from '../sdp/negotiate.ts';
import { parseSdp } from '../sdp/sdp.ts';
import { SrtpContext } from '../srtp/context.ts';
import { formatCryptoAttribute, generateMasterKey, policyFromCrypto } from '../srtp/sdes.ts';

const BASE = 20_000 + 2 * randomInt(0, 10_000);

describe('control API', () => {
  let pod: MediaPod;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${pod.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    pod = await startMediaPod({
      pools: [
        { name: 'shared', low: BASE, high: BASE + 99 },
        { name: 'contoso', low: BASE + 200, high: BASE + 299, tenants: ['contoso'] },
      ],
      noMediaTimeoutMs: 0,
    });
  });
  after(() => pod.close());

  it('offer → answer → media → query → delete', async () => {
    const carrier = await Endpoint.open();
    const teams = await Endpoint.open();
    const offer = await call('POST', '/v1/sessions/call-42/legs/a/offer', {
      tenant: 'contoso',
      sdp: carrierSdp(carrier.port, { extra: [`a=rtcp:${carrier.port}`] }),
      profiles: { b: { srtp: true, ice: true } },
    });
    assert.equal(offer.status, 200);
    assert.equal(offer.body.to, 'b');
    const legs = offer.body.legs as Record<string, { port: number; rtcpPort: number }>;
    assert.ok(legs.a!.port >= BASE + 200 && legs.b!.rtcpPort <= BASE + 299);
    const toTeams = describeRemote(parseSdp(offer.body.sdp as string));
    assert.equal(toTeams.port, legs.b!.port);
    // same request again: same answer (idempotent)
    const again = await call('POST', '/v1/sessions/call-42/legs/a/offer', {
      tenant: 'contoso',
      sdp: carrierSdp(carrier.port, { extra: [`a=rtcp:${carrier.port}`] }),
      profiles: { b: { srtp: true, ice: true } },
    });
    assert.deepEqual(again.body, offer.body);

    const teamsKey = generateMasterKey();
    const crypto = formatCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', ...teamsKey });
    const answer = await call('POST', '/v1/sessions/call-42/legs/b/answer', { sdp: teamsSdp(teams.port, { crypto }) });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.to, 'a');
    const toCarrier = describeRemote(parseSdp(answer.body.sdp as string));
    assert.equal(toCarrier.srtp, false);
    assert.equal(toCarrier.port, legs.a!.port);
    // 183 then 200 with the same SDP: same response
    const again2 = await call('POST', '/v1/sessions/call-42/legs/b/answer', { sdp: teamsSdp(teams.port, { crypto }) });
    assert.deepEqual(again2.body, answer.body);

    const rx = new SrtpContext(policyFromCrypto(toTeams.crypto[0]!));
    for (let i = 0; i < 10; i++) {
      await carrier.send(g711Packet(i, 0xaaaa), toCarrier.port);
      await teams.waitFor(i + 1);
      assert.deepEqual(rx.unprotect(Buffer.from(teams.received[i]!.msg)), g711Packet(i, 0xaaaa));
    }
    const tx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', keys: [teamsKey] });
    await teams.send(tx.protect(g711Packet(1, 0xbbbb)) as Buffer, toTeams.port);
    await carrier.waitFor(1);
    assert.deepEqual(carrier.received[0]!.msg, g711Packet(1, 0xbbbb));

    const q = await call('GET', '/v1/sessions/call-42');
    assert.equal(q.status, 200);
    assert.equal(q.body.tenant, 'contoso');
    const qLegs = q.body.legs as Record<string, { stats: { received: { packets: number } } }>;
    assert.equal(qLegs.a!.stats.received.packets, 10);
    assert.equal(qLegs.b!.stats.received.packets, 1);
    assert.doesNotMatch(
      JSON.stringify(q.body),
      new RegExp(teamsKey.key.toString('base64').slice(0, 16).replace(/[+/]/g, '.')),
    );

    const upd = await call('POST', '/v1/sessions/nope/legs/a/update', { sdp: carrierSdp(1000) });
    assert.equal(upd.status, 404);
    const del = await call('DELETE', '/v1/sessions/call-42');
    assert.equal(del.status, 200);
    assert.equal(del.body.deleted, true);
    assert.ok(del.body.final);
    assert.equal((await call('DELETE', '/v1/sessions/call-42')).body.deleted, false);
    assert.equal((await call('GET', '/v1/sessions/call-42')).status, 404);
    const health = await call('GET', '/v1/health');
    assert.equal(health.body.sessions, 0);
    await Promise.all([carrier.close(), teams.close()]);
  });

  it('validates requests', async () => {
    assert.equal((await call('POST', '/v1/sessions/c1/legs/a/offer', { tenant: 't' })).status, 400);
    assert.equal((await call('POST', '/v1/sessions/c1/legs/a/offer', { sdp: carrierSdp(1000) })).status, 400);
    assert.equal(
      (await call('POST', '/v1/sessions/c1/legs/a/offer', { tenant: 't', sdp: carrierSdp(1000), bogus: 1 })).status,
      400,
    );
    const noAudio =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n';
    const r = await call('POST', '/v1/sessions/c1/legs/a/offer', { tenant: 't', sdp: noAudio });
    assert.equal(r.status, 488);
    assert.equal(r.body.error, 'not_acceptable');
    assert.equal((await call('POST', '/v1/sessions/c9/legs/b/answer', { sdp: carrierSdp(1000) })).status, 404);
  });

  it('reads its settings from the environment', () => {
    assert.deepEqual(
      optionsFromEnv({
        SWITCHBOARD_MEDIA_IP: '10.0.0.5',
        SWITCHBOARD_MEDIA_PORTS: '30000-30999',
        SWITCHBOARD_MEDIA_API_LISTEN: '127.0.0.1:7070',
      }),
      { mediaIp: '10.0.0.5', ports: '30000-30999', apiHost: '127.0.0.1', apiPort: 7070 },
    );
  });
});
