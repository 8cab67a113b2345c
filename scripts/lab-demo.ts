/**
 * npm run lab -- [--fault link|keepalived|broker-hang|broker-crash-loop|promote|vrrp-split|master-gone|broker-kill] [--advert-int S] [--rate N]
 *   [--rounds N (every fault)] [--shadows on|off (master-gone, broker-kill; default on)] [--qos 1|2 (master-gone)]
 *   [--drain-interval S (master-gone, broker-kill)] [--autosave-changes N (broker.autosave_changes)] [--save-on-session-change on|off (broker.save_on_session_change)]
 *   [--clients N (master-gone, broker-kill: N - 1 more persistent clients through the VIP, mosquitto_sub, each on a topic of its own)]
 *   [--keep-logs DIR (master-gone, broker-kill: each node's log directory copied to DIR/round-N/ after a round that lost messages)]
 *   [--steady S (master-gone, broker-kill: traffic before the fault, default 1; for broker-kill, above broker.autosave_interval the subscription is saved before the kill)]
 *   [--subscriber mqtt.js|paho (master-gone: the persistent subscriber; paho is Debian's python3-paho-mqtt)]
 *
 * The demo: a two-node lab with the daemon on each node, a client publishing QoS 1 through the
 * VIP and a persistent subscriber, a fault on the master (its link, its keepalived, or its own
 * broker: hung with SIGSTOP, or crash-looping on a broken config), and a timeline of what happened. The
 * lab is removed at the end, also on failure or Ctrl-C. The last line is
 * `failover ok: client-visible <ms> ms, acked-lost <n>, duplicated <n>` or `failover FAILED: …`.
 */
import { cpSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brokerKillRound, failoverRound, FAULTS, masterGoneRound, promoteOutput, type Fault, type RoundResult } from '../lab/failover.js';
import { Lab } from '../lab/lab.js';
import { NEEDS } from '../lab/machine.mjs';
import { splitDemo } from '../lab/split.js';
import { ensureFreshDist } from '../lab/entry.js';
import { spawnIn, terminate, type LabProcess } from '../lab/process.js';
import { labUnavailable } from '../lab/requirements.js';
import { spread } from '../lab/stats.js';

const { values } = parseArgs({
  options: {
    fault: { type: 'string', default: 'link' },
    'advert-int': { type: 'string', default: '0.1' },
    rate: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '1' },
    shadows: { type: 'string', default: 'on' },
    qos: { type: 'string', default: '1' },
    'drain-interval': { type: 'string', default: '1' },
    'autosave-changes': { type: 'string' },
    'save-on-session-change': { type: 'string' },
    steady: { type: 'string', default: '1' },
    clients: { type: 'string', default: '1' },
    'keep-logs': { type: 'string' },
    subscriber: { type: 'string', default: 'mqtt.js' },
  },
});

function fail(reason: string): never {
  console.log(`failover FAILED: ${reason}`);
  process.exit(1);
}

const fault = values.fault as Fault;
if (!(fault in FAULTS)) fail(`--fault is one of ${Object.keys(FAULTS).join(', ')}, not ${values.fault}`);
const advertInt = Number(values['advert-int']);
if (!(advertInt > 0)) fail(`--advert-int is a number of seconds, not ${values['advert-int']}`);
const rate = Number(values.rate);
if (!(rate > 0 && rate <= 2000)) fail(`--rate is 1 to 2000 messages per second, not ${values.rate}`);
const rounds = Number(values.rounds);
if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 50)) fail(`--rounds is 1 to 50, not ${values.rounds}`);
if (values.shadows !== 'on' && values.shadows !== 'off') fail(`--shadows is on or off, not ${values.shadows}`);
const shadows = values.shadows === 'on';
const qos = Number(values.qos);
if (qos !== 1 && qos !== 2) fail(`--qos is 1 or 2, not ${values.qos}`);
const drainInterval = Number(values['drain-interval']);
if (!(drainInterval >= 0.2 && drainInterval <= 60)) fail(`--drain-interval is 0.2 to 60 seconds, not ${values['drain-interval']}`);
const autosaveChanges = values['autosave-changes'] === undefined ? undefined : Number(values['autosave-changes']);
if (autosaveChanges !== undefined && !(Number.isInteger(autosaveChanges) && autosaveChanges >= 0)) fail(`--autosave-changes is a whole number, not ${values['autosave-changes']}`);
const saveOption = values['save-on-session-change'];
if (saveOption !== undefined && saveOption !== 'on' && saveOption !== 'off') fail(`--save-on-session-change is on or off, not ${saveOption}`);
const saveOnSessionChange = saveOption === undefined ? undefined : saveOption === 'on';
const steadyMs = Number(values.steady) * 1000;
if (!(steadyMs >= 1000 && steadyMs <= 60_000)) fail(`--steady is 1 to 60 seconds of traffic before the fault, not ${values.steady}`);
const clients = Number(values.clients);
if (!(Number.isInteger(clients) && clients >= 1 && clients <= 500)) fail(`--clients is 1 to 500, not ${values.clients}`);
const subscriber = values.subscriber;
if (subscriber !== 'mqtt.js' && subscriber !== 'paho') fail(`--subscriber is mqtt.js or paho, not ${values.subscriber}`);
if (subscriber === 'paho' && fault !== 'master-gone') fail('--subscriber paho is for --fault master-gone');
if (subscriber === 'paho' && !existsSync('/usr/lib/python3/dist-packages/paho/mqtt/client.py')) fail('--subscriber paho needs Debian\'s python3-paho-mqtt: apt-get install python3-paho-mqtt');
/** Faults whose rounds run with shadow sessions unless --shadows off. */
const SHADOWED: readonly Fault[] = ['master-gone', 'broker-kill'];
const unavailable = labUnavailable(NEEDS.lab.programs);
if (unavailable) fail(`this machine ${unavailable}`);
// The lab runs the daemon as shipped: build it when the sources are newer.
ensureFreshDist((line) => process.stderr.write(`${line}\n`));

