import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parseConfig } from '../../src/config/load.js';
import { advskewOf, bridgeOf, hubOf, ranksOf, savesOnSessionChange } from '../../src/render/model.js';
import { createTemplateEngine, renderNode, type RenderedFile } from '../../src/render/render.js';
import { baseDocument, EXAMPLE_ENV, example, yamlOf } from '../helpers/config.js';
import { scratchDir } from '../helpers/scratch.js';

const engine = createTemplateEngine();

function files(loaded = example('two-node'), index = 0): Map<string, RenderedFile> {
  return new Map(renderNode(engine, loaded, loaded.config.nodes[index]!, '9.9.9').map((file) => [file.name, file]));
}

function lines(text: string | undefined): string[] {
  return (text ?? '').split('\n').map((line) => line.trim());
}

test('each node but the hub has one bridge, to every node ranked before it (the hub first, then ids ascending)', (t) => {
  const { config } = example('three-node');
  t.is(hubOf(config).id, 1);
  const targets = (id: number) => bridgeOf(config, { clusterSecret: 's' }, config.nodes.find((node) => node.id === id)!)?.targets.map((target) => target.id);
  t.deepEqual([targets(1), targets(2), targets(3)], [undefined, [1], [1, 2]]);
  t.deepEqual(bridgeOf(config, { clusterSecret: 's' }, config.nodes[2]!)?.addresses, ['10.0.10.11:1885', '10.0.10.12:1885']);
  const document = { ...baseDocument(), nodes: [...baseDocument()['nodes'], { id: 3, name: 'mqtt-c', address: '192.168.1.13', priority: 50 }], bridge: { hub: 2, topics: [{ pattern: 'a/#' }] } };
  const configured = parseConfig(yamlOf(document), EXAMPLE_ENV).config;
  t.is(hubOf(configured).id, 2);
  t.deepEqual(ranksOf(configured).map((node) => node.id), [2, 1, 3]);
  const on = (id: number) => bridgeOf(configured, { clusterSecret: 's' }, configured.nodes.find((node) => node.id === id)!)?.targets.map((target) => target.id);
  t.deepEqual([on(1), on(2), on(3)], [[2], undefined, [2, 1]]);
});

test('mosquitto.conf: the bridge on the second node, to the hub\'s admin listener, staying where it connected; none on the hub', (t) => {
  const conf = lines(files(example('two-node'), 1).get('mosquitto.conf')?.content);
  for (const expected of [
    'listener 1883 192.168.1.12',
    'listener 1885 192.168.1.12',
    'persistence true',
    'autosave_interval 10',
    'max_queued_messages 100000',
    'max_inflight_messages 0',
    'password_file /etc/mosquitto/passwd',
    'acl_file /etc/mosquitto/acl',
    'connection mqfo-home-mqtt-b',
    'address 192.168.1.11:1885',
    'round_robin true',
    'remote_username mqfo-bridge',
    `remote_password ${EXAMPLE_ENV['MQFO_BRIDGE_PASSWORD']}`,
    'try_private true',
    'cleansession false',
    'notifications true',
    'notification_topic $SYS/broker/connection/mqfo-home-mqtt-b/state',
    'keepalive_interval 5',
    'topic home/# both 1 "" ""',
    'topic zigbee2mqtt/# both 1 "" ""',
    'topic mosquitto-failover-drain/home/# both 1 "" ""',
  ]) {
    t.true(conf.includes(expected), expected);
  }
  t.is(conf.filter((line) => line.startsWith('connection ')).length, 1);
  t.false(lines(files(example('two-node'), 0).get('mosquitto.conf')?.content).some((line) => /^(connection|address|topic) /.test(line)), 'no bridge on the hub');
  const third = lines(files(example('three-node'), 2).get('mosquitto.conf')?.content);
  t.deepEqual(third.filter((line) => /^(connection|address|round_robin) /.test(line)), ['connection mqfo-lab-broker-3', 'address 10.0.10.11:1885 10.0.10.12:1885', 'round_robin true']);
});

test('a bridge\'s client id is its name and a tag only the cluster secret gives: the same on every render, another under another secret', (t) => {
  const clientId = (loaded: ReturnType<typeof example>) => lines(files(loaded, 1).get('mosquitto.conf')?.content).find((line) => line.startsWith('remote_clientid '));
  const id = clientId(example('two-node'));
  t.regex(id ?? '', /^remote_clientid mqfo-home-mqtt-b-[0-9a-f]{16}$/);
  t.is(clientId(example('two-node')), id);
  const other = example('two-node');
  t.not(clientId({ ...other, secrets: { ...other.secrets, clusterSecret: 'another-secret-of-some-length' } }), id);
});

