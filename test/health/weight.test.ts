import test from 'ava';
import { clampWeight, HANDOVER_WEIGHT, SICK_WEIGHT, weightOf } from '../../src/health/weight.js';

test('well: 0 and nothing to say, whatever the peers', (t) => {
  t.deepEqual(weightOf({ sick: false, steppedDown: false, peers: { node2: 'sick' } }), { value: 0, reasons: [], steppedDown: false });
  t.deepEqual(weightOf({ sick: false, steppedDown: true, peers: { node2: 'well' } }), { value: 0, reasons: [], steppedDown: false });
});

test('sick with a peer known well: steps down to the floor', (t) => {
  t.deepEqual(weightOf({ sick: true, steppedDown: false, peers: { node2: 'well', node3: 'sick' } }), {
    value: SICK_WEIGHT,
    reasons: ['broker sick; stepping down for node2 (well)'],
    steppedDown: true,
  });
});

test('the sick weight puts any priority (1..254) at keepalived\'s floor of 1, and not below -253 (FAULT)', (t) => {
  for (const priority of [2, 100, 254]) t.is(Math.min(254, Math.max(1, priority + SICK_WEIGHT)), 1);
  t.true(SICK_WEIGHT >= -253);
});

test('every peer sick: the VIP stays (0)', (t) => {
  t.deepEqual(weightOf({ sick: true, steppedDown: false, peers: { node2: 'sick', node3: 'sick' } }), {
    value: 0,
    reasons: ['broker sick, but no peer is known well (sick: node2, node3): the VIP stays'],
    steppedDown: false,
  });
});

test('peers unknown (offline, unreachable, no status) are not sick, and not well: the VIP stays', (t) => {
  const weight = weightOf({ sick: true, steppedDown: false, peers: { node2: 'unknown', node3: 'sick' } });
  t.is(weight.value, 0);
  t.false(weight.steppedDown);
  t.deepEqual(weight.reasons, ['broker sick, but no peer is known well (sick: node3; unknown: node2): the VIP stays']);
  t.is(weightOf({ sick: true, steppedDown: false, peers: {} }).value, 0);
});

test('once down, a sick node stays down when its peers turn sick or unknown (it would pull the VIP onto itself)', (t) => {
  for (const peer of ['sick', 'unknown'] as const) {
    t.deepEqual(weightOf({ sick: true, steppedDown: true, peers: { node2: peer } }), {
      value: SICK_WEIGHT,
      reasons: ['broker sick; staying down (no peer is known well now)'],
      steppedDown: true,
    });
  }
});

// keepalived.conf(5), track_file: the value is added to the priority, the result limited to [1,254].
const effective = (priority: number, weight: number) => Math.min(254, Math.max(1, priority + weight));
const well = { sick: false, steppedDown: false, peers: { other: 'well' as const } };

test('promote: the promoted node ends at 254, strictly above every other node, from any configured priority', (t) => {
  for (const priority of [2, 100, 253, 254]) {
    const promoted = weightOf({ ...well, switchover: { action: 'promote', target: 'self', priority } });
    t.is(effective(priority, promoted.value), 254);
    t.deepEqual(promoted.reasons, ['promoted by the operator']);
    t.false(promoted.steppedDown);
    for (const other of [2, 100, 253, 254]) {
      if (other === priority) continue;
      const weight = weightOf({ ...well, switchover: { action: 'promote', target: 'other', priority: other } }).value;
      t.true(effective(other, weight) < 254, `a node at ${other} stays below the promoted one`);
    }
  }
});

test('promote: only a node configured at 254 gives one up; the others keep their priority', (t) => {
  t.deepEqual(weightOf({ ...well, switchover: { action: 'promote', target: 'other', priority: 254 } }), { value: -1, reasons: ['another node is promoted: below it'], steppedDown: false });
  for (const priority of [2, 150, 253]) t.deepEqual(weightOf({ ...well, switchover: { action: 'promote', target: 'other', priority } }), { value: 0, reasons: [], steppedDown: false });
});

test('demote: the demoted node ends at 2, below every other healthy node and above a sick one (1)', (t) => {
  for (const priority of [2, 100, 254]) {
    const demoted = weightOf({ ...well, switchover: { action: 'demote', target: 'self', priority } });
    t.is(effective(priority, demoted.value), 2);
    t.deepEqual(demoted.reasons, ['demoted by the operator']);
    t.true(effective(priority, demoted.value) > effective(priority, SICK_WEIGHT));
    for (const other of [2, 3, 100, 254]) {
      if (other === priority) continue;
      const weight = weightOf({ ...well, switchover: { action: 'demote', target: 'other', priority: other } }).value;
      t.true(effective(other, weight) > 2, `a node at ${other} stays above the demoted one`);
    }
  }
  t.deepEqual(weightOf({ ...well, switchover: { action: 'demote', target: 'other', priority: 2 } }), { value: 1, reasons: ['another node is demoted: above it'], steppedDown: false });
});

