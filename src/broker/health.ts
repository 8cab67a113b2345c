/**
 * Is the broker healthy: can the daemon user log in on the admin listener, subscribe to a topic of
 * its own and get back what it publishes there? That proves the password file (or dynamic
 * security) still has the daemon user and the ACL still gives it the peer channel: what a reload
 * of a synced file could break.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';

export interface HealthOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  /** A topic the daemon user may read and write. */
  topic: string;
  timeoutMs?: number;
}

async function roundTrip(options: HealthOptions, deadline: number): Promise<void> {
  const timeout = Math.max(200, deadline - Date.now());
  const client = await mqtt.connectAsync(`mqtt://${options.host}:${options.port}`, {
    username: options.username,
    password: options.password,
    clientId: `mqfo-health-${process.pid}-${randomBytes(4).toString('hex')}`,
    reconnectPeriod: 0,
    connectTimeout: timeout,
  });
  try {
    const nonce = randomBytes(8).toString('hex');
    const received = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no echo on ${options.topic} within ${timeout} ms (does the ACL still give it to ${options.username}?)`)), timeout);
      client.on('message', (_topic, payload) => {
        if (payload.toString() !== nonce) return;
        clearTimeout(timer);
        resolve();
      });
    });
    const granted = await client.subscribeAsync(options.topic, { qos: 1 });
    // mosquitto answers 128 (failure) for a subscription the ACL denies.
    if (granted.some((grant) => grant.qos === 128)) throw new Error(`subscribing to ${options.topic} was refused`);
    await client.publishAsync(options.topic, nonce, { qos: 1 });
    await received;
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}

/** Resolves once a round trip succeeds; rejects with the last failure when `timeoutMs` (default 5 s) is over. */
export async function checkHealth(options: HealthOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  let last: unknown;
  for (let attempt = 0; attempt < 100 && Date.now() < deadline; attempt++) {
    try {
      await roundTrip(options, deadline);
      return;
    } catch (error) {
      last = error;
      await sleep(100);
    }
  }
  throw new Error(`the broker at ${options.host}:${options.port} is not healthy: ${(last as Error | undefined)?.message ?? 'no attempt'}`, { cause: last });
}
