/**
 * The control API end to end in the lab: requests through the VIP with Debian's mosquitto_rr (MQTT
 * v5 response topic and correlation data) and with a v3.1.1 client that names its response topic
 * in the request; a user the ACL allows but control.users does not name gets no answer; malformed,
 * oversized and hostile requests get error answers (or none) and change nothing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { channelTopic, retainedOn, setPassword, startSyncedLab, syncState, waitForLogin, waitForSameVersion } from '../../lab/credentials.js';
import { runtimePaths } from '../../src/paths.js';
import type { Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import type { ControlResponse } from '../../src/control/api.js';
import type { clusterView, NodeView } from '../../src/control/commands.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`control API lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;
const MALLORY = { user: 'mallory', password: 'mallory-pw' };

test.before(async () => {
  if (unavailable) return;
  current = await startSyncedLab({ configure: (document) => (document.control = { users: ['lab'] }) });
  // Mallory's ACL gives her a control user's topics, but control.users does not name her.
  const one = current.node(1);
  setPassword(one, MALLORY.user, MALLORY.password);
  const acl = one.config.broker.acl_file;
  const prefix = `mosquitto-failover/${one.config.cluster}/control/${MALLORY.user}`;
  writeFileSync(acl, `${readFileSync(acl, 'utf8')}\nuser ${MALLORY.user}\ntopic write ${prefix}/request\ntopic read ${prefix}/response/#\n`);
  // Both files synced to node2 (its password file lets her in, its ACL has her lines), so both nodes have the same versions.
  await waitForLogin(current, current.node(2), MALLORY.user, MALLORY.password);
  await waitFor('mallory\'s ACL on node2', () => readFileSync(current!.node(2).config.broker.acl_file, 'utf8').includes(`user ${MALLORY.user}\n`), { timeoutMs: 20_000 });
  for (const kind of ['passwd', 'acl']) await waitForSameVersion(current, kind);
});

test.after.always(() => current?.stop());

const vip = () => ['-h', current!.loaded.config.vip.address, '-p', String(current!.loaded.config.broker.client_port)];
const as = (user: { user: string; password: string }) => [...vip(), '-u', user.user, '-P', user.password];
const requestTopic = (user: string) => channelTopic(current!.node(1), `control/${user}/request`);
const responseTopic = (user: string) => channelTopic(current!.node(1), `control/${user}/response`);

/**
 * One request with mosquitto_rr (MQTT v5): the answer's JSON, or undefined when none came within
 * `seconds`. Through the VIP, or to one node's own address (`host`).
 */
async function rr(body: string, options: { user?: { user: string; password: string }; seconds?: number; responseTo?: string; host?: string } = {}): Promise<ControlResponse | undefined> {
  const user = options.user ?? current!.clientUser;
  const seconds = options.seconds ?? 5;
  const login = options.host === undefined ? as(user) : ['-h', options.host, '-p', String(current!.loaded.config.broker.client_port), '-u', user.user, '-P', user.password];
  const result = await current!.client.exec(
    ['mosquitto_rr', ...login, '-t', requestTopic(user.user), '-e', options.responseTo ?? responseTopic(user.user), '-m', body, '-W', String(seconds)],
    { reject: false, timeout: (seconds + 15) * 1000 },
  );
  return result.exitCode === 0 ? (JSON.parse(result.stdout) as ControlResponse) : undefined;
}

type Cluster = ReturnType<typeof clusterView>;
/** The data of the answer's `index`th response, as `T`. */
const dataOf = <T>(answer: ControlResponse | undefined, index = 0) => answer?.responses[index]?.data as T;
const errorOf = (answer: ControlResponse | undefined, index: number) => answer?.responses[index]?.error ?? '';

