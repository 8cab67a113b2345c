/**
 * The master's mosquitto killed with -9 and started again in place by the supervise adapter
 * (issue 15, "a broker that keeps what it acknowledged"):
 * - at the defaults (a save every 10 s, and broker.save_on_session_change), a persistent session
 *   that subscribed a moment before the kill is still there after it, with its subscription, so
 *   what is published to the restarted broker before its client comes back waits for it (checked:
 *   fails with save_on_session_change false);
 * - with `broker.autosave_changes: 1` the restarted broker also still has a message it acknowledged
 *   just before the kill, queued for such a session (checked: fails with autosave_changes 0).
 * No timing is asserted (npm run lab -- --fault broker-kill measures).
 */
import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { Lab } from '../../lab/lab.js';
import type { LabDocument } from '../../lab/topology.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`broker-kill lab tests skipped: this machine ${unavailable}`);

/**
 * A 2-node lab with node1 master and the bridges in. `publish`: a QoS 1 publish through the VIP,
 * true once acknowledged; `subscribe`: the persistent client `clientId` subscribes `topic` at QoS 1
 * and leaves; `killAndRestart`: node1's mosquitto killed with -9, until the supervisor's restart
 * accepts through the VIP again; `resume`: that client back, with the first message its session holds.
 */
async function killLab(t: ExecutionContext, clientId: string, topic: string, configure?: (document: LabDocument) => void) {
  const current = await Lab.start({ daemon: true, advertInt: 0.1, ...(configure ? { configure } : {}) });
  t.teardown(() => current.stop());
  await current.waitForVipOn(1, { timeoutMs: 20_000 });
  const master = current.node(1);
  await master.waitForRole('MASTER', 0);
  await current.waitForBridges(30_000);
  const { config } = current.loaded;
  const login = ['-h', config.vip.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password];
  const session = [...login, '-c', '-i', clientId, '-q', '1', '-t', topic];
  const publish = async (to: string, message: string) =>
    (await current.client.exec(['mosquitto_pub', ...login, '-q', '1', '-t', to, '-m', message], { timeout: 5_000, reject: false })).exitCode === 0;
  return {
    master,
    config,
    publish,
    subscribe: () => current.client.exec(['mosquitto_sub', ...session, '-E'], { timeout: 10_000 }),
    killAndRestart: async () => {
      const killedAt = Date.now();
      t.true(master.kill('mosquitto').length > 0, 'node1 ran mosquitto');
      await master.waitForLine('broker started', killedAt);
      await waitFor('the restarted broker accepting through the VIP', () => publish('lab/kill/other', 'x'), { timeoutMs: 20_000, intervalMs: 100 });
      t.deepEqual(await current.vipHolders(), [1], 'a crash restarted in place does not move the VIP');
    },
    resume: async () => {
      const resumed = await current.client.exec(['mosquitto_sub', ...session, '-C', '1', '-W', '10'], { timeout: 20_000, reject: false });
      return { message: resumed.stdout.trim(), why: `the session's queued message after the restart (mosquitto_sub exited ${resumed.exitCode}: ${resumed.stderr.trim()})` };
    },
  };
}

lab('the defaults: a broker killed with -9 comes back with a persistent session and the subscription it made just before the kill', async (t) => {
  const { master, config, publish, subscribe, killAndRestart, resume } = await killLab(t, 'lab-kill-fresh', 'lab/kill/fresh');
  t.is(config.broker.autosave_changes, 0);
  t.true(config.broker.save_on_session_change);

  // A new persistent session subscribes and leaves, well within one autosave_interval.
  const subscribedFrom = Date.now();
  await subscribe();
  const subscribedAt = Date.now();
  // A save the daemon asked for because of this client's subscribe covers it: mosquitto adds the
  // subscription, then logs it (what the daemon reads), then sends the SUBACK; the daemon logs the
  // save, naming the clients it covers, once the SIGUSR1 is sent. (Not "a save logged after the
  // SUBACK": the daemon is often faster than mosquitto_sub's exit; nor any save with a subscribe
  // since the connect: the connect's may come before the subscribe, and another client's subscribe
  // may be in it.)
  const save = await waitFor('the daemon\'s save for the subscribe', () => master.linesSince('asked the broker to save its database', subscribedFrom).find((line) => (line['clients'] as Record<string, string[]> | undefined)?.['lab-kill-fresh']?.includes('a subscribe')), { timeoutMs: 10_000, intervalMs: 20 });
  t.log(`the daemon sent the save for the subscribe ${save.time - subscribedAt} ms after mosquitto_sub returned`);
  // The broker saves at the end of the loop pass in which the signal came: a QoS 1 publish acknowledged
  // after it (a new client: its CONNECT, then its PUBLISH once it has the CONNACK) means the database is written.
  t.true(await publish('lab/kill/other', 'a round trip after the save'));

  await killAndRestart();
  // Acknowledged by the restarted broker while the session's client is away: it waits in the session.
  t.true(await publish('lab/kill/fresh', 'acknowledged after the restart'));
  const { message, why } = await resume();
  if (message !== 'acknowledged after the restart') {
    // What node1's broker said (its own lines, on the daemon's stderr) and the daemon's saves, from the subscribe on.
    const story = readFileSync(master.daemonLog, 'utf8').split('\n').filter((line) => {
      if (!line.startsWith('{')) return line.trim() !== '';
      const parsed = JSON.parse(line) as { time: number; msg: string };
      return parsed.time >= subscribedFrom && /save|broker started|restart/.test(parsed.msg);
    });
    t.log(`subscribed from ${subscribedFrom}, returned at ${subscribedAt}; node1's log:\n${story.slice(-80).join('\n')}`);
  }
  t.is(message, 'acknowledged after the restart', why);
});

lab('broker.autosave_changes 1: a broker killed with -9 comes back with the session, subscription and queued message it had just acknowledged', async (t) => {
  const { publish, subscribe, killAndRestart, resume } = await killLab(t, 'lab-kill-subscriber', 'lab/kill/queued', (document) => (document.broker['autosave_changes'] = 1));
  // A persistent session subscribes and leaves; a QoS 1 message for it is acknowledged (mosquitto_pub exits 0 on the PUBACK).
  await subscribe();
  t.true(await publish('lab/kill/queued', 'acknowledged before the kill'));

  await killAndRestart();
  const { message, why } = await resume();
  t.is(message, 'acknowledged before the kill', why);
});
