import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from './workqueue.ts';

test('dedupes keys, re-runs a key added while processing, retries failures with backoff', async () => {
  const runs: string[] = [];
  let fail = 2;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const q = new WorkQueue(
    async (key) => {
      runs.push(key);
      if (key === 'slow' && runs.filter((k) => k === 'slow').length === 1) await gate;
      if (key === 'flaky' && fail-- > 0) throw new Error('boom');
    },
    { baseDelayMs: 1, maxDelayMs: 5 },
  );
  q.add('slow');
  q.add('a');
  q.add('a');
  await new Promise((r) => setImmediate(r));
  q.add('slow'); // while processing: runs once more afterwards
  release();
  await q.idle();
  assert.deepEqual(runs, ['slow', 'a', 'slow']);
  q.add('flaky');
  const deadline = Date.now() + 10_000;
  while (runs.filter((k) => k === 'flaky').length < 3 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  await q.idle();
  assert.equal(runs.filter((k) => k === 'flaky').length, 3);
  assert.equal(q.failures('flaky'), 0, 'success forgets the failures');
  await q.stop();
});
