/**
 * npx tsx scripts/bench-failover.ts [--rounds N] [--rate N] [--setups ID,…] [--faults F,…]
 *
 * The failover benchmark. For each fault (kill -9 of the master's keepalived; link down on the
 * master; the master's broker hung with SIGSTOP; the master's broker crash-looping on a broken
 * config), N rounds (default 5) in a two-node lab of each setup: mosquitto-failover at advert_int
 * 1 s, 0.1 s and 0.05 s, at 0.1 s and 0.05 s without the takeover's broker restart
 * (`failover.restart_on_takeover: false`), and the baseline, the recipe users build without it
 * (keepalived at its default 1 s with notify scripts that add the DNAT rule and restart
 * mosquitto; lab/baseline.ts). The baseline has no health check: for the broker faults its round
 * holds the fault 10 s, reports that the VIP never moved, then repairs (lab/failover.ts,
 * unhandledRound). Two more: a planned switchover (`promote` of the other node while clients
 * publish: the drain, the weights, the takeover; the baseline has none, its row says n/a) and a
 * split brain (`vrrp-split`: VRRP dropped between the nodes for 5 s, lab/split.ts; the baseline
 * holds the VIP on both nodes until VRRP passes again), each with a table of its own besides the
 * main one (a promote's steps from the target's hint; a split's overlap and end).
 * And two of issue 15 (no acknowledged message lost in any single fault), each round with a
 * per-round count of acked-lost and duplicated: `master-gone` (the master's cable pulled for good
 * within the round; masterGoneRound) and `broker-kill` (the master's mosquitto killed with -9 once
 * and restarted in place; brokerKillRound), best run with the setups `0.1-shadows` (sessions.enabled)
 * and `0.1-shadows-changes-1` (and broker.autosave_changes 1); the baseline has neither (n/a).
 * `--setups` and `--faults` pick some (ids in ALL_SETUPS, ALL_FAULTS).
 * A fresh lab per setup and fault; the rounds reuse it, since each ends with the old master back.
 *
 * Progress goes to stderr; stdout gets the machine line and a markdown table for the README. A
 * failed round is counted and reported in the table, the rest go on, and the exit code is then 1.
 */
import { availableParallelism, release } from 'node:os';
import { parseArgs } from 'node:util';
import { baselineRound, BASELINE_ADVERT_INT, startBaselineLab } from '../lab/baseline.js';
import { BROKER_FAULTS, brokerKillRound, failoverRound, FAULTS, masterGoneRound, unhandledRound, type Fault, type RoundResult, type RoundTimes } from '../lab/failover.js';
import { Lab } from '../lab/lab.js';
import { ensureFreshDist } from '../lab/entry.js';
import { labUnavailable } from '../lab/requirements.js';
import { run } from '../src/exec/runner.js';
import { baselineSplitRound, splitRound } from '../lab/split.js';
import { defined, median, ms, spread } from '../lab/stats.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    rate: { type: 'string', default: '200' },
    setups: { type: 'string' },
    faults: { type: 'string' },
  },
});

function usage(message: string): never {
  console.error(`bench-failover: ${message}\nusage: npx tsx scripts/bench-failover.ts [--rounds N] [--rate MSG_PER_S] [--setups ID,…] [--faults ${ALL_FAULTS.join(',')}]`);
  process.exit(2);
}

const rounds = Number(values.rounds);
if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 100)) usage(`--rounds is 1 to 100, not ${values.rounds}`);
const rate = Number(values.rate);
if (!(rate > 0 && rate <= 2000)) usage(`--rate is 1 to 2000 messages per second, not ${values.rate}`);
const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived', 'setsid', 'timeout']);
if (unavailable) {
  console.error(`bench-failover: this machine ${unavailable}`);
  process.exit(1);
}
// The lab runs the daemon as shipped: build it when the sources are newer.
ensureFreshDist((line) => process.stderr.write(`${line}\n`));

