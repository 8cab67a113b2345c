/**
 * The daemon end to end, in the lab: real keepalived (or ucarp), mosquitto and iptables in each
 * node namespace, the daemon (`mosquitto-failover run`) on every node, a client through the VIP.
 * Serial: they share the CPU with VRRP's timers. No timing is asserted (see bench:failover).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { CHAIN } from '../../src/takeover/nat.js';
import { Lab, type LabOptions } from '../../lab/lab.js';
import type { DaemonLine, LabNode } from '../../lab/node.js';
import { failoverRound } from '../../lab/failover.js';
import { Probe } from '../../lab/probe.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';
import { waitForUcarpSettled } from '../helpers/ucarp.js';
import { scratchDir } from '../helpers/scratch.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`daemon lab tests skipped: this machine ${unavailable}`);

async function startLab(t: ExecutionContext, options: LabOptions): Promise<Lab> {
  const started = await Lab.start(options);
  t.teardown(() => started.stop());
  return started;
}

const dnatTo = (node: LabNode) =>
  `-A ${CHAIN} -d ${node.config.vip.address}/32 -p tcp -m tcp --dport 1883 -m addrtype --dst-type LOCAL -j DNAT --to-destination ${node.address}:1883`;

/** The jumps into our chain: one from PREROUTING, one from OUTPUT, never more. */
async function jumps(node: LabNode): Promise<string[]> {
  return (await node.natRules()).filter((line) => line.endsWith(`-j ${CHAIN}`));
}

const linesSince = (node: LabNode, msg: string, since: number) => node.daemonLines().filter((line) => line.time >= since && line.msg === msg);

async function waitForNoDnat(node: LabNode): Promise<void> {
  await waitFor(`no DNAT rule on ${node.name}`, async () => (await node.dnatRules()).length === 0, { timeoutMs: 15_000, intervalMs: 50 });
}

lab('takeover and release: one DNAT rule on the master only, one broker restart per takeover, a daemon restart changes nothing, no acked message lost', async (t) => {
  const current = await startLab(t, { daemon: true });
  const [one, two] = [current.node(1), current.node(2)];
  await current.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  t.deepEqual(await one.dnatRules(), [dnatTo(one)]);
  t.deepEqual(await jumps(one), [`-A PREROUTING -j ${CHAIN}`, `-A OUTPUT -j ${CHAIN}`]);
  t.deepEqual(await two.dnatRules(), [], 'the BACKUP has no DNAT rule');

  const probe = await Probe.start(current, { qos: 1, rate: 100, clean: false, keepaliveSeconds: 2, drainMs: 15_000 });
  t.teardown(() => probe.stop(5_000).catch(() => undefined));
  const steady = Date.now();
  await probe.waitFor('traffic through the VIP', (event) => event.e === 'recv' && event.t > steady + 500, 15_000);

  // The master's keepalived crashes: node2 takes over.
  const faultAt = Date.now();
  one.kill('keepalived');
  const takeover = await two.waitForRole('MASTER', faultAt);
  t.deepEqual(await two.dnatRules(), [dnatTo(two)], 'exactly one DNAT rule on the new master');
  t.is((await jumps(two)).length, 2);
  await waitForNoDnat(one);
  // The crashed keepalived's copy of the VIP is gone too: only the new master answers for it.
  await current.waitForVipOn(2);
  const accepting = (takeover.at as { accepting: number }).accepting;
  await probe.waitFor('delivery through the VIP after the takeover', (event) => event.e === 'recv' && event.t > accepting, 20_000);
  t.true(probe.events.some((event) => event.e === 'connect' && event.who === 'pub' && event.t > faultAt), 'the publisher reconnected');
  t.is(linesSince(two, 'restarting the broker for this takeover', faultAt).length, 1, "the new master's broker restarted once");
  t.is(linesSince(two, 'broker started', faultAt).length, 1);
  t.is(linesSince(one, 'restarting the broker for this takeover', faultAt).length, 0, 'the old master did not restart its broker');

  // kill -9 of the daemon on the MASTER, and a new one: nothing changes.
  const brokerPids = two.pids('mosquitto');
  const killedAt = Date.now();
  t.true(two.kill('node').length > 0);
  await waitFor('the killed daemon gone', () => two.daemonPids().length === 0, { timeoutMs: 5_000 });
  t.deepEqual(two.pids('mosquitto'), brokerPids, 'the broker outlives its daemon');
  await two.startDaemon();
  await sleep(1_500);
  t.is(linesSince(two, 'adopted the running broker', killedAt).length, 1);
  t.is(linesSince(two, 'restarting the broker for this takeover', killedAt).length, 0, 'no second restart for the same takeover');
  t.deepEqual(two.pids('mosquitto'), brokerPids);
  t.deepEqual(await two.dnatRules(), [dnatTo(two)], 'still exactly one DNAT rule');
  t.is((await jumps(two)).length, 2, 'still one jump from each hook');

  // The old master comes back and preempts: it takes over (told through the FIFO of its new
  // keepalived), node2 releases.
  const backAt = Date.now();
  one.startFailover();
  await current.waitForVipOn(1, { timeoutMs: 20_000 });
  const failback = await one.waitForRole('MASTER', backAt);
  t.is(failback.hint, 'MASTER', "the hint came through the FIFO from the restarted keepalived");
  await two.waitForRole('BACKUP', backAt);
  await waitForNoDnat(two);
  t.deepEqual(await one.dnatRules(), [dnatTo(one)]);
  t.is(linesSince(one, 'restarting the broker for this takeover', backAt).length, 1);
  t.is(linesSince(two, 'restarting the broker for this takeover', backAt).length, 0);

  await current.waitForBridges();
  const back = (failback.at as { accepting: number }).accepting;
  await probe.waitFor('delivery after the failback', (event) => event.e === 'recv' && event.t > back, 20_000);
  await sleep(1_000);
  const report = await probe.stop(30_000);
  t.log(`${report.acknowledged} acked, ${report.received} received, ${report.duplicated.length} duplicated, ${report.indeterminate.length} never acked`);
  t.deepEqual(report.lost, [], 'no acknowledged message lost once the old master is back');
  t.true(report.acknowledged > 300);
});

