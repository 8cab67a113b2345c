import test from 'ava';
import { drainable, droppableTopic, sessionSubscriptions, topicMatches } from '../../src/mesh/plan.js';
import { bridgeOf } from '../../src/render/model.js';
import { example } from '../helpers/config.js';

const { config, secrets } = example('three-node');
const [one, two, three] = config.nodes as [typeof config.nodes[0], typeof config.nodes[0], typeof config.nodes[0]];
const DRAIN = 'mqfo-drain/lab/#';

test("a waiting session subscribes to what comes in to the bridge's node (both and out, seen from the hub) and to the drain markers", (t) => {
  const topics = [
    { pattern: 'home/#', direction: 'both' as const, qos: 2 as const },
    { pattern: 'tele/+/STATE', direction: 'in' as const, qos: 0 as const },
    { pattern: 'cmnd/#', direction: 'out' as const, qos: 1 as const },
  ];
  t.deepEqual(sessionSubscriptions({ bridge: { ...config.bridge, topics } }, DRAIN), [
    { topic: 'home/#', qos: 2 },
    { topic: 'cmnd/#', qos: 1 },
    { topic: DRAIN, qos: 1 },
  ]);
});

test('topic filters match as MQTT 3.1.1 section 4.7 says', (t) => {
  const cases: [string, string, boolean][] = [
    ['home/#', 'home', true],
    ['home/#', 'home/a/b', true],
    ['home/+', 'home/a', true],
    ['home/+', 'home/a/b', false],
    ['home/+', 'home', false],
    ['tele/+/STATE', 'tele/plug/STATE', true],
    ['tele/+/STATE', 'tele/plug/RESULT', false],
    ['home/a', 'home/a/b', false],
    ['#', '$SYS/broker/uptime', false],
    ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['#', 'anything/at/all', true],
  ];
  for (const [filter, topic, matches] of cases) t.is(topicMatches(filter, topic), matches, `${filter} ${topic}`);
});

test('a drain may drop only what every bridge carries both ways (and the markers), not a one-way topic', (t) => {
  const topics = [
    { pattern: 'home/#', direction: 'both' as const, qos: 1 as const },
    { pattern: 'cmnd/#', direction: 'out' as const, qos: 1 as const },
  ];
  const droppable = droppableTopic({ bridge: { ...config.bridge, topics } }, DRAIN);
  t.true(droppable('home/kitchen/light'));
  t.true(droppable('mqfo-drain/lab/0123abcd'));
  t.false(droppable('cmnd/plug/POWER'));
  t.false(droppable('elsewhere/x'));
});

test('the waiting sessions visited: every target but the ones the bridge is on, none with one target, none when where it is is unknown or nowhere', (t) => {
  const bridge3 = bridgeOf(config, secrets, three)!;
  const bridge2 = bridgeOf(config, secrets, two)!;
  t.deepEqual(bridge3.targets.map((target) => target.id), [one.id, two.id]);
  t.deepEqual(drainable(bridge3, new Set([one.id])), [two.id]);
  t.deepEqual(drainable(bridge3, new Set([two.id])), [one.id]);
  t.deepEqual(drainable(bridge3, new Set([one.id, two.id])), []);
  t.deepEqual(drainable(bridge3, new Set()), [], 'seen nowhere: connecting, or its sockets are not visible');
  t.deepEqual(drainable(bridge3, undefined), []);
  t.deepEqual(drainable(bridge2, new Set([one.id])), [], 'one target: a two-node cluster, or node 2');
  t.deepEqual(drainable(bridge2, new Set()), []);
});