interface Setup {
  id: string;
  label: string;
  baseline: boolean;
  advertInt: number;
  /** `failover.restart_on_takeover` (default true). */
  restartOnTakeover?: boolean;
  /** `sessions.enabled` (shadow sessions, drain every 1 s). */
  sessions?: boolean;
  /** `broker.autosave_changes` (default 0: autosave by time). */
  autosaveChanges?: number;
}

const ALL_SETUPS: Setup[] = [
  { id: 'baseline', label: `baseline: keepalived notify scripts, advert ${BASELINE_ADVERT_INT} s`, baseline: true, advertInt: BASELINE_ADVERT_INT },
  { id: '1', label: 'mosquitto-failover, advert 1 s', baseline: false, advertInt: 1 },
  { id: '0.1', label: 'mosquitto-failover, advert 0.1 s', baseline: false, advertInt: 0.1 },
  { id: '0.05', label: 'mosquitto-failover, advert 0.05 s', baseline: false, advertInt: 0.05 },
  { id: '0.1-no-restart', label: 'mosquitto-failover, advert 0.1 s, no restart', baseline: false, advertInt: 0.1, restartOnTakeover: false },
  { id: '0.05-no-restart', label: 'mosquitto-failover, advert 0.05 s, no restart', baseline: false, advertInt: 0.05, restartOnTakeover: false },
  { id: '0.1-shadows', label: 'mosquitto-failover, advert 0.1 s, shadow sessions', baseline: false, advertInt: 0.1, sessions: true },
  { id: '0.1-changes-1', label: 'mosquitto-failover, advert 0.1 s, autosave_changes 1', baseline: false, advertInt: 0.1, autosaveChanges: 1 },
  { id: '0.1-shadows-changes-1', label: 'mosquitto-failover, advert 0.1 s, shadow sessions, autosave_changes 1', baseline: false, advertInt: 0.1, sessions: true, autosaveChanges: 1 },
];
const ALL_FAULTS: Fault[] = ['keepalived', 'link', 'broker-hang', 'broker-crash-loop', 'promote', 'vrrp-split', 'master-gone', 'broker-kill'];
/** What the baseline does for a fault it has no round for. */
const BASELINE_NA: Partial<Record<Fault, string>> = {
  promote: 'n/a: the recipe has no planned switchover (by hand: edit the priorities, reload keepalived; no drain)',
  'master-gone': 'n/a: the recipe keeps no session anywhere but on the master (see the no-shadows figures in the README)',
  'broker-kill': "n/a: the recipe has no broker supervisor of its own (systemd's Restart= would restart it in place, as `autosave_changes 0` does)",
};
/** The baseline holds a fault it does not fail over for this long (unhandledRound). */
const UNHANDLED_HOLD_MS = 10_000;
/** How long VRRP stays dropped in a split-brain round (lab/split.ts). */
const SPLIT_HOLD_MS = 5_000;

function pick<T>(all: readonly T[], list: string | undefined, idOf: (item: T) => string, what: string): T[] {
  if (list === undefined) return [...all];
  const ids = list.split(',').map((id) => id.trim());
  const unknown = ids.filter((id) => !all.some((item) => idOf(item) === id));
  if (unknown.length > 0 || ids.length === 0) usage(`--${what} takes ${all.map(idOf).join(', ')}; not ${unknown.join(', ')}`);
  return all.filter((item) => ids.includes(idOf(item)));
}
const SETUPS = pick(ALL_SETUPS, values.setups, (setup) => setup.id, 'setups');
const FAULT_ORDER = pick(ALL_FAULTS, values.faults, (fault) => fault, 'faults');

/** A split-brain round (lab/split.ts), ours or the baseline's. */
interface SplitResult {
  /** VIP on both nodes, from the first time seen so to one holder again. */
  overlapMs: number;
  /** Ours only: from the first daemon's "split brain" decision to the VIP on the winner alone. */
  endedAfterDecisionMs?: number | undefined;
  clientVisibleMs: number;
  report: RoundResult['report'];
}

