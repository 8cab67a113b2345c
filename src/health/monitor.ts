/**
 * The health monitor: probes this node's own broker every `health.interval` (an MQTT round trip
 * as the daemon user on the admin listener, and on the client listener with
 * `health.client_port`), decides sick or well (hysteresis.ts), and writes the weight
 * (weight.ts) that moves this node's priority through the one track-file writer. It owns the
 * `broker` and `weight` facts of the node state; the status publisher tells the peers. The
 * operator's `preference` (the synced leader file, owned by the syncer) adds its term.
 *
 * What it knows of a peer's broker is the health in the peer's status, taken only while the
 * peer is online and its broker reachable now. Before stepping down for a peer, it checks that
 * peer's broker itself (one round trip): a status says what was, and a peer whose broker hung
 * a moment ago is still connected and "well" for as long as MQTT's keepalive takes to notice.
 */
import type { Logger } from 'pino';
import { NoAnswerError, probeOnce } from '../broker/health.js';
import type { Exit } from '../broker/supervise.js';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { Component } from '../context.js';
import { messageOf } from '../errors.js';
import type { Login } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';
import type { Fact, NodeState, RoleName } from '../node-state.js';
import { INITIAL_HEALTH, nextHealth, type HealthState, type ProbeResult } from './hysteresis.js';
import type { TrackFile } from './track-file.js';
import { standingPriority } from './split.js';
import { weightOf, type PeerHealth, type Switchover, type Weight, type WeightInputs } from './weight.js';

/**
 * The node-state facts besides the broker's health that move the weight (weight.ts): a change of
 * any of them weighs again at once, with or without health probes.
 */
const WEIGHT_FACTS: readonly Fact[] = ['preference', 'split', 'prepared', 'role'];

/** How long a hand-over (FAULT) may last beyond 3 adverts when this node does not leave MASTER. */
const HANDOVER_BOUND_MS = 1_000;

export interface HealthMonitorOptions {
  config: ClusterConfig;
  self: NodeConfig;
  /** The daemon user on `node`'s broker: `port` the admin listener. */
  loginTo: (node: NodeConfig, port?: number) => Login;
  topics: Topics;
  state: NodeState;
  log: Logger;
  /** Whether the peer channel's connection to `nodeId`'s broker is up now. */
  isConnected: (nodeId: number) => boolean;
  /**
   * The weight's one writer: keepalived's track file, or under ucarp, which has no runtime
   * priority, the writer that stops ucarp for a weight below 0 and starts it again for 0
   * (src/failover/advertise.ts).
   */
  track: Pick<TrackFile, 'write'>;
  /**
   * The broker adapter's exits (supervise only: BrokerControl.onExit): a broker that exits on its
   * own right after it was started cannot serve until a later respawn, so the monitor takes it
   * for sick at once instead of counting `fall` refused probes (a crash loop).
   */
  brokerExits?: ((listener: (exit: Exit) => void) => () => void) | undefined;
  /**
   * Ends the client connections of this node's broker (client-reset.ts), resolving with how many;
   * called once per step-down, when this node, stepped down for its sick broker, is no longer
   * MASTER: the hung broker's clients reconnect through the VIP to the new master at once.
   */
  resetClients?: (() => Promise<number>) | undefined;
  now?: () => number;
}

export class HealthMonitor implements Component {
  private readonly options: HealthMonitorOptions;
  private health: HealthState = INITIAL_HEALTH;
  private steppedDown = false;
  private probed = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** This node's broker, and its peers', as of the last probe. */
  private sick = false;
  private peerHealth: Record<string, PeerHealth> = {};
  /** The weighing in progress: weighings run one after another, never two writes at once. */
  private weighing: Promise<void> = Promise.resolve();
  /** The decision in progress: a probe's and a broker exit's run one after another. */
  private deciding: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  /** The promote of this node whose term was given (ready): it stays while that promote does, so a MASTER lost for a moment does not give the VIP back. */
  private raisedFor: string | undefined;
  private unsubscribeExits: (() => void) | undefined;
  /** Whether the clients of the broker this node stepped down for were reset (once per step-down). */
  private clientsReset = false;
  /** This node's role as of the last change the monitor saw. */
  private role: RoleName = 'UNKNOWN';
  /** The hand-over in progress (weight.ts, WeightInputs.handover): from a MASTER's step-down until it is MASTER no more, bounded by its timer. */
  private handover = false;
  private handoverTimer: NodeJS.Timeout | undefined;

