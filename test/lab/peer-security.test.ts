/**
 * The peer channel against a logged-in user whose ACL says `topic readwrite #` (common in home
 * labs), in the lab: the daemon on both nodes, real mosquitto, the user's mosquitto_sub and
 * mosquitto_pub from the client namespace. Mosquitto lets that user read and write the channel's
 * topics (a user's own ACL lines come before any other); the user must learn nothing from them,
 * forge nothing, replay nothing into effect, and kick neither a daemon nor a bridge off.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { channelTopic, publishRaw, readPasswordFile, retainedOn, retainedRaw, setPassword, startSyncedLab, waitForLogin, waitForSameVersion } from '../../lab/credentials.js';
import { waitFor } from '../../lab/wait.js';
import { sha256 } from '../../src/sync/envelope.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`peer channel security lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;
const EVE = { user: 'eve', password: 'eve-pw' };

test.before(async () => {
  if (unavailable) return;
  current = await startSyncedLab();
  // Eve may do anything with any topic, as many home-lab ACLs allow.
  const one = current.node(1);
  setPassword(one, EVE.user, EVE.password);
  const acl = one.config.broker.acl_file;
  writeFileSync(acl, `${readFileSync(acl, 'utf8')}\nuser ${EVE.user}\ntopic readwrite #\n`);
  for (const node of current.nodes) await waitForLogin(current, node, EVE.user, EVE.password);
  await waitFor('eve\'s ACL on every node', () => current!.nodes.every((node) => readFileSync(node.config.broker.acl_file, 'utf8').includes(`user ${EVE.user}\ntopic readwrite #`)), { timeoutMs: 20_000 });
});

test.after.always(() => {
  current?.stop();
});

const the = (id: number): LabNode => current!.node(id);
/** Eve's login on `node`'s client listener. */
const eve = (node: LabNode) => ['-h', node.address, '-p', String(node.config.broker.client_port), '-u', EVE.user, '-P', EVE.password];

/** Every retained message eve reads under the channel's prefix on `node`'s broker: topic -> payload. */
async function eveReadsChannel(node: LabNode): Promise<Map<string, Buffer>> {
  // Leaves out the health probes' round trips (health/<node>): not retained, each a random nonce
  // that the probing daemon sends and reads back (src/broker/health.ts), several a second.
  const result = await current!.client.exec(['mosquitto_sub', ...eve(node), '-t', `mosquitto-failover/${node.config.cluster}/#`, '-T', `mosquitto-failover/${node.config.cluster}/health/#`, '-F', '%t %x', '-W', '2'], { reject: false, timeout: 10_000 });
  return new Map(result.stdout.split('\n').filter(Boolean).map((line) => {
    const [topic, hex] = line.split(' ') as [string, string | undefined];
    return [topic, Buffer.from(hex ?? '', 'hex')];
  }));
}

lab('a user with `topic readwrite #` reads the channel\'s retained messages, and they tell nothing: no hash, no user, no role', async (t) => {
  const one = the(1);
  const read = await eveReadsChannel(one);
  const topics = [...read.keys()].sort();
  // The ACL lets her read them all: what protects them is the sealing, not the broker.
  t.deepEqual(topics, ['acl', 'node/1/status', 'passwd'].map((topic) => channelTopic(one, topic.startsWith('node') ? topic : `sync/${topic}`)).sort());
  const secrets = [
    ...readPasswordFile(one).split('\n').filter(Boolean).flatMap((line) => [line.split(':')[0]!, line.split('$').at(-1)!.slice(0, 12)]),
    '$7$', 'MASTER', 'BACKUP', 'online', 'role', 'content', 'topic readwrite', one.config.daemon.user,
  ];
  for (const [topic, payload] of read) {
    t.is(payload.subarray(0, 4).toString(), 'MQFO', `${topic} is sealed`);
    t.deepEqual(secrets.filter((secret) => payload.includes(secret)), [], `${topic} shows none of it`);
  }
});

lab('her forged status, forged envelope and deletion are dropped by both daemons and repaired on the broker; nothing changes', async (t) => {
  const [one, two] = [the(1), the(2)];
  const files = current!.nodes.map((node) => readPasswordFile(node));
  const since = Date.now();
  const forgedStatus = { node: 1, name: 'node1', online: false, role: 'BACKUP', run: Number.MAX_SAFE_INTEGER, connection: 0, seq: 0 };
  await publishRaw(current!, eve(one), channelTopic(one, 'node/1/status'), JSON.stringify(forgedStatus));
  const content = `${files[0]!}mallory:${files[0]!.split('\n')[0]!.split(':')[1]!}\n`;
  const version = { wall: Date.now() + 1_000, counter: 0, node: 1 };
  await publishRaw(current!, eve(one), channelTopic(one, 'sync/passwd'), JSON.stringify({ cluster: 'lab', kind: 'passwd', origin: 1, version, history: [version], sha256: sha256(content), content }));
  await publishRaw(current!, eve(one), channelTopic(one, 'sync/acl'), '');
  for (const node of [one, two]) {
    await waitFor(`${node.name} to drop all three`, () => new Set(node.linesSince('dropped a message on the peer channel', since).filter((line) => line.peer === 'node1').map((line) => line.topic)).size === 3, { timeoutMs: 20_000 });
  }
  // node1 put its own back (at most a second later).
  await waitFor('node1\'s status, password and ACL envelopes back on its broker', async () => {
    const [status, passwd, acl] = await Promise.all(['node/1/status', 'sync/passwd', 'sync/acl'].map((topic) => retainedOn(current!, one, topic)));
    return (status as { online?: boolean } | undefined)?.online === true && passwd !== undefined && acl !== undefined;
  }, { timeoutMs: 10_000, intervalMs: 200 });
  t.deepEqual(two.linesSince('peer node1 offline', since), [], 'node2 never took node1 for offline');
  t.deepEqual(current!.nodes.map((node) => readPasswordFile(node)), files, 'no password file changed');
  t.false(readPasswordFile(two).includes('mallory:'));
});

