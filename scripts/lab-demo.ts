/**
 * npm run lab -- [--fault link|keepalived|broker-hang|broker-crash-loop|promote|vrrp-split|master-gone] [--advert-int S] [--rate N] [--rounds N (vrrp-split, master-gone)]
 *   [--shadows on|off (master-gone; default on)] [--qos 1|2 (master-gone)] [--drain-interval S (master-gone)]
 *   [--subscriber mqtt.js|paho (master-gone: the persistent subscriber; paho is Debian's python3-paho-mqtt)]
 *
 * The demo: a two-node lab with the daemon on each node, a client publishing QoS 1 through the
 * VIP and a persistent subscriber, a fault on the master (its link, its keepalived, or its own
 * broker: hung with SIGSTOP, or crash-looping on a broken config), and a timeline of what happened. The
 * lab is removed at the end, also on failure or Ctrl-C. The last line is
 * `failover ok: client-visible <ms> ms, acked-lost <n>, duplicated <n>` or `failover FAILED: …`.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { failoverRound, FAULTS, masterGoneRound, promoteOutput, type Fault, type RoundResult } from '../lab/failover.js';
import { Lab } from '../lab/lab.js';
import { NEEDS } from '../lab/machine.mjs';
import { splitDemo } from '../lab/split.js';
import { ensureFreshDist } from '../lab/entry.js';
import { labUnavailable } from '../lab/requirements.js';

const { values } = parseArgs({
  options: {
    fault: { type: 'string', default: 'link' },
    'advert-int': { type: 'string', default: '0.1' },
    rate: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '1' },
    shadows: { type: 'string', default: 'on' },
    qos: { type: 'string', default: '1' },
    'drain-interval': { type: 'string', default: '1' },
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
const subscriber = values.subscriber;
if (subscriber !== 'mqtt.js' && subscriber !== 'paho') fail(`--subscriber is mqtt.js or paho, not ${values.subscriber}`);
if (subscriber === 'paho' && fault !== 'master-gone') fail('--subscriber paho is for --fault master-gone');
if (subscriber === 'paho' && !existsSync('/usr/lib/python3/dist-packages/paho/mqtt/client.py')) fail('--subscriber paho needs Debian\'s python3-paho-mqtt: apt-get install python3-paho-mqtt');
const unavailable = labUnavailable(NEEDS.lab.programs);
if (unavailable) fail(`this machine ${unavailable}`);
// The lab runs the daemon as shipped: build it when the sources are newer.
ensureFreshDist((line) => process.stderr.write(`${line}\n`));

const ms = (value: number | undefined) => (value === undefined ? '       -' : `${value.toFixed(0).padStart(6)} ms`);
let lab: Lab | undefined;
try {
  console.log(`starting a two-node lab (keepalived, advert_int ${advertInt} s) with mosquitto-failover on each node…`);
  const sessions = fault === 'master-gone' && shadows ? { drain_interval: drainInterval } : undefined;
  lab = await Lab.start({ nodes: 2, daemon: true, advertInt, ...(sessions ? { sessions } : {}) });
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
  if (fault === 'master-gone') {
    const back = subscriber === 'paho' ? "the subscriber (python3-paho-mqtt) after paho's own back-off (1 s, doubling to 120 s)" : 'the subscriber (mqtt.js) after 3 s';
    console.log(`shadow sessions ${shadows ? `on (drain every ${drainInterval} s)` : 'off'}; the subscriber is persistent at QoS ${qos} with keepalive 10 s (the publisher 2 s); the publisher reconnects after 1 s, ${back}.\n`);
  }
  let result: RoundResult | undefined;
  const lost: number[] = [];
  const duplicated: number[] = [];
  /** Of the lost, those sent before the publisher's connection to the old master closed (master-gone). */
  const inFlight: number[] = [];
  for (let round = 1; round <= (fault === 'master-gone' ? rounds : 1); round++) {
    console.log(`injecting the fault: ${FAULTS[fault]}…${fault === 'master-gone' && rounds > 1 ? ` (round ${round} of ${rounds})` : ''}`);
    console.log('timeline (from the fault):');
    // Steps are reported as they are known, not always in order (the daemon's times come from its log).
    const steps: [number, string][] = [];
    const onStep = (label: string, at: number) => steps.push([at, label]);
    result = fault === 'master-gone' ? await masterGoneRound(lab, { rate, qos, subscriber, onStep }) : await failoverRound(lab, { fault, rate, onStep });
    for (const [at, label] of steps.sort((a, b) => a[0] - b[0])) console.log(`  ${ms(at)}  ${label}`);
    lost.push(result.report.lost.length);
    duplicated.push(result.report.duplicated.length);
    inFlight.push(result.lostInFlight?.length ?? 0);
    if (fault === 'master-gone') console.log(`  round ${round}: client-visible ${result.clientVisibleMs.toFixed(0)} ms, acked ${result.report.acknowledged}, acked-lost ${result.report.lost.length} (in flight to the old master ${result.lostInFlight?.length ?? 0}), duplicated ${result.report.duplicated.length}\n`);
  }
  if (!result) fail('no round ran');
  if (rounds > 1 && fault === 'master-gone') console.log(`${rounds} rounds: acked-lost ${lost.join(' ')} (in flight to the old master ${inFlight.join(' ')}); duplicated ${duplicated.join(' ')}`);
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
