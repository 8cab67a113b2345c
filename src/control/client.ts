/**
 * One control API request from a command line tool (doctor's clock check): a connection of its
 * own as `login` (MQTT 3.1.1, as connectOnce makes them), the request on `login.username`'s
 * request topic naming its response topic (below the user's own, with a nonce) and its
 * correlation data in the request itself, as the API takes from a v3.1.1 client; the one answer. Bounded by
 * `timeoutMs` from the first byte to the answer.
 */
import { randomBytes } from 'node:crypto';
import { MqfoError } from '../errors.js';
import { connectOnce, type Login } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';
import type { CommandRequest, ControlResponse } from './api.js';

export interface Answered {
  response: ControlResponse;
  /** This machine's wall clock (epoch ms) just before the request went and just after the answer came. */
  sentAt: number;
  receivedAt: number;
}

export async function ask(login: Login, topics: Topics, commands: CommandRequest[], timeoutMs: number): Promise<Answered> {
  const started = Date.now();
  const client = await connectOnce(login, { purpose: 'ask', timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  try {
    const nonce = randomBytes(8).toString('hex');
    const responseTopic = `${topics.controlResponse(login.username)}/${nonce}`;
    await client.subscribeAsync(responseTopic, { qos: 1 });
    let sentAt = 0;
    const answered = new Promise<Answered>((resolve, reject) => {
      timer = setTimeout(() => reject(new MqfoError('ENOTCONNECTED', `no answer from the daemon on ${login.host}:${login.port} within ${timeoutMs} ms (does it run, and is it this version or later?)`)), Math.max(1, started + timeoutMs - Date.now()));
      client.on('message', (topic, payload) => {
        const receivedAt = Date.now();
        if (topic !== responseTopic) return;
        let response: ControlResponse;
        try {
          response = JSON.parse(payload.toString()) as ControlResponse;
        } catch {
          reject(new MqfoError('ENOTCONNECTED', `the daemon on ${login.host}:${login.port} answered with something that is not JSON`));
          return;
        }
        if (response.correlationData === nonce) resolve({ response, sentAt, receivedAt });
      });
    });
    answered.catch(() => undefined);
    sentAt = Date.now();
    await client.publishAsync(topics.controlRequest(login.username), JSON.stringify({ commands, responseTopic, correlationData: nonce }), { qos: 1 });
    return await answered;
  } finally {
    clearTimeout(timer);
    await client.endAsync(true).catch(() => undefined);
  }
}