lab('getCluster through the VIP with mosquitto_rr: the cluster, who holds the VIP, every node\'s role, versions and last takeover', async (t) => {
  const answer = await rr('{"commands":[{"command":"getCluster"}]}');
  t.is(answer?.responses.length, 1);
  t.like(answer?.responses[0], { command: 'getCluster', error: undefined });
  const data = dataOf<Cluster>(answer);
  t.is(data.name, 'lab');
  t.deepEqual(data.vip, { address: current!.loaded.config.vip.address, holders: ['node1'] });
  t.is(data.answeredBy, 'node1', 'the VIP leads to node1\'s broker, and its daemon answers');
  const [one, two] = data.nodes as [NodeView, NodeView];
  t.like(one, { id: 1, name: 'node1', role: 'MASTER', online: true, weight: { value: 0, reasons: [] } });
  t.like(two, { id: 2, name: 'node2', role: 'BACKUP', online: true });
  t.true((one.lastTakeover?.epoch ?? 0) >= 1, 'node1\'s takeover, with its epoch');
  t.true((one.lastTakeover?.ms ?? 0) > 0);
  t.deepEqual(Object.keys(one.versions).sort(), ['acl', 'passwd']);
  t.is(one.versions['passwd']?.sha256, two.versions['passwd']?.sha256, 'both nodes have the same password file');
});

lab('several commands in one request: each answered in order, an unknown command and a bad argument with an error', async (t) => {
  const answer = await rr(JSON.stringify({ commands: [{ command: 'getNode', node: 'node2' }, { command: 'reboot' }, { command: 'listEvents', count: 3 }, { command: 'getNode', node: 'node9' }, { command: 'listEvents', count: 0 }] }));
  t.deepEqual(answer?.responses.map((response) => response.command), ['getNode', 'reboot', 'listEvents', 'getNode', 'listEvents']);
  t.like(dataOf<NodeView>(answer, 0), { name: 'node2', role: 'BACKUP' });
  t.regex(errorOf(answer, 1), /^unknown command; known: getCluster, getNode, listEvents, syncNow/);
  const events = dataOf<{ node: string; events: { type: string }[] }>(answer, 2);
  t.is(events.node, 'node1');
  t.true(events.events.length <= 3);
  t.true(events.events.some((event) => event.type === 'role'), 'node1\'s takeover is among its last events');
  t.regex(errorOf(answer, 3), /no node "node9"; the nodes are node1 \(1\), node2 \(2\)/);
  t.regex(errorOf(answer, 4), /count must be a whole number from 1 to 200/);
});

