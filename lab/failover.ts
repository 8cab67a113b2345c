/**
 * One failover round in a lab whose nodes run the daemon: a QoS 1 publisher and a persistent
 * subscriber through the VIP, a fault on the master, the takeover by the next node, then the old
 * master back (it preempts), and the verdict once its bridge has drained. Shared by the demo
 * (`npm run lab`), the end-to-end tests and the benchmark; every wait is bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProbeEvent, ProbeReport } from './history.js';
import type { Lab } from './lab.js';
import type { LabNode } from './node.js';
import { Probe } from './probe.js';

export type Fault = 'keepalived' | 'link' | 'vrrp-split';

export const FAULTS: Record<Fault, string> = {
  keepalived: "kill -9 the master's keepalived",
  link: "pull the master's cable (link down)",
  'vrrp-split': 'drop VRRP (IP protocol 112) between the nodes for 5 s: split brain (a round of its own: lab/split.ts)',
};

/** A takeover's steps, epoch ms; `time` is when it was complete. */
export interface Takeover {
  hint?: number | undefined;
  dnat?: number | undefined;
  restarted?: number | undefined;
  accepting: number;
}

/** Where a round learns about takeovers: the daemon's log by default, the notify scripts' stamps in the baseline. */
export interface TakeoverSource {
  /** What the first sign of a takeover is called in the timeline. */
  hintLabel: string;
  /** Waits (bounded) for `node`'s first complete takeover since `since`. */
  waitForTakeover(node: LabNode, since: number): Promise<Takeover>;
  /** How many broker restarts `node` did since `since`. */
  restartsSince(node: LabNode, since: number): number;
}

export const DAEMON_TAKEOVERS: TakeoverSource = {
  hintLabel: "keepalived's hint in the FIFO",
  async waitForTakeover(node, since) {
    return (await node.waitForRole('MASTER', since)).at as Takeover;
  },
  restartsSince(node, since) {
    return node.daemonLines().filter((line) => line.time >= since && line.msg === 'restarting the broker for this takeover').length;
  },
};

export interface RoundOptions {
  fault: Fault;
  /** Default DAEMON_TAKEOVERS. */
  takeovers?: TakeoverSource;
  /** Messages per second (QoS 1). */
  rate?: number;
  /** Steady traffic before the fault and after each recovery, ms. */
  steadyMs?: number;
  /** Show progress as it happens. */
  onStep?: (label: string, msSinceFault: number) => void;
}

/** Times in ms since the fault; undefined when a step did not happen. */
export interface RoundTimes {
  vipMoved?: number;
  hint?: number;
  dnat?: number;
  restarted?: number;
  accepting?: number;
  /** The first message the subscriber received after the outage. */
  delivered?: number;
}

export interface RoundResult {
  fault: Fault;
  from: number;
  to: number;
  times: RoundTimes;
  /** The longest time the subscriber received nothing, from the fault to the old master's return. */
  clientVisibleMs: number;
  /** Counted after the old master is back and its bridge drained. */
  report: ProbeReport;
  /** Broker restarts each node did in the round (one per takeover). */
  restarts: Record<number, number>;
}

/** The longest gap between two receives within [from, to], and the receive that ended it. */
export function outage(events: readonly ProbeEvent[], from: number, to: number): { gapMs: number; endedAt?: number } {
  const times = events.filter((event) => event.e === 'recv' && event.t <= to).map((event) => event.t).sort((a, b) => a - b);
  let gapMs = 0;
  let endedAt: number | undefined;
  let previous = times.filter((t) => t < from).at(-1) ?? from;
  for (const t of times.filter((t) => t >= from)) {
    if (t - previous > gapMs) {
      gapMs = t - previous;
      endedAt = t;
    }
    previous = t;
  }
  return endedAt === undefined ? { gapMs } : { gapMs, endedAt };
}

export async function injectFault(node: LabNode, fault: Fault): Promise<void> {
  if (fault === 'vrrp-split') throw new Error('vrrp-split is a round of its own (lab/split.ts: splitRound)');
  if (fault === 'keepalived') node.kill(node.config.failover.driver);
  else await node.linkDown();
}

export async function repairFault(node: LabNode, fault: Fault): Promise<void> {
  if (fault === 'vrrp-split') throw new Error('vrrp-split is a round of its own (lab/split.ts: splitRound)');
  if (fault === 'keepalived') node.startFailover();
  else await node.linkUp();
}

export async function failoverRound(lab: Lab, options: RoundOptions): Promise<RoundResult> {
  const { fault, rate = 200, steadyMs = 1_000, takeovers = DAEMON_TAKEOVERS } = options;
  const [master] = await lab.vipHolders();
  if (master === undefined) throw new Error('no node holds the VIP before the fault');
  const old = lab.node(master);
  const next = lab.nodes.filter((node) => node.id !== master).sort((a, b) => b.priority - a.priority)[0]!;
  const probe = await Probe.start(lab, { rate, qos: 1, clean: false, keepaliveSeconds: 2, reconnectPeriodMs: 100, drainMs: 15_000 });
  let stopped = false;
  try {
    const started = Date.now();
    await probe.waitFor('steady traffic before the fault', (event) => event.e === 'recv' && event.t > started + steadyMs, steadyMs + 15_000);

    const faultAt = Date.now();
    const step = (label: string, at: number | undefined) => at !== undefined && options.onStep?.(label, at - faultAt);
    await injectFault(old, fault);
    step(FAULTS[fault], faultAt);
    const times: RoundTimes = {};
    const waitStarted = Date.now();
    times.vipMoved = waitStarted + (await lab.waitForVipOn(next.id, { alone: false, timeoutMs: 20_000 })) - faultAt;
    step(`VIP on ${next.name}`, faultAt + times.vipMoved);
    const at = await takeovers.waitForTakeover(next, faultAt);
    for (const key of ['hint', 'dnat', 'restarted', 'accepting'] as const) {
      const value = at[key];
      if (value !== undefined) times[key] = value - faultAt;
    }
    step(`${next.name}: ${takeovers.hintLabel}`, at.hint);
    step(`${next.name}: DNAT rule in place`, at.dnat);
    step(`${next.name}: broker restarted`, at.restarted);
    step(`${next.name}: broker accepting`, at.accepting);
    const resumed = await probe.waitFor('delivery after the takeover', (event) => event.e === 'recv' && event.t > at.accepting, 30_000);
    await sleep(steadyMs);
    const backAt = Date.now();
    const visible = outage(probe.events, faultAt, backAt);
    times.delivered = (visible.endedAt ?? resumed.t) - faultAt;
    step('first message delivered again', faultAt + times.delivered);

    await repairFault(old, fault);
    step(`${old.name} repaired`, backAt);
    await lab.waitForVipOn(old.id, { timeoutMs: 30_000 });
    const failback = await takeovers.waitForTakeover(old, backAt);
    step(`${old.name} is MASTER again`, failback.accepting);
    await lab.waitForBridges(30_000);
    await probe.waitFor('delivery after the failback', (event) => event.e === 'recv' && event.t > failback.accepting, 30_000);
    await sleep(steadyMs);
    stopped = true;
    const report = await probe.stop(40_000);
    step('bridge drained, probe stopped', Date.now());
    return {
      fault,
      from: old.id,
      to: next.id,
      times,
      clientVisibleMs: visible.gapMs,
      report,
      restarts: Object.fromEntries(lab.nodes.map((node) => [node.id, takeovers.restartsSince(node, faultAt)])),
    };
  } finally {
    if (!stopped) await probe.stop(5_000).catch(() => undefined);
  }
}
