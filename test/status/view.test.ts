import test from 'ava';
import type { NodeView } from '../../src/control/commands.js';
import type { NodeStatus } from '../../src/peer/status.js';
import { formatStatus, formatTable, FROM_STATUSES, verdictOf, viewFromStatuses } from '../../src/status/view.js';
import { example } from '../helpers/config.js';

const { config } = example('three-node');
const [a, b, c] = config.nodes as [(typeof config.nodes)[0], (typeof config.nodes)[0], (typeof config.nodes)[0]];
const NOW = Date.parse('2026-11-24T05:00:00.000Z');
const SHA = 'ab12cd34ef'.padEnd(64, '0');

function status(id: number, patch: Partial<NodeStatus> = {}): NodeStatus {
  const node = config.nodes.find((n) => n.id === id)!;
  return { node: id, name: node.name, online: true, role: 'BACKUP', health: 'well', weight: { value: 0, reasons: [] }, versions: { passwd: { version: '1.0@1', origin: 1, sha256: SHA } }, run: 1, connection: 1, seq: 1, ...patch };
}
const statuses = (...list: NodeStatus[]) => new Map(list.map((s) => [s.node, s]));
const healthy = () => statuses(status(a.id, { role: 'MASTER', takeover: { epoch: 2, at: NOW - 60_000, ms: 131.4 } }), status(b.id), status(c.id));
const view = (map: Map<number, NodeStatus>) => viewFromStatuses(config, map, NOW);

test('the view from the statuses has getCluster\'s shape: the VIP\'s holder, every node, who answered and when', (t) => {
  const cluster = view(healthy());
  t.is(cluster.name, config.cluster);
  t.deepEqual(cluster.vip, { address: config.vip.address, holders: [a.name] });
  t.is(cluster.answeredBy, FROM_STATUSES);
  t.is(cluster.time, '2026-11-24T05:00:00.000Z');
  t.deepEqual(
    cluster.nodes.map((node) => [node.id, node.name, node.role, node.online, node.health]),
    [
      [a.id, a.name, 'MASTER', true, 'well'],
      [b.id, b.name, 'BACKUP', true, 'well'],
      [c.id, c.name, 'BACKUP', true, 'well'],
    ],
  );
  t.deepEqual(cluster.nodes[0]!.lastTakeover, { epoch: 2, at: '2026-11-24T04:59:00.000Z', ms: 131.4 });
});

test('exit 0: exactly one MASTER, every node online and well', (t) => {
  t.deepEqual(verdictOf(view(healthy())), { code: 0, problems: [] });
});

test('exit 1, with each reason: no master, two masters, offline (daemon or broker), sick, not probed', (t) => {
  const noMaster = statuses(status(a.id), status(b.id), status(c.id));
  t.deepEqual(verdictOf(view(noMaster)), { code: 1, problems: ['no node is MASTER'] });
  const two = statuses(status(a.id, { role: 'MASTER' }), status(b.id, { role: 'MASTER' }), status(c.id));
  t.deepEqual(verdictOf(view(two)), { code: 1, problems: [`2 nodes are MASTER: ${a.name}, ${b.name}`] });
  const daemonDown = healthy();
  daemonDown.set(b.id, status(b.id, { online: false }));
  t.deepEqual(verdictOf(view(daemonDown), new Set([a.id, b.id, c.id])), { code: 1, problems: [`${b.name} is offline (its daemon does not run)`] });
  const brokerDown = healthy();
  brokerDown.delete(c.id);
  t.deepEqual(verdictOf(view(brokerDown), new Set([a.id, b.id])), { code: 1, problems: [`${c.name} is offline (its broker did not answer)`] });
  const sick = statuses(status(a.id, { role: 'MASTER', health: 'sick' }), status(b.id), status(c.id, { health: undefined }));
  t.deepEqual(verdictOf(view(sick)), { code: 1, problems: [`${a.name}'s broker is sick`, `${c.name}'s broker is not probed yet`] });
  t.deepEqual(verdictOf(view(new Map())).problems, ['no node is MASTER', ...config.nodes.map((node) => `${node.name} is offline (its daemon does not run)`)]);
});

