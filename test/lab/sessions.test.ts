/**
 * Shadow sessions end to end (issue 15): real mosquitto, keepalived and the daemon on two nodes,
 * clients through the VIP from the client namespace, the master's cable pulled for good. No timing
 * is asserted (npm run lab -- --fault master-gone measures).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { masterGoneRound } from '../../lab/failover.js';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';

const EAGER = fileURLToPath(new URL('fixtures/eager-client.ts', import.meta.url));
const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`shadow session lab tests skipped: this machine ${unavailable}`);

async function startLab(t: ExecutionContext): Promise<Lab> {
  const started = await Lab.start({ daemon: true, advertInt: 0.1, sessions: { drain_interval: 1 } });
  t.teardown(() => started.stop());
  await started.waitForVipOn(1, { timeoutMs: 20_000 });
  // node1's daemon learns sessions once it is MASTER, and its takeover restarts the broker: a
  // client that subscribed before then is not in the list (README, "Shadow sessions": limits).
  const master = await started.node(1).waitForRole('MASTER', 0);
  // ...and reads its broker's log again once the takeover's restart is over (with no restart, the
  // daemon started the broker itself and may have read it before the role line).
  await started.node(1).waitForLine("reading the broker's log", (master.at as { restarted?: number } | undefined)?.restarted ?? 0);
  await started.waitForBridges(30_000);
  return started;
}

/**
 * Debian's mosquitto_sub as a persistent client `id` through the VIP: -c (clean session off), a
 * fixed id, QoS 1 (-E leaves once subscribed); `login` for the other clients' programs.
 */
function persistentClient(current: Lab, id: string) {
  const { config } = current.loaded;
  const login = ['-h', config.vip.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password];
  const sub = (args: string[]) => current.client.exec(['mosquitto_sub', ...login, '-c', '-i', id, '-q', '1', ...args], { timeout: 20_000, reject: false });
  return { login, sub };
}

/** The filters `node`'s daemon holds for client `id` in its saved list, sorted; undefined when it lists no such client. */
function listed(node: LabNode, id: string): string[] | undefined {
  try {
    const list = JSON.parse(readFileSync(join(node.config.daemon.state_dir, 'sessions.json'), 'utf8')) as { sessions: { id: string; filters: { filter: string; qos: number }[] }[] };
    return list.sessions.find((session) => session.id === id)?.filters.map(({ filter, qos }) => `${filter} ${qos}`).sort();
  } catch {
    return undefined;
  }
}

// QoS 2 lost 35 of 1100 acknowledged messages in its first run (issue 15), 57 to 148 per round
// later: the publisher's offline queue, sent at once to the new master on its reconnect, beyond
// mosquitto's max_inflight_messages (20 by default) of unreleased QoS 2 messages, each refused with
// a PUBREC an MQTT 3.1.1 client reads as accepted (broker.max_inflight_messages, now 0: no limit).
// What remains at QoS 2 is what was in flight to the old master at the fault: it forwards a QoS 2
// message over the bridge only on PUBREL, and the new master answers the publisher's repeated
// PUBREL with PUBCOMP for a message it never had (README, "Shadow sessions": limits). Those are
// logged; every message sent after the publisher lost the old master must arrive.
for (const qos of [1, 2] as const) {
  lab(`master gone for good: a persistent subscriber at QoS ${qos} loses no acknowledged message`, async (t) => {
    const current = await startLab(t);
    const result = await masterGoneRound(current, { qos, rate: 200 });
    const inFlight = result.lostInFlight ?? [];
    const after = result.report.lost.filter((seq) => !inFlight.includes(seq));
    t.log(`QoS ${qos}: ${result.report.acknowledged} acknowledged, ${result.report.duplicated.length} duplicated, client-visible ${result.clientVisibleMs.toFixed(0)} ms, lost ${result.report.lost.length} (in flight to the old master ${inFlight.length}: ${inFlight.join(' ')}; after it ${after.length}: first ${after.slice(0, 5).join(' ')}, last ${after.slice(-5).join(' ')}), times ${JSON.stringify(result.times)}`);
    t.true(result.report.acknowledged > 0);
    t.true(current.node(2).daemonLines().some((line) => line.msg === 'took a newer session list'), "node2 shadowed node1's sessions");
    t.deepEqual(after, [], `QoS ${qos}: acknowledged messages sent after the publisher lost the old master never arrived`);
    if (qos === 1) t.deepEqual(inFlight, [], 'QoS 1: acknowledged messages in flight to the old master never arrived');
  });
}

