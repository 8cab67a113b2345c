/**
 * The takeover loop: the FIFO reader (hints), the VIP poll (truth), the planner and the executor
 * (reconcile), and the broker adapter's life. Reconciles run one at a time; a hint or a changed
 * role starts one at once, and a slow timer repairs drift (someone flushing our chain) even when
 * nothing seems to change. It owns the role, the epoch and the last transition in the node state.
 */
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { BrokerControl } from '../broker/control.js';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { NodeState, Transition } from '../node-state.js';
import { FifoReader } from '../role/fifo.js';
import { parseHint, type Hint } from '../role/hint.js';
import { roleOf, type Role } from '../role/observe.js';
import { hasAddress } from '../role/truth.js';
import type { Runner } from '../exec/runner.js';
import type { RuntimePaths } from '../paths.js';
import type { Executed, Executor } from './execute.js';
import { dnatLine, type DnatTarget } from './nat.js';
import { holdDownMs, plan, type TakeoverState } from './plan.js';
import type { DriverWatch } from './stale.js';
import { loadState } from './state.js';

export interface TakeoverLoopOptions {
  config: ClusterConfig;
  paths: RuntimePaths;
  /** This node: a promote that names it asks for a prepared takeover (plan.ts). */
  self: NodeConfig;
  instance: string;
  target: DnatTarget;
  state: NodeState;
  broker: BrokerControl;
  executor: Executor;
  driver: DriverWatch;
  run: Runner;
  log: Logger;
  /**
   * Called on every VIP poll while the loop is alive: idle, or in a reconcile younger than
   * RECONCILE_BOUND_MS (systemd's watchdog, src/systemd/notify.ts). A blocked event loop, stopped
   * timers or a reconcile stuck past its bound stop the calls.
   */
  onAlive?: () => void;
  /** Shadow sessions are on: a takeover's DNAT rule waits for their learner (plan.ts, `waitForLearner`). */
  waitForLearner?: boolean;
}

type Reason = 'start' | 'hint' | 'timer' | 'repair' | 'preference';

/** A failed reconcile is tried again after this long, not on every poll. */
const RETRY_MS = 2_000;
/** How often the VIP is looked at. */
const VIP_POLL_MS = 200;
/**
 * Longer than any reconcile can take: its steps are bounded by their commands' timeouts (a broker
 * restart 60 s, the accepting wait 20 s, each iptables call 15 s).
 */
const RECONCILE_BOUND_MS = 150_000;
/** How often the nat chain is checked even when the role did not change. */
const REPAIR_MS = 10_000;

export class TakeoverLoop {
  private readonly options: TakeoverLoopOptions;
  private readonly fifo: FifoReader;
  private readonly holdDownMs: number;
  private takeover: TakeoverState | undefined;
  private lastHint: (Hint & { at: number }) | undefined;
  private lastRole: Role | undefined;
  private lastTransitionAt = 0;
  private retryAt = 0;
  private busy: Promise<void> | undefined;
  private busySince = 0;
  private pending: Reason | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(options: TakeoverLoopOptions) {
    this.options = options;
    this.holdDownMs = holdDownMs(options.config.failover.advert_int);
    this.fifo = new FifoReader({ path: options.paths.fifo, run: options.run, log: options.log, onLine: (line) => this.onLine(line) });
  }

  /**
   * Reads the FIFO, reconciles once (a failure ends the start), then starts or adopts the broker
   * and the timers. The first reconcile may restart (so start) the broker for a takeover;
   * `broker.start()` then adopts it. Hints read meanwhile wait their turn: reconciles never overlap.
   */
  async start(): Promise<void> {
    const { config, paths, broker, log } = this.options;
    await mkdir(config.daemon.run_dir, { recursive: true, mode: 0o750 });
    await mkdir(config.daemon.state_dir, { recursive: true, mode: 0o750 });
    this.takeover = await loadState(paths.takeoverState);
    this.options.state.update({ epoch: this.takeover.epoch });
    await this.fifo.start();
    const first = this.drain('start', { rethrow: true });
    this.busy = first.catch(() => undefined);
    try {
      await first;
    } finally {
      this.busy = undefined;
    }
    await broker.start();
    // A promote of this node (the synced preference) is prepared for at once, not at the next repair.
    this.unsubscribe = this.options.state.onChange((changed) => {
      if (changed.includes('preference')) this.trigger('preference');
    });
    if (this.pending) this.trigger(this.pending);
    this.timers.push(setInterval(() => this.trigger('timer'), VIP_POLL_MS));
    this.timers.push(setInterval(() => this.trigger('repair'), REPAIR_MS));
    log.debug({ fifo: paths.fifo }, 'takeover loop started');
  }

