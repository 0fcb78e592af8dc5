// The media pod's environment (no-media timeout, media pool, advertised URL) and what it tells the sbc-pods: its
// heartbeat in the state store and `GET /v1/health` (pool, advertised URL, the calls it finds silent).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { optionsFromEnv, startMediaPod } from './app.ts';
import { carrierSdp, Endpoint } from './relay/testing.ts';
import { MemorySessionStore } from './state/store.ts';

const BASE = 20_000 + 2 * randomInt(0, 10_000);

describe('media pod environment', () => {
  it('reads the no-media timeout (seconds, 0 = off), the media pool and the advertised URL', () => {
    assert.deepEqual(
      optionsFromEnv({
        SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT: '90',
        SWITCHBOARD_MEDIA_POOL: 'regulated',
        SWITCHBOARD_MEDIA_API_ADVERTISED_URL: 'http://10.0.0.7:9100/',
        SWITCHBOARD_MEDIA_API_LISTEN: '0.0.0.0:9100',
      }),
      {
        noMediaTimeoutMs: 90_000,
        mediaPool: 'regulated',
        advertisedUrl: 'http://10.0.0.7:9100',
        apiHost: '0.0.0.0',
        apiPort: 9100,
      },
    );
    assert.equal(optionsFromEnv({ SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT: '0' }).noMediaTimeoutMs, 0);
    assert.equal(optionsFromEnv({ SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT: '1.5' }).noMediaTimeoutMs, 1500);
    assert.deepEqual(optionsFromEnv({}), {}, 'defaults come from startMediaPod');
  });

  it('refuses malformed values', () => {
    for (const v of ['-1', 'abc', '10s']) {
      assert.throws(() => optionsFromEnv({ SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT: v }), /NO_MEDIA_TIMEOUT/);
    }
    for (const v of ['Regulated', 'eu_west', '-x', 'a'.repeat(64)]) {
      assert.throws(() => optionsFromEnv({ SWITCHBOARD_MEDIA_POOL: v }), /SWITCHBOARD_MEDIA_POOL.*DNS label/);
    }
    for (const v of ['10.0.0.7:9100', 'ftp://x/']) {
      assert.throws(() => optionsFromEnv({ SWITCHBOARD_MEDIA_API_ADVERTISED_URL: v }), /ADVERTISED_URL/);
    }
  });
});

describe('media pod heartbeat and health', () => {
  const store = new MemorySessionStore();
  const pods: Array<{ close(): Promise<void> }> = [];
  after(() => Promise.all(pods.map((p) => p.close())));

  it('a pod in pool "default" advertising its listen URL unless told otherwise', async () => {
    const pod = await startMediaPod({ store, podId: 'm-default', ports: `${BASE}-${BASE + 19}` });
    pods.push(pod);
    assert.equal(pod.advertisedUrl, pod.url);
    const beat = (await store.alivePods()).find((p) => p.podId === 'm-default');
    assert.equal(beat?.url, pod.url);
    assert.equal(beat?.pool, 'default');
    const health = (await (await fetch(`${pod.url}/v1/health`)).json()) as Record<string, unknown>;
    assert.equal(health.pool, 'default');
    assert.deepEqual(health.noMedia, []);
  });

  it('heartbeat and health carry the media pool and the advertised URL; health lists the silent calls', async () => {
    const pod = await startMediaPod({
      store,
      podId: 'm-regulated',
      ports: `${BASE + 40}-${BASE + 59}`,
      mediaPool: 'regulated',
      advertisedUrl: 'http://192.0.2.10:9100',
      noMediaTimeoutMs: 200,
    });
    pods.push(pod);
    const beat = (await store.alivePods()).find((p) => p.podId === 'm-regulated');
    assert.deepEqual(
      { url: beat?.url, pool: beat?.pool },
      { url: 'http://192.0.2.10:9100', pool: 'regulated' },
      'what the sbc-pods discover',
    );
    // a call answered on both sides, then nobody sends: after the 200 ms timeout the health answer lists it
    const a = await Endpoint.open();
    const b = await Endpoint.open();
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${pod.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      assert.equal((await post('/v1/sessions/c-1/legs/a/offer', { tenant: 't', sdp: carrierSdp(a.port) })).status, 200);
      assert.equal((await post('/v1/sessions/c-1/legs/b/answer', { sdp: carrierSdp(b.port) })).status, 200);
      let health: { pool?: string; url?: string; noMedia?: string[] } = {};
      for (let i = 0; i < 200 && !health.noMedia?.includes('c-1'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        health = (await (await fetch(`${pod.url}/v1/health`)).json()) as typeof health;
      }
      assert.deepEqual(health.noMedia, ['c-1']);
      assert.equal(health.pool, 'regulated');
      assert.equal(health.url, 'http://192.0.2.10:9100');
      assert.equal(((await (await fetch(`${pod.url}/v1/sessions/c-1`)).json()) as { noMedia: boolean }).noMedia, true);
      await fetch(`${pod.url}/v1/sessions/c-1`, { method: 'DELETE' });
      health = (await (await fetch(`${pod.url}/v1/health`)).json()) as typeof health;
      assert.deepEqual(health.noMedia, [], 'an ended call is not reported');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses a media pool name that is not a DNS label', async () => {
    await assert.rejects(startMediaPod({ store, mediaPool: 'Not_A_Label' }), /DNS label/);
  });
});
