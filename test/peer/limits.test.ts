import test from 'ava';
import { Throttle } from '../../src/peer/limits.js';

test('a throttle lets a burst of each key through per interval, then counts what it held back', (t) => {
  let now = 0;
  const throttle = new Throttle(60_000, { burst: 2, now: () => now });
  t.deepEqual([throttle.pass('a'), throttle.pass('a'), throttle.pass('a'), throttle.pass('b'), throttle.pass('a')], [0, 0, undefined, 0, undefined]);
  now = 59_999;
  t.is(throttle.pass('a'), undefined);
  now = 60_000;
  t.is(throttle.pass('a'), 3, 'the next one through says how many were held back');
  t.is(throttle.pass('a'), 0);
  t.is(throttle.pass('a'), undefined);
});
