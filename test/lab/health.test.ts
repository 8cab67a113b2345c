/**
 * Health drives priority, end to end in the lab: real keepalived, mosquitto and the daemon on
 * each node. The faults are real: the master's broker hung (SIGSTOP), both brokers' client
 * listeners refusing (health.client_port), a broker killed with -9 that the supervise adapter
 * starts again. No timing is asserted (that is bench:failover's job); every wait is bounded.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { HANDOVER_WEIGHT, SICK_WEIGHT } from '../../src/health/weight.js';
import { runtimePaths } from '../../src/paths.js';
import { Lab, type LabOptions } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { Probe } from '../../lab/probe.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';
import { UCARP_CAPTURE_TIMEOUT_MS, waitForUcarpSettled } from '../helpers/ucarp.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`health lab tests skipped: this machine ${unavailable}`);

async function startLab(t: ExecutionContext, options: LabOptions): Promise<Lab> {
  const started = await Lab.start({ daemon: true, ...options });
  t.teardown(() => started.stop());
  return started;
}

const trackValue = (node: LabNode) => Number(readFileSync(runtimePaths(node.config).trackFile, 'utf8').trim());
const roleChanges = (node: LabNode, since: number) => node.linesSince('role ', since);

/** Longer than the hysteresis (fall × interval) and VRRP's master-down time (3 adverts + skew), with room. */
function quietMs(node: LabNode): number {
  const { health, failover } = node.config;
  return Math.ceil(health.fall * health.interval * 1000 + 4 * failover.advert_int * 1000 + 1_500);
}

lab('the master\'s broker hung: it steps down and the VIP moves to the healthy peer; well again, it takes the VIP back (preempt)', async (t) => {
  const current = await startLab(t, {});
  const [one, two] = [current.node(1), current.node(2)];
  await current.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  await two.waitForLine('peer node1\'s broker well', 0);
  t.is(trackValue(one), 0);

  // Clients through the VIP (a subscriber without keepalive pings, which sends nothing).
  const client = await Probe.start(current, { rate: 5, keepaliveSeconds: 0 });
  t.teardown(() => client.stop(5_000).then(() => undefined));

  const hungAt = Date.now();
  t.true(one.pause('mosquitto').length > 0);
  t.teardown(() => one.resume('mosquitto'));
  const sick = await one.waitForLine('broker sick', hungAt);
  t.is(sick.health, 'sick');
  // Unanswered probes (the kernel accepts, the hung broker never answers): health.hang_fall, not fall.
  t.regex(String(sick.reason), /^2 probes in a row got no answer \(health\.hang_fall 2: a hung broker\); the last: no answer from /);
  // The master hands the VIP over (FAULT: a priority-0 advert), then sits at the sick floor.
  const weight = await one.waitForLine(`weight 0 -> ${HANDOVER_WEIGHT}`, hungAt);
  t.deepEqual(weight.reasons, ['broker sick; stepping down for node2 (well)', 'handing the VIP over now (FAULT for a priority-0 advert, until this node is MASTER no more)']);
  await one.waitForLine('role MASTER -> FAULT', hungAt);
  await one.waitForLine(`weight ${HANDOVER_WEIGHT} -> ${SICK_WEIGHT}`, hungAt);
  t.is(trackValue(one), SICK_WEIGHT);
  await two.waitForRole('MASTER', hungAt);
  await one.waitForRole('BACKUP', hungAt);
  await current.waitForVipOn(2, { alone: true });
  t.deepEqual(await one.dnatRules(), [], 'the sick node gave up its DNAT rule');
  // Its clients are reset once the VIP has left, and reconnect through the VIP to node2.
  // Its clients' connections (the probe's, through the VIP) are reset once the VIP has left.
  // Whether the client then sees the reset is NOT asserted: in the one lab run that waited for it
  // the subscriber (no keepalive) was not closed within 20 s, though the daemon had killed its
  // socket; the bench saw it close at the reset in 3 of 4 rounds. Cause not found (README, open
  // findings under the benchmark).
  const reset = await one.waitForLine('reset ', hungAt);
  t.regex(reset.msg, /^reset [1-9]\d* client connection\(s\) of the sick broker/);

  const resumedAt = Date.now();
  one.resume('mosquitto');
  const well = await one.waitForLine('broker well', resumedAt);
  t.regex(String(well.reason), /8 probes in a row succeeded/);
  await one.waitForLine(`weight ${SICK_WEIGHT} -> 0`, resumedAt);
  t.is(trackValue(one), 0);
  // Back within the takeover hold-down (src/takeover/plan.ts), this is the same takeover: the DNAT
  // rule comes back without a second broker restart, so wait for the role line, not for "accepting".
  await one.waitForLine('role BACKUP -> MASTER', resumedAt);
  await current.waitForVipOn(1, { alone: true });
  await two.waitForLine('peer node1\'s broker well', resumedAt);
});

