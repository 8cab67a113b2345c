import test from 'ava';
import { outranks, splitOf, SPLIT_WEIGHT, standingPriority, type SplitPeer } from '../../src/health/split.js';
import { SICK_WEIGHT, weightOf } from '../../src/health/weight.js';

const node1 = { id: 1, name: 'node1', priority: 200 };
const node2 = { id: 2, name: 'node2', priority: 180 };
const peer = (node: typeof node1, fields: Partial<SplitPeer> = {}): SplitPeer => ({ ...node, master: true, reachable: true, ...fields });

test('both MASTER over a working peer channel: the lower priority steps down, the higher only reports', (t) => {
  t.deepEqual(splitOf({ self: { ...node2, master: true }, peers: [peer(node1)] }), { masters: [peer(node1)], undecided: [], winner: peer(node1), stepDown: true });
  t.deepEqual(splitOf({ self: { ...node1, master: true }, peers: [peer(node2)] }), { masters: [peer(node2)], undecided: [], winner: { ...node1, master: true }, stepDown: false });
});

test('equal priorities: the lower id steps down, and both nodes compute the same winner', (t) => {
  const a = { id: 4, name: 'a', priority: 150 };
  const b = { id: 7, name: 'b', priority: 150 };
  const fromA = splitOf({ self: { ...a, master: true }, peers: [peer(b)] });
  const fromB = splitOf({ self: { ...b, master: true }, peers: [peer(a)] });
  t.true(fromA.stepDown);
  t.false(fromB.stepDown);
  t.is(fromA.winner?.id, 7);
  t.is(fromB.winner?.id, 7);
});

test('the standing priority decides: a sick node (health weight) loses even with the higher configured priority', (t) => {
  const sick = { ...node1, priority: standingPriority(200, SICK_WEIGHT) };
  t.is(sick.priority, 1);
  t.true(splitOf({ self: { ...sick, master: true }, peers: [peer(node2)] }).stepDown);
  t.false(splitOf({ self: { ...node2, master: true }, peers: [peer(sick)] }).stepDown);
  t.is(standingPriority(250, 100), 254);
});

test('three masters: everyone but the best steps down', (t) => {
  const node3 = { id: 3, name: 'node3', priority: 160 };
  const verdict = splitOf({ self: { ...node3, master: true }, peers: [peer(node1), peer(node2)] });
  t.true(verdict.stepDown);
  t.is(verdict.winner?.name, 'node1');
  t.false(splitOf({ self: { ...node1, master: true }, peers: [peer(node2), peer(node3)] }).stepDown);
});

test('peer channel down (offline or not connected): nothing is decided from it, it is reported as undecided', (t) => {
  const gone = peer(node1, { reachable: false });
  t.deepEqual(splitOf({ self: { ...node2, master: true }, peers: [gone] }), { masters: [], undecided: [gone], stepDown: false });
});

test('no split: this node not MASTER, or no peer MASTER', (t) => {
  t.deepEqual(splitOf({ self: { ...node2, master: false }, peers: [peer(node1)] }), { masters: [], undecided: [], stepDown: false });
  t.deepEqual(splitOf({ self: { ...node1, master: true }, peers: [peer(node2, { master: false })] }), { masters: [], undecided: [], stepDown: false });
});

test('stepped down: stays down (FAULT, not MASTER) while the winner is reachable, MASTER and outranks it, and VRRP has not healed', (t) => {
  t.deepEqual(splitOf({ self: { ...node2, master: false }, peers: [peer(node1)], steppedDownFor: 1, healed: false }), { masters: [peer(node1)], undecided: [], winner: peer(node1), stepDown: true });
});

test('stepped down: lifted when the winner\'s adverts arrive again (healed)', (t) => {
  t.deepEqual(splitOf({ self: { ...node2, master: false }, peers: [peer(node1)], steppedDownFor: 1, healed: true }), { masters: [], undecided: [], stepDown: false, lifted: 'healed' });
});

test('stepped down: lifted when the winner is gone (offline, unreachable, unknown), so a dead winner never leaves this node in FAULT', (t) => {
  for (const peers of [[peer(node1, { reachable: false })], []]) {
    t.deepEqual(splitOf({ self: { ...node2, master: false }, peers, steppedDownFor: 1 }), { masters: [], undecided: [], stepDown: false, lifted: 'winner unreachable' });
  }
});

test('stepped down: lifted when the winner gave up the VIP, or no longer outranks this node', (t) => {
  t.is(splitOf({ self: { ...node2, master: false }, peers: [peer(node1, { master: false })], steppedDownFor: 1 }).lifted, 'winner not MASTER');
  t.is(splitOf({ self: { ...node2, master: false }, peers: [peer(node1, { priority: 1 })], steppedDownFor: 1 }).lifted, 'winner outranked');
});

test('outranks: priority first, then id', (t) => {
  t.true(outranks(node1, node2));
  t.false(outranks(node2, node1));
  t.true(outranks({ id: 2, name: 'b', priority: 100 }, { id: 1, name: 'a', priority: 100 }));
  t.false(outranks(node1, node1));
});

test('weight: a split step-down is FAULT (-254, below keepalived\'s -253) whatever the health term', (t) => {
  t.true(SPLIT_WEIGHT < -253);
  t.deepEqual(weightOf({ sick: false, steppedDown: false, peers: {}, split: 'node1' }), { value: SPLIT_WEIGHT, reasons: ['split brain: giving up the VIP to node1 (FAULT)'], steppedDown: false });
  t.deepEqual(weightOf({ sick: true, steppedDown: false, peers: { node1: 'well' }, split: 'node1' }), {
    value: SPLIT_WEIGHT,
    reasons: ['broker sick; stepping down for node1 (well)', 'split brain: giving up the VIP to node1 (FAULT)'],
    steppedDown: true,
  });
  t.deepEqual(weightOf({ sick: false, steppedDown: false, peers: {}, split: undefined }), { value: 0, reasons: [], steppedDown: false });
});
