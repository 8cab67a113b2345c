/**
 * mesh/visit.ts against a real mosquitto: a bridge's waiting session made, then drained up to a
 * marker. What is left in the session is read back as the bridge would (MQTT 3.1.1, clean session
 * off, the same client id). `max_inflight_messages 2`: the marker must come however much waits
 * before it (the visit's receive maximum).
 */
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import { visitSession, type Subscription } from '../../src/mesh/visit.js';
import type { Login } from '../../src/mqtt/client.js';
import { scratch, startBroker } from '../helpers/broker.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements(['mosquitto']);
const real = unavailable ? test.skip : test;

const CLIENT_ID = 'mqfo-bridge-test-0123456789abcdef';
const SUBSCRIPTIONS: Subscription[] = [{ topic: 'home/#', qos: 2 }, { topic: 'cmnd/#', qos: 1 }, { topic: 'drain/#', qos: 1 }];

async function broker(t: ExecutionContext): Promise<Login> {
  const started = await startBroker(t, scratch(t), ['allow_anonymous true', 'max_inflight_messages 2']);
  if ('refused' in started) throw new Error(started.refused);
  return { host: '127.0.0.1', port: started.port, username: 'bridge', password: 'x' };
}

async function publish(login: Login, messages: readonly [topic: string, qos: 0 | 1 | 2][]): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://${login.host}:${login.port}`, { clientId: 'publisher', reconnectPeriod: 0 });
  for (const [topic, qos] of messages) await client.publishAsync(topic, topic, { qos });
  await client.endAsync();
}

/** What the session holds, in order: read as the bridge reads it, up to an end message published once it is connected. */
async function leftInSession(login: Login): Promise<string[]> {
  // The handler before the CONNACK: the queued messages follow it at once.
  const client = mqtt.connect(`mqtt://${login.host}:${login.port}`, { clientId: CLIENT_ID, protocolVersion: 4, clean: false, reconnectPeriod: 0 });
  const got: string[] = [];
  const end = new Promise<void>((resolve) => client.on('message', (topic) => (topic === 'home/end' ? resolve() : got.push(topic))));
  const timeout = new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`the end message did not come; got ${got.join(' ')}`)), 5_000).unref());
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  await publish(login, [['home/end', 1]]);
  await Promise.race([end, timeout]);
  await client.endAsync();
  return got;
}

const make = (login: Login) => visitSession({ login, clientId: CLIENT_ID, subscribe: SUBSCRIPTIONS, timeoutMs: 3_000 });
const drain = (login: Login, nonce: string, timeoutMs = 3_000) => visitSession({
  login, clientId: CLIENT_ID, subscribe: SUBSCRIPTIONS, until: { topic: `drain/${nonce}`, payload: `drain/${nonce}` }, droppable: (topic) => !topic.startsWith('cmnd/'), timeoutMs,
});

real('a visit makes the session; a drain takes what came before the marker (QoS 1 and 2) and acknowledges nothing after it', async (t) => {
  const login = await broker(t);
  t.like(await make(login), { sessionPresent: false, marker: false, dropped: 0 });
  t.like(await make(login), { sessionPresent: true }, 'made once, found the second time');
  const before = ['home/b1', 'home/b2', 'home/b3', 'home/b4', 'home/b5', 'home/b6'];
  await publish(login, [...before.map((topic, index): [string, 1 | 2] => [topic, index % 2 === 0 ? 1 : 2]), ['drain/n1', 1], ['home/a1', 1], ['home/a2', 2]]);
  const result = await drain(login, 'n1');
  t.deepEqual(result, { sessionPresent: true, marker: true, dropped: before.length, kept: 2 });
  t.deepEqual(await leftInSession(login), ['home/a1', 'home/a2'], 'what came after the marker waits for the bridge, in order');
});

real('a marker that does not come drops nothing', async (t) => {
  const login = await broker(t);
  await make(login);
  await publish(login, [['home/b1', 1], ['home/b2', 2], ['drain/other', 1], ['home/b3', 1]]);
  t.like(await drain(login, 'never', 1_000), { sessionPresent: true, marker: false, dropped: 0 });
  // Sorted: mqtt.js hands a QoS 2 message on at its PUBREL, after the QoS 1 ones sent with it.
  t.deepEqual((await leftInSession(login)).sort(), ['drain/other', 'home/b1', 'home/b2', 'home/b3']);
});

real('a message on a topic the marker does not vouch for (one-way) stays, even before the marker', async (t) => {
  const login = await broker(t);
  await make(login);
  await publish(login, [['home/b1', 1], ['cmnd/b2', 1], ['drain/n2', 1], ['home/a1', 1]]);
  t.deepEqual(await drain(login, 'n2'), { sessionPresent: true, marker: true, dropped: 1, kept: 2 });
  t.deepEqual(await leftInSession(login), ['cmnd/b2', 'home/a1']);
});

real('a drain of a session the broker lost makes it again and drops nothing', async (t) => {
  const login = await broker(t);
  t.like(await drain(login, 'n3'), { sessionPresent: false, marker: false, dropped: 0 });
  await publish(login, [['home/b1', 1]]);
  t.deepEqual(await leftInSession(login), ['home/b1'], 'subscribed again');
});
