/**
 * The peer channel (DESIGN.md): one MQTT connection to every node's admin listener, this node's
 * own included, as the daemon user. What this node publishes goes to its own broker, retained;
 * the others read it there. The own connection carries a last-will that marks the node offline,
 * so a daemon that dies is seen as gone while its broker still runs. Connections come back with
 * a growing delay (mqtt/client.ts), and a peer that returns hands over its retained messages on
 * subscribe.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/schema.js';
import { MqfoError } from '../errors.js';
import { connectLasting, type Login, type MqttClient } from '../mqtt/client.js';
import type { PeerTopic, Topics } from '../mqtt/topics.js';

export interface PeerChannelOptions {
  self: NodeConfig;
  nodes: readonly NodeConfig[];
  loginTo: (node: NodeConfig) => Login;
  topics: Topics;
  /** The retained last-will on this node's own broker. */
  will: { topic: string; payload: string };
  log: Logger;
  /** A message read on `from`'s broker. */
  onMessage: (from: NodeConfig, topic: PeerTopic, payload: Buffer) => void;
  /** Called each time the own broker's connection is (re)made: publish the retained state again. */
  onOwnConnect: () => void;
}

interface Link {
  node: NodeConfig;
  client: MqttClient;
  connected: boolean;
  lastError?: string;
}

export class PeerChannel {
  private readonly options: PeerChannelOptions;
  private links: Link[] = [];

  constructor(options: PeerChannelOptions) {
    this.options = options;
  }

  /** Starts connecting to every node; does not wait (a peer may be down for hours). */
  async start(): Promise<void> {
    this.links = this.options.nodes.map((node) => this.connect(node));
  }

  /** Whether the connection to `nodeId`'s broker is up. */
  isConnected(nodeId: number): boolean {
    return this.links.some((link) => link.node.id === nodeId && link.connected);
  }

  /** Publishes on this node's own broker (QoS 1); rejects if it is not connected. */
  async publish(topic: string, payload: string, options: { retain: boolean }): Promise<void> {
    const own = this.links.find((link) => link.node.id === this.options.self.id);
    if (!own?.connected) throw new MqfoError('ENOTCONNECTED', 'not connected to this node\'s broker');
    await own.client.publishAsync(topic, payload, { qos: 1, retain: options.retain });
  }

  /** Ends every connection. Idempotent. */
  async stop(): Promise<void> {
    const links = this.links;
    this.links = [];
    await Promise.all(links.map((link) => link.client.endAsync(true).catch(() => undefined)));
  }

  private connect(node: NodeConfig): Link {
    const { self, topics, log } = this.options;
    const own = node.id === self.id;
    const client = connectLasting(this.options.loginTo(node), { clientId: `mqfo-${self.name}-to-${node.name}`, ...(own ? { will: this.options.will } : {}) });
    const link: Link = { node, client, connected: false };
    const peerLog = log.child({ peer: node.name });
    client.on('connect', () => {
      link.connected = true;
      delete link.lastError;
      peerLog.info({ own }, 'peer channel connected');
      client.subscribeAsync(topics.peerFilters, { qos: 1 }).catch((error: unknown) => peerLog.warn({ err: error }, 'peer channel subscribe failed'));
      if (own) this.options.onOwnConnect();
    });
    client.on('close', () => {
      if (link.connected) peerLog.warn('peer channel lost; reconnecting');
      link.connected = false;
    });
    // Each new kind of failure is a warning (a wrong daemon password, say), its repeats are not.
    client.on('error', (error) => {
      const level = error.message === link.lastError ? 'debug' : 'warn';
      link.lastError = error.message;
      peerLog[level]({ err: error }, 'peer channel error');
    });
    client.on('message', (topic, payload) => this.options.onMessage(node, topics.parse(topic), payload));
    return link;
  }
}