test('tls: the admin listener alone gets the certificate, and every bridge verifies its peer against the CA', (t) => {
  const tls = { cafile: '/etc/mosquitto-failover/tls/ca.crt', certfile: '/etc/mosquitto-failover/tls/node.crt', keyfile: '/etc/mosquitto-failover/tls/node.key' };
  const loaded = parseConfig(yamlOf({ ...baseDocument(), nodes: [...baseDocument()['nodes'], { id: 3, name: 'mqtt-c', address: '192.168.1.13', priority: 50 }], tls }), EXAMPLE_ENV);
  const conf = lines(files(loaded).get('mosquitto.conf')?.content);
  const listeners = conf.flatMap((line, index) => (line.startsWith('listener ') ? [index] : []));
  t.deepEqual(listeners.map((index) => conf[index]), ['listener 1883 192.168.1.11', 'listener 1885 192.168.1.11']);
  // Listener options belong to the listener line before them (mosquitto.conf(5)).
  const admin = conf.slice(listeners[1]! + 1, conf.indexOf('persistence true'));
  t.deepEqual(admin.filter((line) => line && !line.startsWith('#')), [`cafile ${tls.cafile}`, `certfile ${tls.certfile}`, `keyfile ${tls.keyfile}`, 'tls_version tlsv1.2']);
  t.false(conf.slice(listeners[0], listeners[1]).some((line) => /^(cafile|certfile|keyfile)/.test(line)), 'the client listener is unchanged');
  t.false(conf.some((line) => line.startsWith('bridge_')), 'no bridge on the hub');
  const third = lines(files(loaded, 2).get('mosquitto.conf')?.content);
  t.is(third.filter((line) => line === `bridge_cafile ${tls.cafile}`).length, 1, 'one bridge, verified against whichever address it connects to');
  t.is(third.filter((line) => line === 'bridge_insecure false').length, 1);
  t.false(third.includes('bridge_insecure true'));

  const plain = lines(files().get('mosquitto.conf')?.content);
  t.false(plain.some((line) => /^(cafile|certfile|keyfile|tls_version|bridge_cafile|bridge_insecure|bridge_tls_version) /.test(line)), 'without tls, none of it');
});

test('broker.autosave_changes: mosquitto saves after that many changes (autosave_on_changes), not by time; 0 keeps the time', (t) => {
  const byTime = lines(files().get('mosquitto.conf')?.content);
  t.true(byTime.includes('autosave_interval 10'));
  t.false(byTime.some((line) => line.startsWith('autosave_on_changes')));
  const document = { ...baseDocument(), broker: { autosave_changes: 1 } };
  const conf = lines(files(parseConfig(yamlOf(document), EXAMPLE_ENV)).get('mosquitto.conf')?.content);
  t.true(conf.includes('autosave_on_changes true'));
  t.deepEqual(conf.filter((line) => line.startsWith('autosave_interval')), ['autosave_interval 1']);
});

test('broker.save_on_session_change: the broker\'s log on $SYS for the daemon by default; not when off, not under autosave_changes 1, not under commands without a save_command', (t) => {
  const logsToTopic = (broker: Record<string, unknown>) => {
    const loaded = parseConfig(yamlOf({ ...baseDocument(), broker }), EXAMPLE_ENV);
    const conf = lines(files(loaded).get('mosquitto.conf')?.content);
    const rendered = ['log_dest topic', 'log_type subscribe', 'log_type unsubscribe'].map((line) => conf.includes(line));
    t.true(rendered.every((present) => present === rendered[0]), 'the three lines together');
    t.is(savesOnSessionChange(loaded.config), rendered[0]!, 'the daemon reads the log exactly when it is rendered');
    return rendered[0];
  };
  const commands = { control: 'command', restart_command: ['/bin/true'], reload_command: ['/bin/true'] };
  t.true(logsToTopic({}));
  t.false(logsToTopic({ save_on_session_change: false }));
  t.false(logsToTopic({ autosave_changes: 1 }));
  t.true(logsToTopic({ autosave_changes: 100 }));
  t.false(logsToTopic(commands));
  t.true(logsToTopic({ ...commands, save_command: ['/usr/bin/docker', 'kill', '--signal=USR1', 'mosquitto'] }));
});

test('dynsec replaces the password and ACL files; client_bind all listens everywhere', (t) => {
  const conf = lines(files(example('three-node'), 1).get('mosquitto.conf')?.content);
  t.true(conf.includes('plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so'));
  t.true(conf.includes('plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json'));
  t.false(conf.some((line) => line.startsWith('password_file') || line.startsWith('acl_file')));
  t.true(conf.includes('listener 1883'));
  // `direction: in` is seen from the hub (it receives): from the bridge on a higher-ranked node, it goes out.
  t.true(conf.includes('topic tele/+/STATE out 0 "" ""'));
  t.false(files(example('three-node')).has('service-users.acl'));
});

