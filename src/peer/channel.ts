/**
 * The peer channel (DESIGN.md): one MQTT connection to every node's admin listener, this node's
 * own included, as the daemon user. What this node publishes goes to its own broker, retained;
 * the others read it there. The own connection carries a last-will that marks the node offline,
 * so a daemon that dies is seen as gone while its broker still runs. Connections come back with
 * a growing delay, and a peer that returns hands over its retained messages on subscribe.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/schema.js';

export interface PeerChannelOptions {
  self: NodeConfig;
  nodes: readonly NodeConfig[];
  port: number;
  username: string;
  password: string;
  /** `mosquitto-failover/<cluster>`; topics below are relative to it. */
  prefix: string;
  /** Topic filters (relative) to read on every node's broker. */
  subscriptions: readonly string[];
  /** The retained last-will on this node's own broker, relative topic and payload. */
  will: { topic: string; payload: string };
  log: Logger;
  /** A message from `from`'s broker; `topic` relative to the prefix. */
  onMessage: (from: NodeConfig, topic: string, payload: Buffer) => void;
  /** Called each time the own broker's connection is (re)made: publish the retained state again. */
  onOwnConnect: () => void;
  minDelayMs?: number;
  maxDelayMs?: number;
}

interface Link {
  node: NodeConfig;
  client: MqttClient;
  connected: boolean;
  delayMs: number;
  lastError?: string;
}

export class PeerChannel {
  private readonly options: PeerChannelOptions;
  private links: Link[] = [];

  constructor(options: PeerChannelOptions) {
    this.options = options;
  }

  /** Starts connecting to every node; does not wait (a peer may be down for hours). */
  start(): void {
    this.links = this.options.nodes.map((node) => this.connect(node));
  }

  /** Whether the connection to `nodeId`'s broker is up. */
  isConnected(nodeId: number): boolean {
    return this.links.some((link) => link.node.id === nodeId && link.connected);
  }

  /** Publishes on this node's own broker (QoS 1); rejects if it is not connected. */
  async publish(topic: string, payload: string, options: { retain: boolean }): Promise<void> {
    const own = this.links.find((link) => link.node.id === this.options.self.id);
    if (!own?.connected) throw new Error('not connected to this node\'s broker');
    await own.client.publishAsync(`${this.options.prefix}/${topic}`, payload, { qos: 1, retain: options.retain });
  }

  /** Ends every connection; the own one last, after `beforeEnd` (e.g. a clean offline status). Idempotent. */
  async stop(beforeEnd?: () => Promise<void>): Promise<void> {
    if (beforeEnd) await beforeEnd().catch((error: unknown) => this.options.log.debug({ err: error }, 'could not publish before leaving'));
    const links = this.links;
    this.links = [];
    await Promise.all(links.map((link) => link.client.endAsync(true).catch(() => undefined)));
  }

  private connect(node: NodeConfig): Link {
    const { self, port, username, password, prefix, log } = this.options;
    const min = this.options.minDelayMs ?? 500;
    const own = node.id === self.id;
    const options: IClientOptions = {
      username,
      password,
      clientId: `mqfo-${self.name}-to-${node.name}`,
      // The retained messages are the state; nothing queued while away is worth replaying.
      clean: true,
      reconnectPeriod: min,
      connectTimeout: 5_000,
      keepalive: 15,
      ...(own ? { will: { topic: `${prefix}/${this.options.will.topic}`, payload: Buffer.from(this.options.will.payload), qos: 1, retain: true } } : {}),
    };
    const client = mqtt.connect(`mqtt://${node.address}:${port}`, options);
    const link: Link = { node, client, connected: false, delayMs: min };
    const peerLog = log.child({ peer: node.name });
    client.on('connect', () => {
      link.connected = true;
      link.delayMs = min;
      delete link.lastError;
      client.options.reconnectPeriod = min;
      peerLog.info({ own }, 'peer channel connected');
      const topics = this.options.subscriptions.map((topic) => `${prefix}/${topic}`);
      client.subscribeAsync(topics, { qos: 1 }).catch((error: unknown) => peerLog.warn({ err: error }, 'peer channel subscribe failed'));
      if (own) this.options.onOwnConnect();
    });
    client.on('close', () => {
      if (link.connected) peerLog.warn('peer channel lost; reconnecting');
      link.connected = false;
      // mqtt.js reads reconnectPeriod at each attempt: double it up to the maximum.
      client.options.reconnectPeriod = link.delayMs;
      link.delayMs = Math.min(link.delayMs * 2, this.options.maxDelayMs ?? 10_000);
    });
    // Each new kind of failure is a warning (a wrong daemon password, say), its repeats are not.
    client.on('error', (error) => {
      const level = error.message === link.lastError ? 'debug' : 'warn';
      link.lastError = error.message;
      peerLog[level]({ err: error }, 'peer channel error');
    });
    client.on('message', (topic, payload) => {
      if (!topic.startsWith(`${prefix}/`)) return;
      this.options.onMessage(node, topic.slice(prefix.length + 1), payload);
    });
    return link;
  }
}