lab('the master\'s broker in a crash loop (every start fails on its config): the supervise adapter\'s failed start makes it sick at once, and the VIP moves', async (t) => {
  const current = await startLab(t, {});
  const [one, two] = [current.node(1), current.node(2)];
  await current.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  await two.waitForLine('peer node1\'s broker well', 0);

  const brokenAt = Date.now();
  one.breakBrokerConfig();
  t.teardown(() => one.restoreBrokerConfig());
  t.true(one.kill('mosquitto').length > 0);
  const sick = await one.waitForLine('broker sick', brokenAt);
  // Sick from the first failed start, not after health.fall refused probes.
  t.regex(String(sick.reason), /^the broker exited on its own \d+ ms after it was started \(exit code \d+; next start in \d+ ms\): a crash loop \(sick at once\)$/);
  const exit = await one.waitForLine('broker exited on its own', brokenAt);
  t.false(exit.failedStart, 'the kill itself was a crash, not a failed start');
  await two.waitForRole('MASTER', brokenAt);
  await current.waitForVipOn(2, { alone: true });

  const repairedAt = Date.now();
  one.restoreBrokerConfig();
  await one.waitForLine('broker well', repairedAt, 30_000);
  await one.waitForLine('role BACKUP -> MASTER', repairedAt);
  await current.waitForVipOn(1, { alone: true });
});

lab('every broker sick (seen over the peer channel): the sick master keeps the VIP', async (t) => {
  const current = await startLab(t, { configure: (document) => (document.health = { client_port: true }) });
  const [one, two] = [current.node(1), current.node(2)];
  const port = one.config.broker.client_port;
  await current.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  t.teardown(() => Promise.all([one.acceptPort(), two.acceptPort()]));

  // node2's client listener fails first; node1 hears of it over the peer channel.
  const start = Date.now();
  await two.refusePort(port);
  await two.waitForLine('broker sick', start);
  await one.waitForLine('peer node2\'s broker sick', start);
  // Then the master's: every broker is sick, so moving the VIP would help no one.
  const bothAt = Date.now();
  await one.refusePort(port);
  await one.waitForLine('broker sick', bothAt);
  const stays = await one.waitForLine('weight 0 -> 0', bothAt);
  t.deepEqual(stays.reasons, ['broker sick, but no peer is known well (sick: node2): the VIP stays']);
  await sleep(quietMs(one));
  t.deepEqual(await current.vipHolders(), [1], 'the VIP stayed on node1');
  t.deepEqual(roleChanges(one, bothAt), [], 'node1 changed no role');
  t.deepEqual(roleChanges(two, start), [], 'node2 changed no role');
  t.is(trackValue(one), 0);
  // node2 stepped down when it fell sick, below a master that was well then; it stays down while sick.
  t.is(trackValue(two), SICK_WEIGHT);
  t.deepEqual(one.linesSince('weight 0 -> -253', start), []);
});

lab('a broker killed with -9 and restarted in place by the supervise adapter, within the hysteresis: the VIP does not move', async (t) => {
  const current = await startLab(t, {});
  const [one, two] = [current.node(1), current.node(2)];
  await current.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  await one.waitForLine('broker started', 0);

  const killedAt = Date.now();
  const before = one.pids('mosquitto');
  t.true(one.kill('mosquitto').length > 0);
  await one.waitForLine('broker exited on its own', killedAt);
  await one.waitForLine('broker started', killedAt);
  t.notDeepEqual(one.pids('mosquitto'), before, 'a new broker runs');
  await sleep(quietMs(one));
  t.deepEqual(one.linesSince('broker sick', killedAt), [], 'the crash was not taken for sickness');
  t.deepEqual(one.linesSince('weight ', killedAt), []);
  t.is(trackValue(one), 0);
  t.deepEqual(roleChanges(one, killedAt), []);
  t.deepEqual(roleChanges(two, killedAt), []);
  t.deepEqual(await current.vipHolders(), [1]);
});

/**
 * Under ucarp, which has no runtime priority, a sick master stops its ucarp (src/failover/): the
 * down script releases the VIP and the other node takes over when its master-down wait ends; well
 * again, ucarp runs again. With --preempt (failover.preempt, the default) node1's better skew
 * takes the VIP back as soon as its ucarp reads node2's adverts; without it, the node waits as a
 * BACKUP. Without --preempt, which node wins the start is a race (the daemons start their ucarps
 * at their own pace, and a loaded machine can make node2's first): the test takes the winner.
 */
