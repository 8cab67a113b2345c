/**
 * npm run lab:up -- [--nodes 2|3] [--driver keepalived|ucarp] [--advert-int S] [--name up] [--bare]
 *
 * Starts a lab cluster (see lab/lab.ts) with mosquitto-failover on every node (none with
 * --bare) that stays up after this exits, and prints its map.
 * npm run lab:down removes it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../lab/lab.js';
import { namespacesOf } from '../lab/netns.js';
import { DIST_ENTRY, ensureFreshDist } from '../lab/entry.js';
import { labUnavailable } from '../lab/requirements.js';
import { LAB_NETWORK } from '../lab/topology.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '2' },
    driver: { type: 'string', default: 'keepalived' },
    'advert-int': { type: 'string', default: '1' },
    name: { type: 'string', default: 'up' },
    bare: { type: 'boolean', default: false },
  },
});

function usage(message: string): never {
  console.error(`lab:up: ${message}\nusage: npm run lab:up -- [--nodes 2|3] [--driver keepalived|ucarp] [--advert-int SECONDS] [--name NAME] [--bare]`);
  process.exit(2);
}

const nodes = Number(values.nodes);
if (nodes !== 2 && nodes !== 3) usage(`--nodes is 2 or 3, not ${values.nodes}`);
if (values.driver !== 'keepalived' && values.driver !== 'ucarp') usage(`--driver is keepalived or ucarp, not ${values.driver}`);
const advertInt = Number(values['advert-int']);
if (!(advertInt > 0)) usage(`--advert-int is a number of seconds, not ${values['advert-int']}`);
const name = values.name;

const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', values.driver]);
if (unavailable) {
  console.error(`lab:up: this machine ${unavailable}`);
  process.exit(1);
}
// The lab runs the daemon as shipped: build it when the sources are newer.
ensureFreshDist((line) => process.stderr.write(`${line}\n`));

if ((await namespacesOf(name)).length > 0) {
  console.error(`lab:up: a lab "${name}" is already up; remove it first: npm run lab:down${name === 'up' ? '' : ` -- --name ${name}`}`);
  process.exit(1);
}

// A Ctrl-C while it starts leaves no half-built lab.
process.once('SIGINT', () => {
  void Lab.down(name).finally(() => process.exit(130));
});

let lab: Lab;
try {
  lab = await Lab.start({ nodes, driver: values.driver, advertInt, runId: name, daemon: !values.bare });
  await lab.waitForVipOn(lab.nodes[0]!.id, { timeoutMs: 30_000 });
  await lab.waitForBridges();
} catch (error) {
  await Lab.down(name);
  console.error(`lab:up failed, and removed what it had started: ${(error as Error).message}`);
  process.exit(1);
}

const { config } = lab.loaded;
const envFile = join(lab.dir, 'cluster.env');
writeFileSync(envFile, `${Object.entries(lab.env).map(([key, value]) => `${key}=${value}`).join('\n')}\n`, { mode: 0o600 });
const row = (...cells: string[]) => cells.map((cell, index) => cell.padEnd([10, 20, 16, 0][index] ?? 0)).join(' ').trimEnd();
const pids = (node: (typeof lab.nodes)[number]) =>
  [...(values.bare ? [] : [['daemon', node.daemonPids()] as const]), ...['mosquitto', config.failover.driver].map((program) => [program, node.pids(program)] as const)]
    .map(([program, ids]) => `${program} ${ids.join(',')}`)
    .join(', ');
const holders = await lab.vipHolders();
// The status command as an admin on node1 runs it (its cluster file and env file), as shipped (dist/, what the lab's daemons run).
const first = lab.nodes[0]!;
const status = `ip netns exec ${first.ns.name} node ${DIST_ENTRY} status --config ${first.placed.clusterFile} --env ${first.placed.envFile}`;
const sub = `mosquitto_sub -h ${lab.nodes[1]!.address} -u ${lab.clientUser.user} -P ${lab.clientUser.password} -t 'lab/#' -v`;
console.log(`mosquitto-failover lab "${name}" is up: ${nodes} nodes on ${LAB_NETWORK}, which exists only inside the lab's namespaces.

${row('host', 'namespace', 'address', 'running')}
${lab.nodes.map((node) => row(node.name, node.ns.name, node.address, pids(node))).join('\n')}
${row('client', lab.client.name, '198.18.0.100')}
${row('switch', lab.switch.name, '(bridge br0)')}

VIP       ${config.vip.address}:${config.broker.client_port}, now on ${holders.map((id) => lab.node(id).name).join(' and ')} (${config.failover.driver}, advert_int ${config.failover.advert_int} s)
${values.bare ? `          (--bare: no daemon, so no DNAT rule, and the brokers listen on their node's address:
           a client gets "connection refused" through the VIP)` : `          (mosquitto-failover runs on every node: its DNAT rule takes the VIP to the master's broker;
           its log is <node>/log/daemon.log)`}
bridges   ${[...(await lab.bridgeStates())].map(([bridge, state]) => `${bridge} ${state === '1' ? 'up' : 'down'}`).join(', ')}
client    user ${lab.clientUser.user}, password ${lab.clientUser.password} (topics lab/#)
files     ${lab.dir}/<node>/etc, logs in ${lab.dir}/<node>/log, cluster.yaml and cluster.env in ${lab.dir}

cluster status:      ${status}
                     (add --watch to follow it, --json for getCluster's answer; exit 0 when one MASTER and all well${values.bare ? '; with --bare no daemon runs, so every node is offline' : ''})
a shell on a host:   ip netns exec ${lab.nodes[0]!.ns.name} bash
watch on node2:      ip netns exec ${lab.client.name} ${sub}
pull node1's cable:  ip -n ${lab.switch.name} link set n1 down   (and back: ... up)
stop it:             npm run lab:down${name === 'up' ? '' : ` -- --name ${name}`}`);