test('sick wins: a promoted or demoted node whose broker is sick weighs what its health says alone', (t) => {
  for (const action of ['promote', 'demote'] as const) {
    for (const target of ['self', 'other'] as const) {
      const switchover = { action, target, priority: 200 };
      t.deepEqual(weightOf({ sick: true, steppedDown: false, peers: { node2: 'well' }, switchover }), weightOf({ sick: true, steppedDown: false, peers: { node2: 'well' } }));
      t.deepEqual(weightOf({ sick: true, steppedDown: false, peers: { node2: 'sick' }, switchover }), weightOf({ sick: true, steppedDown: false, peers: { node2: 'sick' } }));
      t.deepEqual(weightOf({ sick: true, steppedDown: true, peers: { node2: 'unknown' }, switchover }), weightOf({ sick: true, steppedDown: true, peers: { node2: 'unknown' } }));
    }
  }
  t.is(effective(254, weightOf({ sick: true, steppedDown: false, peers: { node2: 'well' }, switchover: { action: 'promote', target: 'self', priority: 254 } }).value), 1);
});

test('promote: a promoted node not yet prepared for its takeover adds nothing yet, and says so; ready, it rises; the others are not affected', (t) => {
  t.deepEqual(weightOf({ ...well, switchover: { action: 'promote', target: 'self', priority: 180, ready: false } }), {
    value: 0,
    reasons: ['promoted by the operator: preparing the takeover (broker restart) before the weight rises'],
    steppedDown: false,
  });
  t.is(weightOf({ ...well, switchover: { action: 'promote', target: 'self', priority: 180, ready: true } }).value, 74);
  t.is(weightOf({ ...well, switchover: { action: 'promote', target: 'self', priority: 180 } }).value, 74, 'ready unless said otherwise');
  t.is(weightOf({ ...well, switchover: { action: 'promote', target: 'other', priority: 254, ready: false } }).value, -1);
  t.is(weightOf({ ...well, switchover: { action: 'demote', target: 'self', priority: 180, ready: false } }).value, 2 - 180);
});

test('no preference: the health term alone, as before', (t) => {
  t.deepEqual(weightOf({ ...well, switchover: undefined }), { value: 0, reasons: [], steppedDown: false });
});

test('every weight, for every combination, stays within ±253 (never FAULT)', (t) => {
  for (const sick of [false, true]) {
    for (const steppedDown of [false, true]) {
      for (const peer of ['well', 'sick', 'unknown'] as const) {
        for (const switchover of [undefined, ...(['promote', 'demote'] as const).flatMap((action) => (['self', 'other'] as const).flatMap((target) => [1, 2, 3, 253, 254].map((priority) => ({ action, target, priority }))))]) {
          const { value } = weightOf({ sick, steppedDown, peers: { node2: peer }, switchover });
          t.true(value >= -253 && value <= 253, JSON.stringify({ sick, steppedDown, peer, switchover, value }));
        }
      }
    }
  }
  t.is(clampWeight(400), 253);
  t.is(clampWeight(-400), -253);
  t.is(clampWeight(7), 7);
});

test('hand-over: a master stepping down for its health goes to FAULT (a priority-0 advert) while asked to; without it, the floor', (t) => {
  t.deepEqual(weightOf({ sick: true, steppedDown: false, peers: { node2: 'well' }, handover: true }), {
    value: HANDOVER_WEIGHT,
    reasons: ['broker sick; stepping down for node2 (well)', 'handing the VIP over now (FAULT for a priority-0 advert, until this node is MASTER no more)'],
    steppedDown: true,
  });
  t.true(HANDOVER_WEIGHT < -253, 'below -253: keepalived puts the instance in FAULT');
  t.is(weightOf({ sick: true, steppedDown: true, peers: { node2: 'well' }, handover: false }).value, SICK_WEIGHT);
});

test('hand-over: nothing without a step-down (every peer sick or unknown, or well again): the never-worse rules come first', (t) => {
  for (const peer of ['sick', 'unknown'] as const) t.is(weightOf({ sick: true, steppedDown: false, peers: { node2: peer }, handover: true }).value, 0);
  t.is(weightOf({ sick: false, steppedDown: true, peers: { node2: 'well' }, handover: true }).value, 0);
});
