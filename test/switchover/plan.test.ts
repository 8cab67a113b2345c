import test from 'ava';
import type { NodeStatus } from '../../src/peer/status.js';
import { checkDriver, describeNodes, isDone, nodeNamed, planSwitchover, preferenceOf, type Action } from '../../src/switchover/plan.js';
import { example } from '../helpers/config.js';

const { config } = example('three-node');
const [a, b, c] = config.nodes as [(typeof config.nodes)[0], (typeof config.nodes)[0], (typeof config.nodes)[0]];

function status(id: number, patch: Partial<NodeStatus> = {}): NodeStatus {
  const node = config.nodes.find((n) => n.id === id)!;
  return { node: id, name: node.name, online: true, role: 'BACKUP', health: 'well', weight: { value: 0, reasons: [] }, run: 1, connection: 1, seq: 1, ...patch };
}
const statuses = (...list: NodeStatus[]) => new Map(list.map((s) => [s.node, s]));
const healthy = () => statuses(status(a.id, { role: 'MASTER' }), status(b.id), status(c.id));

test('a node by name or id; an unknown one is a usage error that lists the nodes', (t) => {
  t.is(nodeNamed(config, b.name), b);
  t.is(nodeNamed(config, String(c.id)), c);
  const error = t.throws(() => nodeNamed(config, 'nope'));
  t.is((error as { code?: string }).code, 'EUSAGE');
  t.is(error?.message, `"nope" is not a node of cluster ${config.cluster}: the nodes are ${config.nodes.map((n) => `${n.name} (id ${n.id})`).join(', ')}`);
});

test('ucarp and nopreempt cannot be switched over through the weights', (t) => {
  t.notThrows(() => checkDriver({ ...config, failover: { ...config.failover, preempt: true } }));
  t.regex(t.throws(() => checkDriver({ ...config, failover: { ...config.failover, driver: 'ucarp' } })).message, /need failover.driver: keepalived/);
  t.regex(t.throws(() => checkDriver({ ...config, failover: { ...config.failover, preempt: false } })).message, /failover.preempt: false/);
});

test('the preference each action writes', (t) => {
  t.deepEqual(preferenceOf({ type: 'promote', node: b }), { promote: b.name });
  t.deepEqual(preferenceOf({ type: 'demote', node: a }), { demote: a.name });
  t.deepEqual(preferenceOf({ type: 'clear' }), {});
});

test('promote: drains the master to the target; nothing to drain when the target is master already', (t) => {
  t.deepEqual(planSwitchover(config, healthy(), { type: 'promote', node: b }), { plan: { master: a, drainTo: [b] } });
  t.deepEqual(planSwitchover(config, healthy(), { type: 'promote', node: a }), { plan: { master: a, drainTo: [] } });
  t.deepEqual(planSwitchover(config, healthy(), { type: 'clear' }), { plan: { master: a, drainTo: [] } });
});

test('demote the master: drains to every other node whose broker is well; demote a backup: nothing to drain', (t) => {
  const list = statuses(status(a.id, { role: 'MASTER' }), status(b.id), status(c.id, { health: 'sick' }));
  t.deepEqual(planSwitchover(config, list, { type: 'demote', node: a }), { plan: { master: a, drainTo: [b] } });
  t.deepEqual(planSwitchover(config, list, { type: 'demote', node: b }), { plan: { master: a, drainTo: [] } });
});

test('refused while a daemon is offline or a status missing, or the target sick, or nowhere to demote to: every reason', (t) => {
  t.deepEqual(planSwitchover(config, statuses(status(a.id, { role: 'MASTER' }), status(b.id, { online: false })), { type: 'promote', node: b }), {
    refused: [`${b.name}: its daemon is offline`, `${c.name}: no status read from its broker (is it up?)`],
  });
  t.deepEqual(planSwitchover(config, statuses(status(a.id, { role: 'MASTER' }), status(b.id, { health: 'sick' }), status(c.id)), { type: 'promote', node: b }), { refused: [`${b.name}: its broker is sick`] });
  t.deepEqual(planSwitchover(config, statuses(status(a.id, { role: 'MASTER' }), status(b.id, { health: 'sick' }), status(c.id, { health: 'sick' })), { type: 'demote', node: a }), {
    refused: [`no node but ${a.name} has a broker known well: there is nowhere to move the VIP`],
  });
  t.true('refused' in planSwitchover(config, statuses(status(a.id, { online: false }), status(b.id), status(c.id)), { type: 'clear' }));
});

test('done: every node has the version, one MASTER, the right one', (t) => {
  const versions = (version: string) => ({ leader: { version, origin: 1, sha256: 'x' } });
  const all = (master: number, version = '5.0@1') => statuses(...config.nodes.map((n) => status(n.id, { role: n.id === master ? 'MASTER' : 'BACKUP', versions: versions(version) })));
  const promote: Action = { type: 'promote', node: b };
  t.true(isDone(config, all(b.id), promote, '5.0@1'));
  t.false(isDone(config, all(a.id), promote, '5.0@1'), 'the old master still');
  t.false(isDone(config, all(b.id), promote, undefined), 'this node has not published the version');
  t.false(isDone(config, all(b.id, '4.0@1'), promote, '5.0@1'), 'the nodes have an older version');
  const two = all(b.id);
  two.set(a.id, { ...two.get(a.id)!, role: 'MASTER' });
  t.false(isDone(config, two, promote, '5.0@1'), 'two masters');
  t.true(isDone(config, all(b.id), { type: 'demote', node: a }, '5.0@1'));
  t.false(isDone(config, all(a.id), { type: 'demote', node: a }, '5.0@1'));
  t.true(isDone(config, all(c.id), { type: 'clear' }, '5.0@1'));
});

test('on timeout, each node\'s state in one line', (t) => {
  const lines = describeNodes(config, statuses(status(a.id, { role: 'MASTER', weight: { value: -1, reasons: ['x'] }, versions: { leader: { version: '5.0@1', origin: 1, sha256: 'x' } } }), status(b.id, { online: false, health: 'sick' })), new Set([a.id, b.id]));
  t.deepEqual(lines, [
    `${a.name}: role MASTER, online, broker well, weight -1, preference version 5.0@1`,
    `${b.name}: role BACKUP, offline, broker sick, weight 0, preference version none`,
    `${c.name}: its broker cannot be reached`,
  ]);
});
