// The media pod heartbeat records the sbc-pod discovers media pods from (SWITCHBOARD_MEDIA_DISCOVERY=redis).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MEDIA_PODS_KEY, mediaPodKey, parseMediaPodRecord } from './redis-discovery.ts';

test('a heartbeat record gives the pod id, its advertised URL and its media pool', () => {
  assert.deepEqual(
    parseMediaPodRecord(JSON.stringify({ podId: 'm-1', url: 'http://10.0.0.7:8090/', pool: 'regulated', at: 1 })),
    { podId: 'm-1', url: 'http://10.0.0.7:8090', pool: 'regulated' },
  );
  assert.deepEqual(
    parseMediaPodRecord(JSON.stringify({ podId: 'm-2', url: 'http://10.0.0.8:8090', at: 1 })),
    { podId: 'm-2', url: 'http://10.0.0.8:8090', pool: 'default' },
    'a record without a pool (an older media pod) is in the default pool',
  );
});

test('anything else is not a media pod', () => {
  for (const text of [
    'not json',
    'null',
    '"x"',
    JSON.stringify({ url: 'http://10.0.0.7:8090' }),
    JSON.stringify({ podId: '', url: 'http://10.0.0.7:8090' }),
    JSON.stringify({ podId: 'm', url: '10.0.0.7:8090' }),
    JSON.stringify({ podId: 'm', url: 42 }),
  ]) {
    assert.equal(parseMediaPodRecord(text), null, text);
  }
});

test('the keys are the ones the media pods write (media-pod/src/state/redis-store.ts)', () => {
  assert.equal(MEDIA_PODS_KEY, 'switchboard:media:pods');
  assert.equal(mediaPodKey('m-1'), 'switchboard:media:pod:m-1');
});
