/**
 * One failover round in a lab whose nodes run the daemon: a QoS 1 publisher and a persistent
 * subscriber through the VIP, a fault on the master, the takeover by the next node, then the old
 * master back (it preempts), and the verdict once its bridge has drained. Shared by the demo
 * (`npm run lab`), the end-to-end tests and the benchmark; every wait is bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from '../src/exec/runner.js';
import { sentBefore, type ProbeEvent, type ProbeReport } from './history.js';
import type { Lab } from './lab.js';
import type { LabNode } from './node.js';
import { Probe } from './probe.js';

export type Fault = 'keepalived' | 'link' | 'broker-hang' | 'broker-crash-loop' | 'promote' | 'vrrp-split' | 'master-gone' | 'broker-kill';

export const FAULTS: Record<Fault, string> = {
  keepalived: "kill -9 the master's keepalived",
  link: "pull the master's cable (link down)",
  'broker-hang': "SIGSTOP the master's mosquitto (SIGCONT at the repair)",
  'broker-crash-loop': "break the master's mosquitto.conf and kill -9 its broker (every restart fails)",
  promote: 'promote the next node (planned switchover: drain the bridge, then move the VIP)',
  'vrrp-split': 'drop VRRP (IP protocol 112) between the nodes for 5 s: split brain (a round of its own: lab/split.ts)',
  'master-gone': "pull the master's cable and never put it back in the round (a round of its own: masterGoneRound)",
  'broker-kill': "kill -9 the master's mosquitto once (the supervise adapter starts it again; a round of its own: brokerKillRound)",
};

/** A takeover's steps, epoch ms. */
export interface Takeover {
  hint?: number | undefined;
  dnat?: number | undefined;
  restarted?: number | undefined;
  accepting?: number | undefined;
}

/**
 * When a takeover was complete: its broker accepting after the restart and its DNAT rule in (with
 * shadow sessions the rule comes after the broker accepts), or its DNAT rule in when it did not restart.
 */
