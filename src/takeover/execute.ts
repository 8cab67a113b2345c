/**
 * Act: runs the planner's actions in order through the command runner and the broker adapter,
 * and stops at the first failure (the next reconcile plans again from what is then true). Returns
 * when each step of interest finished, for the transition log line.
 */
import type { Logger } from 'pino';
import type { BrokerControl } from '../broker/control.js';
import type { Runner } from '../exec/runner.js';
import { CHAIN, dnatArgs, jumpArgs, parseNat, type DnatTarget, type NatState } from './nat.js';
import type { Action, TakeoverState } from './plan.js';
import { saveState } from './state.js';

export interface ExecutorDeps {
  run: Runner;
  broker: BrokerControl;
  /** Resolves once the broker accepts MQTT connections again (after a restart: the `waitAccepting` action). */
  waitAccepting: () => Promise<void>;
  /**
   * Resolves once what the master's broker takes now reaches this broker over the bridge (a
   * drain marker, switchover/drain.ts), with the master's name and the ms it took, or undefined
   * when no other node is MASTER; rejects when the bridge does not carry it in time.
   */
  waitBridged: () => Promise<{ from: string; ms: number } | undefined>;
  /**
   * Resolves once the shadow sessions' learner reads the broker's log again after the restart that
   * began at `since` (epoch ms), or after its own bound (it never rejects); absent without them.
   */
  waitLearner?: (since: number) => Promise<void>;
  /** Whether the VRRP/CARP program is still dead, asked again right before a stale VIP is removed. */
  driverStillDead: () => Promise<boolean>;
  stateFile: string;
  target: DnatTarget;
  vip: { address: string; prefix: number; interface: string };
  log: Logger;
}

export interface Executed {
  /** Epoch milliseconds at which the DNAT rule was in place, the broker restarted, and accepting. */
  dnatAt?: number;
  restartedAt?: number;
  acceptingAt?: number;
  /** Epoch ms at which the broker restart began, and the learner read the log again (`waitLearner`). */
  restartBeganAt?: number;
  learnerAt?: number;
  /** The last state saved. */
  state?: TakeoverState;
  /** Epoch ms at which a preparation (`prepareBroker`) ended. */
  preparedAt?: number;
}

const IPTABLES_TIMEOUT = 15_000;

export class Executor {
  private readonly deps: ExecutorDeps;

  constructor(deps: ExecutorDeps) {
    this.deps = deps;
  }

  async readNat(): Promise<NatState> {
    const { stdout } = await this.deps.run(['iptables', '-w', '5', '-t', 'nat', '-S'], { timeout: IPTABLES_TIMEOUT });
    return parseNat(stdout);
  }

  async execute(actions: readonly Action[]): Promise<Executed> {
    const done: Executed = {};
    for (const action of actions) await this.step(action, done);
    return done;
  }

  private async iptables(args: readonly string[]): Promise<void> {
    await this.deps.run(['iptables', '-w', '5', '-t', 'nat', ...args], { timeout: IPTABLES_TIMEOUT });
  }

  private async step(action: Action, done: Executed): Promise<void> {
    const { run, broker, target, vip, log } = this.deps;
    switch (action.type) {
      case 'createChain':
        return this.iptables(['-N', CHAIN]);
      case 'addJump':
        return this.iptables(['-A', ...jumpArgs(action.hook)]);
      case 'deleteJump':
        return this.iptables(['-D', ...jumpArgs(action.hook)]);
      case 'flushChain':
        await this.iptables(['-F', CHAIN]);
        log.info({ chain: CHAIN }, 'DNAT rule removed');
        return;
      case 'addDnat':
        await this.addDnat(done);
        return;
      case 'replaceDnat':
        await this.iptables(['-R', CHAIN, '1', ...dnatArgs(target)]);
        done.dnatAt = Date.now();
        log.info({ vip: `${target.vip}:${target.port}`, to: `${target.address}:${target.addressPort}` }, 'DNAT rule replaced (it was not ours as it should be now)');
        return;
      case 'removeStaleVip':
        // A keepalived started again since the plan owns the VIP now: never take it from it.
        if (!(await this.deps.driverStillDead())) {
          log.info('the failover program is running again: leaving the VIP to it');
          return;
        }
        log.warn({ vip: vip.address }, 'the VIP is here but the failover program that added it is dead: removing the stale VIP');
        await run(['ip', 'address', 'del', `${vip.address}/${vip.prefix}`, 'dev', vip.interface], { timeout: 10_000 });
        return;
      case 'saveState':
        await saveState(this.deps.stateFile, action.state);
        done.state = action.state;
        return;
      case 'restartBroker':
        log.info({ epoch: action.epoch }, 'restarting the broker for this takeover');
        done.restartBeganAt = Date.now();
        await broker.restart();
        done.restartedAt = Date.now();
        return;
      case 'waitAccepting':
        await this.deps.waitAccepting();
        done.acceptingAt = Date.now();
        return;
      case 'waitLearner':
        await this.deps.waitLearner?.(done.restartBeganAt ?? Date.now());
        done.learnerAt = Date.now();
        return;
      case 'prepareBroker': {
        const ok = await this.prepare();
        // The rule in now, while BACKUP: inert until the VIP comes (nat.ts), so the takeover need not add it.
        if (ok) await this.addDnat({}).catch((error: unknown) => log.warn({ err: error }, 'could not add the DNAT rule of the preparation: the takeover will'));
        const state = { ...action.state, prepared: { at: new Date().toISOString(), ok } };
        await saveState(this.deps.stateFile, state);
        done.state = state;
        done.preparedAt = Date.now();
        return;
      }
    }
  }

  private async addDnat(done: Executed): Promise<void> {
    const { target, log } = this.deps;
    await this.iptables(['-A', CHAIN, ...dnatArgs(target)]);
    done.dnatAt = Date.now();
    log.info({ vip: `${target.vip}:${target.port}`, to: `${target.address}:${target.addressPort}` }, 'DNAT rule added');
  }

  /**
   * The restart a planned takeover would make, ahead of it: restart, accepting, and the master's
   * bridge back (it reconnects after its restart_timeout), so that the VIP moves onto a bridged
   * broker. Never throws: a preparation that fails leaves the restart to the takeover, and a
   * bridge that does not come back in time still leaves the drain the command made before.
   */
  private async prepare(): Promise<boolean> {
    const { broker, log } = this.deps;
    const started = Date.now();
    log.info('restarting the broker to prepare a planned takeover');
    try {
      await broker.restart();
      const restarted = Date.now();
      await this.deps.waitAccepting();
      const accepting = Date.now();
      const bridged = await this.deps.waitBridged().catch((error: unknown) => {
        log.warn({ err: error }, 'the bridge from the master did not carry a marker in time after the preparation: going on (the promote drained it before)');
        return undefined;
      });
      const ms = { restarted: restarted - started, accepting: accepting - started, bridged: Date.now() - started };
      log.info({ ms, ...(bridged ? { bridge: bridged } : {}) }, 'prepared for the planned takeover');
      return true;
    } catch (error) {
      log.error({ err: error }, 'preparing for the planned takeover failed: the takeover will restart the broker');
      return false;
    }
  }
}
