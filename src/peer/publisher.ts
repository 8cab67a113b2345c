/**
 * Keeps this node's retained status true: published when the own broker's connection is made and
 * whenever the role or a synced file's version changes; on stop, the offline status the last-will
 * would have said, before the channel closes. Peers' statuses read on their brokers go into the
 * node state, and peers coming and going are logged.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/schema.js';
import type { Topics } from '../mqtt/topics.js';
import type { NodeState } from '../node-state.js';
import type { PeerChannel } from './channel.js';
import { offlineStatus, parseStatus, type NodeStatus } from './status.js';

export interface StatusPublisherOptions {
  self: NodeConfig;
  state: NodeState;
  channel: Pick<PeerChannel, 'isConnected' | 'publish'>;
  topics: Topics;
  log: Logger;
}

export class StatusPublisher {
  private readonly options: StatusPublisherOptions;
  private unsubscribe: (() => void) | undefined;

  constructor(options: StatusPublisherOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    this.unsubscribe = this.options.state.onChange((changed) => {
      if (changed.includes('role') || changed.includes('versions')) this.publish();
    });
    this.publish();
  }

  /** Publishes the offline status while the channel is still up. Idempotent. */
  async stop(): Promise<void> {
    if (!this.unsubscribe) return;
    this.unsubscribe();
    this.unsubscribe = undefined;
    await this.send(offlineStatus(this.options.self)).catch((error: unknown) => this.options.log.debug({ err: error }, 'could not publish the offline status before leaving'));
  }

  /** Publishes this node's status now, if its own broker's connection is up (it is published again when it is made). */
  publish(): void {
    if (!this.unsubscribe || !this.options.channel.isConnected(this.options.self.id)) return;
    const { self, state } = this.options;
    const { role, startedAt, versions } = state.current;
    this.send({ node: self.id, name: self.name, online: true, role, since: startedAt, versions }).catch((error: unknown) => this.options.log.debug({ err: error }, 'status not published now'));
  }

  /** A status read on `from`'s broker: taken if it is `from`'s own (a node publishes only its own, on its own broker). */
  take(from: NodeConfig, node: number, payload: Buffer): void {
    if (node !== from.id) return;
    const status = parseStatus(payload);
    if (!status) {
      this.options.log.warn({ from: from.name }, 'ignored a status that is not one');
      return;
    }
    const { state, self, log } = this.options;
    const before = state.current.peers[node];
    state.update({ peers: { ...state.current.peers, [node]: status } });
    if (node !== self.id && before?.online !== status.online) {
      log.info({ peer: status.name, online: status.online, role: status.role }, `peer ${status.name} ${status.online ? 'online' : 'offline'}`);
    }
  }

  private async send(status: NodeStatus): Promise<void> {
    await this.options.channel.publish(this.options.topics.status(this.options.self.id), JSON.stringify(status), { retain: true });
  }
}
