/**
 * A corpus of bad configs, each run through the real CLI entry (`check`, and `render --all`):
 * exit code 2, the path and its line in the message, a short message whatever the input's size,
 * and nothing written. The cases are the injection, truncation and "accepted but broken" reports
 * of issue 12.
 */
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { main } from '../../src/cli.js';
import { scratchDir } from '../helpers/scratch.js';

const BASE = `cluster: home
vip:
  address: 192.168.1.50
  prefix: 24
  interface: eth0
failover:
  driver: keepalived
nodes:
  - id: 1
    name: mqtt-a
    address: 192.168.1.11
    priority: 150
  - id: 2
    name: mqtt-b
    address: 192.168.1.12
    priority: 100
bridge:
  topics:
    - pattern: home/#
`;

const ENV = `MQFO_CLUSTER_SECRET=0123456789abcdef0123456789abcdef
MQFO_BRIDGE_PASSWORD=bridge-pw-1234
MQFO_DAEMON_PASSWORD=daemon-pw-5678
MQFO_VRRP_PASSWORD=vrrp1234
`;

/** BASE with `from` (a whole line or lines) replaced. */
function edit(from: string, to: string, text = BASE): string {
  if (!text.includes(from)) throw new Error(`no ${JSON.stringify(from)} in the base config`);
  return text.replace(from, to);
}

const ucarp = edit('  driver: keepalived', '  driver: ucarp');
const vrrp2 = edit('  driver: keepalived', '  driver: keepalived\n  vrrp_version: 2');
const envWith = (name: string, line: string) => ENV.replace(new RegExp(`^${name}=.*$`, 'm'), line);

interface Case {
  name: string;
  yaml?: string;
  env?: string;
  /** The problem's path, as the message starts it. */
  path: string;
  /** A text on the line the problem is reported at: of cluster.yaml, or of the env file with `inEnv`. */
  at?: string;
  inEnv?: boolean;
  message: RegExp;
}

