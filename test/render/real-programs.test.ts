/**
 * The rendered files, checked by the programs that will read them: keepalived --config-test,
 * mosquitto started on each mosquitto.conf, a two-node bridge replicating both ways, and ucarp
 * running the rendered arguments and scripts. Each runs inside a network namespace of its own
 * that holds the config's addresses, so no file is rewritten and the machine is not touched.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { execa } from 'execa';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import type { NodeConfig } from '../../src/config/schema.js';
import { listNamespaces, Netns, removeStaleNamespaces } from '../../lab/netns.js';
import { bridgeOf } from '../../src/render/model.js';
import { baseDocument, EXAMPLE_ENV, example, yamlOf } from '../helpers/config.js';
import { missingRequirements, placeNode, stopperOf, writeServiceUsers, type PlacedNode } from '../helpers/real.js';

const missing = missingRequirements(['ip', 'keepalived', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'mosquitto_ctrl', 'ucarp']);
// These tests share namespace-creating resources and mosquitto ports: one at a time.
const real = missing ? test.serial.skip : test.serial;
if (missing) console.log(`real-program checks skipped: this machine ${missing}`);

const namespaces: Netns[] = [];
test.before(async () => {
  if (!missing) await removeStaleNamespaces();
});
test.afterEach.always(() => {
  for (const ns of namespaces.splice(0)) ns.destroy();
});

/** A namespace whose `interface` holds the given addresses (as the node's own would). */
async function host(tag: string, ifname: string, addresses: readonly string[], prefix: number): Promise<Netns> {
  const ns = await Netns.create(tag);
  namespaces.push(ns);
  await ns.addStubInterface(ifname, addresses.map((address) => `${address}/${prefix}`));
  return ns;
}

const variants: [string, LoadedConfig][] = [
  ['two-node example', example('two-node')],
  ['three-node example', example('three-node')],
  ['VRRPv2 with PASS authentication', parseConfig(yamlOf({ ...baseDocument(), failover: { vrrp_version: 2, advert_int: 2, preempt_delay: 5 } }), EXAMPLE_ENV)],
  ['advert_int 0.05 (VRRPv3)', parseConfig(yamlOf({ ...baseDocument(), failover: { advert_int: 0.05 } }), EXAMPLE_ENV)],
];

for (const [label, loaded] of variants) {
  real(`keepalived --config-test accepts every node's keepalived.conf: ${label}`, async (t) => {
    const { vip } = loaded.config;
    for (const node of loaded.config.nodes) {
      const ns = await host(`kc${node.id}`, vip.interface, [node.address], vip.prefix);
      const placed = placeNode(loaded, node, 'kc');
      const conf = placed.files.get('keepalived.conf')!;
      const result = await ns.exec(['keepalived', '--config-test', '-f', conf], { reject: false, timeout: 20_000 });
      t.is(result.exitCode, 0, `node ${node.name}: ${result.stderr}${result.stdout}`);
      ns.destroy();
    }
  });
}

real('keepalived --config-test does reject a broken file (the check can fail)', async (t) => {
  const loaded = example('two-node');
  const ns = await host('kcbad', loaded.config.vip.interface, [loaded.config.nodes[0]!.address], 24);
  const placed = placeNode(loaded, loaded.config.nodes[0]!, 'kcbad');
  const conf = placed.files.get('keepalived.conf')!;
  const text = readFileSync(conf, 'utf8').replace('advert_int 1', 'advert_int 1\n    no_such_keyword 1');
  await execa('sh', ['-c', 'cat > "$1"', '_', conf], { input: text });
  const result = await ns.exec(['keepalived', '--config-test', '-f', conf], { reject: false, timeout: 20_000 });
  t.not(result.exitCode, 0);
  t.regex(result.stderr + result.stdout, /Unknown keyword 'no_such_keyword'/);
});

interface Broker {
  placed: PlacedNode;
  node: NodeConfig;
  stop: () => Promise<void>;
}

