/**
 * The control API's endpoint on this node's broker: a connection as the daemon user that reads
 * `<prefix>/control/<user>/request` for every user and answers the users named in
 * `control.users` (api.ts for the protocol, commands.ts for the commands). The ACL lets each
 * control user write only its own request topic and read only its own answers
 * (service-users.acl), so the topic says who asks; a request on the topic of a user who is not
 * named is logged and not answered. A user whose own ACL lets it write every topic (`topic
 * readwrite #`) can write another user's request topic too: the ACL is the authority here.
 *
 * The daemon user (whose password is in every node's root-only env file, beside the cluster
 * secret) is answered too, for the read-only commands only (DAEMON_COMMANDS): that is how
 * `doctor` on a node reads a peer's clock (getCluster's `time`), with no control user, and with
 * control.users empty (the endpoint then listens for the daemon user alone).
 */
import type { Logger } from 'pino';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { Component } from '../context.js';
import { connectLasting, uniqueClientId, type Login, type MqttClient } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';
import { Throttle } from '../peer/limits.js';
import { answer, MAX_REQUEST_BYTES, parseRequest, refusal, responseTopicOf, type ControlResponse, type Handler } from './api.js';

/** The broker drops anything larger for this client (MQTT v5 Maximum Packet Size): no answer to those. */
const MAX_PACKET_BYTES = 16 * MAX_REQUEST_BYTES;
/** Requests answered at once; more are dropped with a log line. */
const MAX_IN_FLIGHT = 8;
/** What the daemon user may ask: nothing that changes anything. */
export const DAEMON_COMMANDS: readonly string[] = ['getCluster', 'getNode', 'listEvents'];

export interface ControlServerOptions {
  config: ClusterConfig;
  self: NodeConfig;
  topics: Topics;
  /** The daemon user on this node's admin listener. */
  login: Login;
  log: Logger;
  handlers: Readonly<Record<string, Handler>>;
}

export class ControlServer implements Component {
  private readonly options: ControlServerOptions;
  private client: MqttClient | undefined;
  private inFlight = 0;
  private readonly refusals = new Throttle(60_000);
  private daemonHandlers: Readonly<Record<string, Handler>> = {};

  constructor(options: ControlServerOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const { config, self, topics, login, log, handlers } = this.options;
    this.daemonHandlers = Object.fromEntries(Object.entries(handlers).filter(([name]) => DAEMON_COMMANDS.includes(name)));
    const client = connectLasting(login, { clientId: uniqueClientId(`${self.id}-control`), maxPacketBytes: MAX_PACKET_BYTES });
    client.on('connect', () => {
      client.subscribeAsync(topics.controlRequests, { qos: 1 }).catch((error: unknown) => log.warn({ err: error }, 'control API: subscribe failed'));
    });
    client.on('error', (error) => log.debug({ err: error }, 'control API: connection to the own broker failed'));
    client.on('message', (topic, payload, packet) => {
      this.handle(topic, payload, packet.properties?.responseTopic, packet.properties?.correlationData).catch((error: unknown) => log.error({ err: error }, 'control API: a request failed'));
    });
    this.client = client;
    log.info({ users: config.control.users, daemonUser: DAEMON_COMMANDS, topic: topics.controlRequests }, 'control API listening');
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = undefined;
  }

  private refuse(key: string, facts: Record<string, unknown>, message: string): void {
    const suppressed = this.refusals.pass(key);
    if (suppressed !== undefined) this.options.log.warn({ ...facts, suppressed }, message);
  }

  private async handle(topic: string, payload: Buffer, v5Topic: string | undefined, correlation: Buffer | undefined): Promise<void> {
    const { config, topics, log } = this.options;
    const head = `${topics.prefix}/control/`;
    const user = topic.startsWith(head) && topic.endsWith('/request') ? topic.slice(head.length, -'/request'.length) : '';
    if (user === '' || user.includes('/')) return;
    const handlers = user === config.daemon.user ? this.daemonHandlers : this.options.handlers;
    if (user !== config.daemon.user && !config.control.users.includes(user)) {
      this.refuse(`user ${user}`, { user, bytes: payload.length }, 'control API: a request on the topic of a user not in control.users; not answered');
      return;
    }
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.refuse(`busy ${user}`, { user }, `control API: ${MAX_IN_FLIGHT} requests in progress; this one dropped`);
      return;
    }
    const parsed = parseRequest(payload);
    const responseTopic = responseTopicOf(v5Topic, parsed.ok ? parsed.request : undefined, topics.controlResponse(user));
    if (responseTopic === undefined) {
      this.refuse(`topic ${user}`, { user }, `control API: no response topic, or one outside ${topics.controlResponse(user)}/…; not answered`);
      return;
    }
    this.inFlight++;
    const started = Date.now();
    try {
      const response: ControlResponse = parsed.ok ? await answer(parsed.request, handlers) : refusal(parsed.error);
      await this.client?.publishAsync(responseTopic, JSON.stringify(response), { qos: 1, ...(correlation ? { properties: { correlationData: correlation } } : {}) });
      log.info({ user, commands: response.responses.map((entry) => entry.command), errors: response.responses.filter((entry) => entry.error !== undefined).length, ms: Date.now() - started }, 'control API: answered');
    } finally {
      this.inFlight--;
    }
  }
}