lab('a daemon started on a node that is already MASTER installs the rule, touches no one else\'s, and stops gracefully on SIGTERM', async (t) => {
  const current = await startLab(t, { daemon: true, start: false });
  // Somebody else's nat rule, which no takeover or release may touch.
  const foreign = '-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 198.18.0.11:80';
  await current.node(1).ns.exec(['iptables', '-w', '5', '-t', 'nat', ...foreign.split(' ')]);
  for (const node of current.nodes) node.startFailover();
  await current.waitForVipOn(1);
  // keepalived made its notify FIFO before any daemon read it; each daemon takes it over.
  const started = Date.now();
  const [daemon1] = await Promise.all(current.nodes.map((node) => node.startDaemon()));
  const transition = await current.node(1).waitForRole('MASTER', started);
  t.is(transition.from, 'UNKNOWN');
  t.deepEqual(await current.node(1).dnatRules(), [foreign, dnatTo(current.node(1))]);
  await current.node(2).waitForRole('BACKUP', started);
  t.deepEqual(await current.node(2).dnatRules(), []);
  // …and the FIFO works from then on: a graceful stop of node1's keepalived is a hint to both.
  const stopAt = Date.now();
  await current.node(1).stopFailover();
  await current.node(2).waitForRole('MASTER', stopAt);
  t.true(linesSince(current.node(2), 'hint', stopAt).some((line) => line.hint === 'MASTER'));
  t.deepEqual(await current.node(2).dnatRules(), [dnatTo(current.node(2))]);
  await waitFor('node1 to flush its chain', async () => !(await current.node(1).natRules()).some((line) => line.startsWith(`-A ${CHAIN} `)), { timeoutMs: 15_000 });
  t.deepEqual(await current.node(1).dnatRules(), [foreign], "the other rule is still there, alone");

  // SIGTERM: a graceful stop, exit code 0, and (supervise) its broker stopped with it.
  const brokers = current.node(1).pids('mosquitto');
  t.is(brokers.length, 1);
  let exit: number | string | undefined;
  void daemon1!.exited.then((code) => (exit = code));
  await current.node(1).stopDaemon();
  // (The lab's processes are unreferenced: a bounded wait keeps this test alive until the exit is seen.)
  t.is(await waitFor('the daemon\'s exit code', () => exit, { timeoutMs: 5_000 }), 0);
  t.deepEqual(current.node(1).pids('mosquitto'), [], 'the supervised broker stopped with the daemon');
  t.true(current.node(1).daemonLines().some((line) => line.msg === 'stopped'));
});

