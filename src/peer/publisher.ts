/**
 * Keeps this node's retained status true: published when the own broker's connection is made and
 * whenever the role, the broker's health verdict, the weight (and standing priority), a takeover, a split brain or a synced file's version changes; on stop, the offline status the last-will
 * would have said, before the channel closes. Peers' statuses read on their brokers go into the
 * node state when they are later than the one held (status.ts: a replayed old one is not), and
 * peers coming and going are logged. This node's own status read back as anything but what it
 * last published (a replay, say) is published again.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/schema.js';
import type { Topics } from '../mqtt/topics.js';
import { takeoverOf, type NodeState, type SplitFacts } from '../node-state.js';
import type { PeerChannel } from './channel.js';
import { Throttle } from './limits.js';
import { compareStatus, isNewer, LAST_SEQ, parseStatus, type NodeStatus } from './status.js';

function healthOf(healthy: boolean | undefined): NodeStatus['health'] {
  return healthy === undefined ? undefined : healthy ? 'well' : 'sick';
}

/** What the status says of a split brain: whom this node gives up the VIP to, while it does. */
function splitOf(split: SplitFacts | undefined): NodeStatus['split'] {
  return split?.stepDown ? { winner: split.winner, since: split.at.seen } : undefined;
}

export interface StatusPublisherOptions {
  self: NodeConfig;
  state: NodeState;
  channel: Pick<PeerChannel, 'isConnected' | 'publish' | 'repair' | 'connection'>;
  topics: Topics;
  log: Logger;
  /** This daemon's run number (run.ts). */
  run: number;
}

export class StatusPublisher {
  private readonly options: StatusPublisherOptions;
  private unsubscribe: (() => void) | undefined;
  private seq = 0;
  /** The last status this node published. */
  private last: NodeStatus | undefined;
  private readonly replays = new Throttle(60_000);
  /** This daemon's last takeover (it stays after the node gives the VIP up). */
  private takeover: NodeStatus['takeover'];

  constructor(options: StatusPublisherOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    this.unsubscribe = this.options.state.onChange((changed, facts) => {
      if (
        changed.includes('role') ||
        (changed.includes('driver') && facts.driver !== this.last?.driver) ||
        changed.includes('versions') ||
        changed.includes('weight') ||
        changed.includes('lastTransition') ||
        (changed.includes('broker') && healthOf(facts.broker.healthy) !== this.last?.health) ||
        (changed.includes('split') && splitOf(facts.split)?.winner !== this.last?.split?.winner)
      ) {
        this.publish();
      }
    });
    this.publish();
  }

  /** Publishes the offline status while the channel is still up. Idempotent. */
  async stop(): Promise<void> {
    if (!this.unsubscribe) return;
    this.unsubscribe();
    this.unsubscribe = undefined;
    await this.send(this.offline(this.options.channel.connection, ++this.seq)).catch((error: unknown) =>
      this.options.log.debug({ err: error }, 'could not publish the offline status before leaving'),
    );
  }

  /** The last-will for the own broker's connection attempt `connection`: offline, after all that connection carried. */
  will(connection: number): { topic: string; value: NodeStatus } {
    return { topic: this.options.topics.status(this.options.self.id), value: this.offline(connection, LAST_SEQ) };
  }

  /** Publishes this node's status now, if its own broker's connection is up (it is published again when it is made). */
  publish(): void {
    const { self, state, channel, run } = this.options;
    if (!this.unsubscribe || !channel.isConnected(self.id)) return;
    const { role, startedAt, versions, broker, weight, driver } = state.current;
    const health = healthOf(broker.healthy);
    this.takeover = takeoverOf(state.current.lastTransition) ?? this.takeover;
    const takeover = this.takeover;
    const priority = weight.priority;
    const split = splitOf(state.current.split);
    this.send({
      node: self.id,
      name: self.name,
      online: true,
      role,
      ...(driver ? { driver } : {}),
      since: startedAt,
      versions,
      ...(health ? { health } : {}),
      weight: { value: weight.value, reasons: weight.reasons },
      ...(priority === undefined ? {} : { priority }),
      ...(takeover ? { takeover } : {}),
      ...(split ? { split } : {}),
      run,
      connection: channel.connection,
      seq: ++this.seq,
    }).catch((error: unknown) =>
      this.options.log.debug({ err: error }, 'status not published now'),
    );
  }

  /** A status read on `from`'s broker: taken if it is `from`'s own (a node publishes only its own, on its own broker) and later than the one held. */
  take(from: NodeConfig, node: number, value: unknown): void {
    if (node !== from.id) return;
    const { state, self, log, topics, channel } = this.options;
    const status = parseStatus(value);
    if (!status || status.node !== node) {
      if (this.replays.pass(`bad ${node}`) !== undefined) log.warn({ from: from.name }, 'ignored a status that is not one');
      return;
    }
    if (node === self.id && this.last && compareStatus(status, this.last) !== 0) channel.repair(topics.status(node));
    const before = state.current.peers[node];
    if (!isNewer(status, before)) {
      if (before && compareStatus(status, before) < 0) {
        const suppressed = this.replays.pass(`old ${node}`);
        if (suppressed !== undefined) log.warn({ from: from.name, suppressed }, `ignored an older status of ${status.name} (replayed)`);
      }
      return;
    }
    state.update({ peers: { ...state.current.peers, [node]: status } });
    if (node !== self.id && before?.online !== status.online) {
      log.info({ peer: status.name, online: status.online, role: status.role }, `peer ${status.name} ${status.online ? 'online' : 'offline'}`);
    }
    if (node !== self.id && status.online && status.role !== undefined && before?.role !== status.role) {
      log.debug({ peer: status.name, role: status.role }, `peer ${status.name} is ${status.role}`);
    }
    if (node !== self.id && status.health !== undefined && before?.health !== status.health) {
      log.info({ peer: status.name, health: status.health }, `peer ${status.name}'s broker ${status.health}`);
    }
  }

  private offline(connection: number, seq: number): NodeStatus {
    const { self, run, state } = this.options;
    return { node: self.id, name: self.name, online: false, since: state.current.startedAt, run, connection, seq };
  }

  private async send(status: NodeStatus): Promise<void> {
    this.last = status;
    await this.options.channel.publish(this.options.topics.status(this.options.self.id), status, { retain: true });
  }
}
