/**
 * npx tsx scripts/bench-mesh.ts [--rounds N] [--rate N] [--main-first]
 *
 * How long the spokes of a three-node lab take to replicate again when the hub's cable is pulled
 * for good (issue 15). Each round is a fresh lab with the daemon (advert_int 1 s), node3's bridge put
 * on node1 if node1's takeover restart had sent it on to node2 (round_robin true), two QoS 1 probes
 * between node2 and node3, one each way (persistent subscribers, so node2's takeover restart of its
 * broker loses nothing of theirs), node1's cable pulled, and for each direction the time from the
 * pull to the first message published after it that arrived on the other side; what was
 * acknowledged and never arrived is counted too, and how often node3's bridge connected again in the
 * 20 s after (a bridge going back and forth). Prints a row per round, then median / max.
 *
 * --main-first renders node3's bridge with `round_robin false` (back to the hub whenever it seems
 * to answer), the setting the template does not use: it shows why (eclipse-mosquitto/mosquitto#3293).
 * Every wait is bounded; the lab's namespaces are removed after each round and at exit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Lab } from '../lab/lab.js';
import { Probe } from '../lab/probe.js';
import { ensureFreshDist } from '../lab/entry.js';
import { labUnavailable } from '../lab/requirements.js';
import { spread } from '../lab/stats.js';
import { waitFor } from '../lab/wait.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    rate: { type: 'string', default: '20' },
    'main-first': { type: 'boolean', default: false },
  },
});

function usage(message: string): never {
  console.error(`bench-mesh: ${message}\nusage: npx tsx scripts/bench-mesh.ts [--rounds N] [--rate MSG_PER_S] [--main-first]`);
  process.exit(2);
}

const rounds = Number(values.rounds);
if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 50)) usage(`--rounds is 1 to 50, not ${values.rounds}`);
const rate = Number(values.rate);
if (!(rate >= 1 && rate <= 500)) usage(`--rate is 1 to 500 messages per second, not ${values.rate}`);
const mainFirst = values['main-first'];
const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived', 'setsid', 'timeout']);
if (unavailable) {
  console.error(`bench-mesh: this machine ${unavailable}`);
  process.exit(1);
}
ensureFreshDist((line) => process.stderr.write(`${line}\n`));

const progress = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

interface Direction {
  /** From the pull to the first message sent after it that arrived, ms (undefined: none in the wait). */
  againMs: number | undefined;
  lost: number;
  acknowledged: number;
  duplicated: number;
  /** node3's bridge's connection attempts in the 20 s after it replicated again (mosquitto's "Connecting bridge" lines). */
  connects: number;
}

/** node3's mosquitto's "Connecting bridge (step 1)" lines so far (under supervise they are in its daemon's log). */
function bridgeConnects(lab: Lab): number {
  return (readFileSync(lab.node(3).daemonLog, 'utf8').match(/Connecting bridge \(step 1\)/g) ?? []).length;
}

/** A lab started as Lab.start would, with node3's bridge turned to `round_robin false` first under --main-first. */
async function startLab(): Promise<Lab> {
  const lab = await Lab.start({ nodes: 3, daemon: true, start: !mainFirst });
  if (mainFirst) {
    const conf = lab.node(3).placed.files.get('mosquitto.conf')!;
    const text = readFileSync(conf, 'utf8');
    if (!text.includes('\nround_robin true\n')) throw new Error(`node3's mosquitto.conf has no round_robin true line: ${conf}`);
    writeFileSync(conf, text.replace('\nround_robin true\n', '\nround_robin false\n'));
    await Promise.all(lab.nodes.map((node) => node.startDaemon()));
    for (const node of lab.nodes) node.startFailover();
  }
  return lab;
}

async function round(index: number): Promise<Direction[]> {
  const lab = await startLab();
  try {
    await lab.waitForVipOn(1, { timeoutMs: 30_000 });
    await lab.node(1).waitForRole('MASTER', 0);
    await lab.waitForBridges(30_000);
    // The bridges all start on the hub, but node1's takeover restarted its broker and sent them on
    // (round_robin true): put node3's back on node1 (TCP dropped between node3 and node2 a moment).
    const was = (await lab.bridgeTargets()).get(3);
    if (was !== 1) {
      await lab.partitionTcp(2, 3);
      await waitFor('node3\'s bridge on node1', async () => (await lab.bridgeTargets()).get(3) === 1, { timeoutMs: 40_000, intervalMs: 200 }).finally(() => lab.healTcp());
    }
    progress(`round ${index}: node3's bridge was on node${was}, now on node1`);
    const probes = [await Probe.start(lab, { publishTo: 2, subscribeTo: 3, rate, clean: false }), await Probe.start(lab, { publishTo: 3, subscribeTo: 2, rate, clean: false })];
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await lab.node(1).linkDown();
    // From when the switch port is down (`ip link set` returned): a message sent before that may still cross.
    const pulledAt = performance.timeOrigin + performance.now();
    progress(`round ${index}: node1's cable pulled`);
    const again = await Promise.all(probes.map(async (probe) => {
      const sentAfter = new Set<number>();
      const event = await probe.waitFor('a message sent after the pull to arrive', (candidate) => {
        if (candidate.e === 'send' && candidate.t > pulledAt) sentAfter.add(candidate.seq);
        return candidate.e === 'recv' && sentAfter.has(candidate.seq);
      }, 90_000).catch(() => undefined);
      return event === undefined ? undefined : event.t - pulledAt;
    }));
    // Both ways for a while after, so that late losses, duplicates and a bridge going back and forth show.
    const connectsBefore = bridgeConnects(lab);
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const connects = bridgeConnects(lab) - connectsBefore;
    const reports = [await probes[0]!.stop(), await probes[1]!.stop()];
    return reports.map((report, at) => ({ againMs: again[at], lost: report.lost.length, acknowledged: report.acknowledged, duplicated: report.duplicated.length, connects }));
  } finally {
    lab.stop();
  }
}

const results: Direction[][] = [];
for (let index = 1; index <= rounds; index++) {
  const directions = await round(index);
  results.push(directions);
  const [a, b] = directions as [Direction, Direction];
  const show = (d: Direction) => `${d.againMs === undefined ? 'never' : `${(d.againMs / 1000).toFixed(2)} s`} (lost ${d.lost} of ${d.acknowledged}, dup ${d.duplicated})`;
  console.log(`round ${index}: node2->node3 ${show(a)}; node3->node2 ${show(b)}; node3's bridge connected ${a.connects} times in the 20 s after`);
}
const both = results.map((directions) => (directions.some((d) => d.againMs === undefined) ? undefined : Math.max(...directions.map((d) => d.againMs!))));
console.log(`\nbridges: ${mainFirst ? 'round_robin false on node3 (--main-first)' : 'as rendered (round_robin true)'}; ${rounds} rounds at ${rate} msg/s each way`);
console.log(`replicating again, both ways (median / max): ${spread(both)}`);
console.log(`node2->node3: ${spread(results.map((d) => d[0]!.againMs))}; node3->node2: ${spread(results.map((d) => d[1]!.againMs))}`);
console.log(`acknowledged, never arrived: node2->node3 ${results.map((d) => d[0]!.lost).join(' ')}; node3->node2 ${results.map((d) => d[1]!.lost).join(' ')}`);