interface Row {
  setup: Setup;
  fault: Fault;
  results: RoundResult[];
  splits: SplitResult[];
  failures: string[];
  /** Why the setup has no rounds for this fault. */
  na?: string | undefined;
}

const progress = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

async function startLab(setup: Setup): Promise<Lab> {
  if (setup.baseline) return startBaselineLab();
  const restart = setup.restartOnTakeover;
  const lab = await Lab.start({
    nodes: 2,
    daemon: true,
    advertInt: setup.advertInt,
    ...(setup.sessions ? { sessions: true } : {}),
    configure: (document) => {
      if (restart !== undefined) document.failover['restart_on_takeover'] = restart;
      if (setup.autosaveChanges !== undefined) document.broker['autosave_changes'] = setup.autosaveChanges;
    },
  });
  try {
    await lab.waitForVipOn(lab.nodes[0]!.id, { timeoutMs: 30_000 });
    await lab.waitForBridges(30_000);
    return lab;
  } catch (error) {
    lab.stop();
    throw error;
  }
}


function summary(result: RoundResult): string {
  const { times, report } = result;
  return [
    ...(result.failedOver === false ? [`NO FAILOVER (VIP held ${UNHANDLED_HOLD_MS} ms)`] : []),
    ...(times.sick === undefined ? [] : [`sick ${ms(times.sick)}`]),
    `VIP ${ms(times.vipMoved)}`,
    `hint ${ms(times.hint)}`,
    `DNAT ${ms(times.dnat)}`,
    `accepting ${ms(times.accepting)}`,
    `delivered ${ms(times.delivered)}`,
    `sub lost ${ms(times.subLost)} back ${ms(times.subBack)} (${times.subCloses ?? 0} closes)`,
    `pub lost ${ms(times.pubLost)} back ${ms(times.pubBack)} (${times.pubCloses ?? 0} closes)`,
    `client-visible ${ms(result.clientVisibleMs)}`,
    `acked-lost ${report.lost.length}${result.lostAckedMs && result.lostAckedMs.length > 0 ? ` (acked at ${result.lostAckedMs.slice(0, 5).join(', ')} ms)` : ''}`,
    `duplicated ${report.duplicated.length}`,
    ...(result.shadowedBeforeFault === undefined ? [] : [`the subscriber shadowed on the next node before the fault: ${result.shadowedBeforeFault ? 'yes' : 'NO'}`]),
    ...(result.learnerFromSubscribeMs === undefined ? [] : [`the old master's learner reading its log since ${result.learnerFromSubscribeMs} ms from the subscription`]),
    `restarts ${Object.entries(result.restarts).map(([id, count]) => `node${id} ${count}`).join(' ')}`,
  ].join(', ');
}

/** How a round of `setup` goes for `fault`: the baseline does not fail over for a broker fault, so its round is bounded and says so. */
function roundOf(setup: Setup, fault: Fault): typeof failoverRound {
  // Rounds of their own: the master never back within the round (masterGoneRound), the broker restarted in place (brokerKillRound).
  if (fault === 'master-gone') return (lab, options) => masterGoneRound(lab, { rate: options.rate ?? rate });
  if (fault === 'broker-kill') return (lab, options) => brokerKillRound(lab, { rate: options.rate ?? rate });
  if (!setup.baseline) return failoverRound;
  return BROKER_FAULTS.includes(fault) ? (lab, options) => unhandledRound(lab, { ...options, holdMs: UNHANDLED_HOLD_MS }) : baselineRound;
}

