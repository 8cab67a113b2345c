/**
 * Every topic the daemons use, in one place. They live under the peer channel's prefix,
 * `mosquitto-failover/<cluster>/`, which the rendered ACL gives to the daemon user alone and the
 * bridges do not carry (mosquitto 2.0 does not pass `$CONTROL/...` between ordinary clients).
 */
import type { Kind } from '../sync/content.js';

const PEER_ROOT = 'mosquitto-failover';

export function peerPrefix(cluster: string): string {
  return `${PEER_ROOT}/${cluster}`;
}

/**
 * The switchover's drain markers (switchover.ts): the one daemons' topic the bridges carry, so
 * outside the peer prefix, which they must not carry. A marker published on the old master
 * arrives on the new one after everything the same bridge queued before it.
 */
export function drainPrefix(cluster: string): string {
  return `${PEER_ROOT}-drain/${cluster}`;
}

/** What a topic under the prefix is about. */
export type PeerTopic = { type: 'status'; node: number } | { type: 'sessions'; node: number } | { type: 'presence'; node: number } | { type: 'sync'; kind: string } | { type: 'command'; node: number } | { type: 'other' };

export class Topics {
  readonly prefix: string;
  private readonly cluster: string;

  constructor(cluster: string) {
    this.cluster = cluster;
    this.prefix = peerPrefix(cluster);
  }

  /** A node's retained status (peer/status.ts), on that node's own broker. */
  status(node: number): string {
    return `${this.prefix}/node/${node}/status`;
  }

  /** A node's retained list of the persistent sessions to shadow (sessions/list.ts), on that node's own broker. */
  sessions(node: number): string {
    return `${this.prefix}/node/${node}/sessions`;
  }

  /** A master's report of which listed clients are connected to it (sessions/presence.ts), not retained, on that node's own broker. */
  presence(node: number): string {
    return `${this.prefix}/node/${node}/presence`;
  }

  /** Where mosquitto publishes its connect lines and its subscribe and unsubscribe lines (`log_dest topic`; mosquitto logging.c). */
  get brokerLog(): string[] {
    return ['$SYS/broker/log/N', '$SYS/broker/log/M/#'];
  }

  /** The retained, signed envelope of a synced file (sync/envelope.ts). */
  sync(kind: Kind): string {
    return `${this.prefix}/sync/${kind}`;
  }

  /** The daemon user's own round-trip topic for health checks (broker/health.ts). */
  health(node: number): string {
    return `${this.prefix}/health/${node}`;
  }

  /** A node's sealed, not retained, request to every daemon (control/cluster-command.ts: syncNow). */
  command(node: number): string {
    return `${this.prefix}/node/${node}/command`;
  }

  /** Where control user `user` sends control API requests (control/api.ts); the ACL lets only that user write it. */
  controlRequest(user: string): string {
    return `${this.prefix}/control/${user}/request`;
  }

  /** What every daemon subscribes to for control requests on its own broker. */
  get controlRequests(): string {
    return `${this.prefix}/control/+/request`;
  }

  /** Where the answers to `user` may go: this topic or below it (the ACL lets only that user read them). */
  controlResponse(user: string): string {
    return `${this.prefix}/control/${user}/response`;
  }

  /** One drain marker's topic (drainPrefix). */
  drain(nonce: string): string {
    return `${this.drainPrefix}/${nonce}`;
  }

  get drainPrefix(): string {
    return drainPrefix(this.cluster);
  }

  /** What every daemon reads on every node's broker. */
  get peerFilters(): string[] {
    return [`${this.prefix}/node/+/status`, `${this.prefix}/sync/+`, `${this.prefix}/node/+/command`, `${this.prefix}/node/+/sessions`, `${this.prefix}/node/+/presence`];
  }

  parse(topic: string): PeerTopic {
    if (!topic.startsWith(`${this.prefix}/`)) return { type: 'other' };
    const rest = topic.slice(this.prefix.length + 1);
    const status = /^node\/(\d{1,3})\/status$/.exec(rest);
    if (status) return { type: 'status', node: Number(status[1]) };
    const sessions = /^node\/(\d{1,3})\/sessions$/.exec(rest);
    if (sessions) return { type: 'sessions', node: Number(sessions[1]) };
    const presence = /^node\/(\d{1,3})\/presence$/.exec(rest);
    if (presence) return { type: 'presence', node: Number(presence[1]) };
    const command = /^node\/(\d{1,3})\/command$/.exec(rest);
    if (command) return { type: 'command', node: Number(command[1]) };
    const sync = /^sync\/([a-z]+)$/.exec(rest);
    if (sync) return { type: 'sync', kind: sync[1]! };
    return { type: 'other' };
  }
}

/**
 * Home Assistant's topics of one cluster (homeassistant/): the discovery configs under Home
 * Assistant's prefix, `<discovery_prefix>/<component>/<node_id>/<object_id>/config` with node_id
 * `mosquitto-failover-<cluster>` (https://www.home-assistant.io/integrations/mqtt/#discovery-topic:
 * node_id and object_id only of [a-zA-Z0-9_-], which cluster names and `node<id>-<entity>` are),
 * and each node's state and availability under `mosquitto-failover-ha/<cluster>/`, outside the
 * peer prefix since Home Assistant's user reads them. Each topic has one writer, the node it is
 * about; the bridges are denied both subtrees (service-users.acl), so no broker gets a node's
 * retained message by two paths.
 */
export class HomeAssistantTopics {
  readonly discoveryPrefix: string;
  /** The discovery topic's node_id level. */
  readonly nodeId: string;
  private readonly statePrefix: string;

  constructor(cluster: string, discoveryPrefix: string) {
    this.discoveryPrefix = discoveryPrefix;
    this.nodeId = `${PEER_ROOT}-${cluster}`;
    this.statePrefix = `${PEER_ROOT}-ha/${cluster}`;
  }

  /** The retained discovery config of node `node`'s entity `entity` (a `component`: sensor, binary_sensor, button). */
  config(component: string, node: number, entity: string): string {
    return `${this.discoveryPrefix}/${component}/${this.nodeId}/node${node}-${entity}/config`;
  }

  /** The node's retained state, one JSON object that every sensor reads its value from. */
  state(node: number): string {
    return `${this.statePrefix}/node${node}/state`;
  }

  /** The node's daemon: `online`, or `offline` (its last-will, or its goodbye). */
  availability(node: number): string {
    return `${this.statePrefix}/node${node}/availability`;
  }

  /** Every discovery config of this cluster. */
  get configFilter(): string {
    return `${this.discoveryPrefix}/+/${this.nodeId}/#`;
  }

  /** Every state and availability topic of this cluster. */
  get stateFilter(): string {
    return `${this.statePrefix}/#`;
  }
}
