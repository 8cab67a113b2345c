import test from 'ava';
import { pino } from 'pino';
import type { NodeConfig } from '../../src/config/schema.js';
import { Topics } from '../../src/mqtt/topics.js';
import { initialFacts, NodeState } from '../../src/node-state.js';
import { StatusPublisher } from '../../src/peer/publisher.js';
import { LAST_SEQ, type NodeStatus } from '../../src/peer/status.js';

const quiet = pino({ level: 'silent' });
const node = (id: number): NodeConfig => ({ id, name: `node${id}`, address: `198.18.0.1${id}`, priority: 200 - id });
const SINCE = new Date(0).toISOString();

function setup(connected = true) {
  const sent: { topic: string; status: NodeStatus }[] = [];
  const repaired: string[] = [];
  const channel = {
    connection: 3,
    isConnected: () => connected,
    publish: async (topic: string, value: unknown) => void sent.push({ topic, status: value as NodeStatus }),
    repair: (topic: string) => void repaired.push(topic),
  };
  const state = new NodeState(quiet, initialFacts(new Date(0)));
  const publisher = new StatusPublisher({ self: node(1), state, channel, topics: new Topics('home'), log: quiet, run: 7 });
  return { sent, repaired, state, publisher, channel };
}

test('the status is published at start and when the role, the broker\'s verdict, the weight or a version changes, not for other facts, each later than the last', async (t) => {
  const { sent, state, publisher } = setup();
  await publisher.start();
  state.update({ role: 'MASTER' });
  state.update({ broker: { healthy: true, checkedAt: 1 } });
  state.update({ broker: { healthy: true, checkedAt: 2 } });
  state.update({ weight: { value: 0, reasons: ['x'] } });
  state.update({ versions: { passwd: { version: '5.0@1', origin: 1, sha256: 'ab' } } });
  state.update({ broker: { healthy: false, checkedAt: 3, problem: 'refused' } });
  state.update({ weight: { value: 253, reasons: ['promoted by the operator'] } });
  state.update({ preference: { promote: 'node1' } });
  t.deepEqual(sent.map(({ topic }) => topic), Array(6).fill('mosquitto-failover/home/node/1/status'));
  t.deepEqual(sent.at(-3)!.status, { node: 1, name: 'node1', online: true, role: 'MASTER', since: SINCE, versions: { passwd: { version: '5.0@1', origin: 1, sha256: 'ab' } }, health: 'well', weight: 0, run: 7, connection: 3, seq: 4 });
  t.is(sent.at(-2)!.status.health, 'sick');
  t.is(sent.at(-1)!.status.weight, 253);
  t.deepEqual(sent.map(({ status }) => status.seq), [1, 2, 3, 4, 5, 6]);
});

test('stop publishes the offline status once, and nothing after it', async (t) => {
  const { sent, state, publisher } = setup();
  await publisher.start();
  await publisher.stop();
  await publisher.stop();
  state.update({ role: 'BACKUP' });
  t.deepEqual(sent.at(-1)!.status, { node: 1, name: 'node1', online: false, since: SINCE, run: 7, connection: 3, seq: 2 });
  t.is(sent.length, 2);
});

test('the will of a connection comes after all it carried and before what the next one carries', async (t) => {
  const { publisher, sent, channel } = setup();
  await publisher.start();
  const will = publisher.will(3);
  t.deepEqual(will, { topic: 'mosquitto-failover/home/node/1/status', value: { node: 1, name: 'node1', online: false, since: SINCE, run: 7, connection: 3, seq: LAST_SEQ } });
  channel.connection = 4;
  publisher.publish();
  const { state, publisher: reader } = setup();
  reader.take(node(1), 1, sent[0]!.status);
  reader.take(node(1), 1, will.value);
  t.false(state.current.peers[1]!.online, 'the will replaces what its connection published');
  reader.take(node(1), 1, sent[1]!.status);
  t.true(state.current.peers[1]!.online, 'the next connection\'s status replaces the will');
});

test('nothing is sent while the own broker is not connected', async (t) => {
  const { sent, state, publisher } = setup(false);
  await publisher.start();
  state.update({ role: 'MASTER' });
  t.is(sent.length, 0);
});

const status = (id: number, online: boolean, seq = 1, run = 5): NodeStatus => ({ node: id, name: `node${id}`, online, role: 'BACKUP', run, connection: 1, seq });

test('a status counts only when read on the broker of the node it is about, and only when it is one', (t) => {
  const { state, publisher } = setup();
  publisher.take(node(2), 2, status(2, true));
  publisher.take(node(3), 2, status(2, false, 2));
  publisher.take(node(3), 3, { not: 'a status' });
  publisher.take(node(3), 3, { ...status(2, true), node: 2 });
  t.deepEqual(Object.keys(state.current.peers), ['2']);
  t.true(state.current.peers[2]!.online);
});

test('an older status of a peer (replayed) is not taken; a later run is, whatever its counters', (t) => {
  const { state, publisher } = setup();
  publisher.take(node(2), 2, status(2, false, 9));
  publisher.take(node(2), 2, status(2, true, 8));
  t.false(state.current.peers[2]!.online);
  publisher.take(node(2), 2, status(2, true, 1, 6));
  t.true(state.current.peers[2]!.online);
});

test('this node\'s own status read back as anything but what it last published is published again', async (t) => {
  const { sent, repaired, publisher } = setup();
  await publisher.start();
  publisher.take(node(1), 1, sent[0]!.status);
  t.deepEqual(repaired, []);
  publisher.take(node(1), 1, { ...sent[0]!.status, seq: 0, role: 'MASTER' });
  t.deepEqual(repaired, ['mosquitto-failover/home/node/1/status']);
});
