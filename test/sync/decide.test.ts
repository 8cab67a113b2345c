import test from 'ava';
import { decide, type FileState } from '../../src/sync/decide.js';

const v = (wall: number, node = 1, counter = 0) => ({ wall, counter, node });
const current: FileState = { version: v(20, 1), origin: 1, sha256: 'aaa', history: [v(20, 1), v(10, 2), v(0, 1)] };

test('a node without the file installs any version', (t) => {
  t.deepEqual(decide(undefined, { version: v(0, 2), history: [v(0, 2)], sha256: 'b' }), { type: 'install', keepCurrent: false });
});

test('the same version is nothing to do', (t) => {
  t.deepEqual(decide(current, { version: v(20, 1), history: [v(20, 1)], sha256: 'other' }), { type: 'same' });
});

test('a newer version made on top of this one is installed, nothing kept', (t) => {
  t.deepEqual(decide(current, { version: v(30, 2), history: [v(30, 2), v(20, 1)], sha256: 'bbb' }), { type: 'install', keepCurrent: false });
});

test('a newer version made without this one is installed, and this text kept', (t) => {
  t.deepEqual(decide(current, { version: v(30, 2), history: [v(30, 2), v(10, 2)], sha256: 'bbb' }), { type: 'install', keepCurrent: true });
});

test('a newer version with this very content only moves the version', (t) => {
  t.deepEqual(decide(current, { version: v(30, 2), history: [v(30, 2)], sha256: 'aaa' }), { type: 'adopt' });
});

test('an older version this file has been through is stale (a replay or a late copy)', (t) => {
  t.deepEqual(decide(current, { version: v(10, 2), history: [v(10, 2), v(0, 1)], sha256: 'old' }), { type: 'stale' });
});

test('an older version this file has not been through is a concurrent edit that lost', (t) => {
  t.deepEqual(decide(current, { version: v(15, 2), history: [v(15, 2), v(10, 2)], sha256: 'ccc' }), { type: 'conflict' });
});

test('ties in time go to the higher node id, on both sides', (t) => {
  const mine: FileState = { version: v(0, 1), origin: 1, sha256: 'one', history: [v(0, 1)] };
  const theirs: FileState = { version: v(0, 2), origin: 2, sha256: 'two', history: [v(0, 2)] };
  t.deepEqual(decide(mine, theirs), { type: 'install', keepCurrent: true });
  t.deepEqual(decide(theirs, mine), { type: 'conflict' });
});

test('an older version with the same text is nothing to do', (t) => {
  t.deepEqual(decide(current, { version: v(15, 2), history: [v(15, 2)], sha256: 'aaa' }), { type: 'same' });
});
