/**
 * Issue 14 on three nodes, in one lab (one start, several checks, to keep the suite short):
 * `status` (exit 0, three rows, one MASTER), getCluster over the control API through the VIP (and
 * the daemon user's read-only commands on a backup's admin listener),
 * every node's metrics endpoint scraped from the network, `doctor` on a backup (its clock skew
 * check asks both peers), Home Assistant's discovery of all three devices through the VIP, and
 * `setLeader` moving the VIP to node3. The two-node tests of each part have the faults.
 */
import test from 'ava';
import { daemonArgs } from '../../lab/credentials.js';
import { cliArgv } from '../../lab/entry.js';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import type { ControlResponse } from '../../src/control/api.js';
import type { ClusterView } from '../../src/control/commands.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`three-node lab tests skipped: this machine ${unavailable}`);

const FETCH = 'const r = await fetch(process.argv[1]); process.stdout.write(`${r.status}\\n${await r.text()}`);';

/** `mosquitto-failover ARGS` as shipped in `node`'s namespace, with its cluster file and env file. */
function cli(node: LabNode, ...args: string[]) {
  return node.ns.exec(cliArgv([...args, '--config', node.placed.clusterFile, '--env', node.placed.envFile]), { reject: false, timeout: 60_000 });
}

/** A scrape of `node`'s /metrics from the client's namespace: the samples by name with labels. */
async function scrape(current: Lab, node: LabNode): Promise<Map<string, number>> {
  const { stdout } = await current.client.exec([process.execPath, '--input-type=module', '-e', FETCH, `http://${node.address}:${node.config.metrics.port}/metrics`], { timeout: 10_000 });
  const [status = '', ...body] = stdout.split('\n');
  if (status !== '200') throw new Error(`${node.name}'s /metrics answered ${status}`);
  return new Map(body.flatMap((line) => {
    const match = /^(mosquitto_failover_\S+) (\S+)$/.exec(line);
    return match ? [[match[1]!, Number(match[2])] as const] : [];
  }));
}