lab('a v3.1.1 client names its response topic in the request, and gets its correlation data back', async (t) => {
  const user = current!.clientUser;
  const reply = `${responseTopic(user.user)}/v3`;
  const listener = current!.client.spawn(['mosquitto_sub', ...as(user), '-V', '311', '-t', reply, '-C', '1', '-W', '10']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await current!.client.exec(['mosquitto_pub', ...as(user), '-V', '311', '-q', '1', '-t', requestTopic(user.user), '-m', JSON.stringify({ commands: [{ command: 'getNode' }], responseTopic: reply, correlationData: 'abc-1' })], { timeout: 10_000 });
  const result = await listener;
  const answer = JSON.parse(String(result.stdout)) as ControlResponse;
  t.is(answer.correlationData, 'abc-1');
  t.like(answer.responses[0], { command: 'getNode', data: { name: 'node1', role: 'MASTER' } });
});

lab('a user whom the ACL lets ask, but control.users does not name, gets no answer; the daemon says so', async (t) => {
  const since = Date.now();
  t.is(await rr('{"commands":[{"command":"getCluster"}]}', { user: MALLORY, seconds: 2 }), undefined, 'no answer');
  await current!.node(1).waitForLine('control API: a request on the topic of a user not in control.users; not answered', since);
  t.pass();
});

lab('fuzzed, oversized and hostile requests: an error answer or none, the daemon keeps running, and nothing on the channel changes', async (t) => {
  const one = current!.node(1);
  const statusBefore = await retainedOn(current!, one, 'node/1/status');
  const directory = mkdtempSync(join(tmpdir(), 'mqfo-control-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const file = join(directory, 'payload');
  const user = current!.clientUser;
  const send = async (payload: Buffer | string, responseTo = responseTopic(user.user)) => {
    writeFileSync(file, payload);
    const result = await current!.client.exec(['mosquitto_rr', ...as(user), '-t', requestTopic(user.user), '-e', responseTo, '-f', file, '-W', '3'], { reject: false, timeout: 20_000 });
    return result.exitCode === 0 ? (JSON.parse(result.stdout) as ControlResponse) : undefined;
  };
  const malformed: (Buffer | string)[] = [
    '',
    'not json',
    '{"commands":',
    '[]',
    'null',
    '{"commands":[]}',
    '{"commands":"getCluster"}',
    '{"commands":[{"command":""}]}',
    '{"commands":[{"command":42}]}',
    `{"commands":[${Array(17).fill('{"command":"getNode"}').join(',')}]}`,
    '{"commands":[{"command":"getCluster"}],"extra":1}',
    `{"commands":[{"command":"getNode","node":"${'x'.repeat(70_000)}"}]}`,
    '['.repeat(100_000),
    ...Array.from({ length: 10 }, () => randomBytes(1 + (randomBytes(2).readUInt16BE() % 3000))),
  ];
  for (const payload of malformed) {
    const answer = await send(payload);
    t.is(answer?.responses[0]?.command, 'Unknown', `an error answer to ${String(payload).slice(0, 40)}`);
    t.is(typeof answer?.responses[0]?.error, 'string');
  }
  // A response topic elsewhere: the daemon may write every channel topic, so it must not answer there.
  t.is(await send('{"commands":[{"command":"getCluster"}]}', channelTopic(one, 'node/1/status')), undefined, 'no answer onto node1\'s status');
  t.is(await send('{"commands":[{"command":"getCluster"}]}', `${responseTopic(user.user)}/+`), undefined, 'no answer to a wildcard');
  t.deepEqual(await retainedOn(current!, one, 'node/1/status'), statusBefore, 'node1\'s retained status is what it was');
  t.is(one.daemonPids().length, 1, 'the daemon still runs');
  const answer = await rr('{"commands":[{"command":"getNode"}]}');
  t.like(answer?.responses[0], { command: 'getNode', data: { name: 'node1' } }, 'and still answers');
});

lab('syncNow runs the sweep on every node', async (t) => {
  const since = Date.now();
  const answer = await rr('{"commands":[{"command":"syncNow"}]}');
  t.deepEqual(answer?.responses[0], { command: 'syncNow', data: { asked: ['node1', 'node2'] } });
  await current!.node(2).waitForLine('node1 asked for the sync sweep now', since);
  t.pass();
});

lab('setLeader with an unknown node: an error that lists the nodes, and nothing changes', async (t) => {
  const before = current!.nodes.map((node) => JSON.stringify(syncState(node)));
  const answer = await rr('{"commands":[{"command":"setLeader","node":"node9"}]}');
  t.is(errorOf(answer, 0), '"node9" is not a node of cluster lab: the nodes are node1 (id 1), node2 (id 2)');
  t.false(existsSync(runtimePaths(current!.node(1).config).leader), 'no preference written');
  t.deepEqual(current!.nodes.map((node) => JSON.stringify(syncState(node))), before, 'no synced version changed');
  t.deepEqual(await current!.vipHolders(), [1]);
});

// Asked on node1's own address, not through the VIP: the VIP moving away from node1 resets every
// connection that came through it (README, "Control API"), and with it mosquitto_rr's.
lab('setLeader node2: the VIP moves to node2 and the answer says so when it has; clear brings it back to node1', async (t) => {
  const [one, two] = [current!.node(1), current!.node(2)];
  const at = Date.now();
  const answer = await rr('{"commands":[{"command":"setLeader","node":"node2","timeout":20}]}', { host: one.address, seconds: 40 });
  t.is(answer?.responses[0]?.error, undefined, JSON.stringify(answer));
  t.like(dataOf<{ leader: string; ms: number }>(answer), { leader: 'node2' });
  t.true(dataOf<{ ms: number }>(answer).ms > 0);
  t.deepEqual(await current!.vipHolders(), [2], 'node2 holds the VIP when the answer comes');
  await one.waitForLine('setLeader: node2 is MASTER and the VIP', at);
  t.true(one.linesSince('setLeader: bridge drained: a marker from node1 reached node2', at).length === 1, 'the promote\'s drain ran on node1');
  await two.waitForRole('MASTER', at);

  const cleared = await rr('{"commands":[{"command":"setLeader","clear":true,"timeout":20}]}', { host: two.address, seconds: 40 });
  // Done when every node has the cleared preference (as promote --clear): the VIP is still on node2
  // then, and preempt brings it back to node1 moments later.
  t.like(cleared?.responses[0], { command: 'setLeader', data: { cleared: true } }, JSON.stringify(cleared));
  await current!.waitForVipOn(1, { alone: true });
  await one.waitForRole('MASTER', at);
});