function splitSummary(result: SplitResult): string {
  return [
    `VIP on both ${ms(result.overlapMs)}`,
    ...(result.endedAfterDecisionMs === undefined ? [] : [`ended ${ms(result.endedAfterDecisionMs)} after the daemons saw it`]),
    `client-visible ${ms(result.clientVisibleMs)}`,
    `acked-lost ${result.report.lost.length}`,
    `duplicated ${result.report.duplicated.length}`,
  ].join(', ');
}

/** A split-brain round: the daemons end it (splitRound); the baseline holds the VIP on both nodes until VRRP passes again. */
async function splitOf(setup: Setup, lab: Lab): Promise<SplitResult> {
  if (setup.baseline) return baselineSplitRound(lab, { rate, holdMs: SPLIT_HOLD_MS });
  return splitRound(lab, { rate, holdMs: SPLIT_HOLD_MS });
}

async function measure(setup: Setup, fault: Fault): Promise<Row> {
  const row: Row = { setup, fault, results: [], splits: [], failures: [], na: setup.baseline ? BASELINE_NA[fault] : undefined };
  if (row.na !== undefined) {
    progress(`${setup.label} · ${FAULTS[fault]}: ${row.na}`);
    return row;
  }
  let lab: Lab | undefined;
  try {
    for (let round = 1; round <= rounds; round++) {
      const tag = `${setup.label} · ${FAULTS[fault]} · round ${round}/${rounds}`;
      try {
        if (!lab) {
          progress(`${tag}: starting a lab`);
          lab = await startLab(setup);
        }
        if (fault === 'vrrp-split') {
          const split = await splitOf(setup, lab);
          row.splits.push(split);
          progress(`${tag}: ${splitSummary(split)}`);
        } else {
          const result = await roundOf(setup, fault)(lab, { fault, rate });
          row.results.push(result);
          progress(`${tag}: ${summary(result)}`);
        }
      } catch (error) {
        const reason = (error as Error).message.split('\n')[0] ?? String(error);
        row.failures.push(`round ${round}: ${reason}`);
        progress(`${tag}: FAILED: ${reason}`);
        // The next round gets a fresh lab: this one may be left in any state.
        lab?.stop();
        lab = undefined;
      }
    }
  } finally {
    lab?.stop();
  }
  return row;
}

function sumMax(counts: readonly number[]): string {
  return counts.length === 0 ? '-' : `${counts.reduce((a, b) => a + b, 0)} / ${Math.max(...counts)}`;
}

function ratio(row: Row, baseline: Row | undefined, pick: (result: RoundResult) => number | undefined): string {
  if (row.setup.baseline) return '1';
  const ours = median(defined(row.results.map(pick)));
  const theirs = baseline && median(defined(baseline.results.map(pick)));
  return ours === undefined || !theirs ? '-' : (ours / theirs).toFixed(2);
}

async function versionOf(argv: string[], pattern: RegExp): Promise<string> {
  const result = await run(argv, { reject: false, timeout: 10_000 }).catch(() => undefined);
  return pattern.exec(`${result?.stdout ?? ''}${result?.stderr ?? ''}`)?.[1] ?? '?';
}

const started = Date.now();
progress(`${SETUPS.length * FAULT_ORDER.length} labs × ${rounds} round(s), QoS 1 at ${rate} msg/s; about 15 s a round`);
const rows: Row[] = [];
for (const fault of FAULT_ORDER) {
  for (const setup of SETUPS) rows.push(await measure(setup, fault));
}

