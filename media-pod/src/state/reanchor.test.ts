// Re-anchoring through Redis: a call set up on pod 1 moves to pod 2 after pod 1 dies; media flows again after each
// leg answered pod 2's re-INVITE offer. A private redis-server for this suite.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type RedisServer, startRedis } from '../../../e2e/src/harness/redis.ts';
import { type MediaPod, startMediaPod } from '../app.ts';
import { carrierSdp, Endpoint, g711Packet, teamsSdp } from '../relay/testing.ts';
import { describeRemote } from '../sdp/negotiate.ts';
import { parseSdp } from '../sdp/sdp.ts';
import { SrtpContext } from '../srtp/context.ts';
import { formatCryptoAttribute, generateMasterKey, policyFromCrypto } from '../srtp/sdes.ts';
import { RedisSessionStore } from './redis-store.ts';

const BASE = 20_000 + 2 * randomInt(0, 10_000);

async function post(url: string, body?: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('re-anchoring a call on another media pod (Redis state)', () => {
  let redis: RedisServer;
  let pod1: MediaPod;
  let pod2: MediaPod;
  let store: RedisSessionStore;

  before(async () => {
    redis = await startRedis();
    pod1 = await startMediaPod({
      redisUrl: redis.url,
      podId: 'media-1',
      pools: [{ name: 'p', low: BASE, high: BASE + 99 }],
    });
    pod2 = await startMediaPod({
      redisUrl: redis.url,
      podId: 'media-2',
      pools: [{ name: 'p', low: BASE + 200, high: BASE + 299 }],
    });
    store = new RedisSessionStore(redis.url);
  });
  after(async () => {
    await pod2.close();
    await store.close();
    await redis.stop();
  });

  it('moves the call, keeps media flowing with fresh keys, and never stores SRTP keys', async () => {
    const carrier = await Endpoint.open();
    const teams = await Endpoint.open();
    const offer = await post(`${pod1.url}/v1/sessions/call-r/legs/a/offer`, {
      tenant: 'contoso',
      sdp: carrierSdp(carrier.port, { extra: [`a=rtcp:${carrier.port}`] }),
      profiles: { b: { srtp: true, ice: true } },
    });
    assert.equal(offer.status, 200);
    const toTeams1 = describeRemote(parseSdp(offer.body.sdp as string));
    const teamsKey1 = generateMasterKey();
    const answer = await post(`${pod1.url}/v1/sessions/call-r/legs/b/answer`, {
      sdp: teamsSdp(teams.port, {
        crypto: formatCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', ...teamsKey1 }),
      }),
    });
    const toCarrier1 = describeRemote(parseSdp(answer.body.sdp as string));
    await carrier.send(g711Packet(1, 0xc0), toCarrier1.port);
    await teams.waitFor(1);

    // state in Redis, without key material
    const record = await store.load('call-r');
    assert.equal(record?.podId, 'media-1');
    assert.equal(record?.tenant, 'contoso');
    assert.deepEqual(await store.sessionsOfPod('media-1'), ['call-r']);
    const values: unknown[] = [];
    for (const k of await store.redis.keys('*')) {
      const t = await store.redis.type(k);
      values.push(t === 'string' ? await store.redis.get(k) : await store.redis.smembers(k));
    }
    const dump = JSON.stringify(values);
    assert.ok(!dump.includes('crypto'), 'no a=crypto lines stored');
    assert.ok(!dump.includes(teamsKey1.key.toString('base64').slice(0, 12)));
    assert.ok(!dump.includes(toTeams1.crypto[0]!.keys[0]!.key.toString('base64').slice(0, 12)));
    assert.ok((await store.alivePods()).some((p) => p.podId === 'media-2'));

    // pod 1 dies (its state stays in Redis); the sbc-pod asks pod 2 to take the call over
    await pod1.close({ keepState: true });
    const re = await post(`${pod2.url}/v1/sessions/call-r/reanchor`);
    assert.equal(re.status, 200);
    const again = await post(`${pod2.url}/v1/sessions/call-r/reanchor`);
    assert.deepEqual(again.body, re.body, 'idempotent while answers are outstanding');
    const offers = re.body.offers as Record<string, string>;
    const toCarrier2 = describeRemote(parseSdp(offers.a!));
    const toTeams2 = describeRemote(parseSdp(offers.b!));
    assert.ok(toCarrier2.port >= BASE + 200 && toTeams2.port >= BASE + 200, 'new ports on pod 2');
    assert.equal(toCarrier2.srtp, false);
    assert.equal(toTeams2.srtp, true);
    assert.ok(toTeams2.ice);
    assert.notDeepEqual(toTeams2.crypto[0]!.keys[0]!.key, toTeams1.crypto[0]!.keys[0]!.key, 'fresh key');

    // each leg answers its re-INVITE
    const a = await post(`${pod2.url}/v1/sessions/call-r/legs/a/answer`, {
      sdp: carrierSdp(carrier.port, { extra: [`a=rtcp:${carrier.port}`] }),
    });
    assert.equal(a.status, 200);
    assert.equal(a.body.sdp, null);
    const teamsKey2 = generateMasterKey();
    const b = await post(`${pod2.url}/v1/sessions/call-r/legs/b/answer`, {
      sdp: teamsSdp(teams.port, {
        crypto: formatCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', ...teamsKey2 }),
      }),
    });
    assert.equal(b.status, 200);

    const rx = new SrtpContext(policyFromCrypto(toTeams2.crypto[0]!));
    for (let i = 0; i < 20; i++) {
      await carrier.send(g711Packet(100 + i, 0xc0), toCarrier2.port);
      await teams.waitFor(2 + i);
      assert.deepEqual(rx.unprotect(Buffer.from(teams.received[1 + i]!.msg)), g711Packet(100 + i, 0xc0));
    }
    const tx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', keys: [teamsKey2] });
    await teams.send(tx.protect(g711Packet(7, 0xd0)) as Buffer, toTeams2.port);
    await carrier.waitFor(1);
    assert.deepEqual(carrier.received[0]!.msg, g711Packet(7, 0xd0));
    assert.equal((await store.load('call-r'))?.podId, 'media-2');
    assert.deepEqual(await store.sessionsOfPod('media-1'), []);

    // delete on pod 2 clears the state
    const del = await fetch(`${pod2.url}/v1/sessions/call-r`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(await store.load('call-r'), null);
    assert.equal((await post(`${pod2.url}/v1/sessions/call-r/reanchor`)).status, 404);
    await Promise.all([carrier.close(), teams.close()]);
  });
});
