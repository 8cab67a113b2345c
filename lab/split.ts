/**
 * One split-brain round (`npm run lab -- --fault vrrp-split`): a QoS 1 publisher and a persistent
 * subscriber through the VIP, VRRP dropped between the master (node1) and node2 for `holdMs`, so
 * both take the VIP until node2 (lower priority) gives it up, then VRRP back. Times come from the
 * lab (who holds the VIP, polled every 10 ms) and from the daemons' logs; every wait is bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { FAULTS, outage, probedRound, type ProbedRun } from './failover.js';
import type { ProbeReport } from './history.js';
import type { Lab } from './lab.js';
import type { DaemonLine, LabNode } from './node.js';
import { spread } from './stats.js';
import { waitFor } from './wait.js';

export interface SplitRoundOptions {
  rate?: number;
  /** How long VRRP stays dropped, ms. */
  holdMs?: number;
  steadyMs?: number;
  onStep?: (label: string, msSinceFault: number) => void;
}

export interface SplitRoundResult {
  /** From the first daemon's decision ("split brain: …" line) to the VIP on the winner alone (lab-observed), ms. */
  endedAfterDecisionMs: number;
  /** From the VIP first seen on both nodes to the VIP on the winner alone, ms. */
  overlapMs: number;
  clientVisibleMs: number;
  report: ProbeReport;
}

/** The node that holds the VIP before the fault, and the other one. */
async function splitPair(lab: Lab): Promise<[LabNode, LabNode]> {
  const [held] = await lab.vipHolders();
  if (held === undefined) throw new Error('no node holds the VIP before the fault');
  return [lab.node(held), lab.nodes.find((node) => node.id !== held)!];
}

/** Drops VRRP between `master` and `other` and waits (bounded) until both hold the VIP; returns when they did. */
async function partition(lab: Lab, master: LabNode, other: LabNode, faultAt: number, step: ProbedRun['step']): Promise<number> {
  await lab.partitionVrrp(master.id, other.id);
  step(`VRRP (IP protocol 112) dropped between ${master.name} and ${other.name}`, faultAt);
  let bothAt = 0;
  await waitFor(`the VIP on ${master.name} and ${other.name}`, async () => (await lab.vipHolders()).length === 2 && (bothAt = Date.now()), { timeoutMs: 10_000, intervalMs: 10 });
  step(`VIP on ${other.name} too: split brain`, bothAt);
  return bothAt;
}

export async function splitRound(lab: Lab, options: SplitRoundOptions = {}): Promise<SplitRoundResult> {
  const { rate = 200, holdMs = 5_000, steadyMs = 1_000 } = options;
  const [winner, loser] = await splitPair(lab);
  return probedRound(lab, { rate, steadyMs, onStep: options.onStep }, async ({ probe, faultAt, step, drain }) => {
    const bothAt = await partition(lab, winner, loser, faultAt, step);
    const [lost, kept] = await Promise.all([loser.waitForLine('split brain:', faultAt), winner.waitForLine('split brain:', faultAt)]);
    const seen = (line: DaemonLine) => (line.at as { seen: number }).seen;
    step(`${loser.name}: both seen MASTER on the peer channel`, seen(lost));
    step(`${winner.name}: both seen MASTER on the peer channel`, seen(kept));
    step(`${loser.name}: "${lost.msg}"`, lost.time);
    step(`${winner.name}: "${kept.msg}"`, kept.time);
    const decidedAt = Math.min(lost.time, kept.time);
    await lab.waitForVipOn(winner.id, { alone: true, timeoutMs: 10_000 });
    const aloneAt = Date.now();
    step(`VIP on ${winner.name} alone`, aloneAt);
    const weight = await loser.waitForLine('weight 0 -> -254', faultAt, 5_000);
    step(`${loser.name}: track file -254 (FAULT)`, weight.time);
    const fault = await loser.waitForRole('FAULT', faultAt, 5_000);
    step(`${loser.name}: FAULT, VIP released, DNAT rule removed`, fault.time);
    const over = await winner.waitForLine('split brain over', faultAt, 5_000);
    step(`${winner.name}: "${over.msg}"`, over.time);

    await sleep(Math.max(0, faultAt + holdMs - Date.now()));
    const healAt = Date.now();
    await lab.healVrrp();
    step('VRRP passes again', healAt);
    const healed = await loser.waitForLine('split brain over', healAt, 10_000);
    step(`${loser.name}: "${healed.msg}"`, healed.time);
    const backup = await loser.waitForRole('BACKUP', healAt, 10_000);
    step(`${loser.name}: BACKUP`, backup.time);
    await sleep(steadyMs);
    const holders = await lab.vipHolders();
    if (holders.length !== 1 || holders[0] !== winner.id) throw new Error(`after the heal the VIP is on [${holders.join(', ')}], not on ${winner.name} alone`);
    const endAt = Date.now();
    const visible = outage(probe.events, faultAt, endAt);
    await lab.waitForBridges(30_000);
    const report = await drain();
    return { endedAfterDecisionMs: aloneAt - decidedAt, overlapMs: aloneAt - bothAt, clientVisibleMs: visible.gapMs, report };
  });
}

