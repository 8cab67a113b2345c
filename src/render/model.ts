/**
 * What the templates see for one node: the config, plus everything derived from it (peers,
 * bridges, file locations, ucarp arguments). Pure: no I/O, no clock.
 */
import { createHmac } from 'node:crypto';
import type { ClusterConfig, NodeConfig, TopicConfig } from '../config/schema.js';
import type { Secrets } from '../config/secrets.js';
import { drainPrefix, HomeAssistantTopics, peerPrefix } from '../mqtt/topics.js';
import { runtimePaths, vrrpInstance, type RuntimePaths } from '../paths.js';

export interface BridgeView {
  /** Connection name (mosquitto.conf(5) `connection`), also in its state topic `$SYS/broker/connection/<name>/state`. */
  name: string;
  /** Its client id on the remote broker: the name and a tag derived from the cluster secret (bridgeClientId). */
  clientId: string;
  /** The nodes this bridge may connect to: every lower-ranked node, in rank order (the first is the hub). */
  targets: NodeConfig[];
  /** `address:port` of each target's admin listener, in the same order (mosquitto.conf(5) `address`). */
  addresses: string[];
}

export interface NodeView {
  version: string;
  config: ClusterConfig;
  secrets: Secrets;
  node: NodeConfig;
  peers: NodeConfig[];
  hub: NodeConfig;
  /** This node's one bridge; none on the hub (rank 1), which every other node's bridge reaches. */
  bridge: BridgeView | undefined;
  /** The bridged topics: `direction` as configured (seen from the hub), `bridgeDirection` as the bridge's `topic` line says it, `access` the bridge user's right. */
  topics: (TopicConfig & { bridgeDirection: 'both' | 'in' | 'out'; access: 'readwrite' | 'read' | 'write' })[];
  /** VRRP instance name; keepalived writes it into the FIFO lines, the ucarp scripts copy it. */
  instance: string;
  /** Topic prefix of the daemons' peer channel. */
  peerPrefix: string;
  /** The switchover's drain markers (mqtt/topics.ts): carried by every bridge, at QoS 1. */
  drainTopic: string;
  /** Home Assistant discovery's topics (mqtt/topics.ts), when homeassistant.enabled: for the ACL lines. */
  homeassistant: { discoveryFilter: string; configFilter: string; stateFilter: string; user: string | undefined } | undefined;
  /** Whether the daemon asks the broker for a save on each session change (savesOnSessionChange): its log goes to `$SYS/broker/log/...` too. */
  savesOnSessionChange: boolean;
  paths: RuntimePaths;
  ucarp: { advskew: number; args: string[] };
}

/**
 * Whether the daemon asks its broker to save on each session change (src/broker/save-on-change.ts):
 * `broker.save_on_session_change`, unless mosquitto already saves after every change
 * (`autosave_changes: 1`), or the broker is run by commands without a `save_command`.
 */
export function savesOnSessionChange(config: ClusterConfig): boolean {
  const { broker } = config;
  return broker.save_on_session_change && broker.autosave_changes !== 1 && (broker.control !== 'command' || broker.save_command !== undefined);
}

function homeAssistantView(config: ClusterConfig): NodeView['homeassistant'] {
  if (!config.homeassistant.enabled) return undefined;
  const topics = new HomeAssistantTopics(config.cluster, config.homeassistant.discovery_prefix);
  return { discoveryFilter: `${topics.discoveryPrefix}/#`, configFilter: topics.configFilter, stateFilter: topics.stateFilter, user: config.homeassistant.user };
}

/** The hub: the configured one, else the lowest id. */
export function hubOf(config: ClusterConfig): NodeConfig {
  return ranksOf(config)[0]!;
}

/**
 * The nodes in bridge rank order: the hub (`bridge.hub`) first, then the others by ascending id.
 * A node's bridge may connect only to nodes ranked before it, so every bridge points from a
 * higher rank to a lower one, and each node has at most one: whichever addresses the bridges are
 * connected to at any moment (a split brain included), the bridges form a forest, never a cycle
 * and never two bridges between one pair of brokers.
 */
export function ranksOf(config: ClusterConfig): NodeConfig[] {
  const byId = [...config.nodes].sort((a, b) => a.id - b.id);
  const hub = byId.find((node) => node.id === config.bridge.hub) ?? byId[0]!;
  return [hub, ...byId.filter((node) => node !== hub)];
}

