/**
 * The rendered bridge topology as a graph, over every state it can be in at run time: for 2, 3 and
 * 4 nodes (and another hub), every subset of live nodes and every target each live bridge may be
 * connected to (mosquitto picks one address of its list at a time). Never two bridges between one
 * pair, never a cycle; and with at most one node down, bridges that are connected wherever they
 * can be leave the live nodes connected (a message published on any reaches every other).
 */
import test from 'ava';
import { parseConfig } from '../../src/config/load.js';
import type { ClusterConfig } from '../../src/config/schema.js';
import { bridgeOf, ranksOf } from '../../src/render/model.js';
import { EXAMPLE_ENV, yamlOf } from '../helpers/config.js';

function cluster(count: number, hub?: number): ClusterConfig {
  const nodes = Array.from({ length: count }, (_, index) => ({ id: index + 1, name: `n${index + 1}`, address: `192.168.1.${11 + index}`, priority: 200 - index * 10 }));
  const document = { cluster: 'home', vip: { address: '192.168.1.50', prefix: 24, interface: 'eth0' }, nodes, bridge: { ...(hub === undefined ? {} : { hub }), topics: [{ pattern: 'home/#' }] } };
  return parseConfig(yamlOf(document), EXAMPLE_ENV).config;
}

/** Each node's possible bridge targets (ids), from the rendered model. */
function targetsOf(config: ClusterConfig): Map<number, number[]> {
  return new Map(config.nodes.map((node) => [node.id, bridgeOf(config, { clusterSecret: 's' }, node)?.targets.map((target) => target.id) ?? []]));
}

function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((all, item) => [...all, ...all.map((subset) => [...subset, item])], [[]]);
}

/** Every assignment of "connected to one of these, or not connected" to each node. */
function choices(options: readonly [number, readonly (number | undefined)[]][]): Map<number, number | undefined>[] {
  return options.reduce<Map<number, number | undefined>[]>(
    (all, [node, targets]) => all.flatMap((partial) => targets.map((target) => new Map<number, number | undefined>([...partial, [node, target]]))),
    [new Map<number, number | undefined>()],
  );
}

function hasCycle(edges: Map<number, number | undefined>): boolean {
  // Each node has at most one outgoing edge: a walk from any node either ends or comes back.
  for (const start of edges.keys()) {
    const seen = new Set<number>();
    for (let at: number | undefined = start; at !== undefined; at = edges.get(at)) {
      if (seen.has(at)) return true;
      seen.add(at);
    }
  }
  return false;
}

function connected(nodes: readonly number[], edges: Map<number, number | undefined>): boolean {
  const parent = new Map(nodes.map((node) => [node, node]));
  const root = (node: number): number => (parent.get(node) === node ? node : root(parent.get(node)!));
  for (const [from, to] of edges) if (to !== undefined) parent.set(root(from), root(to));
  return new Set(nodes.map(root)).size === 1;
}

for (const [count, hub] of [[2, undefined], [3, undefined], [4, undefined], [4, 3]] as const) {
  test(`${count} nodes${hub ? `, hub ${hub}` : ''}: at most one bridge per pair and no cycle in any state; any one node down, the rest connected`, (t) => {
    const config = cluster(count, hub);
    const targets = targetsOf(config);
    const ranks = ranksOf(config).map((node) => node.id);
    t.is(ranks[0], hub ?? 1);
    // Configured: one bridge per node but the hub, each to nodes ranked before it only.
    t.deepEqual([...targets.values()].filter((list) => list.length === 0).length, 1);
    for (const [node, list] of targets) t.true(list.every((target) => ranks.indexOf(target) < ranks.indexOf(node)), `n${node} -> ${list.join()}`);

    let states = 0;
    for (const live of subsets(config.nodes.map((node) => node.id))) {
      if (live.length === 0) continue;
      const options = live.map((node): [number, (number | undefined)[]] => [node, [undefined, ...targets.get(node)!.filter((target) => live.includes(target))]]);
      for (const edges of choices(options)) {
        states++;
        const pairs = [...edges].flatMap(([from, to]) => (to === undefined ? [] : [[from, to].sort().join('-')]));
        t.is(new Set(pairs).size, pairs.length, `two bridges between one pair: ${pairs.join(' ')}`);
        t.false(hasCycle(edges), `a cycle: ${JSON.stringify([...edges])}`);
        // Every bridge that has a live target connected to one: at most one node down, all connected.
        const settled = [...edges].every(([node, to]) => to !== undefined || !targets.get(node)!.some((target) => live.includes(target)));
        if (settled && live.length >= count - 1) t.true(connected(live, edges), `live ${live.join()} split: ${JSON.stringify([...edges])}`);
      }
    }
    t.log(`${states} states checked`);
  });
}

test('the check finds a cycle and a second bridge when there is one (the star doubled, a ring)', (t) => {
  t.true(hasCycle(new Map([[1, 2], [2, 3], [3, 1]])));
  t.true(hasCycle(new Map([[1, 2], [2, 1]])));
  t.false(hasCycle(new Map([[3, 1], [2, 1], [1, undefined]])));
  t.false(connected([1, 2, 3], new Map([[3, 1], [2, undefined]])));
});