export interface BaselineSplitResult {
  /** From the VIP first seen on both nodes to one node holding it alone again, ms: the whole partition and more, since nothing ends a split but VRRP passing again. */
  overlapMs: number;
  /** Which node held the VIP alone after the heal. */
  keptBy: number;
  clientVisibleMs: number;
  report: ProbeReport;
}

/**
 * The same split in a lab without the daemon (the benchmark's baseline, lab/baseline.ts): VRRP
 * dropped between the master and the other node for `holdMs`, then back. keepalived alone never
 * ends a split: both nodes hold the VIP (and each its DNAT rule, by the notify scripts) until
 * adverts cross again. Bounded like splitRound.
 */
export async function baselineSplitRound(lab: Lab, options: SplitRoundOptions = {}): Promise<BaselineSplitResult> {
  const { rate = 200, holdMs = 5_000, steadyMs = 1_000 } = options;
  const [master, other] = await splitPair(lab);
  return probedRound(lab, { rate, steadyMs, onStep: options.onStep }, async ({ probe, faultAt, step, drain }) => {
    const bothAt = await partition(lab, master, other, faultAt, step);
    await sleep(Math.max(0, faultAt + holdMs - Date.now()));
    const healAt = Date.now();
    await lab.healVrrp();
    step('VRRP passes again', healAt);
    let holders: number[] = [];
    await waitFor('the VIP on one node alone', async () => (holders = await lab.vipHolders()).length === 1, { timeoutMs: 10_000, intervalMs: 10 });
    const aloneAt = Date.now();
    step(`VIP on node${holders[0]} alone`, aloneAt);
    await probe.waitFor('delivery after the heal', (event) => event.e === 'recv' && event.t > aloneAt, 30_000);
    await sleep(steadyMs);
    const visible = outage(probe.events, faultAt, Date.now());
    await lab.waitForBridges(30_000);
    const report = await drain();
    return { overlapMs: aloneAt - bothAt, keptBy: holders[0]!, clientVisibleMs: visible.gapMs, report };
  });
}

/**
 * The demo of `--fault vrrp-split`: `rounds` rounds in the same lab (each ends with VRRP back and
 * the VIP on node1 alone), the timeline of each, and the split's end after the daemons saw it
 * (median / max). `ok` is the usual last line; `failed` says why not.
 */
export async function splitDemo(lab: Lab, options: { rate: number; rounds: number; log: (line: string) => void }): Promise<{ ok: string; failed?: undefined } | { failed: string }> {
  const { rate, rounds, log } = options;
  const results: SplitRoundResult[] = [];
  const pad = (value: number) => `${value.toFixed(0).padStart(6)} ms`;
  for (let round = 1; round <= rounds; round++) {
    log(`${rounds > 1 ? `round ${round}/${rounds}: ` : ''}injecting the fault: ${FAULTS['vrrp-split']}…`);
    log('timeline (from the fault):');
    const steps: [number, string][] = [];
    const result = await splitRound(lab, { rate, onStep: (label, at) => steps.push([at, label]) });
    for (const [at, label] of steps.sort((a, b) => a[0] - b[0])) log(`  ${pad(at)}  ${label}`);
    const { report } = result;
    log(`
messages: ${report.attempted} sent, ${report.acknowledged} acknowledged, ${report.received} received
  acked-lost ${report.lost.length}, duplicated ${report.duplicated.length} (QoS 1 is at-least-once), never acknowledged ${report.indeterminate.length}
  longest time the subscriber received nothing: ${result.clientVisibleMs.toFixed(0)} ms
  split brain ended ${result.endedAfterDecisionMs.toFixed(0)} ms after the daemons saw it (VIP on both for ${result.overlapMs.toFixed(0)} ms in all)
`);
    if (report.lost.length > 0) return { failed: `${report.lost.length} acknowledged messages never arrived (first: ${report.lost.slice(0, 5).join(', ')})` };
    results.push(result);
  }
  if (rounds > 1) {
    log(`over ${rounds} rounds (median / max): split brain ended after the daemons saw it ${spread(results.map((result) => result.endedAfterDecisionMs))}; VIP on both ${spread(results.map((result) => result.overlapMs))}; client-visible ${spread(results.map((result) => result.clientVisibleMs))}`);
  }
  const worst = results.reduce((a, b) => (b.clientVisibleMs > a.clientVisibleMs ? b : a));
  const lost = results.reduce((sum, result) => sum + result.report.lost.length, 0);
  const duplicated = results.reduce((sum, result) => sum + result.report.duplicated.length, 0);
  return { ok: `failover ok: client-visible ${worst.clientVisibleMs.toFixed(0)} ms, acked-lost ${lost}, duplicated ${duplicated}` };
}