lab('her replay of an older genuine status is not taken by the peer and is replaced on the broker', async (t) => {
  const [one, two] = [the(1), the(2)];
  const old = await retainedRaw(current!, eve(one), channelTopic(one, 'node/1/status'));
  t.truthy(old);
  const before = (await retainedOn(current!, one, 'node/1/status')) as { seq: number };
  // A newer status: a synced file's version changes it.
  setPassword(one, 'trent', 'trent-pw');
  await waitForSameVersion(current!, 'passwd');
  await waitFor('node1\'s newer status', async () => ((await retainedOn(current!, one, 'node/1/status')) as { seq?: number } | undefined)?.seq !== before.seq, { timeoutMs: 10_000, intervalMs: 100 });
  const since = Date.now();
  await publishRaw(current!, eve(one), channelTopic(one, 'node/1/status'), old!);
  await two.waitForLine('ignored an older status of node1 (replayed)', since);
  await waitFor('node1\'s latest status back on its broker', async () => (((await retainedOn(current!, one, 'node/1/status')) as { seq?: number } | undefined)?.seq ?? 0) > before.seq, { timeoutMs: 10_000, intervalMs: 100 });
  t.deepEqual(two.linesSince('peer node1 offline', since), []);
});

lab('she cannot kick a daemon or a bridge off with the client ids she can guess', async (t) => {
  const [one, two] = [the(1), the(2)];
  await current!.waitForBridges();
  const since = Date.now();
  const bridge = `mqfo-lab-${two.name}`;
  // The ids of before, and whatever else a reader of cluster.yaml might try.
  const ids = [`mqfo-${one.name}-to-${two.name}`, `mqfo-${two.name}-to-${one.name}`, `mqfo-${one.name}-to-${one.name}`, `mqfo-${two.name}-to-${two.name}`, bridge, `local.${bridge}`, `${bridge}.local`];
  const connectAs = (node: LabNode, id: string, seconds: number) =>
    current!.client.exec(['mosquitto_sub', ...eve(node), '-i', id, '-t', 'lab/kick', '-W', String(seconds)], { reject: false, timeout: 10_000 });
  // The check below works: her own second connection with one id takes over her first, and mosquitto says so.
  const control = connectAs(one, 'eve-control', 3);
  await sleep(500);
  await connectAs(one, 'eve-control', 1);
  await control;
  for (let round = 0; round < 3; round++) await Promise.all(ids.flatMap((id) => [one, two].map((node) => connectAs(node, id, 1))));
  t.deepEqual(current!.nodes.flatMap((node) => node.linesSince('peer channel lost', since)), [], 'no daemon connection was taken over');
  const states = await current!.bridgeStates();
  t.deepEqual([...states.entries()], [[bridge, '1']]);
  // mosquitto logs a takeover as "Client <id> already connected, closing old connection" (its lines share the daemon's log here).
  const takeovers = (node: LabNode) => readFileSync(node.daemonLog, 'utf8').split('\n').filter((line) => line.includes('already connected, closing old connection'));
  t.true(takeovers(one).some((line) => line.includes('eve-control')), 'her own takeover was logged');
  for (const node of [one, two]) t.deepEqual(takeovers(node).filter((line) => !line.includes('eve-control')), [], `no other client was taken over on ${node.name}'s broker`);
  // And a message still crosses the bridge.
  t.is(await current!.carry(two, one, 'lab/kick-check', 'crossed'), 'crossed');
});

lab('a payload larger than a daemon takes never reaches it: the broker drops it for the daemon, whose memory and connections stay as they were', async (t) => {
  const one = the(1);
  const rss = (node: LabNode) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${node.daemonPids()[0]!}/status`, 'utf8'))?.[1] ?? 0);
  const before = current!.nodes.map(rss);
  const since = Date.now();
  await publishRaw(current!, eve(one), channelTopic(one, 'sync/passwd'), Buffer.alloc(16 * 1024 * 1024, 'x'));
  await sleep(3_000);
  const after = current!.nodes.map(rss);
  t.log(`daemons' RSS before ${before.map((kb) => `${Math.round(kb / 1024)} MB`).join(', ')}, after a 16 MB retained message ${after.map((kb) => `${Math.round(kb / 1024)} MB`).join(', ')}`);
  t.deepEqual(current!.nodes.flatMap((node) => node.linesSince('peer channel lost', since)), []);
  t.deepEqual(current!.nodes.flatMap((node) => node.linesSince('dropped a message on the peer channel', since)), [], 'the daemons never received it');
  for (const [index, kb] of after.entries()) t.true(kb - before[index]! < 16 * 1024, `${current!.nodes[index]!.name} did not take 16 MB in`);
});
