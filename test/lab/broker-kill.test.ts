/**
 * The master's mosquitto killed with -9 and started again in place by the supervise adapter
 * (issue 15, "a broker that keeps what it acknowledged"): with `broker.autosave_changes: 1` the
 * restarted broker still has what it acknowledged just before the kill, here a message queued for
 * an offline persistent session made a moment before. With the default (a save every 10 s) the
 * session, its subscription and its queue are all gone (checked: this test fails with
 * autosave_changes 0). No timing is asserted (npm run lab -- --fault broker-kill measures).
 */
import test from 'ava';
import { Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`broker-kill lab tests skipped: this machine ${unavailable}`);

lab('broker.autosave_changes 1: a broker killed with -9 comes back with the session, subscription and queued message it had just acknowledged', async (t) => {
  const current = await Lab.start({ daemon: true, advertInt: 0.1, configure: (document) => (document.broker['autosave_changes'] = 1) });
  t.teardown(() => current.stop());
  await current.waitForVipOn(1, { timeoutMs: 20_000 });
  const master = current.node(1);
  await master.waitForRole('MASTER', 0);
  await current.waitForBridges(30_000);
  const { config } = current.loaded;
  const login = ['-h', config.vip.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password];
  const session = ['-c', '-i', 'lab-kill-subscriber', '-q', '1', '-t', 'lab/kill/queued'];

  // A persistent session subscribes and leaves; a QoS 1 message for it is acknowledged (mosquitto_pub exits 0 on the PUBACK).
  await current.client.exec(['mosquitto_sub', ...login, ...session, '-E'], { timeout: 10_000 });
  await current.client.exec(['mosquitto_pub', ...login, '-q', '1', '-t', 'lab/kill/queued', '-m', 'acknowledged before the kill'], { timeout: 10_000 });

  const killedAt = Date.now();
  t.true(master.kill('mosquitto').length > 0, 'node1 ran mosquitto');
  await master.waitForLine('broker started', killedAt);
  await waitFor(
    'the restarted broker accepting through the VIP',
    async () => (await current.client.exec(['mosquitto_pub', ...login, '-q', '1', '-t', 'lab/kill/other', '-m', 'x'], { timeout: 5_000, reject: false })).exitCode === 0,
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  t.deepEqual(await current.vipHolders(), [1], 'a crash restarted in place does not move the VIP');

  const resumed = await current.client.exec(['mosquitto_sub', ...login, ...session, '-C', '1', '-W', '10'], { timeout: 20_000, reject: false });
  t.is(resumed.stdout.trim(), 'acknowledged before the kill', `the session's queued message after the restart (mosquitto_sub exited ${resumed.exitCode}: ${resumed.stderr.trim()})`);
});