const deep = `cluster: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
const aliasBomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `b${i}: &b${i} [${Array(9).fill(i === 0 ? '*a' : `*b${i - 1}`).join(', ')}]`)].join('\n');

const cases: Case[] = [
  // Injection into the scripts ucarp runs as root, and into keepalived.conf.
  { name: 'a shell command in daemon.run_dir (ucarp)', yaml: `${ucarp}daemon:\n  run_dir: /run/x;touch\${IFS}/tmp/PWNED;#\n`, path: 'daemon.run_dir', at: 'run_dir', message: /holds characters a path here cannot have \(; \$ \{ \} #\): use letters, digits and \. _ \+ @ - \/ only/ },
  { name: 'a command substitution in daemon.run_dir (ucarp)', yaml: `${ucarp}daemon:\n  run_dir: /run/$(id>/tmp/x)\n`, path: 'daemon.run_dir', at: 'run_dir', message: /\(\$ \( > \)\)/ },
  { name: 'a backquote in daemon.config_dir (ucarp)', yaml: `${ucarp}daemon:\n  config_dir: /etc/\`reboot\`\n`, path: 'daemon.config_dir', at: 'config_dir', message: /\(`\)/ },
  { name: "keepalived's ${_PWD} in a path", yaml: `${BASE}daemon:\n  run_dir: /run/\${_PWD}/x\n`, path: 'daemon.run_dir', at: 'run_dir', message: /cannot have/ },
  { name: '% (a systemd specifier) in daemon.bin', yaml: `${BASE}daemon:\n  bin: /usr/local/bin/mqfo%i\n`, path: 'daemon.bin', at: 'bin:', message: /\(%\)/ },
  { name: 'a space in broker.config_file', yaml: `${BASE}broker:\n  config_file: "/etc/mosquitto/my conf"\n`, path: 'broker.config_file', at: 'config_file', message: /\(space\)/ },
  { name: 'a VRRPv2 password with # (a keepalived comment)', yaml: vrrp2, env: envWith('MQFO_VRRP_PASSWORD', 'MQFO_VRRP_PASSWORD="ab#cd"'), path: 'env.MQFO_VRRP_PASSWORD', at: 'MQFO_VRRP_PASSWORD', inEnv: true, message: /holds #, which keepalived\.conf reads as a comment/ },
  { name: 'a VRRPv2 password with } (a keepalived block end)', yaml: vrrp2, env: envWith('MQFO_VRRP_PASSWORD', 'MQFO_VRRP_PASSWORD=ab}cd'), path: 'env.MQFO_VRRP_PASSWORD', at: 'MQFO_VRRP_PASSWORD', inEnv: true, message: /holds \}/ },
  { name: 'a VRRPv2 password with ! and $', yaml: vrrp2, env: envWith('MQFO_VRRP_PASSWORD', 'MQFO_VRRP_PASSWORD=a!b$c'), path: 'env.MQFO_VRRP_PASSWORD', at: 'MQFO_VRRP_PASSWORD', inEnv: true, message: /holds ! \$/ },
  // dotenv cutting a value at an unquoted #.
  { name: 'a bridge password cut at #', env: envWith('MQFO_BRIDGE_PASSWORD', 'MQFO_BRIDGE_PASSWORD=bridge#secret-part'), path: 'env.MQFO_BRIDGE_PASSWORD', at: 'MQFO_BRIDGE_PASSWORD', inEnv: true, message: /dotenv reads this value only up to the # \(6 of 18 characters\).*hint: quote the value: MQFO_BRIDGE_PASSWORD="…#…"/ },
  { name: 'a cluster secret cut at #', env: envWith('MQFO_CLUSTER_SECRET', 'MQFO_CLUSTER_SECRET=0123456789abcdef0123#456789abcdef'), path: 'env.MQFO_CLUSTER_SECRET', at: 'MQFO_CLUSTER_SECRET', inEnv: true, message: /up to the #/ },
  { name: 'a secret that starts with #', env: envWith('MQFO_DAEMON_PASSWORD', 'export MQFO_DAEMON_PASSWORD=#daemon-pw'), path: 'env.MQFO_DAEMON_PASSWORD', at: 'MQFO_DAEMON_PASSWORD', inEnv: true, message: /\(0 of 10 characters\)/ },
  // Accepted before, and broken or surprising.
  { name: 'a bridge password over 65535 bytes', env: envWith('MQFO_BRIDGE_PASSWORD', `MQFO_BRIDGE_PASSWORD=${'p'.repeat(70_000)}`), path: 'env.MQFO_BRIDGE_PASSWORD', at: 'MQFO_BRIDGE_PASSWORD', inEnv: true, message: /is 70000 bytes long; an MQTT password is at most 65535/ },
  { name: 'bridge.user equal to daemon.user', yaml: `${edit('bridge:\n', 'bridge:\n  user: mqfo\n')}daemon:\n  user: mqfo\n`, path: 'bridge.user', at: 'user: mqfo', message: /"mqfo" is also daemon\.user/ },
  { name: "a node on its subnet's network address", yaml: edit('192.168.1.12', '192.168.1.0'), path: 'nodes[1].address', at: '192.168.1.0', message: /192\.168\.1\.0 is the network address of 192\.168\.1\.0\/24/ },
  { name: "a node on its subnet's broadcast address", yaml: edit('192.168.1.12', '192.168.1.255'), path: 'nodes[1].address', at: '192.168.1.255', message: /is the broadcast address/ },
  { name: 'an empty topic pattern', yaml: edit('pattern: home/#', 'pattern: ""'), path: 'bridge.topics[0].pattern', at: 'pattern', message: /"" is empty/ },
  { name: 'a topic pattern with a control character', yaml: edit('pattern: home/#', 'pattern: "home/\\x01/#"'), path: 'bridge.topics[0].pattern', at: 'pattern', message: /contains a control character/ },
  { name: 'a topic pattern over 65535 bytes (in fewer characters)', yaml: edit('pattern: home/#', `pattern: home/${'é'.repeat(40_000)}`), path: 'bridge.topics[0].pattern', at: 'pattern', message: /is 80005 bytes long; an MQTT topic is at most 65535/ },
  { name: "a topic pattern under the daemons' prefix", yaml: edit('pattern: home/#', 'pattern: mosquitto-failover/home/#'), path: 'bridge.topics[0].pattern', at: 'pattern', message: /is under mosquitto-failover\/, the daemons' own topics/ },
  { name: "the daemons' prefix itself as a pattern", yaml: edit('pattern: home/#', 'pattern: mosquitto-failover'), path: 'bridge.topics[0].pattern', at: 'pattern', message: /is under mosquitto-failover\// },
  { name: 'a reload_command as one string with spaces', yaml: `${BASE}broker:\n  control: command\n  restart_command: [/usr/bin/systemctl, restart, mosquitto]\n  reload_command: ["systemctl reload mosquitto"]\n`, path: 'broker.reload_command[0]', at: 'reload_command', message: /is a program name with spaces.*e\.g\. \[systemctl, reload, mosquitto\]/ },
  { name: 'restart_on_takeover as a string', yaml: edit('driver: keepalived', 'driver: keepalived\n  restart_on_takeover: "no"'), path: 'failover.restart_on_takeover', at: 'restart_on_takeover', message: /must be true or false/ },
  // The health section (issue 13): impossible values.
  { name: 'a health probe timeout longer than its interval', yaml: `${BASE}health:\n  interval: 0.25\n  timeout: 1\n`, path: 'health.timeout', at: 'timeout', message: /1 s is longer than health\.interval \(0\.25 s\): probes would overlap/ },
  { name: 'a health interval of 0', yaml: `${BASE}health:\n  interval: 0\n`, path: 'health.interval', at: 'interval', message: /must be from 0\.05 to 60 seconds/ },
  { name: 'a negative health timeout', yaml: `${BASE}health:\n  timeout: -1\n`, path: 'health.timeout', at: 'timeout', message: /must be from 0\.05 to 60 seconds/ },
  { name: 'health.fall of 0', yaml: `${BASE}health:\n  fall: 0\n`, path: 'health.fall', at: 'fall', message: /must be from 1 to 100/ },
  { name: 'health.hang_fall of 0', yaml: `${BASE}health:\n  hang_fall: 0\n`, path: 'health.hang_fall', at: 'hang_fall', message: /must be from 1 to 100/ },
  { name: 'health.rise as a fraction', yaml: `${BASE}health:\n  rise: 2.5\n`, path: 'health.rise', at: 'rise', message: /must be a whole number/ },
  { name: 'health.enabled as a string', yaml: `${BASE}health:\n  enabled: "yes"\n`, path: 'health.enabled', at: 'enabled', message: /must be true or false/ },
  { name: 'an unknown key under health', yaml: `${BASE}health:\n  falls: 3\n`, path: 'health.falls', at: 'falls', message: /unknown key \(hint: allowed here: enabled, interval, timeout, fall, hang_fall, rise, client_port\)/ },
  { name: 'priority 1 with health on (a sick node would tie with it)', yaml: edit('priority: 150', 'priority: 1'), path: 'nodes[0].priority', at: 'priority: 1', message: /1 leaves no room below this node/ },
  // The metrics section (issue 14).
  { name: 'the metrics port on the client listener', yaml: `${BASE}metrics:\n  enabled: true\n  port: 1883\n`, path: 'metrics.port', at: 'port: 1883', message: /1883 is also broker\.client_port/ },
  { name: 'a metrics address that is not IPv4', yaml: `${BASE}metrics:\n  enabled: true\n  address: localhost\n`, path: 'metrics.address', at: 'address: localhost', message: /"localhost" is not an IPv4 address/ },
  { name: 'a metrics port out of range', yaml: `${BASE}metrics:\n  port: 70000\n`, path: 'metrics.port', at: 'port: 70000', message: /must be a port from 1 to 65535/ },
  // The control section (issue 14).
  { name: 'a control user that is the daemon user', yaml: `${BASE}control:\n  users: [ops, mqfo-daemon]\n`, path: 'control.users[1]', at: 'users:', message: /"mqfo-daemon" is daemon\.user/ },
  { name: 'a control user listed twice', yaml: `${BASE}control:\n  users: [ops, ops]\n`, path: 'control.users[1]', at: 'users:', message: /"ops" is also control\.users\[0\]/ },
  { name: 'a control user with a slash', yaml: `${BASE}control:\n  users: [a/b]\n`, path: 'control.users[0]', at: 'users:', message: /is not a user name/ },
  // The file itself.
  { name: 'an empty file', yaml: '', path: '(top level)', message: /^ {2}\(top level\): is empty: expected the cluster mapping \(see examples\/two-node\.yaml\)$/m },
  { name: 'a file of comments only', yaml: '# nothing here yet\n', path: '(top level)', message: /is empty/ },
  { name: 'two YAML documents', yaml: `${BASE}---\ncluster: other\n`, path: '(yaml line 20)', message: /the file holds 2 YAML documents; it must be one/ },
  { name: 'a 10 MB value', yaml: `${BASE}daemon:\n  state_dir: /var/lib/${'a'.repeat(10_000_000)}\n`, path: 'daemon.state_dir', at: 'state_dir', message: /"\/var\/lib\/a+… \(10000009 characters\) is longer than a path can be/ },
  { name: 'a 10 MB unknown key', yaml: `${BASE}${'k'.repeat(10_000_000)}: 1\n`, path: '(yaml line 20)', message: /must be at most 1024 chars/ },
  { name: 'a 10 MB string', yaml: edit('cluster: home', `cluster: "${'h'.repeat(10_000_000)}"`), path: 'cluster', at: 'cluster:', message: /"h+… \(10000000 characters\) is not a valid cluster name/ },
  { name: 'deep nesting', yaml: deep, path: '(', message: /nests lists or mappings too deeply to be read/ },
  { name: 'an alias bomb', yaml: `${BASE}${aliasBomb}\n`, path: '(top level)', message: /expands its aliases \(\*name\) more than 100 times/ },
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env: {}, localAddresses: () => [] });
  return { code, stdout, stderr };
}

function lineOf(text: string, at: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(at));
  if (index === -1) throw new Error(`no line with ${JSON.stringify(at)}`);
  return index + 1;
}

for (const item of cases) {
  test(`refused: ${item.name}`, async (t) => {
    const dir = scratchDir('corpus');
    const yaml = item.yaml ?? BASE;
    const env = item.env ?? ENV;
    const config = join(dir, 'cluster.yaml');
    const envFile = join(dir, '.env');
    writeFileSync(config, yaml);
    writeFileSync(envFile, env);
    chmodSync(envFile, 0o600);
    const out = join(dir, 'out');
    const where = item.at === undefined ? '' : item.inEnv ? ` (line ${lineOf(env, item.at)} of ${envFile})` : ` (line ${lineOf(yaml, item.at)})`;
    for (const argv of [
      ['check', '--config', config, '--env', envFile],
      ['render', '--config', config, '--env', envFile, '--all', '--out', out],
    ]) {
      const run = await cli(argv);
      t.is(run.code, 2, `${argv[0]}: ${run.stderr.slice(0, 2000)}`);
      t.is(run.stdout, '', argv[0]);
      t.regex(run.stderr, /^invalid configuration \(\d+ problems?\):\n/);
      const line = run.stderr.split('\n').find((text) => text.startsWith(`  ${item.path}`));
      t.truthy(line, `${argv[0]}: no line for ${item.path} in:\n${run.stderr.slice(0, 2000)}`);
      if (item.at !== undefined) t.true(line?.startsWith(`  ${item.path}${where}: `), `${argv[0]}: expected ${where} in ${line}`);
      t.regex(run.stderr, item.message, argv[0]);
      // Short: no echo of a huge value, no stack trace, no library internals.
      t.true(run.stderr.length < 1200, `${argv[0]}: ${run.stderr.length} characters of stderr`);
      t.notRegex(run.stderr, /parseAllDocuments|call stack|\n\s+at /);
      // Nothing written: the directory holds the two inputs only (no out dir, no staging dir).
      t.deepEqual(readdirSync(dir).sort(), ['.env', 'cluster.yaml'], argv[0]);
    }
  });
}
