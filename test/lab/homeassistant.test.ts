/**
 * Home Assistant discovery end to end in one two-node lab (keepalived, advert 0.1 s, health on,
 * the daemon on each node), with `homeassistant: {enabled: true, user: lab}` and `lab` in
 * control.users: the rendered ACL gives the lab user read on `homeassistant/#` and on the nodes'
 * state topics, as it would Home Assistant's user. A subscriber on the client port, through the
 * VIP and on each node's own address, sees every node's device; a daemon killed (-9) or stopped
 * turns its availability offline; the promote button's press, published as Home Assistant
 * publishes it (MQTT 3.1.1, no response topic of its own), moves the VIP.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import type { ControlResponse } from '../../src/control/api.js';
import { HomeAssistantTopics } from '../../src/mqtt/topics.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`Home Assistant lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;
const ha = new HomeAssistantTopics('lab', 'homeassistant');
/** Per node: role, online, broker, last failover, failovers, promote; its state and availability. */
const PER_NODE = 8;

test.before(async () => {
  if (unavailable) return;
  current = await Lab.start({
    daemon: true,
    advertInt: 0.1,
    configure: (document) => {
      document.control = { users: ['lab'] };
      document.homeassistant = { enabled: true, user: 'lab' };
      // As an operator might: the bridges carry Home Assistant's topics too. The rendered ACL denies
      // them ours, else each node's retained messages would reach the other broker twice.
      document.bridge = { topics: [{ pattern: 'lab/#', direction: 'both', qos: 1 }, { pattern: 'homeassistant/#', direction: 'both', qos: 1 }, { pattern: 'mosquitto-failover-ha/#', direction: 'both', qos: 1 }] };
    },
  });
  await current.waitForVipOn(1, { alone: true });
  await current.node(1).waitForRole('MASTER', 0);
  await current.waitForBridges();
  // node1's takeover restarted its broker, whose wills at shutdown said both nodes offline there;
  // each daemon says online again when it reconnects. The tests start from that settled state.
  for (const host of [undefined, current.node(1).address, current.node(2).address]) {
    for (const node of current.nodes) await waitForAvailability(node, 'online', host);
  }
});

test.after.always(() => current?.stop());

const login = (host?: string) => ['-h', host ?? current!.loaded.config.vip.address, '-p', String(current!.loaded.config.broker.client_port), '-u', current!.clientUser.user, '-P', current!.clientUser.password];

/**
 * The `count` retained messages under Home Assistant's filters, as the lab user reads them on
 * `host` (default the VIP): topic -> payload. mosquitto_sub --retained-only ends at the first live
 * message (a state that changes meanwhile), so a short read is read again (bounded).
 */
async function retained(count: number, host?: string): Promise<Map<string, string>> {
  return waitFor(`${count} retained Home Assistant topics on ${host ?? 'the VIP'}`, async () => {
    const found = await readRetained(count, host);
    return found.size === count ? found : undefined;
  }, { timeoutMs: 40_000, intervalMs: 100 });
}

async function readRetained(count: number, host?: string): Promise<Map<string, string>> {
  const result = await current!.client.exec(
    ['mosquitto_sub', ...login(host), '-t', 'homeassistant/#', '-t', ha.stateFilter, '--retained-only', '-v', '-C', String(count), '-W', '10'],
    { reject: false, timeout: 20_000 },
  );
  const found = new Map<string, string>();
  for (const line of result.stdout.split('\n').filter(Boolean)) {
    const space = line.indexOf(' ');
    found.set(space < 0 ? line : line.slice(0, space), space < 0 ? '' : line.slice(space + 1));
  }
  return found;
}

/** The availability of `node` as read through the VIP, once it is `wanted` (bounded). */
async function waitForAvailability(node: LabNode, wanted: string, host?: string): Promise<void> {
  await waitFor(`${node.name}'s availability ${wanted}`, async () => (await retained(2 * PER_NODE, host)).get(ha.availability(node.id)) === wanted, { timeoutMs: 20_000, intervalMs: 200 });
}

const entities = ['sensor/node{id}-role', 'binary_sensor/node{id}-online', 'binary_sensor/node{id}-broker', 'sensor/node{id}-last_failover', 'sensor/node{id}-failovers', 'button/node{id}-promote'];