/** Starts mosquitto on a placed node's rendered conf and waits (bounded) until the daemon user can publish on both listeners. */
async function startBroker(ns: Netns, placed: PlacedNode, node: NodeConfig, auth: { user: string; password: string }): Promise<Broker> {
  const child = ns.spawn(['mosquitto', '-c', placed.files.get('mosquitto.conf')!]);
  const { stop, exited } = stopperOf(child);
  const { broker } = placed.loaded.config;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (exited()) break;
    const ready = await Promise.all(
      [broker.client_port, broker.admin_port].map((port) =>
        ns.exec(['mosquitto_pub', '-h', node.address, '-p', String(port), '-u', auth.user, '-P', auth.password, '-t', `mosquitto-failover/${placed.loaded.config.cluster}/probe`, '-m', 'ok', '-q', '1'], { reject: false, timeout: 5_000 }),
      ),
    );
    if (ready.every((result) => result.exitCode === 0)) return { placed, node, stop };
    await sleep(100);
  }
  await stop();
  const result = await child;
  throw new Error(`mosquitto did not come up on ${placed.files.get('mosquitto.conf')}:\n${result.all}`);
}

/** Creates the dynamic-security file with the real mosquitto_ctrl, the daemon user as its admin. */
async function initDynsec(placed: PlacedNode): Promise<void> {
  const { config, secrets } = placed.loaded;
  await execa('mosquitto_ctrl', ['dynsec', 'init', config.broker.dynsec_file, config.daemon.user, secrets.daemonPassword], { timeout: 10_000 });
  await execa('chown', ['mosquitto:mosquitto', config.broker.dynsec_file]);
}

for (const name of ['two-node', 'three-node'] as const) {
  real(`mosquitto starts on every node's rendered mosquitto.conf: ${name} example`, async (t) => {
    const loaded = example(name);
    const { vip } = loaded.config;
    for (const node of loaded.config.nodes) {
      // Every node's address is present, so the hub's bridges have somewhere to point.
      const ns = await host(`mq${node.id}`, vip.interface, [node.address], vip.prefix);
      const placed = placeNode(loaded, node, 'mq');
      if (loaded.config.broker.auth === 'dynsec') await initDynsec(placed);
      else writeServiceUsers(placed);
      const broker = await startBroker(ns, placed, node, { user: loaded.config.daemon.user, password: loaded.secrets.daemonPassword });
      await broker.stop();
      t.pass(`${node.name} accepted the daemon user on ports ${loaded.config.broker.client_port} and ${loaded.config.broker.admin_port}`);
      ns.destroy();
    }
  });
}

/** Collects what a subscriber on `node` receives on `topic` for `seconds` (mosquitto_sub -W bounds it). */
function subscribe(ns: Netns, broker: Broker, topic: string, seconds: number, auth: { user: string; password: string }) {
  const { config } = broker.placed.loaded;
  return ns.exec(
    ['mosquitto_sub', '-h', broker.node.address, '-p', String(config.broker.client_port), '-u', auth.user, '-P', auth.password, '-t', topic, '-v', '-q', '1', '-W', String(seconds)],
    { reject: false, timeout: (seconds + 5) * 1000 },
  );
}

// mosquitto.conf neither quotes nor escapes: the bridge password is the rest of its line, # and
// all (mosquitto 2.0 conf.c). A password full of what other config files treat specially (a
// comment, a block, a parameter) shows that the broker reads it whole: else the bridge would not log in.
const BRIDGE_PASSWORD = '#br!dge{pw}$x#;`%';

