// realTimers: short timers on setTimeout, long ones on the coarse wheel (never early, at most a tick late).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { realTimers, WHEEL_MIN_MS, WHEEL_TICK_MS } from './timers.ts';

test('wheel timers fire in order, not early, and cleared ones never fire', async () => {
  const t0 = performance.now();
  const fired: Array<[string, number]> = [];
  const done = new Promise<void>((resolve) => {
    realTimers.set(WHEEL_MIN_MS + 60, () => {
      fired.push(['late', performance.now() - t0]);
      resolve();
    });
  });
  realTimers.set(WHEEL_MIN_MS, () => fired.push(['first', performance.now() - t0]));
  const cleared = realTimers.set(WHEEL_MIN_MS + 20, () => fired.push(['cleared', performance.now() - t0]));
  realTimers.set(10, () => fired.push(['short', performance.now() - t0]));
  realTimers.clear(cleared);
  realTimers.clear(cleared); // idempotent
  await done;
  assert.deepEqual(
    fired.map(([n]) => n),
    ['short', 'first', 'late'],
  );
  assert.ok(fired[1]![1] >= WHEEL_MIN_MS, `fired early at ${fired[1]![1]}`);
  assert.ok(fired[2]![1] >= WHEEL_MIN_MS + 60);
  assert.ok(fired[1]![1] < WHEEL_MIN_MS + 10 * WHEEL_TICK_MS + 500, `fired late at ${fired[1]![1]}`);
});

test('a wheel timer set from a wheel callback fires later', async () => {
  const t0 = performance.now();
  const at = await new Promise<number>((resolve) => {
    realTimers.set(WHEEL_MIN_MS, () => realTimers.set(WHEEL_MIN_MS, () => resolve(performance.now() - t0)));
  });
  assert.ok(at >= 2 * WHEEL_MIN_MS);
});
