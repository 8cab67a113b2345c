import test from 'ava';
import { MqfoError } from '../src/errors.js';
import { backoffDelay, retryUntil } from '../src/retry.js';

test('the delay starts at the minimum, doubles, and stops at the maximum', (t) => {
  const backoff = { minMs: 500, maxMs: 10_000 };
  t.deepEqual([0, 1, 2, 3, 4, 5, 6, 100].map((attempt) => backoffDelay(attempt, backoff)), [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  t.is(backoffDelay(-1, backoff), 500);
});

test('retryUntil returns the first success', async (t) => {
  let calls = 0;
  const value = await retryUntil({ what: 'x', code: 'ENOTREADY', timeoutMs: 5_000, intervalMs: 1 }, async () => {
    calls++;
    if (calls < 3) throw new Error(`not yet ${calls}`);
    return 'done';
  });
  t.is(value, 'done');
  t.is(calls, 3);
});

test('retryUntil gives up after its attempts with a coded error carrying the last failure', async (t) => {
  let calls = 0;
  const error = await t.throwsAsync(
    retryUntil({ what: 'the broker did not accept', code: 'ENOTREADY', timeoutMs: 60_000, intervalMs: 1, maxAttempts: 4 }, async () => {
      calls++;
      throw new Error(`refused ${calls}`);
    }),
    { instanceOf: MqfoError },
  );
  t.is(calls, 4);
  t.is(error.code, 'ENOTREADY');
  t.is(error.message, 'the broker did not accept: refused 4');
  t.is((error.cause as Error).message, 'refused 4');
});

test('retryUntil tries at least once, even with no time', async (t) => {
  let calls = 0;
  await t.throwsAsync(
    retryUntil({ what: 'x', code: 'EUNHEALTHY', timeoutMs: 0, intervalMs: 1 }, async () => {
      calls++;
      throw new Error('no');
    }),
    { message: 'x: no' },
  );
  t.is(calls, 1);
});
