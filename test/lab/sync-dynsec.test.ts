/**
 * Dynamic-security sync end to end, in the lab: `broker.auth: dynsec` with `sync.dynsec`, the
 * daemon on every node, real mosquitto with the dynsec plugin, the real mosquitto_ctrl for edits
 * (as the lab's admin, from the client namespace, so the plugin rewrites its own file) and
 * mosquitto_pub for logins. The 2.0.11 plugin reads its file only at start, so a peer's version is
 * applied by restarting the broker. One lab for the file's tests, in series; each test uses
 * clients of its own. No timing is asserted; the bounds are for the wait, not the product.
 */
import { statSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { canLogin, dynsecClients, dynsecCtrl, publishSealed, readDynsecFile, retainedOn, startSyncedLab, syncState, waitForLogin, waitForSameVersion } from '../../lab/credentials.js';
import type { Lab, LabOptions } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { mosquittoUser } from '../../lab/place.js';
import { waitFor } from '../../lab/wait.js';
import { sha256 } from '../../src/sync/envelope.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`dynsec sync lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;

test.before(async () => {
  if (unavailable) return;
  const configure: LabOptions['configure'] = (document) => {
    document.broker = { ...document.broker, auth: 'dynsec' };
    document['sync'] = { dynsec: true };
  };
  current = await startSyncedLab({ configure }, ['dynsec']);
});

test.after.always(() => {
  current?.stop();
});

const the = (id: number): LabNode => current!.node(id);
const INSTALLED = "installed a peer's version of the dynamic-security file";
/** `mosquitto_ctrl dynsec ARGS` on `node`, which must succeed. */
async function ctrl(node: LabNode, ...args: string[]): Promise<void> {
  const result = await dynsecCtrl(current!, node, args);
  if (result.exitCode !== 0) throw new Error(`mosquitto_ctrl dynsec ${args.join(' ')} on ${node.name} failed (${result.exitCode}): ${result.stderr}${result.stdout}`);
}

/** The broker's pid on `node`, once it runs (it may be between a stop and a start). */
const brokerPid = (node: LabNode) => waitFor(`mosquitto on ${node.name}`, () => node.pids('mosquitto')[0], { timeoutMs: 10_000, intervalMs: 50 });

/** Waits until every node has the same version and the same text; resolves with the text. */
async function oneFileEverywhere(): Promise<string> {
  await waitForSameVersion(current!, 'dynsec');
  return waitFor('the same dynamic-security file on every node', () => {
    const [first, ...rest] = current!.nodes.map((node) => readDynsecFile(node));
    return rest.every((text) => text === first) ? first : undefined;
  }, { timeoutMs: 10_000, intervalMs: 50 });
}

/** The status `node`'s daemon keeps retained on its own broker. */
const statusOn = async (node: LabNode) => ((await retainedOn(current!, node, `node/${node.id}/status`)) ?? {}) as { online?: boolean; versions?: Record<string, { version: string }> };

/** The service users log in on every node, the bridges are up, and each daemon reports itself online with the current version. */
async function serviceUsersWork(t: ExecutionContext): Promise<void> {
  for (const node of current!.nodes) {
    const { config, secrets } = node.placed.loaded;
    t.deepEqual([config.bridge.user, config.daemon.user].filter((user) => !dynsecClients(node).includes(user)), [], `${node.name}'s file has both service users`);
    await waitForLogin(current!, node, config.daemon.user, secrets.daemonPassword);
  }
  await current!.waitForBridges();
  await waitFor(
    'every daemon online on its own broker with the synced version',
    async () => {
      const statuses = await Promise.all(current!.nodes.map((node) => statusOn(node)));
      const versions = current!.nodes.map((node) => syncState(node).dynsec?.version);
      return statuses.every((status, index) => status.online === true && status.versions?.['dynsec']?.version === `${versions[index]?.wall}.${versions[index]?.counter}@${versions[index]?.node}`);
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
}

lab('a client created on node 1 with mosquitto_ctrl can log in on node 2: node 2 installs the file and restarts its broker', async (t) => {
  const [one, two] = [the(1), the(2)];
  t.false(await canLogin(current!, two, 'alice', 'alice-pw'));
  const pid = await brokerPid(two);
  const ownPid = await brokerPid(one);
  const since = Date.now();
  await ctrl(one, 'createClient', 'alice', '-p', 'alice-pw');
  const ms = await waitForLogin(current!, two, 'alice', 'alice-pw', true, 30_000);
  t.log(`alice could log in on node2 ${Date.now() - since} ms after mosquitto_ctrl on node1 (${ms} ms of polling)`);
  await two.waitForLine(INSTALLED, since);
  t.not(await brokerPid(two), pid, "node2's broker was restarted: the plugin reads its file only at start");
  await waitForLogin(current!, one, 'alice', 'alice-pw');
  t.is(await brokerPid(one), ownPid, "node1's broker was not restarted: its plugin made the change itself");
  const text = await oneFileEverywhere();
  t.true(dynsecClients(one).includes('alice'));
  t.deepEqual(dynsecClients(two), dynsecClients(one));
  t.is(readDynsecFile(two), text, 'one file everywhere');
  // The plugin rewrites its file as the mosquitto user: the installed one must stay its own.
  const { uid } = mosquittoUser();
  for (const node of [one, two]) {
    const info = statSync(node.config.broker.dynsec_file);
    t.deepEqual([info.uid, info.mode & 0o600], [uid, 0o600], `${node.name}'s file is the mosquitto user's, read-write`);
  }
});

lab('a client deleted on node 2 with mosquitto_ctrl can no longer log in on node 1', async (t) => {
  const [one, two] = [the(1), the(2)];
  await ctrl(two, 'createClient', 'bob', '-p', 'bob-pw');
  await waitForLogin(current!, one, 'bob', 'bob-pw', true, 30_000);
  await oneFileEverywhere();
  const pid = await brokerPid(one);
  const since = Date.now();
  await ctrl(two, 'deleteClient', 'bob');
  await waitForLogin(current!, one, 'bob', 'bob-pw', false, 30_000);
  await one.waitForLine(INSTALLED, since);
  t.not(await brokerPid(one), pid, "node1's broker was restarted");
  await waitForLogin(current!, two, 'bob', 'bob-pw', false);
  await oneFileEverywhere();
  for (const node of [one, two]) t.false(dynsecClients(node).includes('bob'), `${node.name}'s file has no bob`);
  // The lab's own clients came through both syncs.
  t.true(await canLogin(current!, one, current!.clientUser.user, current!.clientUser.password));
});

lab('the service users survive: a sync keeps them, mosquitto_ctrl cannot delete them, and the daemons and bridges stay connected', async (t) => {
  const [one, two] = [the(1), the(2)];
  const { config } = one;
  // After the syncs of the tests before.
  await serviceUsersWork(t);

  // Deleted on node1 with mosquitto_ctrl (the plugin kicks the daemons off at once): put back.
  let since = Date.now();
  await ctrl(one, 'deleteClient', config.daemon.user);
  await one.waitForLine('put the service users back', since);
  await two.waitForLine(INSTALLED, since);
  await oneFileEverywhere();
  await serviceUsersWork(t);

  // A signed file without them, from a peer: each receiver keeps its own.
  const document = JSON.parse(readDynsecFile(one)) as { clients: { username: string }[] };
  document.clients = document.clients.filter((client) => client.username !== config.bridge.user && client.username !== config.daemon.user);
  const without = `${JSON.stringify(document, null, '\t')}\n`;
  const version = { wall: Date.now() + 2_000, counter: 0, node: 1 };
  since = Date.now();
  await publishSealed(current!, one, 'sync/dynsec', { cluster: 'lab', kind: 'dynsec', origin: 1, version, history: [version], sha256: sha256(without), content: without });
  for (const node of [one, two]) {
    const kept = await node.waitForLine("kept this node's service users", since);
    t.deepEqual(kept.users, [config.bridge.user, config.daemon.user], `${node.name} kept both`);
    await node.waitForLine(INSTALLED, since);
  }
  await serviceUsersWork(t);
  // And the sync still works both ways after all that.
  await ctrl(two, 'createClient', 'carol', '-p', 'carol-pw');
  await waitForLogin(current!, one, 'carol', 'carol-pw', true, 30_000);
});
