import test from 'ava';
import { GiveUp, waitFor } from '../../lab/wait.js';

test('waitFor resolves with the first value that is not false or undefined', async (t) => {
  let calls = 0;
  t.is(await waitFor('three calls', () => (++calls >= 3 ? 'done' : false), { timeoutMs: 2_000, intervalMs: 1 }), 'done');
  t.is(calls, 3);
});

test('waitFor is bounded: it names what it waited for and the last error', async (t) => {
  let calls = 0;
  const error = await t.throwsAsync(
    waitFor(
      'never',
      () => {
        calls++;
        throw new Error('not yet');
      },
      { timeoutMs: 50, intervalMs: 10 },
    ),
  );
  t.regex(error.message, /timed out after 50 ms waiting for never \(last error: not yet\)/);
  t.true(calls <= 6, `${calls} checks`);
});

test('GiveUp stops the wait at once', async (t) => {
  let calls = 0;
  await t.throwsAsync(
    waitFor(
      'a dead process',
      () => {
        calls++;
        throw new GiveUp('it exited');
      },
      { timeoutMs: 5_000 },
    ),
    { instanceOf: GiveUp },
  );
  t.is(calls, 1);
});
