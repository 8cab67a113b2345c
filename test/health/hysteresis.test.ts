import test from 'ava';
import { INITIAL_HEALTH, nextHealth, type HealthChange, type HealthState, type ProbeResult, type Thresholds } from '../../src/health/hysteresis.js';

const THRESHOLDS = { fall: 3, rise: 2 };
const ok = (at: number): ProbeResult => ({ ok: true, at });
const fail = (at: number, problem = 'refused'): ProbeResult => ({ ok: false, at, problem });

/** Feeds the probes in order; returns the last state and every change. */
function feed(probes: ProbeResult[], state: HealthState = INITIAL_HEALTH, thresholds: Thresholds = THRESHOLDS): { state: HealthState; changes: HealthChange[] } {
  const changes: HealthChange[] = [];
  for (const probe of probes) {
    const next = nextHealth(state, probe, thresholds);
    state = next.state;
    if (next.change) changes.push(next.change);
  }
  return { state, changes };
}

test('starts well: successes change nothing', (t) => {
  const { state, changes } = feed([ok(0), ok(250), ok(500)]);
  t.is(state.verdict, 'well');
  t.deepEqual(changes, []);
});

test('fall failures in a row make it sick, with the reason and the run\'s times', (t) => {
  const { state, changes } = feed([ok(0), fail(250), fail(500), fail(750, 'no answer within 250 ms')]);
  t.is(state.verdict, 'sick');
  t.deepEqual(changes, [{ from: 'well', to: 'sick', reason: '3 probes in a row failed; the last: no answer within 250 ms', probes: 3, since: 250, at: 750, ms: 500 }]);
});

test('fewer failures than fall, broken by a success (a crash restarted in place), move nothing', (t) => {
  const { state, changes } = feed([fail(0), fail(250), ok(500), fail(750), fail(1000), ok(1250)]);
  t.is(state.verdict, 'well');
  t.deepEqual(changes, []);
});

test('rise successes in a row make a sick broker well; a failure in between starts the count again', (t) => {
  const sick = feed([fail(0), fail(1), fail(2)]).state;
  const { state, changes } = feed([ok(10), fail(20), ok(30), ok(40)], sick);
  t.is(state.verdict, 'well');
  t.deepEqual(changes, [{ from: 'sick', to: 'well', reason: '2 probes in a row succeeded', probes: 2, since: 30, at: 40, ms: 10 }]);
});

test('further failures while sick (and successes while well) change nothing', (t) => {
  const { changes } = feed([fail(0), fail(1), fail(2), fail(3), fail(4), ok(5), ok(6), ok(7)]);
  t.deepEqual(
    changes.map((change) => change.to),
    ['sick', 'well'],
  );
});

test('fall 1 and rise 1 flip on every change of result', (t) => {
  let state = INITIAL_HEALTH;
  const verdicts: string[] = [];
  for (const probe of [fail(0), ok(1), fail(2)]) {
    state = nextHealth(state, probe, { fall: 1, rise: 1 }).state;
    verdicts.push(state.verdict);
  }
  t.deepEqual(verdicts, ['sick', 'well', 'sick']);
});

test('a failure keeps its problem; a success clears it', (t) => {
  t.is(feed([fail(0, 'refused')]).state.problem, 'refused');
  t.is(feed([fail(0, 'refused'), ok(1)]).state.problem, undefined);
});

const HANG = { fall: 5, rise: 2, hangFall: 2 };
const unanswered = (at: number): ProbeResult => ({ ok: false, at, problem: 'no answer within 250 ms', unanswered: true });
const exited = (at: number): ProbeResult => ({ ok: false, at, problem: 'the broker exited on its own 4 ms after it was started', conclusive: true });

const feedWith = (thresholds: Thresholds, probes: ProbeResult[]) => feed(probes, INITIAL_HEALTH, thresholds);

test('hangFall unanswered probes in a row (a hung broker) make it sick before fall', (t) => {
  const { state, changes } = feedWith(HANG, [ok(0), unanswered(250), unanswered(500)]);
  t.is(state.verdict, 'sick');
  t.deepEqual(changes, [
    {
      from: 'well',
      to: 'sick',
      reason: '2 probes in a row got no answer (health.hang_fall 2: a hung broker); the last: no answer within 250 ms',
      probes: 2,
      since: 250,
      at: 500,
      ms: 250,
    },
  ]);
});

test('refused probes (a crash restarted in place) still need fall, however small hangFall is', (t) => {
  const { state, changes } = feedWith({ ...HANG, hangFall: 1 }, [fail(0), fail(250), fail(500), fail(750), ok(1000)]);
  t.is(state.verdict, 'well');
  t.deepEqual(changes, []);
});

test('only unanswered probes in a row count toward hangFall: a refusal in between starts them again', (t) => {
  t.deepEqual(feedWith(HANG, [unanswered(0), fail(250), unanswered(500), ok(750)]).changes, []);
  const { changes } = feedWith(HANG, [fail(0), unanswered(250), unanswered(500)]);
  t.deepEqual(
    changes.map(({ to, probes, since }) => ({ to, probes, since })),
    [{ to: 'sick', probes: 3, since: 0 }],
  );
});

test('fall still counts every failure, unanswered or not', (t) => {
  const { changes } = feedWith({ ...HANG, hangFall: 100 }, [unanswered(0), fail(1), unanswered(2), fail(3), unanswered(4)]);
  t.deepEqual(
    changes.map((change) => change.reason),
    ['5 probes in a row failed; the last: no answer within 250 ms'],
  );
});

test('a conclusive failure (the broker exited right after its start) makes it sick at once', (t) => {
  const { state, changes } = feedWith(HANG, [ok(0), fail(100), exited(600)]);
  t.is(state.verdict, 'sick');
  t.deepEqual(changes, [{ from: 'well', to: 'sick', reason: 'the broker exited on its own 4 ms after it was started (sick at once)', probes: 2, since: 100, at: 600, ms: 500 }]);
});

test('a conclusive failure while sick changes nothing, and rise successes still make it well', (t) => {
  const { state, changes } = feedWith(HANG, [exited(0), exited(1), ok(2), ok(3)]);
  t.is(state.verdict, 'well');
  t.deepEqual(
    changes.map((change) => change.to),
    ['sick', 'well'],
  );
});
