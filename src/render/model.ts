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
  peer: NodeConfig;
  address: string;
  port: number;
}

export interface NodeView {
  version: string;
  config: ClusterConfig;
  secrets: Secrets;
  node: NodeConfig;
  peers: NodeConfig[];
  hub: NodeConfig;
  isHub: boolean;
  bridges: BridgeView[];
  topics: (TopicConfig & { access: 'readwrite' | 'read' | 'write' })[];
  /** VRRP instance name; keepalived writes it into the FIFO lines, the ucarp scripts copy it. */
  instance: string;
  /** Topic prefix of the daemons' peer channel. */
  peerPrefix: string;
  /** The switchover's drain markers (mqtt/topics.ts): carried by every bridge, at QoS 1. */
  drainTopic: string;
  /** Home Assistant discovery's topics (mqtt/topics.ts), when homeassistant.enabled: for the ACL lines. */
  homeassistant: { discoveryFilter: string; configFilter: string; stateFilter: string; user: string | undefined } | undefined;
  paths: RuntimePaths;
  ucarp: { advskew: number; args: string[] };
}

function homeAssistantView(config: ClusterConfig): NodeView['homeassistant'] {
  if (!config.homeassistant.enabled) return undefined;
  const topics = new HomeAssistantTopics(config.cluster, config.homeassistant.discovery_prefix);
  return { discoveryFilter: `${topics.discoveryPrefix}/#`, configFilter: topics.configFilter, stateFilter: topics.stateFilter, user: config.homeassistant.user };
}

/** The hub of the bridge star: the configured one, else the lowest id. */
export function hubOf(config: ClusterConfig): NodeConfig {
  const hub = config.bridge.hub === undefined ? undefined : config.nodes.find((node) => node.id === config.bridge.hub);
  return hub ?? [...config.nodes].sort((a, b) => a.id - b.id)[0]!;
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

/** One bridge per pair, and only from the hub: two bridges between the same brokers would loop. */
export function bridgesOf(config: ClusterConfig, secrets: Pick<Secrets, 'clusterSecret'>, node: NodeConfig): BridgeView[] {
  if (hubOf(config).id !== node.id) return [];
  return config.nodes
    .filter((peer) => peer.id !== node.id)
    .map((peer) => {
      const name = `mqfo-${config.cluster}-${node.name}-${peer.name}`;
      return { name, clientId: bridgeClientId(secrets.clusterSecret, name), peer, address: peer.address, port: config.broker.admin_port };
    });
}

// The bridge user acts on the remote broker: it publishes there what goes out and reads what comes in.
const ACCESS = { both: 'readwrite', out: 'write', in: 'read' } as const;

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
  const hub = hubOf(config);
  return {
    version,
    config,
    secrets,
    node,
    peers: config.nodes.filter((peer) => peer.id !== node.id),
    hub,
    isHub: hub.id === node.id,
    bridges: bridgesOf(config, secrets, node),
    topics: config.bridge.topics.map((topic) => ({ ...topic, access: ACCESS[topic.direction] })),
    instance: vrrpInstance(config),
    peerPrefix: peerPrefix(config.cluster),
    drainTopic: `${drainPrefix(config.cluster)}/#`,
    homeassistant: homeAssistantView(config),
    paths,
    ucarp: { advskew, args },
  };
}