const keepalived = await versionOf(['keepalived', '--version'], /Keepalived v(\S+)/);
const mosquitto = await versionOf(['mosquitto', '-h'], /mosquitto version (\S+)/);
const header = [
  'setup',
  'fault',
  'rounds',
  'VIP move',
  'hint in the FIFO',
  'DNAT',
  'broker accepting',
  'subscriber: connection closed',
  'subscriber: connected again',
  'first delivery',
  'client-visible',
  'acked-lost (sum / max)',
  'duplicated (sum / max)',
  'client-visible, ours / baseline',
  'first delivery, ours / baseline',
];
const failoverRows = rows.filter((row) => row.fault !== 'vrrp-split');
const table = failoverRows.map((row) => {
  if (row.na !== undefined) return [row.setup.label, FAULTS[row.fault], '0', row.na, ...header.slice(4).map(() => '-')];
  const baseline = rows.find((candidate) => candidate.fault === row.fault && candidate.setup.baseline);
  const { results } = row;
  const failed = row.failures.length;
  // The baseline's broker faults: nothing failed over, and the clients waited for the repair.
  const unhandled = results.length > 0 && results.every((result) => result.failedOver === false);
  return [
    row.setup.label,
    FAULTS[row.fault],
    failed === 0 ? String(results.length) : `${results.length} of ${rounds} (${failed} FAILED)`,
    unhandled ? `never (fault held ${ms(UNHANDLED_HOLD_MS)})` : spread(results.map((result) => result.times.vipMoved)),
    spread(results.map((result) => result.times.hint)),
    spread(results.map((result) => result.times.dnat)),
    spread(results.map((result) => result.times.accepting)),
    spread(results.map((result) => result.times.subLost)),
    spread(results.map((result) => result.times.subBack)),
    spread(results.map((result) => result.times.delivered)),
    `${spread(results.map((result) => result.clientVisibleMs))}${unhandled ? ' (until the repair)' : ''}`,
    sumMax(results.map((result) => result.report.lost.length)),
    sumMax(results.map((result) => result.report.duplicated.length)),
    ratio(row, baseline, (result) => result.clientVisibleMs),
    ratio(row, baseline, (result) => result.times.delivered),
  ];
});
const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
console.log(`machine: ${availableParallelism()} CPUs (nproc), Linux ${release()}, keepalived ${keepalived}, mosquitto ${mosquitto}, Node ${process.version}
${rounds} round(s) per row, a QoS 1 publisher at ${rate} msg/s and a persistent subscriber through the VIP; times from the fault, median / max over the rounds that completed; lost and duplicated counted after the old master is back and its bridge drained.

${line(header)}
${line(header.map(() => '---'))}
${table.map(line).join('\n')}`);

// Each round's count, for the rows whose goal is 0 in every round (issue 15).
const perRoundFaults: readonly Fault[] = ['master-gone', 'broker-kill', 'broker-crash-loop'];
const perRoundRows = failoverRows.filter((row) => perRoundFaults.includes(row.fault) && row.results.length > 0);
if (perRoundRows.length > 0) {
  const perRoundHeader = ['setup', 'fault', 'rounds', 'acked-lost, each round', 'duplicated, each round', 'rounds that failed over (VIP moved)', 'client-visible (median / max)'];
  const perRoundTable = perRoundRows.map((row) => [
    row.setup.label,
    FAULTS[row.fault],
    row.failures.length === 0 ? String(row.results.length) : `${row.results.length} of ${rounds} (${row.failures.length} FAILED)`,
    row.results.map((result) => result.report.lost.length).join(' '),
    row.results.map((result) => result.report.duplicated.length).join(' '),
    String(row.results.filter((result) => result.times.vipMoved !== undefined).length),
    spread(row.results.map((result) => result.clientVisibleMs)),
  ]);
  console.log(`
acked-lost and duplicated in each round (goal: 0 lost in every round; duplicates at most a drain window's worth, ${rate} at 1 s):

${line(perRoundHeader)}
${line(perRoundHeader.map(() => '---'))}
${perRoundTable.map(line).join('\n')}`);
}

