/**
 * npx tsx scripts/bench-footprint.ts [--idle S] [--settle S] [--log-level L] [--node-args="..."] [--tsx]
 *
 * The footprint benchmark: what an idle daemon costs its node. A two-node lab runs the compiled
 * daemon (`node dist/bin.js run`, as installed; dist is rebuilt first when src is newer) on each
 * node at `--log-level` (default info), with the NODE_OPTIONS of the rendered systemd unit
 * (`--node-args` adds node options, to try some). Once node1 holds the VIP, the bridges are up and
 * `--settle` seconds (default 10) have passed, each daemon is measured over `--idle` seconds
 * (default 60) from /proc (proc(5)): VmRSS at the end of the window (and RssAnon/RssFile, VmHWM),
 * and utime+stime over the window divided by the wall time, as a share of ONE CPU (also: stime
 * alone; the reaped children's, i.e. iptables; the main thread's context switches). An empty node
 * process (`node -e 'setInterval(() => {}, 1000)'`) is measured in the same window: the floor.
 * `--tsx` then measures the daemons again run from the sources under tsx, as the tests run them.
 *
 * Progress goes to stderr; stdout gets the machine line, a markdown table for the README and,
 * last, `footprint: rss <MB> MB, cpu <pct> %`, the larger of the two nodes' figures. MB here are
 * MiB (1024 KiB), as /proc counts them.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { clockTicks, cpuShare, sample, wakeupRate, type Sample } from '../lab/footprint.js';
import { Lab } from '../lab/lab.js';
import { ensureFreshDist } from '../lab/entry.js';
import type { DaemonStartOptions } from '../lab/node.js';
import { spawnIn, terminate } from '../lab/process.js';
import { labUnavailable } from '../lab/requirements.js';

const { values } = parseArgs({
  options: {
    idle: { type: 'string', default: '60' },
    settle: { type: 'string', default: '10' },
    'log-level': { type: 'string', default: 'info' },
    'node-args': { type: 'string', default: '' },
    tsx: { type: 'boolean', default: false },
  },
});

function usage(message: string): never {
  console.error(`bench-footprint: ${message}\nusage: npx tsx scripts/bench-footprint.ts [--idle SECONDS] [--settle SECONDS] [--log-level LEVEL] [--node-args="NODE OPTIONS"] [--tsx]`);
  process.exit(2);
}

const idle = Number(values.idle);
if (!(idle >= 5 && idle <= 600)) usage(`--idle is 5 to 600 seconds, not ${values.idle}`);
const settle = Number(values.settle);
if (!(settle >= 0 && settle <= 300)) usage(`--settle is 0 to 300 seconds, not ${values.settle}`);
const logLevel = values['log-level'];
if (!['trace', 'debug', 'info', 'warn', 'error'].includes(logLevel)) usage(`--log-level is trace, debug, info, warn or error, not ${logLevel}`);
const nodeArgs = values['node-args'].split(/\s+/).filter(Boolean);
const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived']);
if (unavailable) {
  console.error(`bench-footprint: this machine ${unavailable}`);
  process.exit(1);
}

const progress = (text: string) => process.stderr.write(`${text}\n`);

interface Measured {
  label: string;
  /** Which process: the compiled daemon (what the last line reports), the floor, or the daemon under tsx. */
  kind: Kind;
  from: Sample;
  to: Sample;
  /** The most VmRSS seen by the samples of the window. */
  maxRssKiB: number;
}

type Kind = 'dist' | 'floor' | 'tsx';

/** Samples every pid at the start, every 5 s and at the end of `seconds`. */
async function measure(targets: readonly { label: string; kind: Kind; pid: number }[], seconds: number): Promise<Measured[]> {
  const first = targets.map(({ pid }) => sample(pid));
  const maxRss = first.map((one) => one.rssKiB);
  const end = performance.now() + seconds * 1000;
  let last = first;
  while (performance.now() < end) {
    await sleep(Math.min(5_000, end - performance.now()));
    last = targets.map(({ pid }) => sample(pid));
    last.forEach((one, index) => (maxRss[index] = Math.max(maxRss[index]!, one.rssKiB)));
  }
  return targets.map(({ label, kind }, index) => ({ label, kind, from: first[index]!, to: last[index]!, maxRssKiB: maxRss[index]! }));
}

/** `Environment=NODE_OPTIONS=...` of a rendered unit (systemd.exec(5)), or '' without one. */
function unitNodeOptions(unit: string): string {
  return /^Environment="?NODE_OPTIONS=([^"\n]*)"?$/m.exec(unit)?.[1]?.trim() ?? '';
}


/**
 * A two-node lab running the daemon as the rendered systemd unit would, as far as node goes: with
 * the unit's NODE_OPTIONS (and `--node-args`). Returns the lab and those options.
 */
