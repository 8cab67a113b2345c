/**
 * The drain barrier of a planned switchover: before the preference that moves the VIP is written,
 * a QoS 1 marker is published on the old master's broker, on a topic every bridge carries at
 * QoS 1 (mqtt/topics.ts drainPrefix), and awaited on each node the VIP may move to.
 *
 * Why it is a barrier: a bridge is one MQTT session. mosquitto queues what it forwards to a
 * session in one list per client, in the order the messages were received (db__message_insert
 * appends to the context's queue), sends them in that order, and the receiving broker hands each
 * QoS 1 PUBLISH to its subscribers as it reads it off the one TCP connection. So once the marker is
 * on the new master's broker, every QoS 1 message the old master acknowledged before it, on a
 * topic that bridge carries, is there too. Not covered: QoS 0 (dropped when the bridge is down),
 * QoS 2 (delivered there on PUBREL, which may come after the marker's PUBLISH), messages beyond
 * max_queued_messages (dropped), and what the old master acknowledges after the marker, until the
 * VIP has moved (it still crosses, moments later, unless the old master dies in between).
 */
import { randomBytes } from 'node:crypto';
import type { NodeConfig } from '../config/schema.js';
import { MqfoError } from '../errors.js';
import { connectOnce, type Login, type MqttClient } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';

export interface DrainOptions {
  from: NodeConfig;
  to: readonly NodeConfig[];
  loginTo: (node: NodeConfig) => Login;
  topics: Topics;
  timeoutMs: number;
  now?: () => number;
  /** Ends the wait for the marker early (rejects with the signal's reason). */
  signal?: AbortSignal;
  /** The marker's nonce (its topic's last level and its payload); random by default. mesh/waiting.ts looks for it in a bridge's session. */
  nonce?: string;
}

/** Resolves with the ms each node took to get the marker; rejects (ESWITCHOVER) when one did not get it in time. */
export async function drain(options: DrainOptions): Promise<Map<number, number>> {
  const { from, to, loginTo, topics, timeoutMs } = options;
  if (to.length === 0) return new Map();
  const now = options.now ?? Date.now;
  const deadline = now() + timeoutMs;
  const nonce = options.nonce ?? randomBytes(12).toString('hex');
  const topic = topics.drain(nonce);
  const clients: MqttClient[] = [];
  const arrived = new Map<number, number>();
  let timer: NodeJS.Timeout | undefined;
  try {
    let all: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (all = resolve));
    let started = 0;
    for (const node of to) {
      const client = await connectOnce(loginTo(node), { purpose: `drain-${node.id}`, timeoutMs: Math.max(200, deadline - now()) });
      clients.push(client);
      client.on('message', (received, payload) => {
        if (received !== topic || payload.toString() !== nonce || arrived.has(node.id)) return;
        arrived.set(node.id, now() - started);
        if (arrived.size === to.length) all();
      });
      const granted = await client.subscribeAsync(topic, { qos: 1 });
      if (granted.some((grant) => grant.qos === 128)) throw new MqfoError('ESWITCHOVER', `${node.name} refused the subscription to ${topic}: does its ACL give the daemon user ${topics.drainPrefix}/#?`);
    }
    const source = await connectOnce(loginTo(from), { purpose: `drain-${from.id}`, timeoutMs: Math.max(200, deadline - now()) });
    clients.push(source);
    started = now();
    await source.publishAsync(topic, nonce, { qos: 1 });
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const missing = to.filter((node) => !arrived.has(node.id)).map((node) => node.name);
        reject(new MqfoError('ESWITCHOVER', `the bridge did not carry a marker from ${from.name} to ${missing.join(', ')} within ${timeoutMs} ms: what ${from.name} acknowledged may not be there yet, so the VIP is not moved (is the bridge up?)`));
      }, Math.max(0, deadline - now()));
    });
    const { signal } = options;
    const aborted = new Promise<never>((_resolve, reject) => {
      const abort = () => reject(signal?.reason instanceof Error ? signal.reason : new MqfoError('ESWITCHOVER', 'the wait for the drain marker was ended'));
      if (signal?.aborted) abort();
      signal?.addEventListener('abort', abort, { once: true });
    });
    await Promise.race([done, late, aborted]);
    return arrived;
  } finally {
    clearTimeout(timer);
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
  }
}