real('a two-node bridge from rendered configs replicates both ways, once each, with try_private; mosquitto reads the bridge password whole', async (t) => {
  const document = { ...baseDocument(), bridge: { topics: [{ pattern: 'home/#', qos: 1 }] } };
  const loaded = parseConfig(yamlOf(document), { ...EXAMPLE_ENV, MQFO_BRIDGE_PASSWORD: BRIDGE_PASSWORD });
  t.regex(readFileSync(placeNode(loaded, loaded.config.nodes[1]!, 'brpw').files.get('mosquitto.conf')!, 'utf8'), /^remote_password #br!dge\{pw\}\$x#;`%$/m);
  const [a, b] = loaded.config.nodes as [NodeConfig, NodeConfig];
  const ns = await host('br', loaded.config.vip.interface, [a.address, b.address], loaded.config.vip.prefix);
  const auth = { user: loaded.config.daemon.user, password: loaded.secrets.daemonPassword };
  // An ordinary client, as in a user's own ACL beside the service-user block.
  const client = { user: 'sensor', password: 'sensor-pw' };
  const brokers: Broker[] = [];
  try {
    for (const node of [b, a]) {
      const placed = placeNode(loaded, node, `br${node.id}`);
      writeServiceUsers(placed);
      await execa('mosquitto_passwd', ['-b', placed.loaded.config.broker.password_file, client.user, client.password]);
      await execa('sh', ['-c', 'printf "\nuser %s\ntopic readwrite home/#\n" "$2" >> "$1"', '_', placed.loaded.config.broker.acl_file, client.user]);
      t.regex(readFileSync(placed.files.get('mosquitto.conf')!, 'utf8'), node.id === b.id ? /^try_private true$/m : /No bridge here/);
      brokers.push(await startBroker(ns, placed, node, auth));
    }
    const [brokerB, brokerA] = brokers as [Broker, Broker];

    // node b's bridge (to the hub, a) reports itself connected ($SYS notification, notifications true).
    const bridgeName = bridgeOf(loaded.config, loaded.secrets, b)!.name;
    let state = '';
    for (let attempt = 0; attempt < 30 && state !== '1'; attempt++) {
      const result = await ns.exec(['mosquitto_sub', '-h', b.address, '-p', '1883', '-u', auth.user, '-P', auth.password, '-t', `$SYS/broker/connection/${bridgeName}/state`, '-C', '1', '-W', '2'], { reject: false, timeout: 10_000 });
      state = result.stdout.trim();
      if (state !== '1') await sleep(200);
    }
    t.is(state, '1', 'bridge connected');

    const topic = 'home/bridged/';
    const onA = subscribe(ns, brokerA, `${topic}#`, 4, client);
    const onB = subscribe(ns, brokerB, `${topic}#`, 4, client);
    await sleep(1_000);
    const pub = (broker: Broker, leaf: string) =>
      ns.exec(['mosquitto_pub', '-h', broker.node.address, '-p', '1883', '-u', client.user, '-P', client.password, '-t', `${topic}${leaf}`, '-m', leaf, '-q', '1'], { timeout: 5_000 });
    await pub(brokerA, 'from-a');
    await pub(brokerB, 'from-b');
    const [seenA, seenB] = await Promise.all([onA, onB]);
    const lines = (text: string) => text.split('\n').filter(Boolean).sort();
    // Each side sees its own message and the other's, exactly once: no loop, no echo.
    t.deepEqual(lines(seenA.stdout), [`${topic}from-a from-a`, `${topic}from-b from-b`]);
    t.deepEqual(lines(seenB.stdout), [`${topic}from-a from-a`, `${topic}from-b from-b`]);
  } finally {
    for (const broker of brokers) await broker.stop();
  }
});

real('ucarp runs on the rendered arguments; its up script adds the VIP and writes the FIFO line', async (t) => {
  const loaded = parseConfig(yamlOf({ ...baseDocument(), failover: { driver: 'ucarp', router_id: 9 } }), EXAMPLE_ENV);
  const node = loaded.config.nodes[0]!;
  const { vip } = loaded.config;
  const ns = await host('ucarp', vip.interface, [node.address], vip.prefix);
  const placed = placeNode(loaded, node, 'ucarp');
  const fifo = `${placed.dir}/run/vrrp.fifo`;
  await execa('mkfifo', [fifo]);
  // Read the FIFO as the daemon will, up to the MASTER line, bounded. It is held open read-write so
  // that one script closing its end is no end of file for the reader.
  const reader = ns.exec(['timeout', '15', 'sh', '-c', 'exec 3<>"$1"; while read -r line <&3; do echo "$line"; case "$line" in *MASTER*) exit 0;; esac; done', '_', fifo], { reject: false, timeout: 20_000 });
  const args = readFileSync(placed.files.get('ucarp.args')!, 'utf8').trim().split('\n');
  const ucarp = ns.spawn(['ucarp', ...args]);
  try {
    const lines = (await reader).stdout.trim().split('\n');
    // ucarp runs the down script as it starts (a crashed master's VIP goes), then the up script.
    t.is(lines.at(-1), `INSTANCE "mqfo_home" MASTER ${node.priority}`);
    t.true(lines.slice(0, -1).every((line) => line === `INSTANCE "mqfo_home" BACKUP ${node.priority}`), lines.join('\n'));
    t.true((await ns.addresses(vip.interface)).includes(`${vip.address}/${vip.prefix}`), 'the VIP is on the interface');
  } finally {
    ucarp.kill('SIGTERM');
    await Promise.race([ucarp, sleep(5_000)]);
  }
  // --shutdown ran the down script: the VIP is gone again.
  t.false((await ns.addresses(vip.interface)).includes(`${vip.address}/${vip.prefix}`));
});

real('no namespace of this run is left behind', async (t) => {
  t.deepEqual((await listNamespaces()).filter((name) => name.startsWith(`mqfo${process.pid}-`)), []);
});
