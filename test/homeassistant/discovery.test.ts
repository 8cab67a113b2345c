/**
 * Every discovery payload against Home Assistant's documented discovery schema (the keys each
 * platform's page lists; the links are in src/homeassistant/discovery.ts): strict objects, so a
 * key Home Assistant does not know, a missing required key or a device class it does not have
 * fails here.
 */
import test from 'ava';
import { z } from 'zod';
import { parseRequest, responseTopicOf } from '../../src/control/api.js';
import { setLeaderRequest } from '../../src/control/set-leader.js';
import { AVAILABLE, deviceIdentifier, discoveryMessages, haState, NOT_AVAILABLE, type DiscoveryContext, type HaState } from '../../src/homeassistant/discovery.js';
import { HomeAssistantTopics, Topics } from '../../src/mqtt/topics.js';
import { initialFacts } from '../../src/node-state.js';
import { example } from '../helpers/config.js';

// https://www.home-assistant.io/integrations/mqtt/#discovery-topic: node_id and object_id of [a-zA-Z0-9_-].
const DISCOVERY_TOPIC = /^homeassistant\/(sensor|binary_sensor|button)\/[a-zA-Z0-9_-]+\/[a-zA-Z0-9_-]+\/config$/;
// A topic to publish or subscribe to: no wildcards, not empty.
const topicName = z.string().regex(/^[^#+\s]+$/);
const template = z.string().regex(/^\{\{.*\}\}$/);
const device = z.strictObject({
  // "At least one of identifiers or connections must be present to identify the device."
  identifiers: z.array(z.string().min(1)).min(1),
  name: z.string().min(1),
  manufacturer: z.string().min(1),
  model: z.string().min(1),
  sw_version: z.string().min(1),
});
const common = {
  name: z.string().min(1),
  unique_id: z.string().regex(/^[a-zA-Z0-9_-]+$/),
  device,
  icon: z.string().regex(/^mdi:[a-z0-9-]+$/).optional(),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(),
  availability_topic: topicName.optional(),
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
};
// https://www.home-assistant.io/integrations/sensor/#device-class (the ones a node could use) and its units.
const sensor = z.strictObject({
  ...common,
  state_topic: topicName,
  value_template: template.optional(),
  unit_of_measurement: z.string().optional(),
  device_class: z.enum(['duration', 'timestamp', 'enum']).optional(),
  state_class: z.enum(['measurement', 'total', 'total_increasing']).optional(),
}).refine((entity) => entity.device_class !== 'duration' || ['d', 'h', 'min', 's', 'ms'].includes(entity.unit_of_measurement ?? ''), 'a duration needs a unit of d, h, min, s or ms');
// https://www.home-assistant.io/integrations/binary_sensor/#device-class (the ones a node could use).
const binarySensor = z.strictObject({
  ...common,
  state_topic: topicName,
  value_template: template.optional(),
  payload_on: z.string().optional(),
  payload_off: z.string().optional(),
  device_class: z.enum(['connectivity', 'problem', 'running']).optional(),
});
const button = z.strictObject({
  ...common,
  command_topic: topicName,
  payload_press: z.string().optional(),
  retain: z.boolean().optional(),
});
const SCHEMAS = { sensor, binary_sensor: binarySensor, button } as const;

const cases = () => {
  const loaded = example('three-node');
  const config = {
    ...loaded.config,
    failover: { ...loaded.config.failover, preempt: true },
    control: { users: ['hass'] },
    homeassistant: { enabled: true, discovery_prefix: 'homeassistant', user: 'hass' },
  };
  const context: DiscoveryContext = { config, topics: new Topics(config.cluster), ha: new HomeAssistantTopics(config.cluster, 'homeassistant'), version: '1.2.3' };
  return { config, context };
};

test('every payload of every node fits Home Assistant\'s discovery schema of its component', (t) => {
  const { config, context } = cases();
  let checked = 0;
  for (const node of config.nodes) {
    for (const { topic, payload } of discoveryMessages(context, node)) {
      const match = DISCOVERY_TOPIC.exec(topic);
      t.truthy(match, topic);
      const component = match![1] as keyof typeof SCHEMAS;
      const result = SCHEMAS[component].safeParse(payload);
      t.true(result.success, `${topic}: ${result.error?.message}`);
      const entity = payload as Record<string, string>;
      // availability_topic comes with both payloads, or none of them.
      t.true(['availability_topic', 'payload_available', 'payload_not_available'].filter((key) => key in entity).length % 3 === 0, topic);
      checked++;
    }
  }
  t.is(checked, config.nodes.length * 6, 'role, online, broker, last failover, failovers and promote for each node');
});

test('one device per node, the same identifiers on each of its entities; every unique_id unique; topics distinct per node', (t) => {
  const { config, context } = cases();
  const uniqueIds = new Set<string>();
  const topics = new Set<string>();
  for (const node of config.nodes) {
    for (const { topic, payload } of discoveryMessages(context, node)) {
      const entity = payload as { unique_id: string; device: { identifiers: string[] }; state_topic?: string; availability_topic?: string };
      t.deepEqual(entity.device.identifiers, [deviceIdentifier(config.cluster, node)]);
      t.false(uniqueIds.has(entity.unique_id), entity.unique_id);
      uniqueIds.add(entity.unique_id);
      t.false(topics.has(topic));
      topics.add(topic);
      for (const own of [entity.state_topic, entity.availability_topic]) if (own !== undefined) t.regex(own, new RegExp(`/node${node.id}/`), 'a node\'s entities read only its own topics');
    }
  }
});

test('each entity as the issue asks: role, online (connectivity, no availability: it reads off), broker healthy, last failover in ms, failover count total_increasing', (t) => {
  const { config, context } = cases();
  const node = config.nodes[1]!;
  const byKey = Object.fromEntries(discoveryMessages(context, node).map(({ topic, payload }) => [topic.split('/').at(-2)!.replace(`node${node.id}-`, ''), payload as Record<string, unknown>]));
  t.like(byKey['role'], { state_topic: context.ha.state(node.id), value_template: '{{ value_json.role }}', availability_topic: context.ha.availability(node.id) });
  t.like(byKey['online'], { state_topic: context.ha.availability(node.id), payload_on: AVAILABLE, payload_off: NOT_AVAILABLE, device_class: 'connectivity' });
  t.false('availability_topic' in byKey['online']!);
  t.like(byKey['broker'], { state_topic: context.ha.state(node.id), payload_available: AVAILABLE, payload_not_available: NOT_AVAILABLE });
  t.like(byKey['last_failover'], { unit_of_measurement: 'ms', device_class: 'duration' });
  t.like(byKey['failovers'], { state_class: 'total_increasing', value_template: '{{ value_json.failovers }}' });
  // Every key a template reads is in the state.
  const state: HaState = haState(initialFacts(), node);
  for (const payload of Object.values(byKey)) {
    const template = typeof payload['value_template'] === 'string' ? payload['value_template'] : '';
    for (const [, key] of template.matchAll(/value_json\.(\w+)/g)) t.true(key! in state, key);
  }
});

test('the promote button sends a setLeader of its node on Home Assistant\'s request topic, answered on its own response topic without MQTT v5', (t) => {
  const { config, context } = cases();
  const node = config.nodes[2]!;
  const promote = discoveryMessages(context, node).find(({ topic }) => topic.startsWith('homeassistant/button/'))!.payload as { command_topic: string; payload_press: string };
  t.is(promote.command_topic, context.topics.controlRequest('hass'));
  const parsed = parseRequest(Buffer.from(promote.payload_press));
  t.true(parsed.ok);
  if (!parsed.ok) return;
  t.is(responseTopicOf(undefined, parsed.request, context.topics.controlResponse('hass')), `${context.topics.controlResponse('hass')}/homeassistant`);
  t.deepEqual(setLeaderRequest(config, parsed.request.commands[0]!), { action: { type: 'promote', node }, timeoutMs: 30_000 });
});

test('no button without homeassistant.user, under ucarp or with preempt false (every press would be refused): its topic gets an empty payload, which removes one published before', (t) => {
  const { config, context } = cases();
  const variants = [
    { ...config, homeassistant: { enabled: true, discovery_prefix: 'homeassistant' } },
    { ...config, failover: { ...config.failover, driver: 'ucarp' as const } },
    { ...config, failover: { ...config.failover, preempt: false } },
  ];
  for (const variant of variants) {
    const messages = discoveryMessages({ ...context, config: variant }, config.nodes[0]!);
    t.deepEqual(messages.filter(({ payload }) => payload === undefined).map(({ topic }) => topic), [context.ha.config('button', config.nodes[0]!.id, 'promote')]);
  }
  t.true(discoveryMessages(context, config.nodes[0]!).every(({ payload }) => payload !== undefined));
});

test('the state: role, health (null until probed), the last takeover\'s ms (from the own status after a restart), the takeover count', (t) => {
  const { config } = cases();
  const node = config.nodes[0]!;
  t.deepEqual(haState(initialFacts(), node), { role: 'UNKNOWN', health: null, last_failover_ms: null, failovers: 0 });
  const facts = {
    ...initialFacts(),
    role: 'MASTER' as const,
    epoch: 4,
    broker: { healthy: false, checkedAt: 1 },
    lastTransition: { from: 'BACKUP' as const, to: 'MASTER' as const, reason: 'hint', epoch: 4, at: { hint: 1000, accepting: 1131 }, ms: { hint: 0, accepting: 131 } },
  };
  t.deepEqual(haState(facts, node), { role: 'MASTER', health: 'sick', last_failover_ms: 131, failovers: 4 });
  const restarted = { ...initialFacts(), role: 'BACKUP' as const, epoch: 4, broker: { healthy: true, checkedAt: 1 }, peers: { [node.id]: { node: node.id, name: node.name, online: true, takeover: { epoch: 4, at: 1000, ms: 131 }, run: 2, connection: 1, seq: 1 } } };
  t.deepEqual(haState(restarted, node), { role: 'BACKUP', health: 'well', last_failover_ms: 131, failovers: 4 });
});

test('topics: discovery configs under the prefix with the cluster as node_id; state and availability outside it; filters that cover them', (t) => {
  const ha = new HomeAssistantTopics('home', 'ha/discovery');
  t.is(ha.config('sensor', 2, 'role'), 'ha/discovery/sensor/mosquitto-failover-home/node2-role/config');
  t.is(ha.state(2), 'mosquitto-failover-ha/home/node2/state');
  t.is(ha.availability(2), 'mosquitto-failover-ha/home/node2/availability');
  t.is(ha.configFilter, 'ha/discovery/+/mosquitto-failover-home/#');
  t.is(ha.stateFilter, 'mosquitto-failover-ha/home/#');
});