lab('three nodes: status, getCluster over the control API, the metrics of every node, doctor, Home Assistant, setLeader', async (t) => {
  const current = await Lab.start({
    nodes: 3,
    daemon: true,
    configure: (document) => {
      document.metrics = { enabled: true };
      document.control = { users: ['lab'] };
      document.homeassistant = { enabled: true, user: 'lab' };
    },
  });
  t.teardown(() => current.stop());
  await current.waitForVipOn(1);
  await current.node(1).waitForRole('MASTER', 0);
  await current.waitForBridges();
  const [one, two, three] = [current.node(1), current.node(2), current.node(3)];

  // status, from node3: bounded wait for the first health probes of all three.
  let last = '';
  const status = await waitFor(
    'status on node3 to exit 0',
    async () => {
      const run = await cli(three, 'status');
      last = run.stdout + run.stderr;
      return run.exitCode === 0 && run;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; its last output:\n${last}`);
  });
  t.log(status.stdout);
  const rows = status.stdout.split('\n').filter((line) => /^\d node\d /.test(line));
  t.is(rows.length, 3);
  t.is(rows.filter((row) => / MASTER /.test(row)).length, 1);
  t.regex(rows[0]!, /^1 node1 +MASTER +yes +well /);
  t.regex(rows[1]!, /^2 node2 +BACKUP +yes +well /);
  t.regex(rows[2]!, /^3 node3 +BACKUP +yes +well /);
  const json = JSON.parse((await cli(two, 'status', '--json')).stdout) as ClusterView;
  t.deepEqual(json.vip.holders, ['node1']);
  t.is(json.nodes.length, 3);

  // getCluster through the VIP (node1's daemon answers), as the lab's control user.
  const { config } = current.loaded;
  const prefix = `mosquitto-failover/${config.cluster}/control/lab`;
  const rr = await current.client.exec(
    ['mosquitto_rr', '-h', config.vip.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password, '-t', `${prefix}/request`, '-e', `${prefix}/response`, '-m', '{"commands":[{"command":"getCluster"}]}', '-W', '5'],
    { reject: false, timeout: 20_000 },
  );
  t.is(rr.exitCode, 0, rr.stderr);
  const cluster = (JSON.parse(rr.stdout) as ControlResponse).responses[0]?.data as ClusterView;
  t.is(cluster.answeredBy, 'node1');
  t.deepEqual(cluster.vip.holders, ['node1']);
  t.deepEqual(cluster.nodes.map((node) => [node.name, node.role, node.online]), [['node1', 'MASTER', true], ['node2', 'BACKUP', true], ['node3', 'BACKUP', true]]);

  // The daemon user (doctor's clock check asks as it) gets the read-only commands, and nothing that changes anything.
  const daemonPrefix = `mosquitto-failover/${config.cluster}/control/${config.daemon.user}`;
  const asDaemon = await three.ns.exec(
    ['mosquitto_rr', ...daemonArgs(two), '-t', `${daemonPrefix}/request`, '-e', `${daemonPrefix}/response`, '-m', '{"commands":[{"command":"syncNow"},{"command":"getNode"}]}', '-W', '5'],
    { reject: false, timeout: 20_000 },
  );
  t.is(asDaemon.exitCode, 0, asDaemon.stderr);
  const [syncNow, getNode] = (JSON.parse(asDaemon.stdout) as ControlResponse).responses;
  t.is(syncNow?.error, 'unknown command; known: getCluster, getNode, listEvents');
  t.like(getNode?.data, { name: 'node2', role: 'BACKUP', online: true });

  // Every node's metrics: its role, and the peer channel up to all three brokers.
  for (const [node, role] of [[one, 'MASTER'], [two, 'BACKUP'], [three, 'BACKUP']] as const) {
    const samples = await waitFor(
      `${node.name}'s metrics to settle`,
      async () => {
        const scraped = await scrape(current, node);
        return scraped.get('mosquitto_failover_broker_healthy') === 1 && ['node1', 'node2', 'node3'].every((peer) => scraped.get(`mosquitto_failover_peer_channel_up{peer="${peer}"}`) === 1) && scraped;
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    t.is(samples.get(`mosquitto_failover_role{role="${role}"}`), 1, node.name);
    t.is(samples.get('mosquitto_failover_vip_held'), role === 'MASTER' ? 1 : 0, node.name);
    // Its own bridge (node2's and node3's, to the hub), none on node1; bounded wait: node1's takeover restarted its broker.
    const bridges = await waitFor(`${node.name}'s bridge metric`, async () => {
      const found = [...(await scrape(current, node))].filter(([name]) => name.startsWith('mosquitto_failover_bridge_connected{'));
      return (node === one ? found.length === 0 : found.length === 1 && found[0]![1] === 1) && found;
    }, { timeoutMs: 15_000, intervalMs: 250 });
    t.deepEqual(bridges.map(([name]) => name), node === one ? [] : [`mosquitto_failover_bridge_connected{bridge="mqfo-lab-${node.name}"}`]);
  }

  // doctor on node3, a backup: every check passes, the clock skew measured to both peers.
  const doctor = await cli(three, 'doctor', '--node', '3', '--rendered-dir', `${three.placed.dir}/etc`);
  t.log(doctor.stdout);
  t.is(doctor.exitCode, 0, doctor.stdout + doctor.stderr);
  t.regex(doctor.stdout, /\nok {3}peer node1 .*\nok {3}peer node2 /);
  t.regex(doctor.stdout, /\nok {3}clock skew +node1 [+-]\d+ ms \(±\d+ ms\), node2 [+-]\d+ ms \(±\d+ ms\); peer clock minus this one\n/);
  t.regex(doctor.stdout, /\n13 checks: 13 ok, 0 failed, 0 skipped\n$/);

  // Home Assistant through the VIP: a device per node, each online (after node1's takeover
  // restart, whose wills said offline, each daemon says online again: bounded wait).
  const login = ['-h', config.vip.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password];
  const availability = (id: number) => `mosquitto-failover-ha/${config.cluster}/node${id}/availability`;
  const devices = await waitFor(
    'three Home Assistant devices online through the VIP',
    async () => {
      const read = await current.client.exec(['mosquitto_sub', ...login, '-t', 'homeassistant/+/+/+/config', '-t', `mosquitto-failover-ha/${config.cluster}/+/availability`, '--retained-only', '-v', '-C', String(3 * 6 + 3), '-W', '5'], { reject: false, timeout: 15_000 });
      const lines = new Map(read.stdout.split('\n').filter(Boolean).map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)] as const));
      return [1, 2, 3].every((id) => lines.get(availability(id)) === 'online') && lines;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  for (const id of [1, 2, 3]) {
    const configs = [...devices.keys()].filter((topic) => topic.startsWith('homeassistant/') && topic.includes(`/node${id}-`));
    t.is(configs.length, 6, `node${id}'s entities: ${configs.join(' ')}`);
  }

  // setLeader node3, asked on node1's own address (a VIP move resets the connections through the VIP).
  const moved = await current.client.exec(
    ['mosquitto_rr', '-h', one.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password, '-t', `${prefix}/request`, '-e', `${prefix}/response`, '-m', '{"commands":[{"command":"setLeader","node":"node3"}]}', '-W', '60'],
    { reject: false, timeout: 70_000 },
  );
  t.is(moved.exitCode, 0, moved.stderr);
  const [setLeader] = (JSON.parse(moved.stdout) as ControlResponse).responses;
  t.is(setLeader?.error, undefined);
  t.like(setLeader?.data, { leader: 'node3' });
  await current.waitForVipOn(3, { alone: true });
  const after = await waitFor('status on node1 to name node3 MASTER', async () => {
    const run = await cli(one, 'status', '--json');
    const view = run.exitCode === 0 && (JSON.parse(run.stdout) as ClusterView);
    return view && view.vip.holders.join() === 'node3' && view;
  }, { timeoutMs: 30_000, intervalMs: 500 });
  t.deepEqual(after.nodes.map((node) => node.role), ['BACKUP', 'BACKUP', 'MASTER']);
});