const ms = (value: number | undefined) => (value === undefined ? '       -' : `${value.toFixed(0).padStart(6)} ms`);
let lab: Lab | undefined;
try {
  console.log(`starting a two-node lab (keepalived, advert_int ${advertInt} s) with mosquitto-failover on each node…`);
  const sessions = SHADOWED.includes(fault) && shadows ? { drain_interval: drainInterval } : undefined;
  lab = await Lab.start({
    nodes: 2,
    daemon: true,
    advertInt,
    ...(sessions ? { sessions } : {}),
    configure: (document) => {
      if (autosaveChanges !== undefined) document.broker = { ...document.broker, autosave_changes: autosaveChanges };
      if (saveOnSessionChange !== undefined) document.broker = { ...document.broker, save_on_session_change: saveOnSessionChange };
    },
  });
  await lab.waitForVipOn(1, { timeoutMs: 20_000 });
  await lab.waitForBridges();
  console.log(`node1 holds the VIP ${lab.loaded.config.vip.address}; a client publishes ${rate} msg/s at QoS ${fault === 'master-gone' ? qos : 1} through it.\n`);
  if (fault === 'vrrp-split') {
    // A round of its own: the VIP stays on node1, node2 takes it too and gives it up (lab/split.ts).
    const verdict = await splitDemo(lab, { rate, rounds, log: (line) => console.log(line) });
    lab.stop();
    if (verdict.failed !== undefined) fail(verdict.failed);
    console.log(verdict.ok);
    process.exit(0);
  }
  if (fault === 'broker-kill') {
    const conf = lab.loaded.config;
    console.log(`shadow sessions ${shadows ? `on (drain every ${drainInterval} s)` : 'off'}; broker.autosave_changes ${autosaveChanges ?? conf.broker.autosave_changes}${(autosaveChanges ?? conf.broker.autosave_changes) === 0 ? ` (autosave every ${conf.broker.autosave_interval} s)` : ''}; broker.save_on_session_change ${conf.broker.save_on_session_change}.\n`);
  }
  if (fault === 'master-gone') {
    const back = subscriber === 'paho' ? "the subscriber (python3-paho-mqtt) after paho's own back-off (1 s, doubling to 120 s)" : 'the subscriber (mqtt.js) after 3 s';
    console.log(`shadow sessions ${shadows ? `on (drain every ${drainInterval} s)` : 'off'}; the subscriber is persistent at QoS ${qos} with keepalive 10 s (the publisher 2 s); the publisher reconnects after 1 s, ${back}.\n`);
  }
  // More persistent clients, for the shadows' limits: each with a session and a topic of its own.
  const extra: LabProcess[] = [];
  for (let index = 1; index < clients; index++) {
    const { config } = lab.loaded;
    extra.push(
      spawnIn(
        lab.client,
        ['mosquitto_sub', '-h', config.vip.address, '-p', String(config.broker.client_port), '-u', lab.clientUser.user, '-P', lab.clientUser.password, '-c', '-i', `lab-extra-${index}`, '-q', '1', '-t', `lab/extra/${index}/set`],
        `${lab.dir}/extra-client-${index}.log`,
      ),
    );
  }
  if (clients > 1) {
    console.log(`${clients - 1} more persistent clients connected through the VIP; 10 s for the backups to shadow them.\n`);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
  }
  let result: RoundResult | undefined;
  const lost: number[] = [];
  const duplicated: number[] = [];
  /** Of the lost, those sent before the publisher's connection to the old master closed (master-gone). */
  const inFlight: number[] = [];
  const visible: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    console.log(`injecting the fault: ${FAULTS[fault]}…${rounds > 1 ? ` (round ${round} of ${rounds}; load average ${loadavg()[0]!.toFixed(2)})` : ''}`);
    console.log(fault === 'promote' ? "timeline (from the fault: the command's start; and from the target's hint in the FIFO):" : 'timeline (from the fault):');
    // Steps are reported as they are known, not always in order (the daemon's times come from its log).
    const steps: [number, string][] = [];
    const onStep = (label: string, at: number) => steps.push([at, label]);
    result =
      fault === 'master-gone'
        ? await masterGoneRound(lab, { rate, qos, steadyMs, subscriber, onStep })
        : fault === 'broker-kill'
          ? await brokerKillRound(lab, { rate, steadyMs, onStep })
          : await failoverRound(lab, { fault, rate, onStep });
    const clients: [number | undefined, string][] = [
      [result.times.subLost, `subscriber: connection closed (${result.times.subCloses ?? 0} closes before it was back)`],
      [result.times.subBack, 'subscriber: connected again'],
      [result.times.pubLost, `publisher: connection closed (${result.times.pubCloses ?? 0} closes before it was back)`],
      [result.times.pubBack, 'publisher: connected again'],
    ];
    for (const [at, label] of clients) if (at !== undefined) steps.push([at, label]);
    // A promote's command starts with a Node process under load: its steps are clearer from the target's hint.
    const hint = fault === 'promote' ? result.times.hint : undefined;
    const fromHint = (at: number) => (hint === undefined ? '' : `  ${`${at - hint >= 0 ? '+' : ''}${(at - hint).toFixed(0)}`.padStart(6)} ms`);
    for (const [at, label] of steps.sort((a, b) => a[0] - b[0])) console.log(`  ${ms(at)}${fromHint(at)}  ${label}`);
    lost.push(result.report.lost.length);
    const keep = values['keep-logs'];
    if (keep !== undefined && result.report.lost.length > 0) {
      for (const node of lab.nodes) cpSync(node.logDir, join(keep, `round-${round}`, node.name), { recursive: true });
      console.log(`  the nodes' logs of this round are in ${join(keep, `round-${round}`)}`);
    }
    duplicated.push(result.report.duplicated.length);
    inFlight.push(result.lostInFlight?.length ?? 0);
    visible.push(result.clientVisibleMs);
    if (rounds > 1) {
      const lostAt = result.lostAckedMs && result.lostAckedMs.length > 0 ? ` (acked at ${result.lostAckedMs.slice(0, 10).join(', ')} ms from the fault)` : '';
      const shadowed = result.shadowedBeforeFault === undefined ? '' : `; the subscriber shadowed on the next node before the fault: ${result.shadowedBeforeFault ? 'yes' : 'no'}`;
      console.log(`  round ${round}: client-visible ${result.clientVisibleMs.toFixed(0)} ms, acked ${result.report.acknowledged}, acked-lost ${result.report.lost.length}${lostAt}${result.lostInFlight === undefined ? '' : ` (in flight to the old master ${result.lostInFlight.length})`}, duplicated ${result.report.duplicated.length}${shadowed}, load average ${loadavg()[0]!.toFixed(2)}\n`);
    }
  }
  await terminate(extra.map((process) => process.pid));
  if (!result) fail('no round ran');
  if (rounds > 1) console.log(`${rounds} rounds: client-visible (median / max) ${spread(visible)} (${visible.map((value) => value.toFixed(0)).join(' ')}); acked-lost ${lost.join(' ')}${fault === 'master-gone' ? ` (in flight to the old master ${inFlight.join(' ')})` : ''}; duplicated ${duplicated.join(' ')}`);
  if (fault === 'promote') {
    console.log(`\nthe promote command said:\n${(promoteOutput ?? '').trimEnd().replace(/^/gm, '  ')}`);
    const takeover = lab.node(result.to).daemonLines().findLast((line) => line.msg.startsWith('role ') && line.role === 'MASTER' && line.time >= Date.now() - 120_000);
    console.log(`${lab.node(result.to).name}'s takeover, ms from its first sign: ${JSON.stringify(takeover?.ms)}`);
  }
  const { report } = result;
  console.log(`
messages: ${report.attempted} sent, ${report.acknowledged} acknowledged, ${report.received} received
  acked-lost ${report.lost.length}, duplicated ${report.duplicated.length} (QoS 1 is at-least-once), never acknowledged ${report.indeterminate.length}
  longest time the subscriber received nothing: ${result.clientVisibleMs.toFixed(0)} ms
  broker restarts: ${Object.entries(result.restarts).map(([id, count]) => `node${id} ${count}`).join(', ')} (one per takeover)
`);
  if (lost.some((count) => count > 0)) fail(`acknowledged messages never arrived in ${lost.filter((count) => count > 0).length} round(s): ${lost.join(' ')}`);
  if (report.lost.length > 0) fail(`${report.lost.length} acknowledged messages never arrived (first: ${report.lost.slice(0, 5).join(', ')})`);
  console.log(`failover ok: client-visible ${result.clientVisibleMs.toFixed(0)} ms, acked-lost ${report.lost.length}, duplicated ${report.duplicated.length}`);
} catch (error) {
  lab?.stop();
  lab = undefined;
  fail((error as Error).message.split('\n')[0] ?? String(error));
} finally {
  lab?.stop();
}