/**
 * A bridge's client id: its name and 64 bits of HMAC under the cluster secret. A client that
 * connects with a connected client's id takes its place (MQTT 3.1.4-3) and mosquitto cannot
 * reserve an id for the bridge user, so any logged-in user who knows the id can keep the bridge
 * down; nobody without the secret can compute this one, and it is the same on every render.
 * (mosquitto names the bridge's local client `local.<remote_clientid>`: that one is unguessable too.)
 */
export function bridgeClientId(clusterSecret: string, name: string): string {
  return `${name}-${createHmac('sha256', clusterSecret).update(`bridge client id ${name}`).digest('hex').slice(0, 16)}`;
}

/** A node's bridge connection name; the same whichever node it is connected to. */
export function bridgeName(config: ClusterConfig, node: NodeConfig): string {
  return `mqfo-${config.cluster}-${node.name}`;
}

/**
 * `node`'s one bridge: to every lower-ranked node's admin listener, in rank order, the hub first
 * (none on the hub). mosquitto connects to the first address it can and, with `round_robin true`,
 * stays there until that connection fails, then tries the next (mosquitto.conf(5) round_robin;
 * why not `false` in the template).
 */
export function bridgeOf(config: ClusterConfig, secrets: Pick<Secrets, 'clusterSecret'>, node: NodeConfig): BridgeView | undefined {
  const ranks = ranksOf(config);
  const rank = ranks.findIndex((ranked) => ranked.id === node.id);
  if (rank <= 0) return undefined;
  const targets = ranks.slice(0, rank);
  const name = bridgeName(config, node);
  return { name, clientId: bridgeClientId(secrets.clusterSecret, name), targets, addresses: targets.map((target) => `${target.address}:${config.broker.admin_port}`) };
}

// `topics[].direction` is seen from the hub (lower ranks); a bridge is rendered on the higher-ranked
// side, so its `topic` line turns it around: what flows from the hub (`out`) comes `in` here.
const BRIDGE_DIRECTION = { both: 'both', out: 'in', in: 'out' } as const;
// The bridge user acts on the remote (lower-ranked) broker: it reads there what comes in and publishes what goes out.
const ACCESS = { both: 'readwrite', out: 'read', in: 'write' } as const;

/** CARP elects the lowest skew; map VRRP's "highest priority wins" (1..254) onto it. */
export function advskewOf(priority: number): number {
  return 254 - priority;
}

/** ucarp's arguments for `node` (ucarp(8)): the rendered ucarp.args, and what `failover.control: supervise` runs. */
export function ucarpArgs(config: ClusterConfig, node: NodeConfig): string[] {
  const paths = runtimePaths(config);
  const { failover, vip } = config;
  return [
    `--interface=${vip.interface}`,
    `--srcip=${node.address}`,
    `--vhid=${failover.router_id}`,
    `--passfile=${paths.ucarpPass}`,
    `--addr=${vip.address}`,
    `--advbase=${failover.advert_int}`,
    `--advskew=${advskewOf(node.priority)}`,
    `--upscript=${paths.vipUp}`,
    `--downscript=${paths.vipDown}`,
    // Run the down script on shutdown too, so a stopped ucarp leaves no VIP behind.
    '--shutdown',
    ...(failover.preempt ? ['--preempt'] : []),
  ];
}

export function nodeView(config: ClusterConfig, secrets: Secrets, node: NodeConfig, version: string): NodeView {
  const paths = runtimePaths(config);
  const advskew = advskewOf(node.priority);
  const args = ucarpArgs(config, node);
  return {
    version,
    config,
    secrets,
    node,
    peers: config.nodes.filter((peer) => peer.id !== node.id),
    hub: hubOf(config),
    bridge: bridgeOf(config, secrets, node),
    topics: config.bridge.topics.map((topic) => ({ ...topic, bridgeDirection: BRIDGE_DIRECTION[topic.direction], access: ACCESS[topic.direction] })),
    instance: vrrpInstance(config),
    peerPrefix: peerPrefix(config.cluster),
    drainTopic: `${drainPrefix(config.cluster)}/#`,
    homeassistant: homeAssistantView(config),
    savesOnSessionChange: savesOnSessionChange(config),
    paths,
    ucarp: { advskew, args },
  };
}
