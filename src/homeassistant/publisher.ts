/**
 * Home Assistant discovery (homeassistant.enabled): this daemon publishes its own node's device
 * (discovery.ts), retained, on every node's broker, where Home Assistant reads through the VIP
 * whichever broker holds it. One writer per topic (the node it is about) and the bridges denied
 * those topics (service-users.acl), so no two nodes fight over a retained message and none arrives
 * by two paths. A connection per broker, each with a last-will that sets the node's availability
 * `offline` there: when the daemon or its host dies, every broker still up says so. Stop says
 * `offline` before closing. A will that fires late (an old connection's keepalive running out after
 * the new one said `online`) is read back on the availability topic and answered with `online`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { Component } from '../context.js';
import { connectLasting, uniqueClientId, type Login, type MqttClient } from '../mqtt/client.js';
import type { HomeAssistantTopics, Topics } from '../mqtt/topics.js';
import type { NodeState } from '../node-state.js';
import { AVAILABLE, discoveryMessages, haState, hasButton, NOT_AVAILABLE } from './discovery.js';

/** How long stop waits for each broker to take the `offline` (else its will says it when the connection drops). */
const GOODBYE_MS = 1_000;

export interface HomeAssistantOptions {
  config: ClusterConfig;
  self: NodeConfig;
  topics: Topics;
  ha: HomeAssistantTopics;
  state: NodeState;
  loginTo: (node: NodeConfig) => Login;
  log: Logger;
  version: string;
}

interface Link {
  node: NodeConfig;
  client: MqttClient;
}

export class HomeAssistantDiscovery implements Component {
  private readonly options: HomeAssistantOptions;
  private links: Link[] = [];
  private unsubscribe: (() => void) | undefined;
  private lastState: string | undefined;

  constructor(options: HomeAssistantOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const { config, self, ha, state, log } = this.options;
    const availability = ha.availability(self.id);
    this.lastState = this.stateText();
    for (const node of config.nodes) {
      const client = connectLasting(this.options.loginTo(node), {
        clientId: uniqueClientId(`${self.id}-ha-${node.id}`),
        will: () => ({ topic: availability, payload: Buffer.from(NOT_AVAILABLE) }),
      });
      const link: Link = { node, client };
      const linkLog = log.child({ broker: node.name });
      client.on('connect', () => {
        this.announce(link).catch((error: unknown) => linkLog.warn({ err: error }, 'Home Assistant discovery not published on this broker now'));
      });
      client.on('message', (topic, payload) => {
        if (topic !== availability || payload.toString() === AVAILABLE || !this.unsubscribe) return;
        linkLog.info({ read: payload.toString() }, 'Home Assistant availability read back as not online (a late last-will); publishing online again');
        this.send(link, availability, AVAILABLE).catch((error: unknown) => linkLog.debug({ err: error }, 'availability not published now'));
      });
      client.on('error', (error) => linkLog.debug({ err: error }, 'Home Assistant discovery: connection failed'));
      this.links.push(link);
    }
    this.unsubscribe = state.onChange(() => this.publishState());
    log.info({ prefix: ha.discoveryPrefix, button: hasButton(config) }, 'Home Assistant discovery on');
  }

  /** Says `offline` on every broker it is connected to (bounded), then closes. Idempotent. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const links = this.links;
    this.links = [];
    const availability = this.options.ha.availability(this.options.self.id);
    await Promise.all(
      links.map(async ({ client }) => {
        if (client.connected) await Promise.race([client.publishAsync(availability, NOT_AVAILABLE, { qos: 1, retain: true }), sleep(GOODBYE_MS)]).catch(() => undefined);
        await client.endAsync(true).catch(() => undefined);
      }),
    );
  }

  private stateText(): string {
    return JSON.stringify(haState(this.options.state.current, this.options.self));
  }

  /** On each connection: the discovery configs, the state, `online`, and the read-back of the availability. */
  private async announce(link: Link): Promise<void> {
    const { ha, self } = this.options;
    const context = { config: this.options.config, topics: this.options.topics, ha, version: this.options.version };
    for (const message of discoveryMessages(context, self)) {
      await this.send(link, message.topic, message.payload === undefined ? '' : JSON.stringify(message.payload));
    }
    await this.send(link, ha.state(self.id), this.lastState ?? this.stateText());
    await this.send(link, ha.availability(self.id), AVAILABLE);
    await link.client.subscribeAsync(ha.availability(self.id), { qos: 1 });
  }

  private publishState(): void {
    const text = this.stateText();
    if (text === this.lastState) return;
    this.lastState = text;
    const topic = this.options.ha.state(this.options.self.id);
    for (const link of this.links) {
      if (!link.client.connected) continue;
      this.send(link, topic, text).catch((error: unknown) => this.options.log.debug({ err: error, broker: link.node.name }, 'Home Assistant state not published now'));
    }
  }

  private async send(link: Link, topic: string, payload: string): Promise<void> {
    await link.client.publishAsync(topic, payload, { qos: 1, retain: true });
  }
}
