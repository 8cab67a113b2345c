import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { cliArgv } from '../lab/entry.js';
import { ROOT } from './helpers/config.js';
import { scratchDir } from './helpers/scratch.js';

/** `mosquitto-failover ARGS` as shipped (lab/entry.ts), bounded, with `input` on stdin. */
const cliWith = (args: string[], input?: string) => {
  const [node, ...argv] = cliArgv(args);
  return execa(node!, argv, { reject: false, cwd: ROOT, env: { MQFO_NODE: '' }, timeout: 60_000, ...(input === undefined ? {} : { input }) });
};
const cli = (...args: string[]) => cliWith(args);
const two = join(ROOT, 'examples/two-node.yaml');
const envFile = join(ROOT, 'examples/cluster.env');
const scratch = () => scratchDir('cli');

test('check: exit 0 and a summary on a valid config', async (t) => {
  const result = await cli('check', '--config', two, '--env', envFile);
  t.is(result.exitCode, 0, result.stderr);
  t.is(result.stdout, 'ok: cluster home, 2 nodes (mqtt-a, mqtt-b), keepalived VRRPv3, VIP 192.168.1.50/24 on eth0');
});

test('check: exit 2 and every problem on an invalid config', async (t) => {
  const dir = scratch();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'cluster: home\nvip: {address: 192.168.1.50, interface: eth0}\nnodes:\n  - {id: 1, name: a, address: 192.168.1.300, priority: 10}\n  - {id: 1, name: b, address: 192.168.1.12, priority: 20}\nbridge: {topics: [{pattern: "a/#/b"}]}\n');
  const result = await cli('check', '--config', bad, '--env', envFile);
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /^invalid configuration \(3 problems\):$/m);
  t.regex(result.stderr, /^ {2}nodes\[0\]\.address \(line 4\): "192\.168\.1\.300" is not an IPv4 address$/m);
  t.regex(result.stderr, /^ {2}nodes\[1\]\.id \(line 5\): 1 is also the id of nodes\[0\]/m);
  t.regex(result.stderr, /^ {2}bridge\.topics\[0\]\.pattern \(line 6\): "a\/#\/b" has # in the wrong place/m);
});

test('render: writes the files of one node with their modes, and lists them', async (t) => {
  const out = join(scratch(), 'out');
  const result = await cli('render', '--config', two, '--env', envFile, '--node', 'mqtt-b', '--out', out);
  t.is(result.exitCode, 0, result.stderr);
  t.deepEqual(readdirSync(out).sort(), ['keepalived.conf', 'mosquitto-failover.service', 'mosquitto-failover.tmpfiles.conf', 'mosquitto.conf', 'service-users.acl']);
  t.is(statSync(join(out, 'keepalived.conf')).mode & 0o777, 0o600);
  t.is(statSync(join(out, 'mosquitto.conf')).mode & 0o777, 0o640);
  t.regex(result.stdout, /keepalived\.conf \(0600\) -> \/etc\/keepalived\/keepalived\.conf/);
});

test('render --all: one directory per node', async (t) => {
  const out = join(scratch(), 'out');
  const result = await cli('render', '--config', join(ROOT, 'examples/three-node.yaml'), '--env', envFile, '--all', '--out', out);
  t.is(result.exitCode, 0, result.stderr);
  t.deepEqual(readdirSync(out).sort(), ['broker-1', 'broker-2', 'broker-3']);
});

/** Renders node 1 into a new directory; the config and env texts are written when given, else the examples are used. */
async function renderOnce(texts: { config?: string; env?: string }) {
  const dir = scratch();
  const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  const config = texts.config === undefined ? two : write('cluster.yaml', texts.config);
  const env = texts.env === undefined ? envFile : write('.env', texts.env);
  const out = join(dir, 'out');
  return { result: await cli('render', '--config', config, '--env', env, '--node', '1', '--out', out), out };
}

test('render: an invalid config writes nothing', async (t) => {
  const { result, out } = await renderOnce({ config: 'cluster: home\n' });
  t.is(result.exitCode, 2);
  t.false(existsSync(out));
});

test('render: a missing secret writes nothing and names the variable', async (t) => {
  const { result, out } = await renderOnce({ env: 'MQFO_CLUSTER_SECRET=0123456789abcdef0123\nMQFO_DAEMON_PASSWORD=x\n' });
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /env\.MQFO_BRIDGE_PASSWORD: is missing/);
  t.false(existsSync(out));
});

test('render: an unknown node is a clear error', async (t) => {
  const out = join(scratch(), 'out');
  const result = await cli('render', '--config', two, '--env', envFile, '--node', 'nope', '--out', out);
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /--node "nope" is no node of cluster "home"/);
  t.false(existsSync(out));
});

