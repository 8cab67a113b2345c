import test from 'ava';
import { Topics } from '../../src/mqtt/topics.js';
import { MAX_PAYLOAD_BYTES, maxPayloadOf, Throttle } from '../../src/peer/limits.js';
import { open, seal, sealKey } from '../../src/peer/seal.js';

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

test('a presence report larger than its topic allows, or sealed under another key, does not open', (t) => {
  const topics = new Topics('home');
  const topic = topics.presence(1);
  const max = maxPayloadOf(topics.parse(topic));
  t.is(max, MAX_PAYLOAD_BYTES.presence);
  const key = sealKey('secret', 'home');
  const big = seal(key, topic, { origin: 1, seq: 1, online: [{ id: 'x'.repeat(max), since: 1 }] });
  const opened = open(key, topic, big, max);
  t.false(opened.ok);
  if (!opened.ok) t.regex(opened.reason, /more than/);
  const forged = open(key, topic, seal(sealKey('other secret', 'home'), topic, { origin: 1, seq: 1, online: [] }), max);
  t.false(forged.ok);
  if (!forged.ok) t.regex(forged.reason, /does not open/);
  // Nor does another node's report moved onto this topic.
  const moved = open(key, topic, seal(key, topics.presence(2), { origin: 2, seq: 1, online: [] }), max);
  t.false(moved.ok);
});