  constructor(options: HealthMonitorOptions) {
    this.options = options;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Writes the starting weight (the broker taken as well) and starts probing; weighs again whenever a fact in WEIGHT_FACTS changes. */
  async start(): Promise<void> {
    const { config, log, state } = this.options;
    this.role = state.current.role;
    await this.reweigh();
    this.unsubscribe = state.onChange((changed) => {
      if (changed.some((fact) => WEIGHT_FACTS.includes(fact))) {
        this.reweigh().catch((error: unknown) => log.error({ err: error }, 'writing the weight failed; trying again at the next change'));
      }
      if (changed.includes('role')) this.released();
    });
    if (!config.health.enabled) {
      log.info('health probes are off (health.enabled: false): the broker\'s health does not move the VIP');
      return;
    }
    // ucarp: a sick node stops advertising, and a backup takes over from a silent master whatever preempt says.
    if (config.failover.preempt === false && config.failover.driver === 'keepalived') {
      log.warn('with failover.preempt: false a sick broker does not move the VIP: keepalived\'s backups never take over from a live master (nopreempt), whatever its priority');
    }
    this.unsubscribeExits = this.options.brokerExits?.((exit) => this.exited(exit));
    this.schedule(0);
  }

  /** Stepped down for a sick broker and MASTER no more: the VIP has left, so its clients are sent after it (once per step-down). */
  private released(): void {
    const { state, resetClients, log } = this.options;
    const was = this.role;
    this.role = state.current.role;
    if (this.role !== 'MASTER' && this.handover) this.endHandover();
    if (!resetClients || !this.steppedDown || this.clientsReset || was !== 'MASTER' || this.role === 'MASTER') return;
    this.clientsReset = true;
    const at = this.now();
    resetClients().then(
      (count) => log.info({ connections: count, role: state.current.role, ms: this.now() - at }, `reset ${count} client connection(s) of the sick broker: its clients reconnect through the VIP to the new master`),
      (error: unknown) => log.warn({ err: error }, 'cannot reset the sick broker\'s client connections: its clients find the new master at their next keepalive'),
    );
  }

  /**
   * Ends the hand-over: the weight goes from FAULT to the sick floor (priority 1), so that this
   * node, a BACKUP again, still takes the VIP back should no peer advertise (never no VIP for
   * long). Called when this node is MASTER no more, or by the bound when it stays MASTER.
   */
  private endHandover(): void {
    clearTimeout(this.handoverTimer);
    this.handoverTimer = undefined;
    this.handover = false;
    this.reweigh().catch((error: unknown) => this.options.log.error({ err: error }, 'writing the weight failed; trying again at the next change'));
  }

  /** A failed start (the supervise adapter's): a conclusive failure, decided now, between probes. */
  private exited(exit: Exit): void {
    if (!exit.failedStart || this.stopped) return;
    const problem = `the broker exited on its own ${exit.ranMs} ms after it was started (${exit.how}; next start in ${exit.respawnInMs} ms): a crash loop`;
    this.decideInTurn({ ok: false, at: this.now(), problem, conclusive: true }).catch((error: unknown) =>
      this.options.log.error({ err: error }, 'health decision failed; trying again at the next probe'),
    );
  }

  /** Stops probing; the track file keeps its value (the next start writes it again). Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribeExits?.();
    clearTimeout(this.timer);
    clearTimeout(this.handoverTimer);
    await this.running;
    await this.deciding.catch(() => undefined);
    await this.weighing.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const at = this.now();
    try {
      await this.decideInTurn(await this.probe(at));
    } catch (error) {
      this.options.log.error({ err: error }, 'health decision failed; trying again at the next probe');
    }
    this.schedule(Math.max(0, this.options.config.health.interval * 1000 - (this.now() - at)));
  }

  private async probe(at: number): Promise<ProbeResult> {
    const { config, self, loginTo, topics } = this.options;
    const timeoutMs = config.health.timeout * 1000;
    const ports = [config.broker.admin_port, ...(config.health.client_port ? [config.broker.client_port] : [])];
    try {
      await Promise.all(ports.map((port) => probeOnce(loginTo(self, port), topics.health(self.id), timeoutMs)));
      return { ok: true, at };
    } catch (error) {
      return { ok: false, at, problem: messageOf(error), unanswered: error instanceof NoAnswerError };
    }
  }

  /** Decides after the decision in progress, if any (its failure its caller has seen). */
  private decideInTurn(probe: ProbeResult): Promise<void> {
    const next = this.deciding.catch(() => undefined).then(() => this.decide(probe));
    this.deciding = next;
    return next;
  }

  private async decide(probe: ProbeResult): Promise<void> {
    const { config, state, log } = this.options;
    const { fall, rise, hang_fall: hangFall } = config.health;
    const { state: next, change } = nextHealth(this.health, probe, { fall, rise, hangFall });
    this.health = next;
    if (change) {
      log[change.to === 'sick' ? 'warn' : 'info']({ health: change.to, from: change.from, reason: change.reason, probes: change.probes, at: { since: change.since, decided: change.at }, ms: change.ms }, `broker ${change.to}`);
    }
    if (change || !this.probed) {
      this.probed = true;
      const healthy = next.verdict === 'well';
      state.update({
        broker: {
          healthy,
          checkedAt: probe.at,
          ...(healthy ? {} : { problem: next.problem }),
          ...(change ? { change: { from: change.from, reason: change.reason, since: change.since, at: change.at, ms: change.ms } } : {}),
        },
      });
    }
    const sick = next.verdict === 'sick';
    this.peerHealth = await this.peers(sick && !this.steppedDown);
    this.sick = sick;
    // A MASTER about to step down hands the VIP over (FAULT for a moment); ucarp has no priority to hand over with.
    this.handover ||= sick && !this.steppedDown && state.current.role === 'MASTER' && config.failover.driver === 'keepalived';
    await this.reweigh();
  }

  /**
   * Computes the weight from the last probe and the node state, and writes it; runs after any
   * weighing in progress (whose failure its caller has seen), so that two never write at once.
   */
  private reweigh(): Promise<void> {
    const next = this.weighing.catch(() => undefined).then(() => {
      const split = this.options.state.current.split;
      const inputs: WeightInputs = {
        sick: this.sick,
        steppedDown: this.steppedDown,
        peers: this.peerHealth,
        split: split?.stepDown ? split.winner : undefined,
        switchover: this.switchover(),
        handover: this.handover,
      };
      // The standing priority leaves the split term out: it is what a split is decided by (split.ts).
      const priority = standingPriority(this.options.self.priority, weightOf({ ...inputs, split: undefined }).value);
      return this.apply(weightOf(inputs), priority, this.peerHealth);
    });
    this.weighing = next;
    return next;
  }

  /**
   * The operator's preference as it concerns this node; a name that is no node's is no
   * preference. A promote of this node is ready once the takeover is prepared for (the takeover
   * loop restarted the broker ahead of it), or when there is nothing to prepare: MASTER already,
   * or no restart at takeovers.
   */
  private switchover(): Switchover | undefined {
    const { config, self, state } = this.options;
    const { promote, demote } = state.current.preference;
    const name = promote ?? demote;
    if (promote !== self.name) this.raisedFor = undefined;
    if (name === undefined || !config.nodes.some((node) => node.name === name)) return undefined;
    const switchover: Switchover = { action: promote === undefined ? 'demote' : 'promote', target: name === self.name ? 'self' : 'other', priority: self.priority };
    if (switchover.action !== 'promote' || switchover.target !== 'self') return switchover;
    const { role, prepared } = state.current;
    const ready = this.raisedFor === name || !config.failover.restart_on_takeover || role === 'MASTER' || prepared !== undefined;
    if (ready) this.raisedFor = name;
    return { ...switchover, ready };
  }

  /** Each peer's broker as this node knows it now; with `verify`, a peer taken as well is checked first. */
  private async peers(verify: boolean): Promise<Record<string, PeerHealth>> {
    const { config, self, state, isConnected, loginTo, topics, log } = this.options;
    const others = config.nodes.filter((node) => node.id !== self.id);
    const views = await Promise.all(
      others.map(async (node): Promise<[string, PeerHealth]> => {
        const status = state.current.peers[node.id];
        if (!status?.online || !isConnected(node.id) || status.health === undefined) return [node.name, 'unknown'];
        if (status.health === 'sick' || !verify) return [node.name, status.health];
        try {
          await probeOnce(loginTo(node), topics.health(self.id), config.health.timeout * 1000);
          return [node.name, 'well'];
        } catch (error) {
          log.info({ peer: node.name, err: error }, `${node.name} says it is well, but its broker does not answer now: not stepping down for it`);
          return [node.name, 'unknown'];
        }
      }),
    );
    return Object.fromEntries(views);
  }

  private async apply(weight: Weight, priority: number, peers: Record<string, PeerHealth>): Promise<void> {
    const { state, track, log } = this.options;
    const before = state.current.weight;
    await track.write(weight.value);
    this.steppedDown = weight.steppedDown;
    if (!weight.steppedDown) this.clientsReset = false;
    if (!weight.steppedDown) this.handover = false;
    else if (this.handover && this.handoverTimer === undefined) {
      // keepalived acts on the track file within milliseconds; the bound only guards against it not acting.
      const boundMs = HANDOVER_BOUND_MS + 3 * this.options.config.failover.advert_int * 1000;
      this.handoverTimer = setTimeout(() => {
        this.options.log.warn({ ms: boundMs }, 'this node is still MASTER after the hand-over\'s bound: back at the sick floor');
        this.endHandover();
      }, boundMs);
    }
    state.update({ weight: { value: weight.value, reasons: weight.reasons, priority } });
    if (before.value !== weight.value || before.reasons.join() !== weight.reasons.join()) {
      log.info({ weight: weight.value, from: before.value, reasons: weight.reasons, peers }, `weight ${before.value} -> ${weight.value}`);
    }
  }
}