test('a named env file that does not exist is an error', async (t) => {
  const result = await cli('check', '--config', two, '--env', '/nonexistent/.env');
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /cannot read env file \/nonexistent\/\.env/);
});

test('--help, --version, unknown commands and flags', async (t) => {
  const help = await cli('--help');
  t.is(help.exitCode, 0);
  t.regex(help.stdout, /render \[options\]/);
  const version = await cli('--version');
  t.is(version.exitCode, 0);
  t.regex(version.stdout, /^\d+\.\d+\.\d+$/);
  const command = await cli('frobnicate');
  t.is(command.exitCode, 2);
  t.regex(command.stderr, /unknown command 'frobnicate'/);
  const flag = await cli('check', '--frob');
  t.is(flag.exitCode, 2);
  t.regex(flag.stderr, /unknown option '--frob'/);
});

test('run: an invalid config or an unknown node exits 2 before anything starts', async (t) => {
  const dir = scratch();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'cluster: home\n');
  const invalid = await cli('run', '--config', bad, '--env', envFile, '--node', '1');
  t.is(invalid.exitCode, 2);
  t.regex(invalid.stderr, /^invalid configuration/m);
  t.is(invalid.stdout, '', 'no daemon log: nothing started');
  const unknown = await cli('run', '--config', two, '--env', envFile, '--node', 'nine');
  t.is(unknown.exitCode, 2);
  t.regex(unknown.stderr, /nine/);
});

test('passwd: a service user is refused with exit 2 before any password is read', async (t) => {
  const result = await cli('passwd', 'mqfo-daemon', '--config', two, '--env', envFile, '--node', 'mqtt-a');
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /^error: mqfo-daemon is a service user: its password comes from the env file/m);
});

test('passwd: an empty password on stdin is refused with exit 2, and a bad --timeout too', async (t) => {
  const empty = await cliWith(['passwd', 'alice', '--config', two, '--env', envFile, '--node', 'mqtt-a'], '\n');
  t.is(empty.exitCode, 2);
  t.regex(empty.stderr, /empty password/);
  const timeout = await cli('passwd', 'alice', '--timeout', 'soon', '--config', two, '--env', envFile, '--node', 'mqtt-a');
  t.is(timeout.exitCode, 2);
  t.regex(timeout.stderr, /--timeout "soon" is not a number of seconds/);
});

test('doctor: an invalid config is exit 2 with every problem, as check says them, and no check runs', async (t) => {
  const bad = join(scratch(), 'bad.yaml');
  writeFileSync(bad, 'cluster: home\nvip: {address: 192.168.1.50, interface: eth0}\nnodes:\n  - {id: 1, name: a, address: 192.168.1.300, priority: 10}\nbridge: {topics: [{pattern: "a/#"}]}\n');
  const result = await cli('doctor', '--config', bad, '--env', envFile, '--node', '1');
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /^ {2}nodes\[0\]\.address \(line 4\): "192\.168\.1\.300" is not an IPv4 address$/m);
  t.is(result.stdout, '');
});

test('doctor: a bad --timeout, an unknown node, a missing --rendered-dir are usage errors (exit 2)', async (t) => {
  const timeout = await cli('doctor', '--config', two, '--env', envFile, '--node', 'mqtt-a', '--timeout', 'soon');
  t.is(timeout.exitCode, 2);
  t.regex(timeout.stderr, /--timeout "soon" is not a number of seconds/);
  const node = await cli('doctor', '--config', two, '--env', envFile, '--node', 'mqtt-z');
  t.is(node.exitCode, 2);
  t.regex(node.stderr, /--node "mqtt-z" is no node of cluster "home"/);
  const dir = await cli('doctor', '--config', two, '--env', envFile, '--node', 'mqtt-a', '--rendered-dir', '/nonexistent/out');
  t.is(dir.exitCode, 2);
  t.regex(dir.stderr, /--rendered-dir \/nonexistent\/out: no such directory/);
  t.is(dir.stdout, '');
});

test('status: a bad --timeout, an invalid config, a missing env file are usage errors (exit 2), before any connection', async (t) => {
  const timeout = await cli('status', '--config', two, '--env', envFile, '--timeout', 'soon');
  t.is(timeout.exitCode, 2);
  t.regex(timeout.stderr, /--timeout "soon" is not a number of seconds/);
  const config = join(scratch(), 'bad.yaml');
  writeFileSync(config, 'cluster: home\n');
  const invalid = await cli('status', '--config', config, '--env', envFile);
  t.is(invalid.exitCode, 2);
  t.regex(invalid.stderr, /^invalid configuration \(\d+ problems?\):\n {2}vip/);
  const env = await cli('status', '--config', two, '--env', '/nonexistent/.env');
  t.is(env.exitCode, 2);
  t.is(env.stdout, '');
});
