/**
 * Credential sync end to end, in the lab: the daemon on every node, real mosquitto, the real
 * mosquitto_passwd for edits and mosquitto_pub for logins from the client namespace. One lab for
 * the file's tests, in series; each test uses users of its own. No timing is asserted (bench:sync
 * measures); the bounds are for the wait, not the product.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { canLogin, channelTopic, daemonArgs, deleteUser, passwordFile, publishAsDaemon, publishSealed, readPasswordFile, retainedOn, retainedRaw, setPassword, startSyncedLab, syncState, usersIn, waitForLogin, waitForSameVersion } from '../../lab/credentials.js';
import { waitFor } from '../../lab/wait.js';
import { seal, sealKey } from '../../src/peer/seal.js';
import { sha256 } from '../../src/sync/envelope.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`sync lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;

test.before(async () => {
  if (unavailable) return;
  // Shadow sessions on, so that their user is one of the service users a sync keeps.
  current = await startSyncedLab({ sessions: true });
});

test.after.always(() => {
  current?.stop();
});

const the = (id: number): LabNode => current!.node(id);
/** Publishes `payload` as the daemon user on `node`'s broker, retained, on the peer channel's `topic`. */
/** The retained envelope of `kind` on `node`'s broker. */
/** The retained envelope of `kind` on `node`'s broker. */
const envelopeOn = async (node: LabNode, kind: string) => ((await retainedOn(current!, node, `sync/${kind}`)) ?? {}) as Record<string, unknown>;

const snapshot = () => current!.nodes.map((node) => readPasswordFile(node));

lab('a user added on node 1 with mosquitto_passwd can log in on node 2; deleted on node 2, it can no longer log in on node 1', async (t) => {
  const [one, two] = [the(1), the(2)];
  t.false(await canLogin(current!, two, 'alice', 'alice-pw'));
  const added = Date.now();
  setPassword(one, 'alice', 'alice-pw');
  const ms = await waitForLogin(current!, two, 'alice', 'alice-pw');
  t.log(`alice could log in on node2 ${Date.now() - added} ms after mosquitto_passwd on node1 (polled every ~10 ms; ${ms} ms of polling)`);
  await waitForLogin(current!, one, 'alice', 'alice-pw'); // the daemon reloads node1's own broker too

  deleteUser(two, 'alice');
  await waitForLogin(current!, one, 'alice', 'alice-pw', false);
  await waitForLogin(current!, two, 'alice', 'alice-pw', false); // node2's own broker is reloaded after it published
  await waitForSameVersion(current!, 'passwd');
  t.is(readPasswordFile(one), readPasswordFile(two), 'one file everywhere');
});

lab('the bridge keeps working across a password sync: the brokers are reloaded, not restarted', async (t) => {
  const [one, two] = [the(1), the(2)];
  await current!.waitForBridges();
  const pids = current!.nodes.map((node) => node.pids('mosquitto'));
  const bridgeConnects = () => (readFileSync(two.daemonLog, 'utf8').match(/Connecting bridge/g) ?? []).length;
  const connectsBefore = bridgeConnects();
  const since = Date.now();
  setPassword(one, 'bridget', 'bridget-pw');
  await waitForLogin(current!, two, 'bridget', 'bridget-pw');
  t.deepEqual(current!.nodes.map((node) => node.pids('mosquitto')), pids, 'same broker processes');
  await two.waitForLine("installed a peer's version", since);
  t.true(readFileSync(two.daemonLog, 'utf8').includes('Reloading config.'));
  t.is(bridgeConnects(), connectsBefore, 'node2 did not connect its bridge again');
  t.deepEqual([...(await current!.bridgeStates()).values()], ['1']);
  // A message still crosses the bridge, from node2 to node1.
  t.is(await current!.carry(two, one, 'lab/bridge-check', 'crossed'), 'crossed');
});

