/**
 * What a node publishes for Home Assistant's MQTT discovery: a device per node, its entities'
 * discovery configs, and the one state object they read. Pure: config and facts in, topics and
 * payloads out (publisher.ts sends them).
 *
 * Checked against Home Assistant's documentation (the keys here are the documented long names):
 * - discovery topic `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`, retained,
 *   a JSON object; node_id and object_id of [a-zA-Z0-9_-] (https://www.home-assistant.io/integrations/mqtt/#discovery-topic);
 * - `unique_id` on every entity, required for the device registry; `device` with `identifiers`
 *   (a list; "at least one of identifiers or connections must be present to identify the
 *   device"), `name`, `manufacturer`, `model`, `sw_version`;
 * - sensor (https://www.home-assistant.io/integrations/sensor.mqtt/): `state_topic` required,
 *   `value_template`, `unit_of_measurement`, `device_class` (duration takes ms), `state_class`
 *   (measurement; total_increasing for a count that only grows, its decrease read as a reset);
 *   a template that renders `None` makes the state unknown;
 * - binary_sensor (https://www.home-assistant.io/integrations/binary_sensor.mqtt/): `state_topic`
 *   required, `payload_on`/`payload_off` (default ON/OFF) that the payload or `value_template`
 *   must match, `None` for unknown; `device_class` connectivity;
 * - button (https://www.home-assistant.io/integrations/button.mqtt/): `command_topic` required,
 *   `payload_press` (default PRESS), `qos`, `retain` (default false);
 * - availability: `availability_topic` with `payload_available`/`payload_not_available`
 *   (default online/offline), not together with the `availability` list.
 * test/homeassistant/discovery.test.ts checks every payload against those keys.
 */
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { HomeAssistantTopics, Topics } from '../mqtt/topics.js';
import { takeoverOf, type NodeFacts, type RoleName } from '../node-state.js';

export const AVAILABLE = 'online';
export const NOT_AVAILABLE = 'offline';

/** The state object every sensor of a node reads (`value_json`). */
export interface HaState {
  role: RoleName;
  /** The broker's health verdict; null until the first probe (and with health off). */
  health: 'well' | 'sick' | null;
  /** This node's last takeover, from its first sign to the broker accepting; null before its first. */
  last_failover_ms: number | null;
  /** Takeovers this node has made (its takeover epoch, kept across restarts). */
  failovers: number;
}

/** One retained discovery message: its topic and its payload (an empty payload removes the entity). */
export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown> | undefined;
}

export interface DiscoveryContext {
  config: ClusterConfig;
  topics: Topics;
  ha: HomeAssistantTopics;
  version: string;
}

/** The device's identifier, the same from every node's daemon and across restarts (the node's id, not its name). */
export function deviceIdentifier(cluster: string, node: NodeConfig): string {
  return `mosquitto-failover-${cluster}-node${node.id}`;
}

/** The promote button's request: a setLeader of `node`, answered on Home Assistant's own response topic (it publishes as MQTT 3.1.1, without a response topic of its own). */
export function promoteRequest(topics: Topics, user: string, node: NodeConfig): string {
  return JSON.stringify({ commands: [{ command: 'setLeader', node: node.name }], responseTopic: `${topics.controlResponse(user)}/homeassistant` });
}

/** Whether the promote buttons can work: Home Assistant's user named (rules.ts: then it is in control.users), and a switchover possible at all (plan.ts checkDriver). */
export function hasButton(config: ClusterConfig): boolean {
  return config.homeassistant.user !== undefined && config.failover.driver === 'keepalived' && config.failover.preempt;
}

/**
 * The discovery configs of `node`'s device. The promote button only where it can work
 * (hasButton); else its topic gets an empty payload, which removes a button published before: a
 * button whose every press is refused would be a lie.
 */
export function discoveryMessages(context: DiscoveryContext, node: NodeConfig): DiscoveryMessage[] {
  const { config, topics, ha, version } = context;
  const id = deviceIdentifier(config.cluster, node);
  const device = { identifiers: [id], name: `${config.cluster} ${node.name}`, manufacturer: 'mosquitto-failover', model: 'Mosquitto failover node', sw_version: version };
  const availability = { availability_topic: ha.availability(node.id), payload_available: AVAILABLE, payload_not_available: NOT_AVAILABLE };
  const state_topic = ha.state(node.id);
  const entity = (component: string, key: string, fields: Record<string, unknown>, available = true): DiscoveryMessage => ({
    topic: ha.config(component, node.id, key),
    payload: { unique_id: `${id}-${key}`, device, ...fields, ...(available ? availability : {}) },
  });
  const user = hasButton(config) ? config.homeassistant.user : undefined;
  return [
    entity('sensor', 'role', { name: 'Role', state_topic, value_template: '{{ value_json.role }}', icon: 'mdi:crown' }),
    // Its state is the availability itself, so it has none: it reads off when the daemon is gone, not unavailable.
    entity('binary_sensor', 'online', { name: 'Online', state_topic: ha.availability(node.id), payload_on: AVAILABLE, payload_off: NOT_AVAILABLE, device_class: 'connectivity' }, false),
    entity('binary_sensor', 'broker', {
      name: 'Broker healthy',
      state_topic,
      value_template: "{{ 'ON' if value_json.health == 'well' else 'OFF' if value_json.health == 'sick' else 'None' }}",
      icon: 'mdi:heart-pulse',
    }),
    entity('sensor', 'last_failover', {
      name: 'Last failover duration',
      state_topic,
      value_template: "{{ value_json.last_failover_ms if value_json.last_failover_ms is not none else 'None' }}",
      unit_of_measurement: 'ms',
      device_class: 'duration',
      state_class: 'measurement',
    }),
    entity('sensor', 'failovers', { name: 'Failovers', state_topic, value_template: '{{ value_json.failovers }}', state_class: 'total_increasing', icon: 'mdi:swap-horizontal' }),
    user === undefined
      ? { topic: ha.config('button', node.id, 'promote'), payload: undefined }
      : entity('button', 'promote', { name: 'Promote', command_topic: topics.controlRequest(user), payload_press: promoteRequest(topics, user, node), qos: 1, retain: false, icon: 'mdi:arrow-up-bold' }),
  ];
}

/** The node's state as its own facts say; the last takeover from the own status when this daemon has made none yet (it restarted). */
export function haState(facts: Readonly<NodeFacts>, self: NodeConfig): HaState {
  const takeover = takeoverOf(facts.lastTransition) ?? facts.peers[self.id]?.takeover;
  return {
    role: facts.role,
    health: facts.broker.healthy === undefined ? null : facts.broker.healthy ? 'well' : 'sick',
    last_failover_ms: takeover?.ms ?? null,
    failovers: facts.epoch,
  };
}
