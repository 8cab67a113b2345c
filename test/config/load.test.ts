import test from 'ava';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/errors.js';
import { baseDocument, EXAMPLE_ENV, example, yamlOf } from '../helpers/config.js';

function problems(document: unknown, env = EXAMPLE_ENV): string[] {
  try {
    parseConfig(typeof document === 'string' ? document : yamlOf(document), env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatProblem);
    throw error;
  }
  return [];
}

test('the examples are valid, with defaults filled in', (t) => {
  const two = example('two-node');
  t.is(two.config.nodes.length, 2);
  t.is(two.config.broker.autosave_interval, 10);
  t.is(two.config.failover.vrrp_version, 3);
  t.is(two.secrets.bridgePassword, EXAMPLE_ENV['MQFO_BRIDGE_PASSWORD'] ?? '');
  const three = example('three-node');
  t.is(three.config.nodes.length, 3);
  t.is(three.config.failover.advert_int, 0.2);
  t.is(three.config.broker.auth, 'dynsec');
});

test('the minimal document is valid', (t) => {
  t.deepEqual(problems(baseDocument()), []);
});

const cases: [string, (doc: Record<string, any>) => void, RegExp][] = [
  ['a wrong IP', (d) => (d.nodes[1].address = '192.168.1.300'), /^nodes\[1\]\.address \(line \d+\): "192\.168\.1\.300" is not an IPv4 address$/],
  ['duplicate node ids', (d) => (d.nodes[1].id = 1), /^nodes\[1\]\.id \(line \d+\): 1 is also the id of nodes\[0\]/],
  ['duplicate addresses', (d) => (d.nodes[1].address = '192.168.1.11'), /^nodes\[1\]\.address \(line \d+\): "192\.168\.1\.11" is also the address of nodes\[0\]/],
  ['duplicate names', (d) => (d.nodes[1].name = 'mqtt-a'), /^nodes\[1\]\.name \(line \d+\): "mqtt-a" is also the name of nodes\[0\]/],
  ['a VIP inside no node\'s subnet', (d) => (d.vip.address = '10.9.9.9'), /^vip\.address \(line \d+\): 10\.9\.9\.9 is in no node's subnet \(192\.168\.1\.0\/24\)/],
  ['a node outside the VIP subnet', (d) => (d.nodes[1].address = '192.168.2.12'), /^nodes\[1\]\.address \(line \d+\): 192\.168\.2\.12 is not in the VIP's subnet 192\.168\.1\.0\/24/],
  ['the VIP equal to a node address', (d) => (d.vip.address = '192.168.1.11'), /^vip\.address \(line \d+\): 192\.168\.1\.11 is also the address of nodes\[0\]/],
  ['a priority out of range', (d) => (d.nodes[0].priority = 255), /^nodes\[0\]\.priority \(line \d+\): must be from 1 to 254/],
  ['a priority of 0', (d) => (d.nodes[0].priority = 0), /^nodes\[0\]\.priority \(line \d+\): must be from 1 to 254/],
  ['equal priorities', (d) => (d.nodes[1].priority = 150), /^nodes\[1\]\.priority \(line \d+\): 150 is also the priority of nodes\[0\].*preempt: false/],
  ['advert_int < 1 with VRRPv2', (d) => (d.failover = { vrrp_version: 2, advert_int: 0.5 }), /^failover\.advert_int \(line \d+\): 0\.5 s needs VRRPv3/],
  ['advert_int finer than centiseconds', (d) => (d.failover = { advert_int: 0.125 }), /^failover\.advert_int \(line \d+\): 0\.125 s is finer than VRRPv3's centiseconds/],
  ['sub-second adverts with ucarp', (d) => (d.failover = { driver: 'ucarp', advert_int: 0.5 }), /^failover\.advert_int \(line \d+\): 0\.5 is not a whole number of seconds.*ucarp/],
  ['ucarp under a command control without its stop command', (d) => (d.failover = { driver: 'ucarp', control: 'command', start_command: ['/bin/true'] }), /^failover\.stop_command \(line \d+\): is required when failover\.control is command \(with driver ucarp\)/],
  ['an unknown key', (d) => (d.nodes[0].prioirty = 1), /^nodes\[0\]\.prioirty \(line \d+\): unknown key \(hint: allowed here: id, name, address, priority\)$/],
  ['an unknown top-level key', (d) => (d.brokers = {}), /^brokers \(line \d+\): unknown key \(hint: allowed here: cluster, vip, failover, nodes, broker, bridge, daemon, sync, tls, health, metrics, control, homeassistant, sessions\)$/],
  ['# in the middle of a topic', (d) => (d.bridge.topics[0].pattern = 'home/#/x'), /^bridge\.topics\[0\]\.pattern \(line \d+\): "home\/#\/x" has # in the wrong place/],
  ['# glued to a level', (d) => (d.bridge.topics[0].pattern = 'home#'), /^bridge\.topics\[0\]\.pattern \(line \d+\): "home#" has # in the wrong place/],
  ['+ glued to a level', (d) => (d.bridge.topics[0].pattern = 'home/a+/b'), /^bridge\.topics\[0\]\.pattern \(line \d+\): "home\/a\+\/b" has \+ in the wrong place/],
  ['a space in a topic', (d) => (d.bridge.topics[0].pattern = 'home/living room'), /contains white space/],
  ['a $SYS topic', (d) => (d.bridge.topics[0].pattern = '$SYS/#'), /starts with \$/],
  ['a QoS of 3', (d) => (d.bridge.topics[0].qos = 3), /^bridge\.topics\[0\]\.qos \(line \d+\): must be 0, 1 or 2$/],
  ['a direction that is not one', (d) => (d.bridge.topics[0].direction = 'sideways'), /^bridge\.topics\[0\]\.direction \(line \d+\): "sideways" is not one of "both", "in", "out"$/],
  ['a missing vip', (d) => delete d.vip, /^vip: is missing$/],
  ['one node only', (d) => d.nodes.pop(), /^nodes \(line \d+\): needs at least two nodes$/],
  ['a hub that is no node', (d) => (d.bridge.hub = 7), /^bridge\.hub \(line \d+\): 7 is not the id of any node \(hint: one of 1, 2\)$/],
  ['equal client and admin ports', (d) => (d.broker = { admin_port: 1883 }), /^broker\.admin_port \(line \d+\): 1883 is also broker\.client_port/],
  ['command control without commands', (d) => (d.broker = { control: 'command' }), /^broker\.restart_command \(line \d+\): is required when broker\.control is command/],
  ['a relative path', (d) => (d.broker = { password_file: 'passwd' }), /^broker\.password_file \(line \d+\): "passwd" is not an absolute path/],
  ['a bad cron sweep', (d) => (d.sync = { sweep: 'every minute' }), /^sync\.sweep \(line \d+\): "every minute" is not a cron expression/],
  ['dynsec sync with password files', (d) => (d.sync = { dynsec: true }), /^sync\.dynsec \(line \d+\): needs broker\.auth: dynsec/],
  ['a tls section without its certificate and key', (d) => (d.tls = { cafile: '/etc/mosquitto-failover/tls/ca.crt' }), /^tls\.certfile \(line \d+\): is missing \(hint: set all three of tls\.cafile, tls\.certfile and tls\.keyfile, or leave the tls section out\)$/],
  ['a tls section without its CA', (d) => (d.tls = { certfile: '/etc/a.crt', keyfile: '/etc/a.key' }), /^tls\.cafile \(line \d+\): is missing \(hint: set all three/],
  ['a relative tls path', (d) => (d.tls = { cafile: 'ca.crt', certfile: '/etc/a.crt', keyfile: '/etc/a.key' }), /^tls\.cafile \(line \d+\): "ca\.crt" is not an absolute path/],
  ['an unknown tls key', (d) => (d.tls = { cafile: '/a', certfile: '/b', keyfile: '/c', capath: '/d' }), /^tls\.capath \(line \d+\): unknown key \(hint: allowed here: cafile, certfile, keyfile\)$/],
  ['Home Assistant\'s user not in control.users', (d) => (d.homeassistant = { enabled: true, user: 'hass' }), /^homeassistant\.user \(line \d+\): "hass" is not in control\.users \(hint: the promote buttons are control API requests/],
  ['a discovery prefix with a wildcard', (d) => (d.homeassistant = { enabled: true, discovery_prefix: 'homeassistant/#' }), /^homeassistant\.discovery_prefix \(line \d+\): "homeassistant\/#" is not a discovery prefix/],
  ['a discovery prefix ending in /', (d) => (d.homeassistant = { discovery_prefix: 'homeassistant/' }), /^homeassistant\.discovery_prefix \(line \d+\): "homeassistant\/" is not a discovery prefix/],
  ['an unknown homeassistant key', (d) => (d.homeassistant = { enable: true }), /^homeassistant\.enable \(line \d+\): unknown key \(hint: allowed here: enabled, discovery_prefix, user\)$/],
  ['a negative autosave_changes', (d) => (d.broker = { autosave_changes: -1 }), /^broker\.autosave_changes \(line \d+\): must be 0 \(save by time\) or more$/],
  ['a fractional autosave_changes', (d) => (d.broker = { autosave_changes: 1.5 }), /^broker\.autosave_changes \(line \d+\): must be a whole number of changes, not 1\.5$/],
  ['autosave_changes as a word', (d) => (d.broker = { autosave_changes: 'always' }), /^broker\.autosave_changes \(line \d+\): must be a whole number of changes, not "always"$/],
  ['save_on_session_change as a word', (d) => (d.broker = { save_on_session_change: 'yes' }), /^broker\.save_on_session_change \(line \d+\): must be true or false/],
  ['a bad interface name', (d) => (d.vip.interface = 'this-name-is-far-too-long'), /^vip\.interface \(line \d+\): "this-name-is-far-too-long" is not a network interface name/],
];

for (const [name, change, expected] of cases) {
  test(`rejects ${name}, with its path`, (t) => {
    const document = baseDocument();
    change(document);
    const found = problems(document);
    t.true(found.some((line) => expected.test(line)), `expected ${String(expected)} in:\n${found.join('\n')}`);
  });
}

test('homeassistant: off by default, prefix homeassistant; its user valid when in control.users', (t) => {
  t.deepEqual(parseConfig(yamlOf(baseDocument()), EXAMPLE_ENV).config.homeassistant, { enabled: false, discovery_prefix: 'homeassistant' });
  t.deepEqual(problems({ ...baseDocument(), control: { users: ['hass'] }, homeassistant: { enabled: true, user: 'hass', discovery_prefix: 'ha/disc' } }), []);
});

test('tls is optional; when set, all three paths are kept', (t) => {
  t.is(example('two-node').config.tls, undefined);
  const tls = { cafile: '/etc/mosquitto-failover/tls/ca.crt', certfile: '/etc/mosquitto-failover/tls/node.crt', keyfile: '/etc/mosquitto-failover/tls/node.key' };
  t.deepEqual(parseConfig(yamlOf({ ...baseDocument(), tls }), EXAMPLE_ENV).config.tls, tls);
  t.deepEqual(problems({ ...baseDocument(), tls: {} }).map((line) => line.split(' (line')[0]), ['tls.cafile', 'tls.certfile', 'tls.keyfile']);
});

test('a missing secret is reported by its variable name', (t) => {
  const env = { ...EXAMPLE_ENV, MQFO_BRIDGE_PASSWORD: undefined };
  t.deepEqual(problems(baseDocument(), env), [
    'env.MQFO_BRIDGE_PASSWORD: is missing (hint: set MQFO_BRIDGE_PASSWORD=... in the env file (see examples/cluster.env))',
  ]);
});

test('ucarp needs the VRRP password, and at most 20 characters of it', (t) => {
  const document = { ...baseDocument(), failover: { driver: 'ucarp' } };
  t.deepEqual(problems(document, { ...EXAMPLE_ENV, MQFO_VRRP_PASSWORD: undefined }).map((line) => line.split(':')[0]), ['env.MQFO_VRRP_PASSWORD']);
  t.regex(problems(document, { ...EXAMPLE_ENV, MQFO_VRRP_PASSWORD: 'x'.repeat(21) })[0] ?? '', /at most 20/);
});

test('a short cluster secret and a secret with a space are refused', (t) => {
  const found = problems(baseDocument(), { ...EXAMPLE_ENV, MQFO_CLUSTER_SECRET: 'short', MQFO_DAEMON_PASSWORD: 'two words' });
  t.true(found.some((line) => line.startsWith('env.MQFO_CLUSTER_SECRET: is 5 characters long')));
  t.true(found.some((line) => line.startsWith('env.MQFO_DAEMON_PASSWORD: holds spaces')));
});

test('every problem is reported at once, in file order', (t) => {
  const document = baseDocument();
  document.nodes[0].address = 'not-an-ip';
  document.nodes[1].id = 1;
  document.nodes[1].priority = 999;
  document.bridge.topics[0].pattern = 'a/#/b';
  document.extra = true;
  const found = problems(document, { ...EXAMPLE_ENV, MQFO_CLUSTER_SECRET: undefined });
  t.is(found.length, 6, found.join('\n'));
  const lines = found.map((line) => Number(/\(line (\d+)\)/.exec(line)?.[1] ?? Infinity));
  t.deepEqual(lines, [...lines].sort((a, b) => a - b));
});

test('YAML syntax errors and duplicate keys are reported with their line', (t) => {
  t.regex(problems('cluster: a\ncluster: b\n')[0] ?? '', /^\(yaml line 2\): Map keys must be unique/);
  t.regex(problems('nodes: [\n')[0] ?? '', /^\(yaml line \d\)/);
});
