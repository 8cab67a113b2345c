/**
 * Planned switchover, end to end in one two-node lab (keepalived, advert 0.1 s, the daemon on
 * each node, health on): `promote`, `demote` and `promote --clear` run on a node as its operator
 * would. The tests run in order on the one lab, each leaving the VIP where the next expects it.
 * No timing is asserted (that is `npm run lab -- --fault promote`); every wait is bounded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { runtimePaths } from '../../src/paths.js';
import { syncState, waitForSameVersion } from '../../lab/credentials.js';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import { CHAIN, dnatLine } from '../../src/takeover/nat.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`promote lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;

test.before(async () => {
  if (unavailable) return;
  current = await Lab.start({ daemon: true, advertInt: 0.1 });
  await current.waitForVipOn(1, { alone: true });
  await current.node(1).waitForRole('MASTER', 0);
  await current.waitForBridges();
});

test.after.always(() => current?.stop());

const trackValue = (node: LabNode) => Number(readFileSync(runtimePaths(node.config).trackFile, 'utf8').trim());
const leaderFile = (node: LabNode) => runtimePaths(node.config).leader;
const leaderOn = (node: LabNode) => (existsSync(leaderFile(node)) ? readFileSync(leaderFile(node), 'utf8') : undefined);
const versions = () => current!.nodes.map((node) => JSON.stringify(syncState(node)));

/** Longer than VRRP's master-down time (3 adverts + skew) several times over, and a health probe or two. */
function quietMs(node: LabNode): number {
  return Math.ceil(10 * node.config.failover.advert_int * 1000 + 2 * node.config.health.interval * 1000 + 1_000);
}

lab('bad input: an unknown node, or a promote while a peer\'s daemon is stopped, is a clear error; nothing changes', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const before = versions();

  const unknown = await one.cli(['promote', 'node9']);
  t.is(unknown.exitCode, 2);
  t.regex(unknown.stderr, /^error: "node9" is not a node of cluster lab: the nodes are node1 \(id 1\), node2 \(id 2\)$/m);

  await two.stopDaemon();
  const stoppedAt = Date.now();
  const offline = await one.cli(['promote', 'node2', '--timeout', '10']);
  t.is(offline.exitCode, 1, offline.stdout + offline.stderr);
  t.regex(offline.stderr, /^error: not now, nothing changed:\n {2}node2: (its daemon is offline|no status read from its broker \(is it up\?\))$/m);
  t.is(leaderOn(one), undefined, 'no preference written');
  t.deepEqual(versions(), before, 'no synced version changed');
  t.deepEqual(await current!.vipHolders(), [1]);
  t.deepEqual(one.linesSince('weight ', stoppedAt), [], 'no weight changed on node1');

  await two.startDaemon();
  await current!.waitForBridges();
  t.deepEqual(versions(), before);
});

lab('a bridge that does not carry the drain marker: the promote is refused and nothing changes', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const before = versions();
  // What node1's admin listener sends to node2 goes nowhere: node2's bridge (the ranked bridges
  // point at the hub: the bridge is node2's) gets nothing from node1, nor does node2's daemon's
  // peer connection to node1. The command, run on node1, still reads both statuses (node1's on its
  // own broker, node2's on node2's).
  const rule = ['INPUT', '-s', one.address, '-p', 'tcp', '--sport', String(one.config.broker.admin_port), '-j', 'DROP'];
  await two.ns.exec(['iptables', '-w', '5', '-I', ...rule], { timeout: 10_000 });
  const blockedAt = Date.now();
  try {
    const result = await one.cli(['promote', 'node2', '--timeout', '5']);
    t.is(result.exitCode, 1, result.stdout + result.stderr);
    t.regex(result.stderr, /^error: the bridge did not carry a marker from node1 to node2 within \d+ ms: what node1 acknowledged may not be there yet, so the VIP is not moved \(is the bridge up\?\)$/m);
  } finally {
    await two.ns.exec(['iptables', '-w', '5', '-D', ...rule], { timeout: 10_000 });
  }
  t.is(leaderOn(two), undefined, 'no preference written');
  t.deepEqual(versions(), before, 'no synced version changed');
  t.deepEqual(await current!.vipHolders(), [1]);
  t.deepEqual(two.linesSince('weight ', blockedAt), [], 'no weight changed on node2');
  await current!.waitForBridges(30_000);
});