// A promote's times from the target's hint (its first sign of MASTER): the fault is the command's start, which includes its own start-up, the status read and the drain.
const promoteRows = rows.filter((row) => row.fault === 'promote' && row.results.length > 0);
if (promoteRows.length > 0) {
  const fromHint = (pick: (times: RoundTimes) => number | undefined) => (result: RoundResult) => {
    const value = pick(result.times);
    return value === undefined || result.times.hint === undefined ? undefined : value - result.times.hint;
  };
  const promoteHeader = ['setup', 'rounds', 'prepared', 'weight raised', 'old master BACKUP', 'DNAT', 'broker restarted', 'broker accepting', 'subscriber: connection closed', 'subscriber: connected again', 'first delivery', 'client-visible', 'acked-lost (sum / max)'];
  const signed = (values: (number | undefined)[]) => spread(values).replace(/(^|\/ )(\d)/g, '$1+$2');
  const promoteTable = promoteRows.map((row) => {
    const { results } = row;
    const cell = (pick: (times: RoundTimes) => number | undefined) => signed(results.map(fromHint(pick)));
    return [
      row.setup.label,
      String(results.length),
      cell((times) => times.prepared),
      cell((times) => times.weightRaised),
      cell((times) => times.oldBackup),
      cell((times) => times.dnat),
      cell((times) => times.restarted),
      cell((times) => times.accepting),
      cell((times) => times.subLost),
      cell((times) => times.subBack),
      cell((times) => times.delivered),
      spread(results.map((result) => result.clientVisibleMs)),
      sumMax(results.map((result) => result.report.lost.length)),
    ];
  });
  console.log(`
promote, times from the target's hint in the FIFO (median / max; negative: before it):

${line(promoteHeader)}
${line(promoteHeader.map(() => '---'))}
${promoteTable.map(line).join('\n')}`);
}

const splitRows = rows.filter((row) => row.fault === 'vrrp-split');
if (splitRows.length > 0) {
  const splitHeader = ['setup', 'rounds', 'VIP on both nodes', 'split ended after the daemons saw it', 'client-visible', 'acked-lost (sum / max)', 'duplicated (sum / max)'];
  const splitTable = splitRows.map((row) => {
    const failed = row.failures.length;
    const { splits } = row;
    return [
      row.setup.label,
      failed === 0 ? String(splits.length) : `${splits.length} of ${rounds} (${failed} FAILED)`,
      `${spread(splits.map((split) => split.overlapMs))}${row.setup.baseline ? ` (VRRP dropped ${ms(SPLIT_HOLD_MS)})` : ''}`,
      row.setup.baseline ? 'n/a: nothing ends it but VRRP passing again' : spread(splits.map((split) => split.endedAfterDecisionMs)),
      spread(splits.map((split) => split.clientVisibleMs)),
      sumMax(splits.map((split) => split.report.lost.length)),
      sumMax(splits.map((split) => split.report.duplicated.length)),
    ];
  });
  console.log(`
${FAULTS['vrrp-split']}:

${line(splitHeader)}
${line(splitHeader.map(() => '---'))}
${splitTable.map(line).join('\n')}`);
}

const findings = rows.flatMap((row) =>
  [...row.results, ...row.splits].flatMap((result, index) =>
    result.report.lost.length === 0 ? [] : [`${row.setup.label} · ${FAULTS[row.fault]}: ${result.report.lost.length} acked messages never arrived in a round (${index + 1} of those completed; first: ${result.report.lost.slice(0, 5).join(', ')})`],
  ),
);
if (findings.length > 0) console.log(`\nacked-lost (a finding, not a crash):\n${findings.map((finding) => `- ${finding}`).join('\n')}`);
const failures = rows.flatMap((row) => row.failures.map((failure) => `${row.setup.label} · ${FAULTS[row.fault]} · ${failure}`));
if (failures.length > 0) console.log(`\nfailed rounds:\n${failures.map((failure) => `- ${failure}`).join('\n')}`);

const minutes = ((Date.now() - started) / 60_000).toFixed(1);
if (failures.length > 0) {
  console.error(`bench-failover: ${failures.length} of ${rows.length * rounds} rounds failed (${minutes} min); see "failed rounds" above`);
  process.exit(1);
}
progress(`done in ${minutes} min`);