lab('a forged envelope, a replayed older version and a broken password file are each rejected with a log line, and no file changes', async (t) => {
  const [one, two] = [the(1), the(2)];
  const old = await retainedRaw(current!, daemonArgs(one), channelTopic(one, 'sync/passwd'));
  setPassword(one, 'carol', 'carol-pw');
  await waitForLogin(current!, two, 'carol', 'carol-pw');
  await waitForSameVersion(current!, 'passwd');
  const files = snapshot();

  // Forged: a user added to the current envelope, in plain JSON and sealed under another secret.
  const now = await envelopeOn(one, 'passwd');
  const content = `${String(now.content)}mallory:${String(now.content).split('\n')[0]!.split(':')[1]}\n`;
  const forged = { ...now, content, sha256: sha256(content), version: { ...(now.version as object), wall: Date.now() }, history: [{ ...(now.version as object), wall: Date.now() }] };
  let since = Date.now();
  await publishAsDaemon(current!, one, 'sync/passwd', JSON.stringify(forged));
  for (const node of [one, two]) t.regex(String((await node.waitForLine('dropped a message on the peer channel', since)).reason), /^not sealed/);
  since = Date.now();
  await publishAsDaemon(current!, one, 'sync/passwd', seal(sealKey('not-the-cluster-secret-at-all', 'lab'), channelTopic(one, 'sync/passwd'), forged));
  for (const node of [one, two]) t.regex(String((await node.waitForLine('dropped a message on the peer channel', since)).reason), /^does not open with the cluster key/);
  // Replayed: the envelope before carol, the very bytes node1's broker held, on node2's broker.
  since = Date.now();
  await publishAsDaemon(current!, two, 'sync/passwd', old!);
  for (const node of [one, two]) await node.waitForLine('rejected an older version', since);
  // Broken, and signed with the right secret: receivers refuse it before installing.
  const broken = `${String(now.content)}this line is not a password line\n`;
  since = Date.now();
  const version = { wall: Date.now() + 1_000, counter: 0, node: 1 };
  await publishSealed(current!, one, 'sync/passwd', { cluster: 'lab', kind: 'passwd', origin: 1, version, history: [version], sha256: sha256(broken), content: broken });
  for (const node of [one, two]) await node.waitForLine('rejected a version of the password file that is not valid', since);
  // Broken locally: the daemon on node1 refuses to sync it.
  since = Date.now();
  writeFileSync(passwordFile(one), `${files[0]!}this line is not a password line either\n`);
  await one.waitForLine('the local password file is not valid', since);
  await sleep(1_000);
  t.is(readPasswordFile(two), files[1]!, 'node2 did not get the broken file');
  writeFileSync(passwordFile(one), files[0]!);
  await sleep(500);
  t.deepEqual(snapshot(), files, 'every file as it was');
  t.true(await canLogin(current!, two, 'carol', 'carol-pw'));
  t.false(await canLogin(current!, two, 'mallory', 'carol-pw'));
  // Each node's broker got its own envelope back (a forged retained one does not stay).
  for (const node of [one, two]) t.is((await envelopeOn(node, 'passwd')).sha256, sha256(readPasswordFile(node)));
});

lab('a node that was down while users changed gets the latest file when it comes back', async (t) => {
  const [one, two] = [the(1), the(2)];
  setPassword(one, 'dora', 'dora-pw');
  await waitForLogin(current!, two, 'dora', 'dora-pw');
  await two.stopDaemon();
  setPassword(one, 'dave', 'dave-pw');
  await sleep(300);
  deleteUser(one, 'dora');
  await waitForLogin(current!, one, 'dora', 'dora-pw', false);
  t.true(usersIn(two).includes('dora'), 'node2 was down: it still has dora');
  await two.startDaemon();
  await waitForLogin(current!, two, 'dave', 'dave-pw');
  await waitForLogin(current!, two, 'dora', 'dora-pw', false);
  await waitForSameVersion(current!, 'passwd');
  t.is(readPasswordFile(two), readPasswordFile(one));
});

