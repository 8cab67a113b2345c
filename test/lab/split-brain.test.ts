/**
 * Split brain, end to end in the lab (issue 13): real keepalived (advert 0.1 s), mosquitto and the
 * daemon on two nodes. VRRP dropped between the nodes while the LAN (and so the peer channel)
 * stays up: both take the VIP, the lower-priority node2 gives it up (FAULT), and when VRRP passes
 * again its step-down is lifted and it is a BACKUP. With the peer channel down too, nothing is
 * decided. No timing is asserted (bench and `npm run lab -- --fault vrrp-split` measure); every
 * wait is bounded.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { confirmMs } from '../../src/health/split-watch.js';
import { SPLIT_WEIGHT } from '../../src/health/split.js';
import { COUNT_CHAIN } from '../../src/health/vrrp-counter.js';
import { runtimePaths } from '../../src/paths.js';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`split-brain lab tests skipped: this machine ${unavailable}`);

const ADVERT_INT = 0.1;

async function startLab(t: ExecutionContext): Promise<Lab> {
  const started = await Lab.start({ daemon: true, advertInt: ADVERT_INT });
  t.teardown(() => started.stop());
  const [one, two] = [started.node(1), started.node(2)];
  await started.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  // Each knows the other's role: node1's MASTER status may come after its first one.
  await one.waitForLine('peer node2 is BACKUP', 0);
  await two.waitForLine('peer node1 is MASTER', 0);
  return started;
}

const trackValue = (node: LabNode) => Number(readFileSync(runtimePaths(node.config).trackFile, 'utf8').trim());
const splitLines = (node: LabNode, since: number) => node.linesSince('split brain:', since);

/** The DNAT rule is on the VIP's holder and nowhere else. */
async function dnatFollowsVip(t: ExecutionContext, current: Lab): Promise<void> {
  const holders = await current.vipHolders();
  for (const node of current.nodes) {
    t.is((await node.dnatRules()).length, holders.includes(node.id) ? 1 : 0, `${node.name}'s DNAT rule follows the VIP (held by [${holders.join(', ')}])`);
  }
}

lab('VRRP dropped between the nodes: both take the VIP, node2 (lower priority) gives it up; VRRP back: node2 is a BACKUP again, weights 0', async (t) => {
  const current = await startLab(t);
  const [one, two] = [current.node(1), current.node(2)];
  for (const node of [one, two]) t.true((await node.ns.exec(['iptables', '-w', '5', '-S'])).stdout.includes(`-N ${COUNT_CHAIN}`), `${node.name} counts adverts`);

  const splitAt = Date.now();
  await current.partitionVrrp(1, 2);
  const [lost, kept] = await Promise.all([two.waitForLine('split brain:', splitAt), one.waitForLine('split brain:', splitAt)]);
  t.deepEqual(lost.split, ['node2', 'node1']);
  t.is(lost.winner, 'node1');
  t.true(lost.stepDown);
  t.regex(lost.msg, /^split brain: node2 and node1 both hold the VIP since \d\d:\d\d:\d\d\.\d{3}; node2 gives up the VIP to node1: node2 \(priority 180 < 200\)$/);
  t.deepEqual(kept.split, ['node1', 'node2']);
  t.false(kept.stepDown);
  t.regex(kept.msg, /^split brain: node1 and node2 both hold the VIP since .*; node2 should give it up/);

  await two.waitForRole('FAULT', splitAt);
  await current.waitForVipOn(1, { alone: true });
  t.is(trackValue(two), SPLIT_WEIGHT);
  t.is(trackValue(one), 0);
  await one.waitForLine('split brain over: node2 gave up the VIP', splitAt);
  await dnatFollowsVip(t, current);
  // Still split on the wire: node2 stays down (no flapping), node1 keeps the VIP.
  await sleep(confirmMs(ADVERT_INT) * 2);
  t.deepEqual(await current.vipHolders(), [1]);
  t.deepEqual(two.linesSince('split brain over', splitAt), [], 'node2 stays down while VRRP does not pass');
  t.is(two.linesSince('role ', splitAt).length, 2, 'node2: MASTER once, FAULT once');

  const healAt = Date.now();
  await current.healVrrp();
  const over = await two.waitForLine('split brain over', healAt);
  t.is(over.reason, 'the VRRP path is back (node1\'s adverts arrive)');
  t.is(typeof (over.at as { healed?: number }).healed, 'number');
  await two.waitForRole('BACKUP', healAt);
  await waitFor('node2\'s weight back to 0', () => trackValue(two) === 0, { timeoutMs: 5_000 });
  await sleep(confirmMs(ADVERT_INT) * 2);
  t.deepEqual(await current.vipHolders(), [1], 'the VIP on node1 alone');
  t.is(trackValue(one), 0);
  t.is(trackValue(two), 0);
  t.deepEqual(one.linesSince('role ', splitAt), [], 'node1 never left MASTER');
  t.is(two.linesSince('role ', healAt).length, 1, 'node2: BACKUP once after the heal');
  t.is(splitLines(one, splitAt).length, 1, 'one line on node1 names the split');
  t.is(splitLines(two, splitAt).length, 1, 'one line on node2 names the split');
  await dnatFollowsVip(t, current);
});

lab('VRRP and the peer channel both dropped between the nodes: the split is not decided, both stay MASTER', async (t) => {
  const current = await startLab(t);
  const [one, two] = [current.node(1), current.node(2)];
  t.teardown(() => current.healTcp());

  const splitAt = Date.now();
  await current.partitionTcp(1, 2);
  await current.partitionVrrp(1, 2);
  await current.waitForVipOn(2, { alone: false });
  const undecided = await two.waitForLine('split brain cannot be decided', splitAt);
  t.deepEqual(undecided.peers, ['node1']);
  await sleep(confirmMs(ADVERT_INT) * 3);
  t.deepEqual(await current.vipHolders(), [1, 2], 'both still hold the VIP');
  t.deepEqual(splitLines(one, splitAt), []);
  t.deepEqual(splitLines(two, splitAt), []);
  t.is(trackValue(one), 0);
  t.is(trackValue(two), 0);

  await current.healTcp();
  await current.healVrrp();
  await current.waitForVipOn(1, { alone: true, timeoutMs: 20_000 });
});