lab('a client that subscribes and unsubscribes before the master goes ends with the subscriptions it asked for on the new master', async (t) => {
  const current = await startLab(t);
  const [one, two] = [current.node(1), current.node(2)];
  const id = `lab-subs-${process.pid}`;
  const { login, sub } = persistentClient(current, id);
  t.is((await sub(['-t', 'lab/s/a', '-t', 'lab/s/b', '-E'])).exitCode, 0);
  await waitFor('node2 shadows lab/s/a and lab/s/b', () => listed(two, id)?.join() === 'lab/s/a 1,lab/s/b 1', { timeoutMs: 15_000, intervalMs: 100 });
  t.is((await sub(['-U', 'lab/s/a', '-t', 'lab/s/c', '-E'])).exitCode, 0);
  await waitFor('node2 shadows lab/s/b and lab/s/c', () => listed(two, id)?.join() === 'lab/s/b 1,lab/s/c 1', { timeoutMs: 15_000, intervalMs: 100 });
  // The shadow on node2 follows the list at once (its next drain subscribes and unsubscribes).
  await waitFor("node2's shadow subscribed to lab/s/c", () => two.daemonLines().some((line) => line.msg === 'shadow subscriptions changed' && line.client === id && (line.subscribed as string[]).includes('lab/s/c')), { timeoutMs: 15_000, intervalMs: 100 });

  const faultAt = Date.now();
  await one.linkDown();
  await current.waitForVipOn(2, { alone: false, timeoutMs: 20_000 });
  await two.waitForRole('MASTER', faultAt);
  // While the client is away: one message on each topic, through the VIP, to node2.
  for (const topic of ['lab/s/a', 'lab/s/b', 'lab/s/c']) {
    const published = await current.client.exec(['mosquitto_pub', ...login, '-q', '1', '-t', topic, '-m', topic], { timeout: 20_000, reject: false });
    t.is(published.exitCode, 0, published.stderr);
  }
  // The client comes back: what waited for it is what its subscriptions asked for. (-t is required;
  // lab/s/c again changes nothing, and the messages above were published before it.)
  const back = await current.client.exec(['mosquitto_sub', ...login, '-c', '-i', id, '-q', '1', '-t', 'lab/s/c', '-v', '-W', '3'], { timeout: 20_000, reject: false });
  t.deepEqual(back.stdout.split('\n').filter(Boolean).sort(), ['lab/s/b lab/s/b', 'lab/s/c lab/s/c']);
  await one.linkUp();
});

