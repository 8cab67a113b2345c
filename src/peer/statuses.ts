/**
 * Reads every node's retained status for a command line tool (`passwd` waits on it): one short
 * MQTT connection per node's admin listener as the daemon user, with client ids of its own so the
 * daemon's connections are left alone.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { NodeConfig } from '../config/schema.js';
import { parseStatus, statusNode, statusTopic, type NodeStatus } from './status.js';

export interface StatusReaderOptions {
  nodes: readonly NodeConfig[];
  port: number;
  username: string;
  password: string;
  prefix: string;
}

export class StatusReader {
  private readonly options: StatusReaderOptions;
  private readonly clients: MqttClient[] = [];
  /** The latest status read on each node's own broker, by id. */
  readonly statuses = new Map<number, NodeStatus>();
  /** Ids of the nodes whose broker answered. */
  readonly reached = new Set<number>();

  constructor(options: StatusReaderOptions) {
    this.options = options;
  }

  start(): void {
    const tag = randomBytes(3).toString('hex');
    for (const node of this.options.nodes) {
      const client = mqtt.connect(`mqtt://${node.address}:${this.options.port}`, {
        username: this.options.username,
        password: this.options.password,
        clientId: `mqfo-cli-${tag}-${node.name}`,
        reconnectPeriod: 1_000,
        connectTimeout: 3_000,
      });
      client.on('connect', () => {
        this.reached.add(node.id);
        client.subscribe(`${this.options.prefix}/${statusTopic(node.id)}`, { qos: 1 });
      });
      client.on('error', () => undefined);
      client.on('message', (topic, payload) => {
        const status = parseStatus(payload);
        if (status && statusNode(topic.slice(this.options.prefix.length + 1)) === node.id) this.statuses.set(node.id, status);
      });
      this.clients.push(client);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.endAsync(true).catch(() => undefined)));
  }
}