async function hangUcarpMaster(t: ExecutionContext, current: Lab, masterId: number): Promise<number> {
  const one = current.node(masterId);
  const two = current.nodes.find((node) => node.id !== masterId)!;
  await current.waitForVipOn(one.id, { timeoutMs: 20_000 });
  await one.waitForRole('MASTER', 0);
  await waitForUcarpSettled(current, two, one.id);
  await two.waitForLine(`peer ${one.name}'s broker well`, 0);
  t.is(one.pids('ucarp').length, 1, 'the daemon runs ucarp (failover.control: supervise)');

  const hungAt = Date.now();
  t.true(one.pause('mosquitto').length > 0);
  t.teardown(() => one.resume('mosquitto'));
  await one.waitForLine('broker sick', hungAt);
  const weight = await one.waitForLine(`weight 0 -> ${SICK_WEIGHT}`, hungAt);
  t.deepEqual(weight.reasons, [`broker sick; stepping down for ${two.name} (well)`]);
  await one.waitForLine('ucarp stopped', hungAt);
  t.deepEqual(one.pids('ucarp'), [], `${one.name} no longer advertises`);
  await one.waitForRole('BACKUP', hungAt);
  await two.waitForRole('MASTER', hungAt);
  await current.waitForVipOn(two.id, { alone: true, timeoutMs: 20_000 });
  t.deepEqual(await one.dnatRules(), [], 'the sick node gave up its DNAT rule');
  // Staying down while sick: its ucarp is not started again behind the other's back.
  await sleep(quietMs(one));
  t.deepEqual(one.pids('ucarp'), []);
  t.deepEqual(await current.vipHolders(), [two.id]);

  const resumedAt = Date.now();
  one.resume('mosquitto');
  await one.waitForLine('broker well', resumedAt);
  await one.waitForLine(`weight ${SICK_WEIGHT} -> 0`, resumedAt);
  await one.waitForLine('ucarp started again', resumedAt);
  t.is(one.pids('ucarp').length, 1, `${one.name} advertises again`);
  return resumedAt;
}

lab('ucarp: the master\'s broker hung: its ucarp stops and the VIP moves to node2; well again, ucarp runs again and takes the VIP back (--preempt)', async (t) => {
  const current = await startLab(t, { driver: 'ucarp' });
  const [one, two] = [current.node(1), current.node(2)];
  const resumedAt = await hangUcarpMaster(t, current, 1);
  // A new takeover or, back within the hold-down, the same one (no broker restart): wait for the role line, not for "accepting".
  await one.waitForLine('role BACKUP -> MASTER', resumedAt);
  await current.waitForVipOn(1, { alone: true, timeoutMs: 20_000 });
  await two.waitForRole('BACKUP', resumedAt);
});

lab('ucarp without --preempt (failover.preempt: false): well again, the old master\'s ucarp runs as a BACKUP and the VIP stays on the other node', async (t) => {
  const current = await startLab(t, { driver: 'ucarp', preempt: false });
  // The winner: one node alone with the VIP for 4 adverts and the capture timeout (past the start's flaps).
  const stableMs = 4 * current.loaded.config.failover.advert_int * 1000 + UCARP_CAPTURE_TIMEOUT_MS;
  let candidate: number | undefined;
  let since = 0;
  const holder = await waitFor(
    `one node to hold the VIP alone for ${stableMs} ms`,
    async () => {
      const holders = await current.vipHolders();
      const alone = holders.length === 1 ? holders[0] : undefined;
      if (alone !== candidate) [candidate, since] = [alone, Date.now()];
      return candidate !== undefined && Date.now() - since >= stableMs ? candidate : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 50 },
  );
  const one = current.node(holder);
  const two = current.nodes.find((node) => node.id !== holder)!;
  t.log(`${one.name} won the start`);
  const resumedAt = await hangUcarpMaster(t, current, one.id);
  // Its ucarp waits its master-down time, reading the other's adverts up to 1 s late (the capture timeout), and stays BACKUP.
  await sleep(quietMs(one) + UCARP_CAPTURE_TIMEOUT_MS);
  t.deepEqual(await current.vipHolders(), [two.id], `the VIP stayed on ${two.name}`);
  t.deepEqual(one.linesSince('role ', resumedAt).filter((line) => line.role === 'MASTER'), [], `${one.name} did not take MASTER`);
  t.deepEqual(roleChanges(two, resumedAt), [], `${two.name} changed no role`);
});