/** Packets our DNAT rule has rewritten on `node` (its counter; a rule counts the first packet of each connection). */
async function dnatPackets(node: LabNode): Promise<number> {
  const { stdout } = await node.ns.exec(['iptables', '-w', '5', '-t', 'nat', '-L', CHAIN, '-v', '-n', '-x'], { timeout: 10_000 });
  const rule = stdout.split('\n').find((line) => line.includes('DNAT'));
  if (rule === undefined) throw new Error(`no DNAT rule in ${node.name}'s ${CHAIN}:\n${stdout}`);
  return Number(rule.trim().split(/\s+/)[0]);
}

lab('a prepared promote whose VIP does not come (node2\'s keepalived stopped): its DNAT rule waits inert on the BACKUP, doctor accepts it, and promote --clear removes it', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const vip = current!.loaded.config.vip.address;
  const at = Date.now();
  t.true(two.pause('keepalived').length > 0, 'node2\'s keepalived stopped');
  try {
    const result = await two.cli(['promote', 'node2', '--timeout', '5']);
    t.is(result.exitCode, 1, result.stdout + result.stderr);
    await two.waitForLine('prepared for the planned takeover', at);
    t.deepEqual(await two.dnatRules(), [dnatLine({ vip, port: 1883, address: two.address, addressPort: 1883 })], 'the prepared rule on node2');
    t.false(await two.hasVip());
    t.deepEqual(await current!.vipHolders(), [1]);
    // node2's own connection to the VIP goes to node1 still: the rule is inert without the VIP (addrtype LOCAL).
    const connected = await two.ns.exec(['bash', '-c', `exec 3<>/dev/tcp/${vip}/1883`], { timeout: 10_000 });
    t.is(connected.exitCode, 0, connected.stderr);
    t.is(await dnatPackets(two), 0, 'node2\'s rule rewrote nothing');
    const doctor = await two.cli(['doctor', '--rendered-dir', `${two.placed.dir}/etc`]);
    const chain = doctor.stdout.split('\n').find((line) => line.includes(' nat chain ')) ?? doctor.stdout;
    t.regex(chain, /^ok {3}nat chain +.*VIP not here; the DNAT rule of a takeover prepared at \S+ \(a promote of this node\), in effect only once the VIP comes$/);
    t.deepEqual(one.linesSince('role ', at), [], 'node1 stayed MASTER');

    const cleared = await two.cli(['promote', '--clear']);
    t.is(cleared.exitCode, 0, cleared.stdout + cleared.stderr);
    await waitFor('node2\'s prepared rule removed', async () => ((await two.dnatRules()).length === 0 ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    t.is(two.linesSince('DNAT rule removed', at).length, 1);
  } finally {
    two.resume('keepalived');
  }
  await current!.waitForVipOn(1, { alone: true });
  await current!.waitForBridges();
  // Settled as the next test expects: no preparation standing on node2.
  await waitFor('node2 without a preparation', () => (JSON.parse(readFileSync(runtimePaths(two.config).takeoverState, 'utf8')).prepared === undefined ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
});

lab('promote node2: the bridge is drained, then the VIP moves to node2 alone and the command exits 0', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const at = Date.now();
  const result = await two.cli(['promote', 'node2']);
  t.is(result.exitCode, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /^bridge drained: a marker from node1 reached node2 in \d+ ms$/m);
  t.regex(result.stdout, /^node2 is MASTER and the VIP \S+ answers MQTT \(\d+ ms\)$/m);
  t.deepEqual(await current!.vipHolders(), [2]);
  t.is(trackValue(two), 254 - two.priority);
  t.is(trackValue(one), 0);
  await one.waitForRole('BACKUP', at);
  // The takeover was prepared: node2's broker restarted once, before its weight rose, and not at the takeover.
  t.is(two.linesSince('restarting the broker to prepare a planned takeover', at).length, 1, 'one restart, beforehand');
  t.is(two.linesSince('restarting the broker for this takeover', at).length, 0, 'none at the takeover');
  const prepared = await two.waitForLine('prepared for the planned takeover', at);
  const raised = two.linesSince('weight ', at).find((line) => line.weight === 254 - two.priority);
  t.truthy(raised, 'the promote\'s weight');
  t.true(prepared.time <= raised!.time, 'prepared before the weight rose');
  t.deepEqual(two.linesSince('weight ', at).filter((line) => line.time < prepared.time).map((line) => line.weight), [0], 'nothing raised before');
  t.is(two.linesSince('no broker restart at this takeover', at).length, 1);
  // The DNAT rule went in with the preparation, once; the takeover found it and added nothing.
  const added = two.linesSince('DNAT rule added', at);
  t.is(added.length, 1, 'one DNAT rule added');
  // The executor adds it after the preparation's own line, and before the node state says prepared (which raises the weight).
  t.true(added[0]!.time >= prepared.time && added[0]!.time <= raised!.time, 'with the preparation, before the weight rose');
  t.deepEqual(await two.dnatRules(), [dnatLine({ vip: current!.loaded.config.vip.address, port: 1883, address: two.address, addressPort: 1883 })]);
  const takeover = await two.waitForRole('MASTER', at);
  const steps = takeover.at as { dnat?: number; restarted?: number; accepting?: number };
  t.is(steps.restarted, undefined);
  t.is(steps.accepting, undefined);
  t.true(typeof steps.dnat === 'number');
  t.deepEqual(one.linesSince('role ', at).map((line) => line.role), ['BACKUP'], 'node1 gave the VIP up once');
  t.is(leaderOn(one), '{"promote":"node2"}\n', 'the preference synced to node1');
  await waitForSameVersion(current!, 'leader');
});

lab('the promote survives restarts of both daemons: read from the synced file, the VIP stays on node2', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const first = Date.now();
  for (const node of [two, one]) {
    const restartedAt = Date.now();
    await node.stopDaemon();
    await node.startDaemon();
    // The first weight the new daemon writes is the promote's (the sync starts before the health monitor).
    // A new daemon's weight starts at 0 and is logged when it changes: node2's first one is the promote's.
    const weights = node.linesSince('weight ', restartedAt).map((line) => line.msg);
    t.deepEqual(weights, node === two ? [`weight 0 -> ${254 - two.priority}`] : [], node.name);
  }
  await current!.waitForBridges();
  await sleep(quietMs(one));
  t.deepEqual(await current!.vipHolders(), [2]);
  t.deepEqual(one.linesSince('role ', first).filter((line) => line.role === 'MASTER'), [], 'node1 never took the VIP back');
  t.deepEqual(two.linesSince('role ', first).map((line) => line.role), ['MASTER'], 'node2 came back as MASTER and stayed');
  t.is(trackValue(two), 254 - two.priority);
});

lab('promote --clear: the weights go back to their health terms and preempt brings the VIP back to node1', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const at = Date.now();
  const result = await two.cli(['promote', '--clear']);
  t.is(result.exitCode, 0, result.stdout + result.stderr);
  await current!.waitForVipOn(1, { alone: true });
  await one.waitForRole('MASTER', at);
  await two.waitForRole('BACKUP', at);
  t.is(trackValue(one), 0);
  t.is(trackValue(two), 0);
  t.is(leaderOn(one), '{}\n');
});

lab('demote node1: the VIP moves off node1 to node2, and stays off until cleared', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const at = Date.now();
  const result = await one.cli(['demote', 'node1']);
  t.is(result.exitCode, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /^bridge drained: a marker from node1 reached node2 in \d+ ms$/m);
  t.deepEqual(await current!.vipHolders(), [2]);
  // Not waitForRole: node2 gave the VIP up moments ago (--clear), within the takeover hold-down
  // (takeover/plan.ts), so it takes it back without a second broker restart, and the role line
  // has no `accepting` step.
  await waitFor('node2 MASTER in its log', () => two.linesSince('role ', at).find((line) => line.role === 'MASTER'), { timeoutMs: 30_000, intervalMs: 20 });
  t.is(trackValue(one), 2 - one.priority);

  const cleared = Date.now();
  t.is((await one.cli(['promote', '--clear'])).exitCode, 0);
  await current!.waitForVipOn(1, { alone: true });
  await one.waitForRole('MASTER', cleared);
});