lab('through the VIP and on each broker: every node\'s discovery configs, its state and online', async (t) => {
  for (const host of [undefined, current!.node(1).address, current!.node(2).address]) {
    // node2's state may still move (its first health probes); wait until its broker is seen well.
    await waitFor(`node2 well on ${host ?? 'the VIP'}`, async () => JSON.parse((await retained(2 * PER_NODE, host)).get(ha.state(2)) ?? '{}').health === 'well', { timeoutMs: 20_000, intervalMs: 200 });
    const found = await retained(2 * PER_NODE, host);
    const where = host ?? 'the VIP';
    for (const node of current!.nodes) {
      for (const entity of entities) {
        const [component, object] = entity.replace('{id}', String(node.id)).split('/') as [string, string];
        const topic = `homeassistant/${component}/mosquitto-failover-lab/${object}/config`;
        const payload = JSON.parse(found.get(topic) ?? 'null') as { unique_id: string; device: { identifiers: string[] } } | null;
        t.truthy(payload, `${topic} on ${where}`);
        t.deepEqual(payload?.device.identifiers, [`mosquitto-failover-lab-node${node.id}`]);
      }
      t.is(found.get(ha.availability(node.id)), 'online', `${node.name} online on ${where}`);
    }
    t.like(JSON.parse(found.get(ha.state(1)) ?? '{}'), { role: 'MASTER', health: 'well' }, where);
    t.true(JSON.parse(found.get(ha.state(1)) ?? '{}').failovers >= 1, 'node1 took the VIP at least once');
    t.like(JSON.parse(found.get(ha.state(2)) ?? '{}'), { role: 'BACKUP', health: 'well' }, where);
    t.true(JSON.parse(found.get(ha.state(1)) ?? '{}').last_failover_ms > 0, 'node1\'s takeover took some ms');
  }
});

const MARKER = 'lab/ha-marker';

lab('a daemon killed: its last-will sets it offline on the other broker, once; a new daemon sets it online, once; a stopped one says offline', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  // Live changes of node2's availability on node1's broker, until a marker that node2's broker
  // sends over the bridge after them (one ordered session: a bridged copy would come before it).
  const watch = current!.client.spawn(['mosquitto_sub', ...login(one.address), '-R', '-v', '-t', ha.availability(2), '-t', MARKER, '-W', '120']);
  let seen = '';
  watch.stdout?.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  await sleep(500);
  t.true(two.kill('node').length > 0);
  await waitFor('the killed daemon gone', () => two.daemonPids().length === 0, { timeoutMs: 5_000 });
  await waitForAvailability(two, 'offline');
  await two.startDaemon();
  await waitForAvailability(two, 'online');
  await current!.client.exec(['mosquitto_pub', ...login(two.address), '-q', '1', '-t', MARKER, '-m', 'end'], { timeout: 10_000 });
  await waitFor('the marker from node2 on node1', () => seen.includes(`${MARKER} end`), { timeoutMs: 20_000 });
  watch.kill();
  await watch;
  const changes = seen.split('\n').filter((line) => line.startsWith(`${ha.availability(2)} `)).map((line) => line.split(' ')[1]);
  t.deepEqual(changes, ['offline', 'online'], 'the will and the new daemon\'s online, each once: the bridge did not carry node2\'s copies');

  await two.stopDaemon();
  await waitForAvailability(two, 'offline');
  await two.startDaemon();
  await waitForAvailability(two, 'online');
  await current!.waitForBridges();
});

lab('pressing node2\'s promote button (its payload on its command topic, as MQTT 3.1.1) moves the VIP to node2, and the answer comes on Home Assistant\'s response topic', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const found = await retained(2 * PER_NODE);
  const failoversBefore = (JSON.parse(found.get(ha.state(2)) ?? '{}') as { failovers: number }).failovers;
  const button = JSON.parse(found.get('homeassistant/button/mosquitto-failover-lab/node2-promote/config') ?? '{}') as { command_topic: string; payload_press: string };
  const responseTopic = (JSON.parse(button.payload_press) as { responseTopic: string }).responseTopic;
  // The answer goes to node1's broker, which received the press: listen there (through the VIP the connection ends when the VIP moves).
  const listener = current!.client.spawn(['mosquitto_sub', ...login(one.address), '-V', '311', '-t', responseTopic, '-C', '1', '-W', '60']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const at = Date.now();
  await current!.client.exec(['mosquitto_pub', ...login(), '-V', '311', '-q', '1', '-t', button.command_topic, '-m', button.payload_press], { timeout: 10_000 });
  const answer = JSON.parse(String((await listener).stdout)) as ControlResponse;
  t.like(answer.responses[0], { command: 'setLeader', data: { leader: 'node2' } }, JSON.stringify(answer));
  t.deepEqual(await current!.vipHolders(), [2]);
  await one.waitForRole('BACKUP', at);
  // Home Assistant sees the truth after the failover: node2 MASTER with one takeover more, node1 BACKUP.
  await waitFor('the states after the promote', async () => {
    const states = await retained(2 * PER_NODE);
    return JSON.parse(states.get(ha.state(2)) ?? '{}').role === 'MASTER' && JSON.parse(states.get(ha.state(1)) ?? '{}').role === 'BACKUP';
  }, { timeoutMs: 20_000, intervalMs: 200 });
  const states = await retained(2 * PER_NODE);
  t.like(JSON.parse(states.get(ha.state(2)) ?? '{}'), { role: 'MASTER', failovers: failoversBefore + 1 });
  t.true(JSON.parse(states.get(ha.state(2)) ?? '{}').last_failover_ms > 0);
  t.is(two.linesSince('role ', at).filter((line) => line.role === 'MASTER').length, 1);
});