test('an offline MASTER is not counted as the master (its last status said MASTER, its will says offline)', (t) => {
  const map = healthy();
  map.set(a.id, status(a.id, { role: 'MASTER', online: false }));
  t.deepEqual(verdictOf(view(map)).problems, ['no node is MASTER', `${a.name} is offline (its daemon does not run)`]);
});

test('the table: one row per node with role, online, broker, weight and why, VIP, files, last takeover and how long it took', (t) => {
  const map = healthy();
  map.set(b.id, status(b.id, { weight: { value: -100, reasons: ['broker sick'] }, health: 'sick' }));
  map.delete(c.id);
  const text = formatTable(view(map), { now: NOW, reached: new Set([a.id, b.id]) });
  t.log(text);
  const lines = text.trimEnd().split('\n');
  t.is(lines[0], `cluster ${config.cluster}, VIP ${config.vip.address} held by ${a.name}`);
  t.regex(lines[1]!, /^NODE +ROLE +ONLINE +BROKER +WEIGHT +VIP +FILES +LAST TAKEOVER$/);
  t.regex(lines[2]!, new RegExp(`^${a.id} ${a.name} +MASTER +yes +well +0 +yes +passwd=ab12cd3 +04:59:00Z in 131 ms \\(#2\\)$`));
  t.regex(lines[3]!, new RegExp(`^${b.id} ${b.name} +BACKUP +yes +sick +-100 \\(broker sick\\) +- +passwd=ab12cd3 +-$`));
  t.regex(lines[4]!, new RegExp(`^${c.id} ${c.name} +UNKNOWN +no \\(unreachable\\) +- +- +- +- +-$`));
  t.is(lines.length, 5);
  // Columns line up: every row's ROLE starts where the header's does.
  const at = lines[1]!.indexOf('ROLE');
  for (const row of lines.slice(2)) t.regex(row.slice(at), /^(MASTER|BACKUP|UNKNOWN)/);
});

test('a takeover of another day shows its date; a positive weight its sign', (t) => {
  const map = healthy();
  map.set(a.id, status(a.id, { role: 'MASTER', weight: { value: 50, reasons: ['promoted'] }, takeover: { epoch: 1, at: NOW - 86_400_000, ms: 900 } }));
  const text = formatTable(view(map), { now: NOW });
  t.true(text.includes('2026-11-23 05:00:00Z in 900 ms (#1)'), text);
  t.true(text.includes('+50 (promoted)'), text);
});

test('the status text ends with ok, or with each problem', (t) => {
  t.regex(formatStatus(view(healthy()), { now: NOW }), /\nok: one MASTER, every node online and its broker well\n$/);
  const map = healthy();
  map.set(c.id, status(c.id, { online: false }));
  t.regex(formatStatus(view(map), { now: NOW }), new RegExp(`\\nnot ok:\\n  ${c.name} is offline \\(its daemon does not run\\)\\n$`));
});

test('a view built by hand works too (the rendering takes plain values)', (t) => {
  const node: NodeView = { id: 7, name: 'x', address: '10.0.0.7', priority: 100, role: 'MASTER', online: true, health: 'well', weight: undefined, versions: {}, lastTakeover: undefined };
  const cluster = { name: 'c', vip: { address: '10.0.0.1', holders: ['x'] }, nodes: [node], answeredBy: 'x', time: '' };
  t.deepEqual(verdictOf(cluster), { code: 0, problems: [] });
  t.regex(formatTable(cluster, { now: NOW }), /\n7 x +MASTER +yes +well +- +yes +- +-\n$/);
  // A view whose offline node still says MASTER (getCluster's peers never do; a hand-made one may).
  t.deepEqual(verdictOf({ nodes: [{ ...node, online: false }] }).problems, ['no node is MASTER', 'x is offline (its daemon does not run)']);
});