async function startedLab(daemonStart: Omit<DaemonStartOptions, 'env'>): Promise<{ lab: Lab; nodeOptions: string }> {
  const lab = await Lab.start({ nodes: 2, start: false });
  try {
    const unit = readFileSync(lab.nodes[0]!.placed.files.get('mosquitto-failover.service')!, 'utf8');
    const nodeOptions = unitNodeOptions(unit);
    // The same order as Lab.start: each daemon starts its broker, then keepalived starts.
    await Promise.all(lab.nodes.map((node) => node.startDaemon({ ...daemonStart, env: { ...process.env, NODE_OPTIONS: nodeOptions } })));
    for (const node of lab.nodes) node.startFailover();
    await lab.waitForVipOn(lab.nodes[0]!.id, { timeoutMs: 30_000 });
    await lab.waitForBridges();
    return { lab, nodeOptions };
  } catch (error) {
    lab.stop();
    throw error;
  }
}

const daemonTargets = (lab: Lab, what: string, kind: Kind) =>
  lab.nodes.map((node) => {
    const [pid] = node.daemonPids();
    if (pid === undefined) throw new Error(`no daemon on ${node.name}`);
    return { label: `${what}, ${node.name}`, kind, pid };
  });

const started = Date.now();
ensureFreshDist(progress);
const extra = nodeArgs.length > 0 ? ` ${nodeArgs.join(' ')}` : '';
progress(`a 2-node lab with the daemon from dist at ${logLevel}${extra}; ${settle} s to settle, then ${idle} s idle`);
const results: Measured[] = [];
let { lab, nodeOptions } = await startedLab({ entry: 'dist', logLevel, nodeArgs });
/** How node ran: the unit's NODE_OPTIONS and --node-args. */
const how = (entry: string) => `daemon (${[nodeOptions && `NODE_OPTIONS=${nodeOptions}`, 'node', ...nodeArgs, entry].filter(Boolean).join(' ')})`;
try {
  // The floor: node itself with a timer, in the client namespace, so that the lab's teardown ends it too.
  const floor = spawnIn(lab.client, [process.execPath, '-e', 'setInterval(() => {}, 1000)'], join(lab.dir, 'floor.log'));
  await sleep(settle * 1000);
  results.push(...(await measure([...daemonTargets(lab, how('dist/bin.js'), 'dist'), { label: "empty node -e 'setInterval(() => {}, 1000)' (the floor)", kind: 'floor' as const, pid: floor.pid }], idle)));
  await terminate([floor.pid]);
  if (values.tsx) {
    lab.stop();
    progress('the same from the sources under tsx');
    ({ lab, nodeOptions } = await startedLab({ entry: 'src', logLevel, nodeArgs }));
    await sleep(settle * 1000);
    results.push(...(await measure(daemonTargets(lab, how('--import tsx src/bin.ts'), 'tsx'), idle)));
  }
} finally {
  lab.stop();
}

const ticks = clockTicks();
const mb = (kib: number) => (kib / 1024).toFixed(1);
const pct = (value: number) => value.toFixed(2);
const header = ['process', 'RSS at the end (MB)', 'max RSS in the window', 'anon / file', 'peak since start (VmHWM)', 'CPU (% of one CPU)', 'of which kernel', 'reaped children (iptables)', 'wake-ups/s (main thread)'];
const rows = results.map(({ label, from, to, maxRssKiB }) => [
  label,
  mb(to.rssKiB),
  mb(maxRssKiB),
  `${mb(to.anonKiB)} / ${mb(to.fileKiB)}`,
  mb(to.peakKiB),
  pct(cpuShare(from, to, ticks)),
  pct(cpuShare(from, to, ticks, 'systemTicks')),
  pct(cpuShare(from, to, ticks, 'childTicks')),
  wakeupRate(from, to).toFixed(1),
]);
const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
const daemons = results.filter((result) => result.kind === 'dist');
const worstRss = Math.max(...daemons.map((result) => result.to.rssKiB));
const worstCpu = Math.max(...daemons.map((result) => cpuShare(result.from, result.to, ticks)));
// Said before the results, so that the footprint line is the last one, on the terminal too.
progress(`bench-footprint: done in ${((Date.now() - started) / 60_000).toFixed(1)} min (the last line is the larger of the two nodes' figures, node by node)`);
console.log(`machine: ${availableParallelism()} CPUs (nproc), Linux ${release()}, Node ${process.version}
a 2-node lab (keepalived, advert 1 s, mosquitto supervised by the daemon), the daemon at ${logLevel}; ${settle} s to settle, then ${idle} s idle. RSS from /proc/PID/status (MB = MiB), at the end of the window and the most of the samples every 5 s; CPU = (utime + stime) over the window / wall time, as a share of one CPU.

${line(header)}
${line(header.map(() => '---'))}
${rows.map(line).join('\n')}

footprint: rss ${mb(worstRss)} MB, cpu ${pct(worstCpu)} %`);
