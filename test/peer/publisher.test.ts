import test from 'ava';
import { pino } from 'pino';
import type { NodeConfig } from '../../src/config/schema.js';
import { Topics } from '../../src/mqtt/topics.js';
import { initialFacts, NodeState } from '../../src/node-state.js';
import { StatusPublisher } from '../../src/peer/publisher.js';

const quiet = pino({ level: 'silent' });
const node = (id: number): NodeConfig => ({ id, name: `node${id}`, address: `198.18.0.1${id}`, priority: 200 - id });

function setup(connected = true) {
  const sent: { topic: string; status: Record<string, unknown> }[] = [];
  const channel = {
    isConnected: () => connected,
    publish: async (topic: string, payload: string) => void sent.push({ topic, status: JSON.parse(payload) as Record<string, unknown> }),
  };
  const state = new NodeState(quiet, initialFacts(new Date(0)));
  const publisher = new StatusPublisher({ self: node(1), state, channel, topics: new Topics('home'), log: quiet });
  return { sent, state, publisher };
}

test('the status is published at start and when the role or a version changes, not for other facts', async (t) => {
  const { sent, state, publisher } = setup();
  await publisher.start();
  state.update({ role: 'MASTER' });
  state.update({ broker: { healthy: true, checkedAt: 1 } });
  state.update({ versions: { passwd: { version: '5.0@1', origin: 1, sha256: 'ab' } } });
  t.deepEqual(sent.map(({ topic }) => topic), Array(3).fill('mosquitto-failover/home/node/1/status'));
  t.deepEqual(sent.at(-1)!.status, { node: 1, name: 'node1', online: true, role: 'MASTER', since: new Date(0).toISOString(), versions: { passwd: { version: '5.0@1', origin: 1, sha256: 'ab' } } });
});

test('stop publishes the offline status once, and nothing after it', async (t) => {
  const { sent, state, publisher } = setup();
  await publisher.start();
  await publisher.stop();
  await publisher.stop();
  state.update({ role: 'BACKUP' });
  t.deepEqual(sent.at(-1)!.status, { node: 1, name: 'node1', online: false });
  t.is(sent.length, 2);
});

test('nothing is sent while the own broker is not connected', async (t) => {
  const { sent, state, publisher } = setup(false);
  await publisher.start();
  state.update({ role: 'MASTER' });
  t.is(sent.length, 0);
});

test('a status counts only when read on the broker of the node it is about, and only when it is one', async (t) => {
  const { state, publisher } = setup();
  const status = (id: number, online: boolean) => Buffer.from(JSON.stringify({ node: id, name: `node${id}`, online, role: 'BACKUP' }));
  publisher.take(node(2), 2, status(2, true));
  publisher.take(node(3), 2, status(2, false));
  publisher.take(node(3), 3, Buffer.from('{"not":"a status"}'));
  t.deepEqual(Object.keys(state.current.peers), ['2']);
  t.true(state.current.peers[2]!.online);
});