export function completeAt(takeover: Takeover): number {
  const at = takeover.accepting === undefined ? takeover.dnat : Math.max(takeover.accepting, takeover.dnat ?? 0);
  if (at === undefined) throw new Error(`a takeover with neither "accepting" nor "dnat": ${JSON.stringify(takeover)}`);
  return at;
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

/** The daemon's log line when a promoted node's broker is ready before its weight rises (src/takeover/execute.ts). */
export const PREPARED_LINE = 'prepared for the planned takeover';
/** The daemon's log lines of a broker restart: at a takeover, and before a planned one (prepared). */
const RESTART_LINES = ['restarting the broker for this takeover', 'restarting the broker to prepare a planned takeover'];

export const DAEMON_TAKEOVERS: TakeoverSource = {
  hintLabel: "keepalived's hint in the FIFO",
  async waitForTakeover(node, since) {
    return (await node.waitForRole('MASTER', since)).at as Takeover;
  },
  restartsSince(node, since) {
    return node.daemonLines().filter((line) => line.time >= since && RESTART_LINES.includes(line.msg)).length;
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
  /** The subscriber's and the publisher's connection seen closed after the fault, and connected again. */
  subLost?: number;
  subBack?: number;
  pubLost?: number;
  pubBack?: number;
  /** Connections the subscriber and the publisher saw closed between the fault and their reconnect (1: only the dead one). */
  subCloses?: number;
  pubCloses?: number;
  /** The old master's daemon found its broker sick (broker faults). */
  sick?: number;
  /** broker-kill: the killed broker started again in place by the supervise adapter. */
  respawned?: number;
  /** broker-kill with a failover: the old master MASTER again (the failback) and its broker accepting. */
  failback?: number;
  /** A promote: the target's broker ready before its weight rose (prepared, src/takeover/plan.ts), its weight raised, the old master's daemon BACKUP. */
  prepared?: number;
  weightRaised?: number;
  oldBackup?: number;
}

/** Each client's view of the outage: when its connection closed, how often, and when it was connected again. */
export function clientTimes(events: readonly ProbeEvent[], faultAt: number, until: number): RoundTimes {
  const times: RoundTimes = {};
  for (const who of ['sub', 'pub'] as const) {
    const mine = events.filter((event) => 'who' in event && event.who === who && event.t >= faultAt && event.t <= until);
    const lost = mine.find((event) => event.e === 'close');
    if (lost === undefined) continue;
    const back = mine.find((event) => event.e === 'connect' && event.t >= lost.t);
    const closes = mine.filter((event) => event.e === 'close' && event.t <= (back?.t ?? until)).length;
    if (who === 'sub') Object.assign(times, { subLost: lost.t - faultAt, subBack: back && back.t - faultAt, subCloses: closes });
    else Object.assign(times, { pubLost: lost.t - faultAt, pubBack: back && back.t - faultAt, pubCloses: closes });
  }
  return times;
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
  /** False when the VIP never moved (unhandledRound); clientVisibleMs then runs to the repair and beyond. */
  failedOver?: boolean;
  /** When each lost message was acknowledged, ms from the fault (where the loss came from). */
  lostAckedMs?: number[];
  /** master-gone: whether the next node's daemon had made a shadow of the probe's subscriber before the fault. */
  shadowedBeforeFault?: boolean;
  /** master-gone: when the old master's daemon last began reading its broker's log (the learner), ms from the probe's subscription (negative: before it). */
  learnerFromSubscribeMs?: number;
  /**
   * A master-gone round: the lost messages sent before the publisher's connection to the old
   * master closed (in flight to it at the fault). At QoS 2 these are the ones the old master had
   * taken (PUBREC) and not yet released to the bridge (README, "Shadow sessions": limits).
   */
  lostInFlight?: number[];
}

/** The probe's subscriber's client id (probe.ts: `lab-probe-<id>-sub`, its topic `lab/probe/<id>`). */
function subscriberId(probe: Probe): string {
  return `lab-probe-${probe.topic.split('/').at(-1) ?? ''}-sub`;
}

/** For each lost message, when the publisher had its ack, ms from the fault. */
export function lostAckTimes(events: readonly ProbeEvent[], report: ProbeReport, faultAt: number): number[] {
  const lost = new Set(report.lost);
  return events.filter((event) => event.e === 'ack' && lost.has(event.seq)).map((event) => Math.round(event.t - faultAt));
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

/** The faults of the master's own broker, which VRRP does not see: only the daemon's health probes move the VIP for them. */
export const BROKER_FAULTS: readonly Fault[] = ['broker-hang', 'broker-crash-loop'];

/** The `promote` command of a round, run on the node it promotes, while the round watches the VIP. */
let promoting: { node: LabNode; run: Promise<RunResult> } | undefined;

/** `next`: the node the round expects the VIP on (a promote's target). */
export async function injectFault(node: LabNode, fault: Fault, next?: LabNode): Promise<void> {
  if (fault === 'vrrp-split') throw new Error('vrrp-split is a round of its own (lab/split.ts: splitRound)');
  if (fault === 'master-gone') throw new Error('master-gone is a round of its own (masterGoneRound)');
  if (fault === 'broker-kill') throw new Error('broker-kill is a round of its own (brokerKillRound)');
  if (fault === 'broker-hang') {
    if (node.pause('mosquitto').length === 0) throw new Error(`${node.name}: no mosquitto to hang`);
    return;
  }
  if (fault === 'broker-crash-loop') {
    // The supervise adapter starts it again (0.5 s, then longer) and each start fails on the conf.
    node.breakBrokerConfig();
    if (node.kill('mosquitto').length === 0) throw new Error(`${node.name}: no mosquitto to kill`);
    return;
  }
  if (fault === 'keepalived') node.kill(node.config.failover.driver);
  else if (fault === 'promote') {
    if (!next) throw new Error('a promote needs the node to promote');
    promoting = { node: next, run: next.cli(['promote', next.name]) };
  } else await node.linkDown();
}

/** What the last round's `promote` printed (the drain's time, the wait's). */
export let promoteOutput: string | undefined;

async function finishPromote(): Promise<void> {
  if (!promoting) return;
  const { node, run } = promoting;
  promoting = undefined;
  const result = await run;
  promoteOutput = result.stdout;
  if (result.exitCode !== 0) throw new Error(`promote ${node.name} exited ${result.exitCode}: ${result.stdout}${result.stderr}`);
}

export async function repairFault(node: LabNode, fault: Fault): Promise<void> {
  if (fault === 'vrrp-split') throw new Error('vrrp-split is a round of its own (lab/split.ts: splitRound)');
  if (fault === 'master-gone') throw new Error('master-gone is a round of its own (masterGoneRound)');
  if (fault === 'broker-kill') throw new Error('broker-kill is a round of its own (brokerKillRound)');
  if (fault === 'broker-hang') {
    node.resume('mosquitto');
    return;
  }
  if (fault === 'broker-crash-loop') {
    node.restoreBrokerConfig();
    // Without a daemon (the baseline) nothing restarts the broker: the repair does; a daemon's supervisor does at its next try.
    if (node.daemonPids().length === 0) await node.startBroker();
    return;
  }
  if (fault === 'keepalived') node.startFailover();
  else if (fault === 'promote') {
    await finishPromote();
    const cleared = await node.cli(['promote', '--clear']);
    if (cleared.exitCode !== 0) throw new Error(`promote --clear exited ${cleared.exitCode}: ${cleared.stdout}${cleared.stderr}`);
  } else await node.linkUp();
}

/** What a round's body gets from probedRound: the probe, the fault's time, the timeline and the drain. */
export interface ProbedRun {
  probe: Probe;
  /** Epoch ms of the fault: steady traffic has run for `steadyMs` by then. */
  faultAt: number;
  /** Reports a step at epoch ms `at` (nothing when undefined), as ms since the fault. */
  step: (label: string, at: number | undefined) => void;
  /** Stops the probe once the bridges have carried everything (bounded), and returns its report. */
  drain: () => Promise<ProbeReport>;
}

/** The takeover's steps in `times`, as ms since the fault. */
function takeoverTimes(times: RoundTimes, at: Takeover, faultAt: number): void {
  for (const key of ['hint', 'dnat', 'restarted', 'accepting'] as const) {
    const value = at[key];
    if (value !== undefined) times[key] = value - faultAt;
  }
}

/**
 * Waits (bounded) for the first delivery after takeover `at`, lets the clients settle for
 * `steadyMs`, and notes in `times` when deliveries came back and the clients' own times; returns
 * when it looked and the clients' outage until then.
 */
async function deliveredAgain(run: Pick<ProbedRun, 'probe' | 'faultAt' | 'step'>, at: Takeover, steadyMs: number, times: RoundTimes): Promise<{ until: number; visible: ReturnType<typeof outage> }> {
  const { probe, faultAt, step } = run;
  const resumed = await probe.waitFor('delivery after the takeover', (event) => event.e === 'recv' && event.t > completeAt(at), 30_000);
  await sleep(steadyMs);
  const until = Date.now();
  const visible = outage(probe.events, faultAt, until);
  times.delivered = (visible.endedAt ?? resumed.t) - faultAt;
  Object.assign(times, clientTimes(probe.events, faultAt, until));
  step('first message delivered again', faultAt + times.delivered);
  return { until, visible };
}

/**
 * What every round shares: a QoS 1 publisher and a persistent subscriber through the VIP, steady
 * traffic for `steadyMs`, then `body` from the fault on; the probe is stopped whatever happens.
 */
export async function probedRound<T>(
  lab: Lab,
  options: { rate: number; steadyMs: number; qos?: 1 | 2; subscriber?: 'mqtt.js' | 'paho'; reconnectPeriodMs?: number; subscriberKeepaliveSeconds?: number; subscriberReconnectPeriodMs?: number; onStep?: ((label: string, msSinceFault: number) => void) | undefined },
  body: (run: ProbedRun) => Promise<T>,
): Promise<T> {
  const { rate, steadyMs } = options;
  const probe = await Probe.start(lab, {
    rate,
    qos: options.qos ?? 1,
    clean: false,
    ...(options.subscriber === undefined ? {} : { subscriber: options.subscriber }),
    keepaliveSeconds: 2,
    ...(options.subscriberKeepaliveSeconds === undefined ? {} : { subscriberKeepaliveSeconds: options.subscriberKeepaliveSeconds }),
    ...(options.subscriberReconnectPeriodMs === undefined ? {} : { subscriberReconnectPeriodMs: options.subscriberReconnectPeriodMs }),
    reconnectPeriodMs: options.reconnectPeriodMs ?? 100,
    drainMs: 15_000,
  });
  let stopped = false;
  try {
    const started = Date.now();
    await probe.waitFor('steady traffic before the fault', (event) => event.e === 'recv' && event.t > started + steadyMs, steadyMs + 15_000);
    const faultAt = Date.now();
    const step = (label: string, at: number | undefined) => {
      if (at !== undefined) options.onStep?.(label, at - faultAt);
    };
    const drain = async () => {
      stopped = true;
      const report = await probe.stop(40_000);
      step('bridge drained, probe stopped', Date.now());
      return report;
    };
    return await body({ probe, faultAt, step, drain });
  } finally {
    if (!stopped) await probe.stop(5_000).catch(() => undefined);
  }
}

export async function failoverRound(lab: Lab, options: RoundOptions): Promise<RoundResult> {
  const { fault, rate = 200, steadyMs = 1_000, takeovers = DAEMON_TAKEOVERS } = options;
  const [master] = await lab.vipHolders();
  if (master === undefined) throw new Error('no node holds the VIP before the fault');
  const old = lab.node(master);
  const next = lab.nodes.filter((node) => node.id !== master).sort((a, b) => b.priority - a.priority)[0]!;
  return probedRound(lab, { rate, steadyMs, onStep: options.onStep }, async ({ probe, faultAt, step, drain }) => {
    await injectFault(old, fault, next);
    step(FAULTS[fault], faultAt);
    const times: RoundTimes = {};
    const waitStarted = Date.now();
    times.vipMoved = waitStarted + (await lab.waitForVipOn(next.id, { alone: false, timeoutMs: 20_000 })) - faultAt;
    step(`VIP on ${next.name}`, faultAt + times.vipMoved);
    const at = await takeovers.waitForTakeover(next, faultAt);
    takeoverTimes(times, at, faultAt);
    step(`${next.name}: ${takeovers.hintLabel}`, at.hint);
    step(`${next.name}: DNAT rule in place`, at.dnat);
    step(`${next.name}: broker restarted`, at.restarted);
    step(`${next.name}: broker accepting`, at.accepting);
    const sick = old.linesSince('broker sick', faultAt)[0]?.time;
    if (sick !== undefined) times.sick = sick - faultAt;
    step(`${old.name}: broker sick (health probes)`, sick);
    if (fault === 'promote') {
      const since = (time: number | undefined) => (time === undefined ? undefined : time - faultAt);
      const prepared = next.linesSince(PREPARED_LINE, faultAt)[0]?.time;
      const raised = next.linesSince('weight ', faultAt).find((line) => typeof line.weight === 'number' && line.weight > 0)?.time;
      const backup = (await old.waitForRole('BACKUP', faultAt, 10_000)).time;
      Object.assign(times, { prepared: since(prepared), weightRaised: since(raised), oldBackup: since(backup) });
      step(`${next.name}: broker restarted and bridged before its weight rose (prepared)`, prepared);
      step(`${next.name}: weight raised (the promote's term)`, raised);
      step(`${old.name}: BACKUP, its DNAT rule removed`, backup);
    }
    const { until: backAt, visible } = await deliveredAgain({ probe, faultAt, step }, at, steadyMs, times);

    await repairFault(old, fault);
    step(`${old.name} repaired`, backAt);
    await lab.waitForVipOn(old.id, { timeoutMs: 30_000 });
    const failback = await takeovers.waitForTakeover(old, backAt);
    step(`${old.name} is MASTER again`, completeAt(failback));
    await lab.waitForBridges(30_000);
    await probe.waitFor('delivery after the failback', (event) => event.e === 'recv' && event.t > completeAt(failback), 30_000);
    await sleep(steadyMs);
    const report = await drain();
    return {
      fault,
      from: old.id,
      to: next.id,
      times,
      clientVisibleMs: visible.gapMs,
      report,
      lostAckedMs: lostAckTimes(probe.events, report, faultAt),
      restarts: Object.fromEntries(lab.nodes.map((node) => [node.id, takeovers.restartsSince(node, faultAt)])),
    };
  });
}

export interface UnhandledRoundOptions extends Omit<RoundOptions, 'takeovers'> {
  /** How long the fault is held while the VIP is watched, ms (default 10 s). */
  holdMs?: number;
}

/**
 * A round for a setup that does not fail over for `fault` (the baseline has no health check, so
 * a hung or crash-looping broker keeps the VIP): the same probe and fault as failoverRound, held
 * `holdMs` while the VIP is watched (bounded), then repaired. If the VIP moved after all, it says
 * so; else the result has `failedOver: false` and the client-visible time runs from the fault to
 * the first delivery after the repair.
 */
export async function unhandledRound(lab: Lab, options: UnhandledRoundOptions): Promise<RoundResult> {
  const { fault, rate = 200, steadyMs = 1_000, holdMs = 10_000 } = options;
  const [master] = await lab.vipHolders();
  if (master === undefined) throw new Error('no node holds the VIP before the fault');
  const old = lab.node(master);
  return probedRound(lab, { rate, steadyMs, onStep: options.onStep }, async ({ probe, faultAt, step, drain }) => {
    await injectFault(old, fault);
    step(FAULTS[fault], faultAt);
    const times: RoundTimes = {};
    for (let polls = 0; Date.now() - faultAt < holdMs && polls < 10_000; polls++) {
      const holders = await lab.vipHolders();
      if (holders.join() !== String(old.id)) {
        times.vipMoved = Date.now() - faultAt;
        step(`the VIP moved after all (on ${holders.join(', ') || 'no node'})`, Date.now());
        break;
      }
      await sleep(50);
    }
    if (times.vipMoved === undefined) step(`the VIP is still on ${old.name}: nothing failed over`, Date.now());
    const repairedAt = Date.now();
    await repairFault(old, fault);
    step(`${old.name} repaired`, repairedAt);
    const resumed = await probe.waitFor('delivery after the repair', (event) => event.e === 'recv' && event.t > repairedAt, 30_000);
    times.delivered = resumed.t - faultAt;
    step('first message delivered again', resumed.t);
    await lab.waitForBridges(30_000);
    await sleep(steadyMs);
    const visible = outage(probe.events, faultAt, Date.now());
    const report = await drain();
    return { fault, from: old.id, to: old.id, times, clientVisibleMs: visible.gapMs, report, restarts: {}, failedOver: times.vipMoved !== undefined };
  });
}

export interface MasterGoneOptions {
  rate?: number;
  steadyMs?: number;
  /** The probe's QoS (publisher and subscriber), default 1. */
  qos?: 1 | 2;
  /** The persistent subscriber: mqtt.js (default) or Debian's python3-paho-mqtt with its own reconnect back-off (1 s doubling to 120 s; subscriberReconnectPeriodMs does not apply). */
  subscriber?: 'mqtt.js' | 'paho';
  /** The clients' reconnect delay, ms (default 1000: a common library default, as in issue 15). */
  reconnectPeriodMs?: number;
  /**
   * The subscriber's keepalive, s (default 10; the publisher's is 2). A client learns that its
   * connection died with the old master only when it next sends (the new master then resets it):
   * a quiet subscriber notices after up to its keepalive, the publisher at its next message. What
   * the new master takes in between waits only in a session that is already there.
   */
  subscriberKeepaliveSeconds?: number;
  /**
   * The subscriber's reconnect delay, ms (default 3000): it comes back after the publisher, as a
   * client with a longer back-off does (issue 15's case). Without a session waiting on the new
   * master, what the publisher sends in between is lost.
   */
  subscriberReconnectPeriodMs?: number;
  onStep?: (label: string, msSinceFault: number) => void;
}

/**
 * The master's cable pulled for good (issue 15): the persistent subscriber's session on the old
 * master is out of reach, so what it gets after the takeover is only what waits for it on the new
 * master. The verdict is taken with the old master still gone (the probe's drain waits for the
 * missing messages, bounded); only then is its cable put back and the lab left as it was (the old
 * master MASTER again, the bridges up), outside the count.
 */
export async function masterGoneRound(lab: Lab, options: MasterGoneOptions = {}): Promise<RoundResult> {
  const { rate = 200, steadyMs = 1_000, reconnectPeriodMs = 1_000, subscriberKeepaliveSeconds = 10, subscriberReconnectPeriodMs = 3_000 } = options;
  const [master] = await lab.vipHolders();
  if (master === undefined) throw new Error('no node holds the VIP before the fault');
  const old = lab.node(master);
  const next = lab.nodes.filter((node) => node.id !== master).sort((a, b) => b.priority - a.priority)[0]!;
  const result = await probedRound(lab, { rate, steadyMs, qos: options.qos ?? 1, ...(options.subscriber ? { subscriber: options.subscriber } : {}), reconnectPeriodMs, subscriberKeepaliveSeconds, subscriberReconnectPeriodMs, onStep: options.onStep }, async ({ probe, faultAt, step, drain }) => {
    await old.linkDown();
    step(FAULTS['master-gone'], faultAt);
    const subscriber = subscriberId(probe);
    const shadowedBeforeFault = next.daemonLines().some((line) => line.msg === 'shadow subscriptions changed' && line['client'] === subscriber && line.time <= faultAt);
    const subscribedAt = probe.events.find((event) => event.e === 'subscribed')?.t;
    const learnerAt = old.daemonLines().filter((line) => line.msg === "reading the broker's log" && line.time <= faultAt).at(-1)?.time;
    const learnerFromSubscribeMs = subscribedAt === undefined || learnerAt === undefined ? undefined : Math.round(learnerAt - subscribedAt);
    const times: RoundTimes = {};
    times.vipMoved = Date.now() + (await lab.waitForVipOn(next.id, { alone: false, timeoutMs: 20_000 })) - faultAt;
    step(`VIP on ${next.name}`, faultAt + times.vipMoved);
    const at = await DAEMON_TAKEOVERS.waitForTakeover(next, faultAt);
    takeoverTimes(times, at, faultAt);
    step(`${next.name}: DNAT rule in place`, at.dnat);
    step(`${next.name}: broker accepting`, at.accepting);
    const { visible } = await deliveredAgain({ probe, faultAt, step }, at, steadyMs, times);
    const report = await drain();
    // A publisher that never saw its connection close: only what it sent before the fault counts as in flight.
    const pubClosed = faultAt + (times.pubLost ?? 0);
    return {
      shadowedBeforeFault,
      ...(learnerFromSubscribeMs === undefined ? {} : { learnerFromSubscribeMs }),
      lostAckedMs: lostAckTimes(probe.events, report, faultAt),
      lostInFlight: sentBefore(probe.events, report.lost, pubClosed),
      fault: 'master-gone' as const,
      from: old.id,
      to: next.id,
      times,
      clientVisibleMs: visible.gapMs,
      report,
      restarts: Object.fromEntries(lab.nodes.map((node) => [node.id, DAEMON_TAKEOVERS.restartsSince(node, faultAt)])),
    };
  });
  // Not counted: the old master back, for the next round.
  const backAt = Date.now();
  await old.linkUp();
  await lab.waitForVipOn(old.id, { timeoutMs: 30_000 });
  await DAEMON_TAKEOVERS.waitForTakeover(old, backAt);
  await lab.waitForBridges(30_000);
  return result;
}

export interface BrokerKillOptions {
  rate?: number;
  steadyMs?: number;
  /** How long the VIP is watched after the kill for a move (a crash that fails over, `health.crash: failover`), ms (default 4000). */
  watchMs?: number;
  onStep?: (label: string, msSinceFault: number) => void;
}

/**
 * The master's mosquitto killed with -9, once (issue 15, "a broker that keeps what it
 * acknowledged"): the supervise adapter starts it again in place from its persistence file,
 * or (`health.crash: failover`) the VIP moves to the next node and comes back once the
 * restarted broker is well. What the broker had acknowledged but not yet saved or delivered is
 * what a restart in place can lose. The verdict is taken after the VIP is back on the old master
 * (if it moved at all) and the bridges have drained; the client-visible time is the longest gap
 * of the whole round, a failback's included.
 */
export async function brokerKillRound(lab: Lab, options: BrokerKillOptions = {}): Promise<RoundResult> {
  const { rate = 200, steadyMs = 1_000, watchMs = 4_000 } = options;
  const [master] = await lab.vipHolders();
  if (master === undefined) throw new Error('no node holds the VIP before the fault');
  const old = lab.node(master);
  const next = lab.nodes.filter((node) => node.id !== master).sort((a, b) => b.priority - a.priority)[0]!;
  return probedRound(lab, { rate, steadyMs, onStep: options.onStep }, async ({ probe, faultAt, step, drain }) => {
    if (old.kill('mosquitto').length === 0) throw new Error(`${old.name}: no mosquitto to kill`);
    step(FAULTS['broker-kill'], faultAt);
    const times: RoundTimes = {};
    const respawn = await old.waitForLine('broker started', faultAt, 20_000);
    times.respawned = respawn.time - faultAt;
    step(`${old.name}: broker started again in place (supervise)`, respawn.time);
    for (let polls = 0; Date.now() - faultAt < watchMs && polls < 10_000 && times.vipMoved === undefined; polls++) {
      if ((await lab.vipHolders()).includes(next.id)) times.vipMoved = Date.now() - faultAt;
      else await sleep(20);
    }
    const sick = old.linesSince('broker sick', faultAt)[0]?.time;
    if (sick !== undefined) times.sick = sick - faultAt;
    step(`${old.name}: broker sick`, sick);
    let resumedAfter: Takeover = { accepting: respawn.time };
    if (times.vipMoved !== undefined) {
      step(`VIP on ${next.name}`, faultAt + times.vipMoved);
      resumedAfter = await DAEMON_TAKEOVERS.waitForTakeover(next, faultAt);
      takeoverTimes(times, resumedAfter, faultAt);
      step(`${next.name}: DNAT rule in place`, resumedAfter.dnat);
      step(`${next.name}: broker accepting`, resumedAfter.accepting);
    } else step(`the VIP stayed on ${old.name} (watched ${watchMs} ms)`, faultAt + watchMs);
    const { until } = await deliveredAgain({ probe, faultAt, step }, resumedAfter, steadyMs, times);
    if (times.vipMoved !== undefined) {
      await lab.waitForVipOn(old.id, { timeoutMs: 30_000 });
      const failback = await DAEMON_TAKEOVERS.waitForTakeover(old, faultAt + times.vipMoved);
      times.failback = completeAt(failback) - faultAt;
      step(`${old.name} is MASTER again (failback)`, completeAt(failback));
      await probe.waitFor('delivery after the failback', (event) => event.e === 'recv' && event.t > completeAt(failback), 30_000);
    }
    await lab.waitForBridges(30_000);
    await sleep(steadyMs);
    const visible = outage(probe.events, faultAt, Math.max(until, Date.now()));
    const report = await drain();
    return {
      fault: 'broker-kill' as const,
      from: old.id,
      to: times.vipMoved === undefined ? old.id : next.id,
      times,
      clientVisibleMs: visible.gapMs,
      report,
      restarts: Object.fromEntries(lab.nodes.map((node) => [node.id, DAEMON_TAKEOVERS.restartsSince(node, faultAt)])),
      lostAckedMs: lostAckTimes(probe.events, report, faultAt),
    };
  });
}