  /** Stops the timers, the FIFO, the running reconcile and then the broker adapter. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.fifo.stop();
    await this.busy;
    await this.options.broker.stop();
  }

  private onLine(line: string): void {
    const hint = parseHint(line, this.options.instance);
    if (!hint) {
      this.options.log.debug({ line }, 'ignored a FIFO line');
      return;
    }
    this.lastHint = { ...hint, at: Date.now() };
    this.options.log.info({ hint: hint.state, priority: hint.priority }, 'hint');
    this.trigger('hint');
  }

  private trigger(reason: Reason): void {
    if (this.stopped) return;
    if (!this.busy || Date.now() - this.busySince < RECONCILE_BOUND_MS) this.options.onAlive?.();
    if (this.busy) {
      if (reason !== 'timer' || this.pending === undefined) this.pending = reason;
      return;
    }
    this.busySince = Date.now();
    this.busy = this.drain(reason).finally(() => {
      this.busy = undefined;
    });
  }

  /**
   * Runs reconciles until no new reason arrived meanwhile (bounded: the next tick resumes). A
   * failure is logged and tried again later, except at start (`rethrow`), where it ends the daemon.
   */
  private async drain(first: Reason, options: { rethrow?: boolean } = {}): Promise<void> {
    let reason: Reason | undefined = first;
    for (let round = 0; reason !== undefined && round < 10 && !this.stopped; round++) {
      this.pending = undefined;
      try {
        await this.reconcile(reason);
      } catch (error) {
        if (options.rethrow && round === 0) throw error;
        this.retryAt = Date.now() + RETRY_MS;
        this.options.log.error({ err: error, reason }, 'reconcile failed; trying again shortly');
      }
      reason = this.pending;
    }
  }

  private async reconcile(reason: Reason): Promise<void> {
    const { config, executor, driver, log } = this.options;
    const vip = hasAddress(config.vip.interface, config.vip.address);
    const looked = await driver.look(vip);
    this.options.state.update({ driver: looked.driver });
    const observed = roleOf({ vip, driver: looked.driver, hint: this.lastHint?.state, driverDeadForMs: looked.deadForMs, staleAfterMs: driver.staleAfterMs });
    const changed = observed.role !== this.lastRole || observed.staleVip;
    if (reason === 'timer' && (!changed || Date.now() < this.retryAt)) return;
    const seenAt = Date.now();
    const nat = await executor.readNat();
    const prepare = this.options.state.current.preference.promote === this.options.self.name;
    const before = this.takeover!;
    const actions = plan({ observed, nat, state: before, dnatLine: dnatLine(this.options.target), now: new Date(seenAt), holdDownMs: this.holdDownMs, restartOnTakeover: config.failover.restart_on_takeover, prepare, waitForLearner: this.options.waitForLearner ?? false });
    if (actions.length > 0) log.debug({ reason, actions: actions.map((action) => action.type) }, 'plan');
    const done = await executor.execute(actions);
    if (done.state) this.takeover = done.state;
    if (observed.role === 'MASTER' && before.prepared?.ok && !actions.some((action) => action.type === 'restartBroker')) {
      log.info({ preparedAt: before.prepared.at }, 'no broker restart at this takeover: it was prepared for');
    }
    // A rule already in place at a takeover (a prepared one) applied from the VIP's arrival (nat.ts), before any sign of it here.
    const ruleWasIn = observed.role === 'MASTER' && nat.rules.includes(dnatLine(this.options.target));
    const transition = changed ? this.transition(reason, observed.role, seenAt, done, ruleWasIn) : undefined;
    if (!changed && actions.some((action) => action.type !== 'saveState')) log.warn({ reason, actions: actions.map((action) => action.type) }, 'repaired drift in the nat chain');
    this.lastRole = observed.role;
    const prepared = this.takeover!.prepared;
    this.options.state.update({ role: observed.role, epoch: this.takeover!.epoch, prepared: prepared && { at: Date.parse(prepared.at), ok: prepared.ok }, ...(transition ? { lastTransition: transition } : {}) });
  }

  /** One line per transition, with the times of each step (epoch ms) and their distance from the first sign. */
  private transition(reason: Reason, role: Role, seenAt: number, done: Executed, ruleWasIn: boolean): Transition {
    // Only a hint that came since the last transition led to this one.
    const hint = this.lastHint && this.lastHint.at > this.lastTransitionAt ? this.lastHint : undefined;
    this.lastTransitionAt = seenAt;
    const origin = Math.min(hint?.at ?? seenAt, seenAt);
    // A rule found in place counts from the first sign: keepalived adds the VIP before it notifies.
    const dnat = done.dnatAt ?? (ruleWasIn ? origin : undefined);
    const steps = { hint: hint?.at, vipSeen: seenAt, dnat, restarted: done.restartedAt, accepting: done.acceptingAt, learner: done.learnerAt };
    const at = Object.fromEntries(Object.entries(steps).flatMap(([step, time]) => (time === undefined ? [] : [[step, time]])));
    const ms = Object.fromEntries(Object.entries(at).map(([step, time]) => [step, time - origin]));
    const from = this.lastRole ?? 'UNKNOWN';
    const epoch = this.takeover!.epoch;
    this.options.log.info({ role, from, reason, epoch, hint: hint?.state, vip: role === 'MASTER', at, ms }, `role ${from} -> ${role}`);
    return { from, to: role, reason, epoch, at, ms };
  }
}
