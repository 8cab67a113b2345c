import test from 'ava';
import { SET_LEADER_TIMEOUT_S, SetLeader, setLeaderRequest, type RunSwitchover } from '../../src/control/set-leader.js';
import { SWITCHOVER_TIMEOUT_S, type Action } from '../../src/switchover/plan.js';
import { example } from '../helpers/config.js';

const { config } = example('two-node');
const [a, b] = config.nodes as [(typeof config.nodes)[0], (typeof config.nodes)[0]];

test('a node by name or id, or clear; the timeout in seconds, the CLI\'s by default', (t) => {
  t.deepEqual(setLeaderRequest(config, { command: 'setLeader', node: b.name }), { action: { type: 'promote', node: b }, timeoutMs: SWITCHOVER_TIMEOUT_S * 1000 });
  t.deepEqual(setLeaderRequest(config, { command: 'setLeader', node: a.id, timeout: 2.5 }), { action: { type: 'promote', node: a }, timeoutMs: 2500 });
  t.deepEqual(setLeaderRequest(config, { command: 'setLeader', clear: true }), { action: { type: 'clear' }, timeoutMs: SWITCHOVER_TIMEOUT_S * 1000 });
});

test('what is not a setLeader request says why', (t) => {
  const { min, max } = SET_LEADER_TIMEOUT_S;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /needs "node" \(a name or id\) or "clear": true/],
    [{ node: null }, /needs "node"/],
    [{ node: ['a'] }, /needs "node"/],
    [{ node: 'node9' }, /"node9" is not a node of cluster \S+: the nodes are/],
    [{ node: b.name, clear: true }, /a node or clear: true, not both/],
    [{ clear: false }, /clear must be true/],
    [{ node: b.name, timeout: 0 }, new RegExp(`timeout must be a number of seconds from ${min} to ${max}`)],
    [{ node: b.name, timeout: max + 1 }, /timeout must be/],
    [{ node: b.name, timeout: '5' }, /timeout must be/],
    [{ node: b.name, force: true }, /not force/],
  ];
  for (const [fields, reason] of cases) t.regex(t.throws(() => setLeaderRequest(config, { command: 'setLeader', ...fields })).message, reason, JSON.stringify(fields));
});

test('the refusals of promote: ucarp and preempt false', (t) => {
  t.regex(t.throws(() => setLeaderRequest({ ...config, failover: { ...config.failover, driver: 'ucarp' } }, { command: 'setLeader', node: b.name })).message, /failover.driver: keepalived/);
  t.regex(t.throws(() => setLeaderRequest({ ...config, failover: { ...config.failover, preempt: false } }, { command: 'setLeader', clear: true })).message, /failover.preempt: false/);
});

test('done: the leader and the ms; not in time: an error with each node; refused: the switchover\'s error', async (t) => {
  const runs: [Action, number][] = [];
  let next: Awaited<ReturnType<RunSwitchover>> | Error = { done: true, master: b.name, ms: 420 };
  const setLeader = new SetLeader(config, async (action, timeoutMs) => {
    runs.push([action, timeoutMs]);
    if (next instanceof Error) throw next;
    return next;
  });
  t.deepEqual(await setLeader.handle({ command: 'setLeader', node: b.name, timeout: 5 }), { leader: b.name, ms: 420 });
  t.deepEqual(runs, [[{ type: 'promote', node: b }, 5000]]);
  next = { done: true, master: a.name, ms: 300 };
  t.deepEqual(await setLeader.handle({ command: 'setLeader', clear: true }), { cleared: true, leader: a.name, ms: 300 });
  next = { done: false, nodes: ['a: role MASTER', 'b: role BACKUP'] };
  t.regex((await t.throwsAsync(setLeader.handle({ command: 'setLeader', node: b.name, timeout: 1 })))?.message ?? '', /^not done within 1000 ms .*: a: role MASTER; b: role BACKUP$/);
  next = new Error('not now, nothing changed:\n  b: its daemon is offline');
  t.is((await t.throwsAsync(setLeader.handle({ command: 'setLeader', node: b.name })))?.message, 'not now, nothing changed:\n  b: its daemon is offline');
  const before = runs.length;
  await t.throwsAsync(setLeader.handle({ command: 'setLeader', node: 'node9' }));
  t.is(runs.length, before, 'an unknown node runs nothing');
});

test('one switchover at a time: a second while one runs is refused at once and runs nothing; then the next may run', async (t) => {
  let release: () => void = () => undefined;
  let runs = 0;
  const setLeader = new SetLeader(config, async () => {
    runs++;
    await new Promise<void>((resolve) => (release = resolve));
    return { done: true, master: b.name, ms: 1 };
  });
  const first = setLeader.handle({ command: 'setLeader', node: b.name });
  const second = await t.throwsAsync(setLeader.handle({ command: 'setLeader', clear: true }));
  t.is(second?.message, `a switchover (promote ${b.name}) is running on this node; try again when it is done`);
  t.is(runs, 1);
  release();
  t.deepEqual(await first, { leader: b.name, ms: 1 });
  const third = setLeader.handle({ command: 'setLeader', clear: true });
  release();
  t.like(await third, { cleared: true });
  t.is(runs, 2);
});