lab('concurrent edits on both sides of a partition converge to one file after the heal, and the other version is kept', async (t) => {
  const [one, two] = [the(1), the(2)];
  const cut = Date.now();
  await two.linkDown();
  try {
    setPassword(one, 'erin', 'erin-pw');
    await sleep(200);
    setPassword(two, 'frank', 'frank-pw');
    await waitFor('both daemons to publish their edit', () => two.linesSince('local password file changed', Date.now() - 5_000).length > 0, { timeoutMs: 10_000 });
    t.false(usersIn(one).includes('frank'), 'node1 has not seen frank during the partition');
    t.false(usersIn(two).includes('erin'), 'node2 has not seen erin during the partition');
  } finally {
    await two.linkUp();
  }
  const healed = Date.now();
  const winner = await waitFor(
    'one file on both nodes',
    () => {
      const [a, b] = snapshot();
      return a === b && syncState(one).passwd?.version.wall === syncState(two).passwd?.version.wall ? a : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  const [won, lost] = winner.includes('frank:') ? ['frank', 'erin'] : ['erin', 'frank'];
  t.false(winner.includes(`${lost}:`), 'last writer wins: one version, not a merge');
  t.is(won, 'frank', 'frank was written later');
  for (const node of [one, two]) await waitForLogin(current!, node, won, `${won}-pw`);
  // Where the losing edit was made, its text is beside the file (the winner keeps it too when it
  // saw that version before the heal's newer one reached it; after a short partition it may not).
  const directory = dirname(passwordFile(one));
  const kept = readdirSync(directory).filter((name) => name.startsWith('passwd.conflict-node1-'));
  t.true(
    kept.some((name) => readFileSync(`${directory}/${name}`, 'utf8').includes(`${lost}:`)),
    `node1 keeps the losing version (${lost}) beside the file: ${kept.join(', ')}`,
  );
  t.true(one.linesSince("this node's edit of the password file lost", healed).length > 0);
  // If node2 took the VIP while cut off, it gives it back (restarting nothing) before the next test.
  await current!.waitForVipOn(1, { alone: true });
  if (two.linesSince('role BACKUP -> MASTER', cut).length > 0) await two.waitForRole('BACKUP', healed);
});

lab('a sync cannot remove the service users: the bridge, the daemon, and (sessions on) the shadows', async (t) => {
  const [one, two] = [the(1), the(2)];
  const { config } = one;
  const service = [config.bridge.user, config.daemon.user, config.sessions.user];
  let since = Date.now();
  for (const user of service) deleteUser(one, user);
  await one.waitForLine('put the service users back', since);
  // Three edits: the daemon may read the file between them and put back the first users alone;
  // a later edit is put back in its turn. The end state is what counts: every one on both nodes.
  const missing = () => [one, two].flatMap((node) => service.filter((user) => !usersIn(node).includes(user)).map((user) => `${user} on ${node.name}`));
  await waitFor('the service users back on both nodes', () => missing().length === 0, { timeoutMs: 10_000 }).catch(() => undefined);
  t.deepEqual(missing(), [], 'both nodes have them all');

  // A signed file without them, from a peer: the receiver keeps its own.
  const without = readPasswordFile(one).split('\n').filter((line) => !service.some((user) => line.startsWith(`${user}:`))).join('\n');
  const version = { wall: Date.now() + 2_000, counter: 0, node: 1 };
  since = Date.now();
  await publishSealed(current!, one, 'sync/passwd', { cluster: 'lab', kind: 'passwd', origin: 1, version, history: [version], sha256: sha256(without), content: without });
  await two.waitForLine("installed a peer's version", since);
  for (const node of [one, two]) t.deepEqual(service.filter((user) => !usersIn(node).includes(user)), [], `${node.name} still has them all`);
  await current!.waitForBridges();
  for (const node of [one, two]) {
    const { secrets } = node.placed.loaded;
    t.true(await canLogin(current!, node, config.daemon.user, secrets.daemonPassword), `the daemon user still logs in on ${node.name}`);
    t.true(await canLogin(current!, node, config.sessions.user, secrets.shadowPassword!), `the shadow user still logs in on ${node.name}`);
  }
});

lab('the ACL file is kept in step too', async (t) => {
  const [one, two] = [the(1), the(2)];
  const acl = one.config.broker.acl_file;
  const since = Date.now();
  writeFileSync(acl, `${readFileSync(acl, 'utf8')}\nuser grace\ntopic readwrite lab/grace/#\n`);
  await two.waitForLine("installed a peer's version of the ACL file", since);
  t.is(readFileSync(two.config.broker.acl_file, 'utf8'), readFileSync(acl, 'utf8'));
});

/** Runs `mosquitto-failover ARGS` in `node`'s namespace, as an admin on that node would (LabNode.cli). */
const cli = (node: LabNode, args: string[], input?: string) => node.cli(args, input === undefined ? {} : { input });

lab('mosquitto-failover passwd sets a user with the password from stdin and waits until every node has it; --delete removes it', async (t) => {
  const [one, two] = [the(1), the(2)];
  const set = await cli(one, ['passwd', 'hank'], 'hank-pw\n');
  t.is(set.exitCode, 0, set.stderr);
  t.regex(set.stdout, /^set user hank in \S+ on node1$/m);
  t.regex(set.stdout, /^node2: has version \S+ \(\d+ ms\)$/m);
  // It waited: node2 has it now, no polling needed.
  t.true(await canLogin(current!, two, 'hank', 'hank-pw'));
  t.true(await canLogin(current!, one, 'hank', 'hank-pw'));

  const removed = await cli(one, ['passwd', '--delete', 'hank']);
  t.is(removed.exitCode, 0, removed.stderr);
  t.false(await canLogin(current!, two, 'hank', 'hank-pw'));

  for (const user of [one.config.daemon.user, one.config.sessions.user]) {
    const service = await cli(one, ['passwd', user], 'x\n');
    t.is(service.exitCode, 2, user);
    t.regex(service.stderr, /is a service user/, user);
  }
  const empty = await cli(one, ['passwd', 'ivan'], '\n');
  t.is(empty.exitCode, 2);
  t.regex(empty.stderr, /empty password/);
  t.false(usersIn(one).includes('ivan'));
});

lab('an edit that leaves a broker unhealthy is rolled back, locally and on a peer, and never spreads', async (t) => {
  const [one, two] = [the(1), the(2)];
  const acl = (node: LabNode) => node.config.broker.acl_file;
  const before = current!.nodes.map((node) => readFileSync(acl(node), 'utf8'));
  // Valid syntax, service block intact, yet the daemon user loses the peer channel: deny wins in mosquitto.
  const locking = `${before[0]!}\nuser ${one.config.daemon.user}\ntopic deny mosquitto-failover/#\n`;
  let since = Date.now();
  writeFileSync(acl(one), locking);
  await one.waitForLine('the broker is not healthy with the local edit of the ACL file', since, 30_000);
  await waitFor('node1\'s ACL back as it was', () => readFileSync(acl(one), 'utf8') === before[0], { timeoutMs: 10_000 });
  // The file is back before the broker rereads it; until then the daemon user may neither read
  // nor write the channel there, and the publish below would be dropped by node1's broker.
  await waitFor('node1\'s broker on the previous ACL again', async () => (await retainedOn(current!, one, 'sync/acl')) !== undefined, { timeoutMs: 10_000 });
  const rejected = readdirSync(dirname(acl(one))).filter((name) => name.startsWith('service-users.acl.rejected-'));
  t.true(rejected.some((name) => readFileSync(`${dirname(acl(one))}/${name}`, 'utf8') === locking), 'the edit is kept beside the file');
  t.is(readFileSync(acl(two), 'utf8'), before[1]!, 'never sent to node2');

  // The same file from a peer, signed: installed, found unhealthy, rolled back to .bak.
  since = Date.now();
  const version = { wall: Date.now() + 5_000, counter: 0, node: 1 };
  await publishSealed(current!, one, 'sync/acl', { cluster: 'lab', kind: 'acl', origin: 1, version, history: [version], sha256: sha256(locking), content: locking });
  await two.waitForLine('the broker is not healthy with the new ACL file: rolling back', since, 30_000);
  await waitFor('node2\'s ACL back as it was', () => readFileSync(acl(two), 'utf8') === before[1], { timeoutMs: 10_000 });
  await one.waitForLine('the broker is not healthy with the new ACL file: rolling back', since, 30_000);
  await waitFor('node1\'s ACL back as it was', () => readFileSync(acl(one), 'utf8') === before[0], { timeoutMs: 10_000 });
  await current!.waitForBridges();
  for (const node of [one, two]) t.true(await canLogin(current!, node, node.config.daemon.user, node.placed.loaded.secrets.daemonPassword));
});

lab('the peer channel: retained status with a last-will, and reconnection when a peer comes back', async (t) => {
  const [one, two] = [the(1), the(2)];
  let since = Date.now();
  // A daemon killed with -9 cannot say goodbye: its broker publishes the will.
  for (const pid of two.daemonPids()) process.kill(pid, 'SIGKILL');
  await one.waitForLine('peer node2 offline', since);
  since = Date.now();
  await two.startDaemon();
  await one.waitForLine('peer node2 online', since);
  // The whole node goes away (broker too) and comes back: node1 reconnects and reads the retained status.
  since = Date.now();
  await two.stopDaemon();
  await one.waitForLine('peer channel lost; reconnecting', since);
  await sleep(3_000);
  since = Date.now();
  await two.startDaemon();
  const back = await one.waitForLine('peer channel connected', since);
  t.is(back.peer, 'node2');
  await one.waitForLine('peer node2 online', since);
  const status = ((await retainedOn(current!, two, 'node/2/status')) ?? {}) as { online?: boolean; versions?: Record<string, unknown> };
  t.true(status.online);
  t.deepEqual(Object.keys(status.versions ?? {}).sort(), ['acl', 'passwd']);
});
