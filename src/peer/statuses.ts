/**
 * Reads every node's retained status for a command line tool (`passwd` waits on it): one MQTT
 * connection per node's admin listener as the daemon user, with client ids of its own so the
 * daemon's connections are left alone. Statuses are opened and ordered as the daemon does
 * (status.ts): a forged one does not open, a replayed older one is not taken.
 */
import type { NodeConfig } from '../config/schema.js';
import { connectLasting, uniqueClientId, type Login, type MqttClient } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';
import { MAX_PAYLOAD_BYTES } from './limits.js';
import { open, type SealKey } from './seal.js';
import { isNewer, parseStatus, type NodeStatus } from './status.js';

export interface StatusReaderOptions {
  nodes: readonly NodeConfig[];
  loginTo: (node: NodeConfig) => Login;
  topics: Topics;
  key: SealKey;
}

export class StatusReader {
  private readonly options: StatusReaderOptions;
  private readonly clients: MqttClient[] = [];
  /** The latest status read on each node's own broker, by id. */
  readonly statuses = new Map<number, NodeStatus>();
  /** Ids of the nodes whose broker answered. */
  readonly reached = new Set<number>();
  /** Ids of the nodes whose broker is connected now (a status read before a close may be stale). */
  readonly connected = new Set<number>();

  constructor(options: StatusReaderOptions) {
    this.options = options;
  }

  start(): void {
    const { topics } = this.options;
    for (const node of this.options.nodes) {
      const client = connectLasting(this.options.loginTo(node), { clientId: uniqueClientId(`cli-${node.id}`), backoff: { minMs: 1_000, maxMs: 1_000 }, maxPacketBytes: MAX_PAYLOAD_BYTES.status + 1024 });
      client.on('connect', () => {
        this.reached.add(node.id);
        this.connected.add(node.id);
        client.subscribe(topics.status(node.id), { qos: 1 });
      });
      client.on('error', () => undefined);
      client.on('close', () => this.connected.delete(node.id));
      client.on('message', (topic, payload) => {
        const about = topics.parse(topic);
        if (about.type !== 'status' || about.node !== node.id) return;
        const opened = open(this.options.key, topic, payload, MAX_PAYLOAD_BYTES.status);
        const status = opened.ok ? parseStatus(opened.value) : undefined;
        if (status && status.node === node.id && isNewer(status, this.statuses.get(node.id))) this.statuses.set(node.id, status);
      });
      this.clients.push(client);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.endAsync(true).catch(() => undefined)));
  }
}
