/**
 * `mosquitto-failover status` on a running two-node lab, run in node2's namespace as an admin on
 * a node would (its cluster file and env file): healthy, exit 0 and a table that names the
 * master; `--json` in getCluster's shape; a node's daemon stopped, exit 1 naming it offline, also
 * in a `--watch` that was running when it stopped.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cliArgv } from '../../lab/entry.js';
import test from 'ava';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import type { ClusterView } from '../../src/control/commands.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`status lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;

test.before(async () => {
  if (unavailable) return;
  current = await Lab.start({ daemon: true });
  await current.waitForVipOn(1);
  await current.node(1).waitForRole('MASTER', 0);
});

test.after.always(() => current?.stop());

/** The status command's argv in `node`'s namespace: as shipped (lab/entry.ts), with that node's files. */
function statusArgv(node: LabNode, ...args: string[]): string[] {
  return cliArgv(['status', '--config', node.placed.clusterFile, '--env', node.placed.envFile, ...args]);
}

async function status(node: LabNode, ...args: string[]) {
  return node.ns.exec(statusArgv(node, ...args), { reject: false, timeout: 60_000 });
}

/** Runs status until it exits 0 (the first health probes and statuses come in after the start), bounded. */
async function healthyStatus(node: LabNode, ...args: string[]) {
  let last = '';
  return waitFor(
    'status to exit 0',
    async () => {
      const run = await status(node, ...args);
      last = run.stdout + run.stderr;
      return run.exitCode === 0 && run;
    },
    { timeoutMs: 20_000, intervalMs: 500 },
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; its last output:\n${last}`);
  });
}

lab('healthy: exit 0, a table with one row per node that names the master and the VIP\'s holder', async (t) => {
  const run = await healthyStatus(current!.node(2));
  t.log(run.stdout);
  const lines = run.stdout.trimEnd().split('\n');
  t.is(lines[0], `cluster lab, VIP ${current!.loaded.config.vip.address} held by node1`);
  t.regex(lines[1]!, /^NODE +ROLE +ONLINE +BROKER +WEIGHT +VIP +FILES +LAST TAKEOVER$/);
  t.regex(lines[2]!, /^1 node1 +MASTER +yes +well +0 +yes +\S.* in \d+ ms \(#\d+\)$/);
  t.regex(lines[3]!, /^2 node2 +BACKUP +yes +well +0 +- /);
  t.is(lines[4], 'ok: one MASTER, every node online and its broker well');
  t.is(lines.length, 5);
  t.is(run.stderr, '');
});

lab('--json: getCluster\'s shape, the same facts as the table', async (t) => {
  const run = await healthyStatus(current!.node(1), '--json');
  const view = JSON.parse(run.stdout) as ClusterView;
  t.is(view.name, 'lab');
  t.deepEqual(view.vip, { address: current!.loaded.config.vip.address, holders: ['node1'] });
  t.is(view.answeredBy, 'retained statuses');
  t.true(Math.abs(Date.parse(view.time) - Date.now()) < 60_000, view.time);
  t.deepEqual(Object.keys(view).sort(), ['answeredBy', 'name', 'nodes', 'time', 'vip']);
  const [one, two] = view.nodes;
  t.like(one, { id: 1, name: 'node1', address: current!.node(1).address, role: 'MASTER', online: true, health: 'well', weight: { value: 0, reasons: [] } });
  t.like(two, { id: 2, name: 'node2', role: 'BACKUP', online: true, health: 'well' });
  t.deepEqual(Object.keys(one!).sort(), ['address', 'health', 'id', 'lastTakeover', 'name', 'online', 'priority', 'role', 'versions', 'weight']);
  t.true((one!.lastTakeover?.epoch ?? 0) >= 1);
});

lab('a node\'s daemon stopped: exit 1 naming it offline; a --watch running at the time redraws and ends with 1 on SIGINT', async (t) => {
  const two = current!.node(2);
  const watch = current!.node(1).ns.spawn(statusArgv(current!.node(1), '--watch'));
  t.teardown(() => watch.kill('SIGKILL'));
  let seen = '';
  watch.all.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  await waitFor('the watch to show a healthy cluster', () => seen.includes('ok: one MASTER'), { timeoutMs: 20_000, intervalMs: 100 });
  await two.stopDaemon();
  try {
    const run = await status(current!.node(1));
    t.log(run.stdout);
    t.is(run.exitCode, 1, run.stdout + run.stderr);
    // The lab's broker.control is supervise: the broker is the daemon's child and stops with it.
    t.regex(run.stdout, /\n2 node2 +UNKNOWN +no \(unreachable\) +- /);
    t.regex(run.stdout, /not ok:\n {2}node2 is offline \(its broker did not answer\)\n$/);
    t.is(run.stderr, 'error: node2 is offline (its broker did not answer)\n');
    const json = await status(current!.node(1), '--json');
    t.is(json.exitCode, 1);
    t.like((JSON.parse(json.stdout) as ClusterView).nodes[1], { name: 'node2', online: false, role: 'UNKNOWN' });
    await waitFor('the watch to redraw with node2 offline', () => seen.includes('node2 is offline'), { timeoutMs: 10_000, intervalMs: 100 });
    watch.kill('SIGINT');
    const ended = await watch;
    t.is(ended.exitCode, 1, ended.all);
    t.regex(String(ended.stderr), /error: node2 is offline/);
  } finally {
    await two.startDaemon();
  }
  await healthyStatus(current!.node(1));
  t.pass();
});

lab('no node reachable (wrong admin port in a copy of cluster.yaml): exit 1 with a clear line', async (t) => {
  const one = current!.node(1);
  const file = `${one.placed.dir}/etc/unreachable.yaml`;
  const yaml = readFileSync(one.placed.clusterFile, 'utf8');
  t.regex(yaml, /admin_port: 1885/);
  writeFileSync(file, yaml.replace(/admin_port: 1885/, 'admin_port: 1999'));
  const run = await one.ns.exec(cliArgv(['status', '--config', file, '--env', one.placed.envFile, '--timeout', '1']), { reject: false, timeout: 30_000 });
  t.is(run.exitCode, 1, run.stdout + run.stderr);
  t.is(run.stdout, '');
  t.regex(run.stderr, /^error: no node reachable: no admin listener \(node1 \S+:1999, node2 \S+:1999\) let \S+ in within 1000 ms\n$/);
});
