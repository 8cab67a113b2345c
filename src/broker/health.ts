/**
 * Is the broker healthy: can the daemon user log in on the admin listener, subscribe to a topic of
 * its own and get back what it publishes there? That proves the password file (or dynamic
 * security) still has the daemon user and the ACL still gives it the peer channel: what a reload
 * of a synced file could break.
 */
import { randomBytes } from 'node:crypto';
import { MqfoError } from '../errors.js';
import { connectOnce, type Login } from '../mqtt/client.js';
import { retryUntil } from '../retry.js';

async function roundTrip(login: Login, topic: string, deadline: number): Promise<void> {
  const timeout = Math.max(200, deadline - Date.now());
  const client = await connectOnce(login, { purpose: 'health', timeoutMs: timeout });
  let timer: NodeJS.Timeout | undefined;
  try {
    const nonce = randomBytes(8).toString('hex');
    const received = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new MqfoError('EUNHEALTHY', `no echo on ${topic} within ${timeout} ms (does the ACL still give it to ${login.username}?)`)), timeout);
      client.on('message', (_topic, payload) => {
        if (payload.toString() === nonce) resolve();
      });
    });
    // Heard now, awaited below: its timer can fire while the subscribe or the publish is still
    // waiting (a busy broker), and a rejection nobody listens to ends the daemon.
    received.catch(() => undefined);
    const granted = await client.subscribeAsync(topic, { qos: 1 });
    // mosquitto answers 128 (failure) for a subscription the ACL denies.
    if (granted.some((grant) => grant.qos === 128)) throw new MqfoError('EUNHEALTHY', `subscribing to ${topic} was refused`);
    await client.publishAsync(topic, nonce, { qos: 1 });
    await received;
  } finally {
    // Also when subscribing failed: a timer left running would reject with no one listening.
    clearTimeout(timer);
    await client.endAsync(true).catch(() => undefined);
  }
}

/**
 * A probe that got no answer in time: the broker accepted the connection (the kernel does, for a
 * hung one) or the connection is still being made, and nothing came back. Not a refusal, which is
 * what a broker that is not running gives; the health monitor counts the two apart.
 */
export class NoAnswerError extends MqfoError {
  constructor(login: Login, timeoutMs: number) {
    super('EUNHEALTHY', `no answer from ${login.host}:${login.port} within ${timeoutMs} ms`);
  }
}

/**
 * One round trip, failed if it has not answered within `timeoutMs` (the health monitor's probe),
 * with a NoAnswerError. A connection still being made when time is up ends by its own connect
 * timeout.
 */
export async function probeOnce(login: Login, topic: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new NoAnswerError(login, timeoutMs)), timeoutMs);
  });
  const trip = roundTrip(login, topic, Date.now() + timeoutMs);
  trip.catch(() => undefined);
  try {
    await Promise.race([trip, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once a round trip on `topic` succeeds; rejects with the last failure after `timeoutMs` (default 5 s). */
export async function checkHealth(login: Login, topic: string, timeoutMs = 5_000): Promise<void> {
  await retryUntil({ what: `the broker at ${login.host}:${login.port} is not healthy`, code: 'EUNHEALTHY', timeoutMs, intervalMs: 100, maxAttempts: 100 }, (deadline) =>
    roundTrip(login, topic, deadline),
  );
}
