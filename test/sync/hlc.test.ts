import test from 'ava';
import { compareVersions, formatVersion, laterClock, nextVersion } from '../../src/sync/hlc.js';

test('versions order by wall time, then counter, then node id', (t) => {
  t.true(compareVersions({ wall: 2, counter: 0, node: 1 }, { wall: 1, counter: 9, node: 9 }) > 0);
  t.true(compareVersions({ wall: 1, counter: 1, node: 1 }, { wall: 1, counter: 0, node: 9 }) > 0);
  t.true(compareVersions({ wall: 1, counter: 0, node: 2 }, { wall: 1, counter: 0, node: 1 }) > 0);
  t.is(compareVersions({ wall: 1, counter: 0, node: 2 }, { wall: 1, counter: 0, node: 2 }), 0);
});

test('the next version follows the clock when it is ahead', (t) => {
  t.deepEqual(nextVersion(undefined, 1000, 3), { wall: 1000, counter: 0, node: 3 });
  t.deepEqual(nextVersion({ wall: 900, counter: 5, node: 1 }, 1000, 3), { wall: 1000, counter: 0, node: 3 });
});

test('a node whose clock is behind what it has seen still makes a later version', (t) => {
  const seen = { wall: 5000, counter: 2, node: 2 };
  const next = nextVersion(seen, 1000, 1);
  t.deepEqual(next, { wall: 5000, counter: 3, node: 1 });
  t.true(compareVersions(next, seen) > 0);
  t.deepEqual(nextVersion(next, 5000, 1), { wall: 5000, counter: 4, node: 1 });
});

test('the later clock reading ignores the node id', (t) => {
  const a = { wall: 10, counter: 1, node: 1 };
  const b = { wall: 10, counter: 0, node: 9 };
  t.is(laterClock(a, b), a);
  t.is(laterClock(b, a), a);
});

test('versions print as wall.counter@node', (t) => {
  t.is(formatVersion({ wall: 1700000000000, counter: 2, node: 3 }), '1700000000000.2@3');
});
