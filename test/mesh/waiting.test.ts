/**
 * mesh/waiting.ts against two real mosquittos, standing for node1 and node2, the targets of node3's
 * bridge. Where the bridge is comes from the test (the socket table is tested in sockets.test.ts);
 * a client with the bridge's id and protocol stands for the bridge where it is said to be. The
 * drain marker is awaited on node2's broker itself, as if the bridges had carried it to node3 at
 * once (visit.test.ts shows what a drain takes).
 */
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { waitFor } from '../../lab/wait.js';
import { droppableTopic, sessionSubscriptions } from '../../src/mesh/plan.js';
import { WaitingSessions } from '../../src/mesh/waiting.js';
import type { Login } from '../../src/mqtt/client.js';
import { Topics } from '../../src/mqtt/topics.js';
import { bridgeOf } from '../../src/render/model.js';
import { scratch, startBroker } from '../helpers/broker.js';
import { example } from '../helpers/config.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements(['mosquitto']);
const real = unavailable ? test.serial.skip : test.serial;

const { config, secrets } = example('three-node');
const [one, two, three] = config.nodes as [typeof config.nodes[0], typeof config.nodes[0], typeof config.nodes[0]];
const bridge = bridgeOf(config, secrets, three)!;
const topics = new Topics(config.cluster);
const drainFilter = `${topics.drainPrefix}/#`;

async function broker(t: ExecutionContext): Promise<Login> {
  const started = await startBroker(t, scratch(t), ['allow_anonymous true']);
  if ('refused' in started) throw new Error(started.refused);
  return { host: '127.0.0.1', port: started.port, username: 'anyone', password: 'x' };
}

async function setup(t: ExecutionContext, bridgeOn: () => Set<number>) {
  const logins = new Map([[one.id, await broker(t)], [two.id, await broker(t)]]);
  const loginOf = (node: { id: number }) => logins.get(node.id === three.id ? two.id : node.id)!;
  const lines: { msg: string; target?: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) });
  let asked = 0;
  const waiting = new WaitingSessions({
    self: three,
    bridge,
    subscriptions: sessionSubscriptions(config, drainFilter),
    droppable: droppableTopic(config, drainFilter),
    bridgeLogin: loginOf,
    daemonLogin: loginOf,
    topics,
    intervalMs: 200,
    log,
    bridgeOn: async () => (asked++, bridgeOn()),
  });
  t.teardown(() => waiting.stop());
  return { waiting, loginOf, lines, asked: () => asked };
}

/** A client with the bridge's id, protocol and clean session off on `login`; `closed` counts the times it was put off. */
async function standInBridge(t: ExecutionContext, login: Login) {
  const client = await mqtt.connectAsync(`mqtt://${login.host}:${login.port}`, { clientId: bridge.clientId, protocolVersion: 4, clean: false, reconnectPeriod: 0 });
  t.teardown(() => client.endAsync(true));
  const counter = { closed: 0 };
  client.on('close', () => counter.closed++);
  return counter;
}

real("the session is made and drained on the target the bridge is not on; the one it is on is never visited", async (t) => {
  const { waiting, loginOf, lines } = await setup(t, () => new Set([one.id]));
  const onOne = await standInBridge(t, loginOf(one));
  await waiting.start();
  await waitFor('the session waits on node2', () => lines.some((line) => line.msg.startsWith('the bridge\'s session waits on') && line.target === two.name), { timeoutMs: 10_000, intervalMs: 50 });
  const publisher = await mqtt.connectAsync(`mqtt://${loginOf(two).host}:${loginOf(two).port}`, { reconnectPeriod: 0 });
  for (const index of [1, 2, 3]) await publisher.publishAsync(`home/w${index}`, 'x', { qos: 1 });
  await publisher.endAsync();
  await waitFor('a drain that took them', () => waiting.counts.dropped >= 3, { timeoutMs: 15_000, intervalMs: 50 });
  await waiting.stop();
  t.is(onOne.closed, 0, 'the bridge on node1 was never put off');
  t.false(lines.some((line) => line.target === one.name), 'node1 was never visited');
  t.true(waiting.counts.drains >= 1);
  t.is(waiting.counts.noMarker, 0);
});

real('a bridge seen nowhere: no session is visited (it may be connecting, or its sockets are not visible here)', async (t) => {
  const { waiting, loginOf, lines, asked } = await setup(t, () => new Set());
  await waiting.start();
  await waitFor('five passes', () => asked() >= 5, { timeoutMs: 15_000, intervalMs: 50 });
  await waiting.stop();
  t.deepEqual(lines.filter((line) => line.target !== undefined), []);
  for (const node of [one, two]) {
    const login = loginOf(node);
    const client = mqtt.connect(`mqtt://${login.host}:${login.port}`, { clientId: bridge.clientId, protocolVersion: 4, clean: false, reconnectPeriod: 0 });
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => client.once('connect', resolve).once('error', reject));
    t.false(connack.sessionPresent, `no session of the bridge's on ${node.name}`);
    await client.endAsync();
  }
});