lab('ucarp: the up and down scripts feed the same FIFO; takeover and release work the same', async (t) => {
  const current = await startLab(t, { daemon: true, driver: 'ucarp' });
  const [one, two] = [current.node(1), current.node(2)];
  await current.waitForVipOn(1, { timeoutMs: 20_000 });
  const master = await one.waitForRole('MASTER', 0);
  t.is(master.hint, 'MASTER', 'the up script wrote the hint');
  t.deepEqual(await one.dnatRules(), [dnatTo(one)]);
  await waitForUcarpSettled(current, two);
  t.log(`node2 took over ${linesSince(two, 'restarting the broker for this takeover', 0).length} times while the two ucarps started`);
  const stopAt = Date.now();
  const recent = (node: LabNode) => node.daemonLines().filter((line) => line.time >= stopAt).map((line) => `${line.time - stopAt} ${line.msg}${line.epoch === undefined ? '' : ` epoch ${line.epoch as number}`}`).join('; ');
  // SIGTERM: ucarp runs its down script (--shutdown) and exits, without a last advert (carp.c,
  // signal 15: spawn_handler(downscript), _exit); node2 takes over when its master-down wait ends.
  await one.stopFailover();
  await one.waitForRole('BACKUP', stopAt);
  await two.waitForRole('MASTER', stopAt).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; its lines since node1's ucarp stopped: ${recent(two)}`, { cause: error });
  });
  await current.waitForVipOn(2, { timeoutMs: 20_000 });
  await waitFor('one DNAT rule on node2', async () => (await two.dnatRules()).length === 1, { timeoutMs: 15_000, intervalMs: 50 });
  t.deepEqual(await two.dnatRules(), [dnatTo(two)]);
  await waitForNoDnat(one);
  // Counted by epoch: a takeover and its restart share one, whenever each was logged.
  const epochs = (lines: DaemonLine[]) => [...new Set(lines.map((line) => line.epoch as number))].sort((a, b) => a - b);
  const takeovers = epochs(two.daemonLines().filter((line) => line.time >= stopAt && line.role === 'MASTER' && line.from !== 'MASTER' && line.msg.startsWith('role ')));
  t.log(`node2 took over in epoch(s) ${takeovers.join(', ')} after node1's ucarp stopped`);
  t.is(takeovers.length, 1, `one takeover: ${recent(two)}`);
  t.deepEqual(epochs(linesSince(two, 'restarting the broker for this takeover', stopAt)), takeovers, `one broker restart per takeover: ${recent(two)}`);
  t.is(linesSince(two, 'restarting the broker for this takeover', 0).filter((line) => line.epoch === takeovers[0]).length, 1, `one broker restart per takeover: ${recent(two)}`);
});

lab('systemd control: the daemon restarts the broker with systemctl restart, once per takeover', async (t) => {
  const calls = join(scratchDir('systemctl'), 'calls');
  const fakes = fileURLToPath(new URL('../fixtures/bin/', import.meta.url));
  const current = await startLab(t, {
    daemon: true,
    configure: (document) => (document.broker['control'] = 'systemd'),
    daemonEnv: { ...process.env, PATH: `${fakes}:${process.env['PATH'] ?? ''}`, MQFO_FAKE_SYSTEMCTL_LOG: calls },
  });
  await current.waitForVipOn(1);
  await current.node(1).waitForRole('MASTER', 0);
  const read = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  // Reloads are the credential sync's (at the first start, one node takes the other's files); a
  // `show` is a save on a session change asking for the main pid (none here: the fake says 0, so no kill).
  const restarts = () => read().filter((call) => !call.startsWith('reload ') && !call.startsWith('show --property=MainPID '));
  t.deepEqual(restarts(), ['restart mosquitto.service']);
  const faultAt = Date.now();
  current.node(1).kill('keepalived');
  await current.node(2).waitForRole('MASTER', faultAt);
  t.deepEqual(restarts(), ['restart mosquitto.service', 'restart mosquitto.service']);
  t.deepEqual(await current.node(2).dnatRules(), [dnatTo(current.node(2))]);
  const installs = current.nodes.reduce((sum, node) => sum + node.linesSince("installed a peer's version", 0).length, 0);
  t.deepEqual(read().filter((call) => call.startsWith('reload ')), Array<string>(installs).fill('reload mosquitto.service'), 'each synced file installed took one systemctl reload');
});

lab('restart_on_takeover false: a takeover and the failback restart no broker, the clients reach the new master through the VIP, no acked message lost', async (t) => {
  const current = await startLab(t, { daemon: true, configure: (document) => (document.failover['restart_on_takeover'] = false) });
  const [one, two] = [current.node(1), current.node(2)];
  await current.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  await current.waitForBridges(30_000);
  const brokers = [one.pids('mosquitto'), two.pids('mosquitto')];

  // node1's cable pulled: only node2 can serve the VIP, so a delivery after its takeover came through it.
  const round = await failoverRound(current, { fault: 'link', rate: 100 });
  t.is(round.to, 2);
  t.deepEqual(round.restarts, { 1: 0, 2: 0 }, 'no "restarting the broker" in either daemon log');
  t.deepEqual([one.pids('mosquitto'), two.pids('mosquitto')], brokers, 'the same mosquitto processes throughout');
  t.not(round.times.dnat, undefined, "node2's DNAT rule went in");
  t.is(round.times.restarted, undefined);
  t.not(round.times.delivered, undefined, 'the subscriber got messages through the VIP after the takeover');
  t.deepEqual(round.report.lost, [], 'no acked message lost');
  // The failback (node1 preempts) leaves one rule, on node1.
  t.deepEqual(await one.dnatRules(), [dnatTo(one)]);
  await waitForNoDnat(two);
});
