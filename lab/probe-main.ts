/**
 * The probe's client process, run inside the client namespace by probe.ts: reads its spec as the
 * first line on stdin (so no password is in argv), publishes numbered messages at a fixed rate
 * with mqtt.js, subscribes to them, and writes every event as a JSON line on stdout. A "stop"
 * line on stdin ends publishing; it then waits (bounded) for outstanding acks and receives.
 */
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import type { ProbeEvent } from './history.js';

export interface ProbeEndpoint {
  url: string;
  username: string;
  password: string;
  clientId: string;
}

export interface ProbeSpec {
  publish: ProbeEndpoint;
  /** Absent: another process subscribes (lab/paho-sub.py), and the drain waits only for acks. */
  subscribe?: ProbeEndpoint;
  topic: string;
  qos: 0 | 1 | 2;
  /** Messages per second. */
  rate: number;
  /** Stop publishing by itself after this many (otherwise on "stop"). */
  count?: number;
  /** How long to wait for outstanding acks and receives after publishing stops, ms. */
  drainMs: number;
  keepaliveSeconds: number;
  /** The subscriber's keepalive, when it differs: how long it takes to notice a connection that died without a reset. */
  subscriberKeepaliveSeconds?: number;
  /** The subscriber's reconnect delay, when it differs (a client with a longer back-off comes back after the publisher). */
  subscriberReconnectPeriodMs?: number;
  reconnectPeriodMs: number;
  connectTimeoutMs: number;
  /** Subscriber session: clean (true) or persistent. */
  clean: boolean;
}

const now = () => performance.timeOrigin + performance.now();

function emit(event: ProbeEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function connect(endpoint: ProbeEndpoint, spec: ProbeSpec, who: 'pub' | 'sub'): MqttClient {
  const client = mqtt.connect(endpoint.url, {
    username: endpoint.username,
    password: endpoint.password,
    clientId: endpoint.clientId,
    clean: who === 'pub' ? true : spec.clean,
    keepalive: who === 'sub' ? (spec.subscriberKeepaliveSeconds ?? spec.keepaliveSeconds) : spec.keepaliveSeconds,
    reconnectPeriod: who === 'sub' ? (spec.subscriberReconnectPeriodMs ?? spec.reconnectPeriodMs) : spec.reconnectPeriodMs,
    connectTimeout: spec.connectTimeoutMs,
    protocolVersion: 4,
  });
  client.on('connect', () => emit({ t: now(), e: 'connect', who }));
  client.on('close', () => emit({ t: now(), e: 'close', who }));
  client.on('offline', () => emit({ t: now(), e: 'offline', who }));
  client.on('error', (error) => emit({ t: now(), e: 'error', who, detail: error.message }));
  return client;
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new Error('no spec on stdin');
  const spec = JSON.parse(first.value) as ProbeSpec;

  let stopRequested = false;
  let stopped: () => void = () => undefined;
  const stop = new Promise<void>((resolve) => (stopped = resolve));
  void (async () => {
    for (let line = await iterator.next(); !line.done; line = await iterator.next()) {
      if (line.value.trim() === 'stop') break;
    }
    // "stop", or our parent closed stdin: either way, wind down.
    stopRequested = true;
    stopped();
  })();

  const subscriber = spec.subscribe && connect(spec.subscribe, spec, 'sub');
  let lastReceive = now();
  if (subscriber) {
    subscriber.on('message', (_topic, payload, packet) => {
      lastReceive = now();
      const seq = Number(payload.toString());
      emit({ t: lastReceive, e: 'recv', seq, dup: packet.dup });
    });
    // mqtt.js subscribes again on every reconnect (resubscribe: true).
    await subscriber.subscribeAsync(spec.topic, { qos: spec.qos });
    emit({ t: now(), e: 'subscribed', who: 'sub' });
  }

  const publisher = connect(spec.publish, spec, 'pub');
  const outstanding = new Set<number>();
  let seq = 0;
  const started = now();
  const publishDue = () => {
    const due = Math.floor(((now() - started) / 1000) * spec.rate) + 1;
    while (seq < due && !stopRequested && (spec.count === undefined || seq < spec.count)) {
      const current = ++seq;
      outstanding.add(current);
      emit({ t: now(), e: 'send', seq: current });
      publisher.publish(spec.topic, String(current), { qos: spec.qos }, (error) => {
        outstanding.delete(current);
        if (error) emit({ t: now(), e: 'fail', seq: current, detail: error.message });
        else emit({ t: now(), e: 'ack', seq: current });
      });
    }
    if (spec.count !== undefined && seq >= spec.count) {
      stopRequested = true;
      stopped();
    }
  };
  const timer = setInterval(publishDue, Math.max(1, Math.min(50, 1000 / spec.rate)));
  publishDue();
  await stop;
  clearInterval(timer);

  // Drain: until nothing is outstanding and nothing has arrived for a while, bounded by drainMs.
  const deadline = now() + spec.drainMs;
  const quietMs = Math.min(500, spec.drainMs);
  while (now() < deadline && (outstanding.size > 0 || now() - lastReceive < quietMs)) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await Promise.all([publisher.endAsync(true), subscriber?.endAsync(true)]);
  emit({ t: now(), e: 'done' });
  lines.close();
  process.stdout.write('', () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`probe: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
