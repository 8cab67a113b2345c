import test from 'ava';
import { SICK_WEIGHT, weightOf } from '../../src/health/weight.js';

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
