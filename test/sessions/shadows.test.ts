/**
 * Shadows against a real mosquitto (issue 15, an offline subscriber): a shadow gives up what queued
 * for it only while its client is known connected to the master, on the same connection as at the
 * previous pass and still at the end of the drain; otherwise what it received stays in the session.
 */
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { PresenceView } from '../../src/sessions/presence.js';
import { Shadows } from '../../src/sessions/shadows.js';
import { waitFor } from '../../lab/wait.js';
import { scratch, startBroker } from '../helpers/broker.js';

const ID = 'sleeper';
const TOPIC = 'home/sleeper';

async function setup(t: ExecutionContext) {
  const broker = await startBroker(t, scratch(t), ['allow_anonymous true', 'max_inflight_messages 0']);
  if (!('port' in broker)) throw new Error(broker.refused);
  const login = { host: '127.0.0.1', port: broker.port, username: 'shadow', password: 'x' };
  const presence = new PresenceView();
  const shadows = new Shadows({ login, intervalMs: 60_000, active: () => true, presence, log: pino({ level: process.env.SHADOW_DEBUG ? 'debug' : 'silent' }) });
  shadows.setList({ version: 1, origin: 1, sessions: new Map([[ID, new Map([[TOPIC, 1 as const]])]]) });
  // Its first pass makes the shadow (the client not known connected: nothing to take); the next is a minute away, so the test drives the passes.
  shadows.start();
  t.teardown(() => shadows.stop());
  await waitFor('the first pass', () => shadows.drained.drains === 1 || undefined, { timeoutMs: 10_000, intervalMs: 20 });
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  t.teardown(() => publisher.endAsync(true));
  const publish = async (count: number) => {
    for (let seq = 0; seq < count; seq++) await publisher.publishAsync(TOPIC, String(seq), { qos: 1 });
  };
  /** A report of the master that says whether the client is connected (on connection `since`). */
  let seq = Date.now();
  const report = (since: number | undefined) => presence.take({ origin: 1, seq: ++seq, online: new Map(since === undefined ? [] : [[ID, since]]), receivedAt: Date.now() });
  // Reports keep coming, as the master's heartbeat sends them.
  let since: number | undefined;
  const heartbeat = setInterval(() => report(since), 100);
  t.teardown(() => clearInterval(heartbeat));
  /** What the real client finds in the session when it comes (to this broker, after a takeover). */
  const queued = async () => {
    // Listening before the CONNACK: mosquitto sends the session's messages right after it.
    const client = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: ID, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 0xffff_ffff } });
    const got: string[] = [];
    client.on('message', (_topic, payload) => got.push(payload.toString()));
    await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await client.endAsync();
    return got;
  };
  return { shadows, publish, queued, setOnline: (value: number | undefined) => (since = value) };
}

test('a shadow whose client is not connected to the master keeps its queue; one connected since the previous pass gives it up', async (t) => {
  const { shadows, publish, queued, setOnline } = await setup(t);
  await publish(20);
  t.like(await shadows.drain(ID), { messages: 0, keptBecause: 'not known connected to the master' });
  // Connected, but only since this pass: the master may still be delivering the queue to it.
  setOnline(1);
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.like(await shadows.drain(ID), { messages: 0, keptBecause: 'connected to the master only since the previous pass' });
  // Another connection since (it left and came back between two passes): not the same one.
  setOnline(2);
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.like(await shadows.drain(ID), { messages: 0 });
  t.like(await shadows.drain(ID), { messages: 20, kept: 0 }, 'on the same connection at two passes: the queue is taken');
  await publish(5);
  setOnline(undefined);
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.like(await shadows.drain(ID), { messages: 0 });
  t.deepEqual(await queued(), ['0', '1', '2', '3', '4'], 'what came while the client was away waits for it');
});

test('a drain whose client leaves before the master confirms it leaves what it received in the session', async (t) => {
  const { shadows, publish, queued, setOnline } = await setup(t);
  setOnline(1);
  await new Promise((resolve) => setTimeout(resolve, 150));
  await shadows.drain(ID);
  await shadows.drain(ID);
  await publish(10);
  // The client leaves while the drain takes them: the report that would confirm them says it left.
  const draining = shadows.drain(ID);
  setTimeout(() => setOnline(undefined), 50);
  const result = await draining;
  t.like(result, { messages: 0, kept: 10 });
  t.deepEqual((await queued()).sort((a, b) => Number(a) - Number(b)), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
});