lab('a client that subscribes and unsubscribes the moment the new master opens is learned there: its list, and what it receives', async (t) => {
  const current = await startLab(t);
  const [one, two] = [current.node(1), current.node(2)];
  const { config } = current.loaded;
  const id = `lab-moving-${process.pid}`;
  const { login, sub } = persistentClient(current, id);
  t.is((await sub(['-t', 'lab/m/a', '-t', 'lab/m/b', '-E'])).exitCode, 0);
  await waitFor('node2 lists lab/m/a and lab/m/b', () => listed(two, id)?.join() === 'lab/m/a 1,lab/m/b 1', { timeoutMs: 15_000, intervalMs: 100 });
  // ...and its shadow is subscribed to them on node2's broker (a fault before that leaves the client a fresh session there: README limits).
  await waitFor("node2's shadow subscribed to lab/m/b", () => two.daemonLines().some((line) => line.msg === 'shadow subscriptions changed' && line.client === id && (line.subscribed as string[]).includes('lab/m/b')), { timeoutMs: 15_000, intervalMs: 100 });

  // The client tries again every 5 ms through the VIP until it gets to node2 (refused until node2's
  // DNAT rule is in and its broker accepts): its subscribe and unsubscribe come the moment node2
  // lets clients in, just after its broker restart, when the daemon's connection that reads the
  // log is coming back too (50 ms after the restart at the soonest).
  const eager = execa('ip', ['netns', 'exec', current.client.name, process.execPath, '--import', 'tsx', EAGER], { stdin: 'pipe', stdout: 'pipe', reject: false, timeout: 60_000 });
  eager.stdin.write(`${JSON.stringify({ url: `mqtt://${config.vip.address}:${config.broker.client_port}`, username: current.clientUser.user, password: current.clientUser.password, clientId: id, unsubscribe: 'lab/m/a', subscribe: 'lab/m/c' })}\n`);
  let ready = false;
  eager.stdout.once('data', () => (ready = true));
  await waitFor('the client started', () => ready || undefined, { timeoutMs: 20_000, intervalMs: 20 });
  const faultAt = Date.now();
  await one.linkDown();
  eager.stdin.end('go\n');
  const changed = await eager;
  t.is(changed.exitCode, 0, `the client got through to node2: ${changed.stderr}`);
  await two.waitForRole('MASTER', faultAt);
  const takeover = two.daemonLines().filter((line) => line.time >= faultAt && /restart|DNAT|reading the broker|role /.test(line.msg));
  t.true(two.linesSince("reading the broker's log again after the restart", faultAt).length > 0, `node2's DNAT rule waited for the log to be read; node2: ${takeover.map((line) => `${line.time - faultAt} ms ${line.msg}`).join('; ')}`);
  await waitFor("node2's list has lab/m/b and lab/m/c", () => listed(two, id)?.join() === 'lab/m/b 1,lab/m/c 1', { timeoutMs: 10_000, intervalMs: 100 }).catch(() => undefined);
  t.deepEqual(listed(two, id), ['lab/m/b 1', 'lab/m/c 1'], 'node2 learned the subscribe and unsubscribe made as it opened');
  for (const topic of ['lab/m/a', 'lab/m/b', 'lab/m/c']) {
    const published = await current.client.exec(['mosquitto_pub', ...login, '-q', '1', '-t', topic, '-m', topic], { timeout: 20_000, reject: false });
    t.is(published.exitCode, 0, published.stderr);
  }
  const back = await sub(['-t', 'lab/m/c', '-v', '-W', '3']);
  const brokerLines = readFileSync(two.daemonLog, 'utf8').split('\n').filter((line) => !line.startsWith('{') && line.includes(id));
  const shadowLines = two.daemonLines().filter((line) => line.client === id).map((line) => `${line.time - faultAt} ${line.msg}`);
  t.deepEqual(back.stdout.split('\n').filter(Boolean).sort(), ['lab/m/b lab/m/b', 'lab/m/c lab/m/c'], `node2's broker: ${brokerLines.join(' | ')}; daemon: ${shadowLines.join(' | ')}`);
  await one.linkUp();
});

// A sleeping device: a persistent QoS 1 subscriber, offline on the master (its session kept) while
// messages for it are acknowledged there, then the master is gone for good. Its shadow on node2
// must have kept every one of them: a backup that drained it every drain_interval while its
// client was offline on the master (before issue 15's presence) left only the last interval's.
lab('an offline persistent subscriber gets, from the new master, everything acknowledged for it while it slept and the master died', async (t) => {
  const current = await startLab(t);
  const [one, two] = [current.node(1), current.node(2)];
  const { config } = current.loaded;
  const id = `lab-sleeper-${process.pid}`;
  const topic = 'lab/sleep/x';
  const { login, sub } = persistentClient(current, id);
  t.is((await sub(['-t', topic, '-E'])).exitCode, 0);
  await waitFor('node2 lists the sleeper', () => listed(two, id)?.join() === `${topic} 1`, { timeoutMs: 15_000, intervalMs: 100 });
  await waitFor("node2's shadow subscribed to the sleeper's topic", () => two.daemonLines().some((line) => line.msg === 'shadow subscriptions changed' && line.client === id && (line.subscribed as string[]).includes(topic)), { timeoutMs: 15_000, intervalMs: 100 });

  // δ: how long after the master's daemon read a disconnect the backup knew it (both on this
  // machine's clock), and after the client's process ended (which is after its DISCONNECT).
  const deltas: string[] = [];
  for (let round = 0; round < 5; round++) {
    const since = Date.now();
    const visit = await sub(['-t', topic, '-W', '1']);
    const ended = Date.now();
    t.true(visit.exitCode === 27 || visit.exitCode === 0, visit.stderr);
    const read = await one.waitForLine('a listed client connected or disconnected', since).then(() => one.linesSince('a listed client connected or disconnected', since).find((line) => line.client === id && line.online === false));
    const known = await waitFor('node2 knows the sleeper left', () => two.linesSince("a shadowed client's connection to the master changed", since).find((line) => line.client === id && line.connection === null), { timeoutMs: 10_000, intervalMs: 20 });
    deltas.push(`${read ? known.time - read.time : '?'} ms (${known.time - ended} ms after the client's exit)`);
  }
  t.log(`δ, node1's daemon read the disconnect -> node2 knew: ${deltas.join(', ')}`);

  // node2's broker has every message before the cable is pulled (the bridge is asynchronous: what
  // it had not carried yet is another limit): a clean observer on node2's own address counts them.
  const count = 50;
  const observer = current.client.exec(['mosquitto_sub', '-h', two.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password, '-i', `lab-observer-${process.pid}`, '-q', '1', '-t', topic, '-C', String(count), '-W', '40'], { timeout: 60_000, reject: false });
  await waitFor("the observer subscribed on node2", () => readFileSync(two.daemonLog, 'utf8').includes(`lab-observer-${process.pid} 1 ${topic}`) || undefined, { timeoutMs: 15_000, intervalMs: 50 }).catch(() => undefined);
  // 50 acknowledged messages over about 5 s: several drain intervals while the sleeper is offline.
  const started = Date.now();
  for (let seq = 1; seq <= count; seq++) {
    const published = await current.client.exec(['mosquitto_pub', ...login, '-q', '1', '-t', topic, '-m', String(seq)], { timeout: 20_000, reject: false });
    t.is(published.exitCode, 0, published.stderr);
    const due = started + seq * 100 - Date.now();
    if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
  }
  const observed = await observer;
  t.is(observed.stdout.split('\n').filter(Boolean).length, count, `node2's broker received every message: ${observed.stderr}`);

  const faultAt = Date.now();
  await one.linkDown();
  await current.waitForVipOn(2, { alone: false, timeoutMs: 20_000 });
  await two.waitForRole('MASTER', faultAt);
  const back = await current.client.exec(['mosquitto_sub', ...login, '-c', '-i', id, '-q', '1', '-t', topic, '-W', '5'], { timeout: 20_000, reject: false });
  const got = new Set(back.stdout.split('\n').filter(Boolean));
  const lost = Array.from({ length: count }, (_, index) => String(index + 1)).filter((seq) => !got.has(seq));
  const drains = two.daemonLines().filter((line) => line.msg === 'shadow drained' && line.client === id).length;
  t.log(`the sleeper got ${got.size} of ${count} (${back.stdout.split('\n').filter(Boolean).length} with duplicates); lost ${lost.length}: ${lost.join(' ')}; drains logged on node2: ${drains}`);
  t.deepEqual(lost, [], 'acknowledged messages for the offline subscriber never arrived');
  await one.linkUp();
});
