/**
 * The lab itself, with plain keepalived and mosquitto (no daemon yet): where the VIP starts, the
 * bridges, and every fault the lab can inject, each checked by what it does to real programs.
 * These share the CPU with timing-sensitive VRRP, so they run one at a time.
 */
import test, { type ExecutionContext } from 'ava';
import { DELAY_PROGRAM } from '../../lab/faults.js';
import { Lab, type LabOptions } from '../../lab/lab.js';
import { namespacesOf } from '../../lab/netns.js';
import { Probe } from '../../lab/probe.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`lab tests skipped: this machine ${unavailable}`);

async function startLab(t: ExecutionContext, options: LabOptions = {}): Promise<Lab> {
  const started = await Lab.start(options);
  t.teardown(() => started.stop());
  return started;
}

/** Pings `address` from the client namespace: how many of `count` came back, and the RTTs. */
async function ping(current: Lab, address: string, count: number, intervalSeconds = 0.01): Promise<{ received: number; minMs: number }> {
  const result = await current.client.exec(['ping', '-n', '-c', String(count), '-i', String(intervalSeconds), '-W', '1', address], { reject: false, timeout: 60_000 });
  const received = Number(/(\d+) received/.exec(result.stdout)?.[1] ?? 'NaN');
  const minMs = Number(/= ([\d.]+)\//.exec(result.stdout)?.[1] ?? 'NaN');
  return { received, minMs };
}

lab('three nodes: the VIP starts on the highest-priority node alone, and both others bridge to the hub', async (t) => {
  const current = await startLab(t, { nodes: 3 });
  t.deepEqual((await namespacesOf()).map((name) => name.replace(/^mqfo\d+-/, '')).sort(), ['client', 'n1', 'n2', 'n3', 'switch']);
  const ms = await current.waitForVipOn(1);
  t.log(`VIP on node1 ${Math.round(ms)} ms after keepalived started (advert_int 1 s)`);
  t.deepEqual(await current.vipHolders(), [1]);
  await current.waitForBridges();
  const states = await current.bridgeStates();
  t.deepEqual([...states.keys()].sort(), ['mqfo-lab-node2', 'mqfo-lab-node3']);
  for (const node of current.nodes) {
    t.is(node.pids('mosquitto').length, 1, `${node.name} runs one mosquitto`);
    t.true(node.pids('keepalived').length >= 1, `${node.name} runs keepalived`);
    t.deepEqual(await node.dnatRules(), [], `${node.name}: no DNAT without the daemon`);
  }
});

lab('messages cross the bridge both ways, and between two spokes through the hub, once each', async (t) => {
  const current = await startLab(t, { nodes: 3 });
  await current.waitForBridges();
  for (const [from, to] of [[1, 2], [2, 1], [2, 3]] as const) {
    const probe = await Probe.start(current, { publishTo: from, subscribeTo: to, qos: 1, count: 50, rate: 100 });
    const report = await probe.stop();
    t.is(report.ok, 50, `node${from} -> node${to}: ${JSON.stringify(report)}`);
    t.deepEqual([report.lost, report.duplicated, report.unexpected], [[], [], []], `node${from} -> node${to}`);
  }
});

lab('kill -9 of the master\'s keepalived moves the VIP; restarted, it cleans its stale copy and takes the VIP back', async (t) => {
  const current = await startLab(t);
  await current.waitForVipOn(1);
  const master = current.node(1);
  t.true(master.kill('keepalived').length >= 1);
  const ms = await current.waitForVipOn(2, { alone: false });
  t.log(`kill -9 keepalived on the master: VIP on node2 after ${Math.round(ms)} ms (advert_int 1 s)`);
  // A keepalived killed with -9 cannot remove its address: the old master keeps a stale copy.
  t.deepEqual(await current.vipHolders(), [1, 2]);
  master.startFailover();
  await current.waitForVipOn(1);
  t.deepEqual(await current.vipHolders(), [1]);
});

lab('a graceful stop of the master\'s keepalived hands the VIP over at once (priority 0 advert)', async (t) => {
  const current = await startLab(t);
  await current.waitForVipOn(1);
  await current.node(1).stopFailover();
  const ms = await current.waitForVipOn(2);
  t.log(`SIGTERM keepalived on the master: VIP on node2 alone ${Math.round(ms)} ms after it exited`);
  t.deepEqual(current.node(1).pids('keepalived'), []);
});

lab('SIGSTOP of the master\'s keepalived lets the backup take over; SIGCONT ends the double claim', async (t) => {
  const current = await startLab(t);
  await current.waitForVipOn(1);
  const master = current.node(1);
  t.true(master.pause('keepalived').length >= 1);
  // The frozen master still has its address; the backup adds its own.
  await current.waitForVipOn(2, { alone: false });
  t.deepEqual(await current.vipHolders(), [1, 2]);
  master.resume('keepalived');
  await current.waitForVipOn(1);
});

lab('link down on the master moves the VIP; link up brings it back (preempt)', async (t) => {
  const current = await startLab(t);
  await current.waitForVipOn(1);
  await current.node(1).linkDown();
  const ms = await current.waitForVipOn(2);
  t.log(`link down on the master: VIP on node2 alone after ${Math.round(ms)} ms`);
  t.is((await ping(current, current.node(1).address, 3)).received, 0, 'node1 is unreachable');
  await current.node(1).linkUp();
  await current.waitForVipOn(1);
});

lab('a VRRP-only partition splits the brain while TCP (the bridge) stays up; healing ends it', async (t) => {
  const current = await startLab(t);
  await current.waitForVipOn(1);
  await current.waitForBridges();
  await current.partitionVrrp(1, 2);
  await current.waitForVipOn(2, { alone: false });
  t.deepEqual(await current.vipHolders(), [1, 2], 'both claim the VIP');
  t.deepEqual([...(await current.bridgeStates()).values()], ['1'], 'the bridge is still connected');
  const report = await (await Probe.start(current, { publishTo: 1, subscribeTo: 2, count: 20, rate: 100 })).stop();
  t.is(report.ok, 20, 'messages still cross the bridge');
  await current.healVrrp();
  await current.waitForVipOn(1);
});

lab('loss and delay on a node\'s link (iptables statistic and NFQUEUE), and clearing them', async (t) => {
  const current = await startLab(t, { start: false });
  const node = current.node(1);
  t.is((await ping(current, node.address, 20)).received, 20, 'a clean link first');

  await node.setLinkFaults({ delayMs: 150 });
  const delayed = await ping(current, node.address, 3, 0.2);
  t.is(delayed.received, 3);
  // Held 150 ms each way: the fastest round trip cannot be quicker than 300 ms.
  t.true(delayed.minMs >= 300, `min RTT ${delayed.minMs} ms`);
  t.log(`delay 150 ms: min RTT ${delayed.minMs} ms`);
  t.is(node.pids(DELAY_PROGRAM).length, 1, 'the delay program runs in the node');

  await node.setLinkFaults({ loss: 1 });
  t.deepEqual(node.pids(DELAY_PROGRAM), [], 'a new fault replaces the old: no delay program left');
  t.is((await ping(current, node.address, 5)).received, 0, 'loss 1 drops everything');

  await node.setLinkFaults({ loss: 0.5 });
  // Through only if neither the request nor the reply is dropped: 1 in 4. All or none of 100
  // would take odds below 1e-12.
  const lossy = await ping(current, node.address, 100);
  t.true(lossy.received > 0 && lossy.received < 100, `${lossy.received} of 100 through at loss 0.5`);
  t.log(`loss 0.5 each way: ${lossy.received} of 100 pings through`);

  await node.setLinkFaults({});
  const { stdout } = await node.ns.exec(['iptables', '-S', 'MQFO-LAB-LINK'], { timeout: 10_000 });
  t.is(stdout.trim(), '-N MQFO-LAB-LINK', 'no fault rule left');
  t.is((await ping(current, node.address, 20)).received, 20, 'clean again');
});

lab('stopping and starting the hub\'s broker: node2\'s bridge to it goes down and comes back', async (t) => {
  const current = await startLab(t);
  await current.waitForBridges();
  const hub = current.node(1);
  await hub.stopBroker();
  t.deepEqual(hub.pids('mosquitto'), []);
  await waitFor('the bridge to report down', async () => (await current.bridgeStates()).get('mqfo-lab-node2') === '0', { timeoutMs: 20_000, intervalMs: 200 });
  await hub.startBroker();
  await current.waitForBridges();
  const report = await (await Probe.start(current, { publishTo: 1, subscribeTo: 2, count: 20, rate: 100 })).stop();
  t.is(report.ok, 20);
});

lab('ucarp: the VIP starts on node 1; kill -9 of its ucarp moves it; restarted, node 1 takes it back alone', async (t) => {
  const current = await startLab(t, { driver: 'ucarp' });
  await current.waitForVipOn(1);
  t.deepEqual(current.node(1).pids('keepalived'), []);
  t.true(current.node(1).kill('ucarp').length === 1);
  // No time is logged here: just after start ucarp's backup has not re-armed its timer yet, so
  // it takes over far sooner than in a steady state (about 4 s at advbase 1, measured by hand).
  await current.waitForVipOn(2, { alone: false });
  // ucarp runs its down script as it starts, which removes the stale copy.
  current.node(1).startFailover();
  await current.waitForVipOn(1);
});

lab('a probe through the VIP sees the failover: it reconnects to the new holder, and the report counts what was lost', async (t) => {
  // Without the daemon no DNAT leads the VIP to a broker, so here the brokers listen on every address.
  const current = await startLab(t, { configure: (document) => (document.broker['client_bind'] = 'all') });
  await current.waitForVipOn(1);
  await current.waitForBridges();
  const probe = await Probe.start(current, { publishTo: 'vip', qos: 1, rate: 100, keepaliveSeconds: 2 });
  await probe.waitFor('messages flowing', (event) => event.e === 'recv' && event.seq >= 50, 15_000);
  const now = () => performance.timeOrigin + performance.now();
  const stopping = now();
  await current.node(1).stopFailover();
  await current.waitForVipOn(2);
  const moved = now();
  const again = await probe.waitFor('a message delivered after the move', (event) => event.e === 'recv' && event.t > moved && probe.events.some((sent) => sent.e === 'send' && sent.seq === event.seq && sent.t > moved), 30_000);
  const report = await probe.stop();
  const reconnects = probe.events.filter((event) => event.e === 'connect' && event.t > stopping).length;
  t.true(reconnects >= 1, 'the clients reconnected');
  t.true(report.ok > 50);
  t.is(report.unexpected.length, 0);
  t.log(
    `VIP failover, no daemon, QoS 1 at 100/s: clients reconnected ${reconnects} times; the first message sent after the move was seen arrived ${Math.round(again.t - moved)} ms later; ` +
      `attempted ${report.attempted}, ok ${report.ok}, lost ${report.lost.length}, duplicated ${report.duplicated.length}, recovered ${report.recovered.length}, indeterminate ${report.indeterminate.length}, longest gap ${Math.round(report.longestGapMs)} ms`,
  );
});