test('the service-user ACL follows each topic direction, keeps the control topics from the bridge, and gives both users the drain markers', (t) => {
  const acl = lines(files(example('two-node')).get('service-users.acl')?.content);
  const bridge = acl.slice(acl.indexOf('user mqfo-bridge'), acl.indexOf('user mqfo-daemon'));
  t.deepEqual(bridge.filter((line) => line.startsWith('topic')), [
    'topic deny mosquitto-failover/home/#',
    'topic readwrite home/#',
    'topic readwrite zigbee2mqtt/#',
    'topic write $SYS/broker/connection/+/state',
    'topic readwrite mosquitto-failover-drain/home/#',
  ]);
  const daemon = acl.slice(acl.indexOf('user mqfo-daemon'));
  t.true(daemon.includes('topic readwrite mosquitto-failover/home/#'));
  t.true(daemon.includes('topic readwrite mosquitto-failover-drain/home/#'));
});

test('a topic\'s direction is seen from the hub: the bridge (on the other side) turns it around, and the bridge user gets what it does on the hub', (t) => {
  const topics = [{ pattern: 'down/#', direction: 'out' }, { pattern: 'up/#', direction: 'in' }, { pattern: 'both/#' }];
  const loaded = parseConfig(yamlOf({ ...baseDocument(), bridge: { topics } }), EXAMPLE_ENV);
  const conf = lines(files(loaded, 1).get('mosquitto.conf')?.content);
  t.deepEqual(conf.filter((line) => /^topic (down|up|both)\//.test(line)), ['topic down/# in 1 "" ""', 'topic up/# out 1 "" ""', 'topic both/# both 1 "" ""']);
  const acl = lines(files(loaded, 1).get('service-users.acl')?.content);
  const bridge = acl.slice(acl.indexOf('user mqfo-bridge'), acl.indexOf('user mqfo-daemon'));
  // On the hub it reads what flows out from there, and publishes what flows in.
  t.deepEqual(bridge.filter((line) => /^topic \w+ (down|up|both)\//.test(line)), ['topic read down/#', 'topic write up/#', 'topic readwrite both/#']);
});

test('Home Assistant discovery in the ACL: the bridge denied its topics, the daemon user writes them, Home Assistant\'s user reads them; nothing without it', (t) => {
  const loaded = example('two-node');
  const enabled = { ...loaded, config: { ...loaded.config, control: { users: ['ops', 'hass'] }, homeassistant: { enabled: true, discovery_prefix: 'homeassistant', user: 'hass' } } };
  const acl = lines(files(enabled).get('service-users.acl')?.content);
  const block = (user: string) => {
    const start = acl.indexOf(`user ${user}`);
    const end = acl.findIndex((line, index) => index > start && (line.startsWith('user ') || line.startsWith('# END')));
    return acl.slice(start, end).filter((line) => line.startsWith('topic'));
  };
  const filters = ['homeassistant/+/mosquitto-failover-home/#', 'mosquitto-failover-ha/home/#'];
  t.deepEqual(block('mqfo-bridge').slice(0, 3), ['topic deny mosquitto-failover/home/#', ...filters.map((filter) => `topic deny ${filter}`)]);
  t.deepEqual(block('mqfo-daemon').slice(-2), filters.map((filter) => `topic readwrite ${filter}`));
  t.deepEqual(block('hass').slice(-2), ['topic read homeassistant/#', 'topic read mosquitto-failover-ha/home/#']);
  t.false(block('ops').some((line) => line.includes('homeassistant')), 'only Home Assistant\'s user');
  t.false(lines(files(loaded).get('service-users.acl')?.content).some((line) => /homeassistant|mosquitto-failover-ha/.test(line)), 'off: no line');
});

test('keepalived.conf: VRRPv3, unicast peers, the VIP, the FIFO and the track file', (t) => {
  const conf = lines(files(example('three-node'), 1).get('keepalived.conf')?.content);
  for (const expected of [
    'vrrp_notify_fifo /run/mosquitto-failover/vrrp.fifo',
    'file "/run/mosquitto-failover/priority.track"',
    'version 3',
    'advert_int 0.2',
    'priority 150',
    'virtual_router_id 42',
    'unicast_src_ip 10.0.10.12',
    '10.0.10.100/24 dev enp1s0',
    'nopreempt',
  ]) {
    t.true(conf.includes(expected), expected);
  }
  const peers = conf.slice(conf.indexOf('unicast_peer {') + 1, conf.indexOf('}', conf.indexOf('unicast_peer {')));
  t.deepEqual(peers, ['10.0.10.11', '10.0.10.13']);
  t.false(conf.some((line) => line.startsWith('authentication')), 'VRRPv3 has no authentication');
  t.is(files(example('three-node')).get('keepalived.conf')?.mode, 0o600);
});

test('VRRPv2 with a password gets PASS authentication', (t) => {
  const loaded = parseConfig(yamlOf({ ...baseDocument(), failover: { vrrp_version: 2 } }), EXAMPLE_ENV);
  const conf = lines(files(loaded).get('keepalived.conf')?.content);
  t.true(conf.includes('auth_type PASS'));
  t.true(conf.includes(`auth_pass ${EXAMPLE_ENV['MQFO_VRRP_PASSWORD']}`));
});

test('ucarp: arguments, password file, and up/down scripts that write the FIFO line', (t) => {
  const loaded = parseConfig(yamlOf({ ...baseDocument(), failover: { driver: 'ucarp', router_id: 7 } }), EXAMPLE_ENV);
  const rendered = files(loaded, 1);
  t.false(rendered.has('keepalived.conf'));
  t.deepEqual(rendered.get('ucarp.args')?.content.trim().split('\n'), [
    '--interface=eth0',
    '--srcip=192.168.1.12',
    '--vhid=7',
    '--passfile=/etc/mosquitto-failover/ucarp.pass',
    '--addr=192.168.1.50',
    '--advbase=1',
    `--advskew=${advskewOf(100)}`,
    '--upscript=/etc/mosquitto-failover/vip-up.sh',
    '--downscript=/etc/mosquitto-failover/vip-down.sh',
    '--shutdown',
    '--preempt',
  ]);
  t.is(rendered.get('ucarp.pass')?.content, `${EXAMPLE_ENV['MQFO_VRRP_PASSWORD']}\n`);
  t.is(rendered.get('ucarp.pass')?.mode, 0o600);
  t.regex(rendered.get('vip-up.sh')?.content ?? '', /INSTANCE "mqfo_home" MASTER 100/);
  t.regex(rendered.get('vip-down.sh')?.content ?? '', /INSTANCE "mqfo_home" BACKUP 100/);
  t.regex(rendered.get('mosquitto-failover-ucarp.service')?.content ?? '', /^ExecStart=\/usr\/sbin\/ucarp --interface=eth0 .* --preempt$/m);
  t.regex(rendered.get('mosquitto-failover.service')?.content ?? '', /^After=network-online.target mosquitto.service mosquitto-failover-ucarp.service$/m);
});

test('higher VRRP priority means lower CARP skew', (t) => {
  t.true(advskewOf(200) < advskewOf(100));
  t.is(advskewOf(254), 0);
});

test('the systemd unit runs the daemon for this node after the network, broker and keepalived', (t) => {
  const unit = files(example('two-node'), 1).get('mosquitto-failover.service')?.content ?? '';
  t.regex(unit, /^ExecStart=\/usr\/local\/bin\/mosquitto-failover run --config \/etc\/mosquitto-failover\/cluster.yaml --env \/etc\/mosquitto-failover\/.env --node 2$/m);
  t.regex(unit, /^Environment=NODE_OPTIONS=--max-semi-space-size=1$/m);
  t.regex(unit, /^After=network-online.target mosquitto.service keepalived.service$/m);
  t.regex(unit, /^Restart=on-failure$/m);
});

test('a user template overrides the built-in one of the same name', (t) => {
  const dir = scratchDir('templates');
  writeFileSync(join(dir, 'tmpfiles.conf.liquid'), 'custom {{ node.name }}\n');
  const loaded = example('two-node');
  const rendered = renderNode(createTemplateEngine(dir), loaded, loaded.config.nodes[0]!, '1');
  t.is(rendered.find((file) => file.name === 'mosquitto-failover.tmpfiles.conf')?.content, 'custom mqtt-a\n');
  t.regex(rendered.find((file) => file.name === 'mosquitto.conf')?.content ?? '', /^listener 1883 192.168.1.11$/m);
});

test('a template that names an unknown variable fails instead of writing an empty value', (t) => {
  const dir = scratchDir('templates');
  writeFileSync(join(dir, 'mosquitto.conf.liquid'), 'listener {{ config.broker.clientport }}\n');
  const loaded = example('two-node');
  t.throws(() => renderNode(createTemplateEngine(dir), loaded, loaded.config.nodes[0]!, '1'), { message: /cannot render template mosquitto.conf.liquid: undefined variable: config.broker.clientport/ });
});
