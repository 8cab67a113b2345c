/**
 * Wiring and lifecycle of `mosquitto-failover run`: the FIFO reader (hints), the VIP poll
 * (truth), the planner and the executor (reconcile), and the broker adapter. Reconciles run one
 * at a time; a hint or a changed role starts one at once, and a slow timer repairs drift
 * (someone flushing our chain) even when nothing seems to change.
 */
import { mkdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { checkHealth } from './broker/health.js';
import { waitAccepting } from './broker/ready.js';
import { brokerControl, type BrokerControl } from './broker/control.js';
import type { LoadedConfig } from './config/load.js';
import type { NodeConfig } from './config/schema.js';
import { Executor, type Executed } from './engine/execute.js';
import { dnatLine, type DnatTarget } from './engine/nat.js';
import { plan } from './engine/plan.js';
import { loadState } from './engine/state.js';
import type { Runner } from './exec/runner.js';
import { nodeView, type NodeView } from './render/model.js';
import { FifoReader } from './role/fifo.js';
import { parseHint, type Hint } from './role/hint.js';
import { roleOf, staleAfterMs, type Role } from './role/observe.js';
import { driverState, hasAddress, type AddressLister } from './role/truth.js';
import type { TakeoverState } from './engine/plan.js';
import { PeerChannel } from './peer/channel.js';
import { offlineStatus, StatusBoard, statusTopic, type NodeStatus } from './peer/status.js';
import { Syncer, syncedFiles } from './sync/syncer.js';

export interface DaemonOptions {
  loaded: LoadedConfig;
  node: NodeConfig;
  log: Logger;
  run: Runner;
  version: string;
  listAddresses?: AddressLister;
  broker?: BrokerControl;
  /** How often the VIP is looked at (milliseconds). */
  vipPollMs?: number;
  /** How often the nat chain is checked even when the role did not change. */
  repairMs?: number;
}

/** After a SIGHUP, a moment for mosquitto's main loop to reread its files before the health check. */
const RELOAD_SETTLE_MS = 50;

type Reason = 'start' | 'hint' | 'timer' | 'repair';

/** A failed reconcile is tried again after this long, not on every poll. */
const RETRY_MS = 2_000;
const DEFAULT_KEEPALIVED_PID_FILE = '/run/keepalived.pid';

export class Daemon {
  private readonly options: DaemonOptions;
  private readonly view: NodeView;
  private readonly target: DnatTarget;
  private readonly broker: BrokerControl;
  private readonly executor: Executor;
  private readonly fifo: FifoReader;
  /** How long a VIP whose keepalived died is still served (see roleOf). */
  private readonly staleAfterMs: number;
  private state: TakeoverState | undefined;
  private lastHint: (Hint & { at: number }) | undefined;
  private lastRole: Role | undefined;
  private lastTransitionAt = 0;
  /** When the VRRP/CARP program was first seen dead (epoch ms), while it stays dead. */
  private driverDeadSince: number | undefined;
  private retryAt = 0;
  private busy: Promise<void> | undefined;
  private pending: Reason | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private readonly channel: PeerChannel;
  private readonly syncer: Syncer | undefined;
  private readonly board: StatusBoard;
  private readonly startedAt = new Date().toISOString();

  /** The VRRP/CARP program's pid file, when there is one to tell a stale VIP by. */
  private get pidFile(): string | undefined {
    const { failover } = this.options.loaded.config;
    return failover.pid_file ?? (failover.driver === 'keepalived' ? DEFAULT_KEEPALIVED_PID_FILE : undefined);
  }

  constructor(options: DaemonOptions) {
    this.options = options;
    const { loaded, node, log, run } = options;
    const { config } = loaded;
    this.view = nodeView(config, loaded.secrets, node, options.version);
    this.target = { vip: config.vip.address, port: config.broker.client_port, address: node.address, addressPort: config.broker.client_port };
    this.broker = options.broker ?? brokerControl(config, run, log.child({ component: 'broker' }), this.view.paths.brokerPidFile);
    this.executor = new Executor({
      run,
      broker: this.broker,
      waitAccepting: () =>
        waitAccepting({ host: node.address, port: config.broker.admin_port, username: config.daemon.user, password: loaded.secrets.daemonPassword }),
      driverStillDead: async () => (await driverState(this.pidFile, config.failover.driver)) === 'dead',
      stateFile: this.view.paths.stateFile,
      target: this.target,
      vip: config.vip,
      log,
    });
    this.staleAfterMs = staleAfterMs(config.failover.advert_int);
    this.fifo = new FifoReader({ path: this.view.paths.fifo, run, log, onLine: (line) => this.onLine(line) });
    this.board = new StatusBoard(node, log);
    const prefix = this.view.controlPrefix;
    const files = syncedFiles(config);
    const daemonLogin = { host: node.address, port: config.broker.admin_port, username: config.daemon.user, password: loaded.secrets.daemonPassword };
    this.syncer =
      files.length === 0
        ? undefined
        : new Syncer({
            cluster: config.cluster,
            self: node,
            nodes: config.nodes,
            files,
            users: { bridge: config.bridge.user, daemon: config.daemon.user },
            passwords: { bridge: loaded.secrets.bridgePassword, daemon: loaded.secrets.daemonPassword },
            secret: loaded.secrets.clusterSecret,
            stateFile: posix.join(config.daemon.state_dir, 'sync.json'),
            sweep: config.sync.sweep,
            log: log.child({ component: 'sync' }),
            broker: this.broker,
            healthy: async () => {
              await sleep(RELOAD_SETTLE_MS);
              await checkHealth({ ...daemonLogin, topic: `${prefix}/health/${node.id}`, timeoutMs: 5_000 });
            },
            publish: (topic, payload) => this.channel.publish(topic, payload, { retain: true }),
            onVersion: () => this.publishStatus(),
          });
    this.channel = new PeerChannel({
      self: node,
      nodes: config.nodes,
      port: config.broker.admin_port,
      username: config.daemon.user,
      password: loaded.secrets.daemonPassword,
      prefix,
      subscriptions: ['node/+/status', 'sync/+'],
      will: { topic: statusTopic(node.id), payload: JSON.stringify(offlineStatus(node)) },
      log: log.child({ component: 'peer' }),
      onMessage: (from, topic, payload) => this.onPeerMessage(from, topic, payload),
      onOwnConnect: () => {
        this.publishStatus();
        this.syncer?.publishAll();
      },
    });
  }

  private onPeerMessage(from: NodeConfig, topic: string, payload: Buffer): void {
    if (topic.startsWith('sync/')) this.syncer?.receive(from, topic.slice('sync/'.length), payload);
    else this.board.take(from, topic, payload);
  }

  private publishStatus(): void {
    // Published again when the own broker's connection is made.
    if (this.stopped || !this.channel.isConnected(this.options.node.id)) return;
    const { node } = this.options;
    const status: NodeStatus = { node: node.id, name: node.name, online: true, role: this.lastRole ?? 'UNKNOWN', since: this.startedAt, versions: this.syncer?.versions() ?? {} };
    this.channel.publish(statusTopic(node.id), JSON.stringify(status), { retain: true }).catch((error: unknown) => this.options.log.debug({ err: error }, 'status not published now'));
  }

  async start(): Promise<void> {
    const { config } = this.options.loaded;
    await mkdir(config.daemon.run_dir, { recursive: true, mode: 0o750 });
    await mkdir(config.daemon.state_dir, { recursive: true, mode: 0o750 });
    this.state = await loadState(this.view.paths.stateFile);
    await this.fifo.start();
    // The first reconcile may restart (so start) the broker for a takeover; start() then adopts
    // or starts it only if that did not happen. Hints read meanwhile (keepalived may have left
    // lines in its FIFO) wait their turn: reconciles never overlap.
    const first = this.drain('start', { rethrow: true });
    this.busy = first.catch(() => undefined);
    try {
      await first;
    } finally {
      this.busy = undefined;
    }
    await this.broker.start();
    await this.syncer?.start();
    this.channel.start();
    if (this.pending) this.trigger(this.pending);
    const vipPollMs = this.options.vipPollMs ?? 200;
    this.timers.push(setInterval(() => this.trigger('timer'), vipPollMs));
    this.timers.push(setInterval(() => this.trigger('repair'), this.options.repairMs ?? 10_000));
    this.options.log.info(
      { role: this.lastRole, epoch: this.state.epoch, fifo: this.view.paths.fifo, vip: config.vip.address, control: config.broker.control },
      'started',
    );
  }

  /** Stops timers, the FIFO, the running reconcile and (under supervise) the broker. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.fifo.stop();
    const { node } = this.options;
    await this.channel.stop(() => this.channel.publish(statusTopic(node.id), JSON.stringify(offlineStatus(node)), { retain: true }));
    await this.syncer?.stop();
    await this.busy;
    await this.broker.stop();
    this.options.log.info({ role: this.lastRole }, 'stopped');
  }

  private onLine(line: string): void {
    const hint = parseHint(line, this.view.instance);
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
    if (this.busy) {
      if (reason !== 'timer' || this.pending === undefined) this.pending = reason;
      return;
    }
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
    const { loaded, log } = this.options;
    const { config } = loaded;
    const vip = hasAddress(config.vip.interface, config.vip.address, this.options.listAddresses);
    const driver = await driverState(this.pidFile, config.failover.driver);
    if (driver !== 'dead') this.driverDeadSince = undefined;
    else if (this.driverDeadSince === undefined) {
      this.driverDeadSince = Date.now();
      const grace = this.staleAfterMs;
      log.warn({ pidFile: this.pidFile, vip, graceMs: grace }, `${config.failover.driver} is not running${vip ? `: serving through the VIP for ${grace} ms more, until a peer has taken over, then removing it` : ''}`);
    }
    const observed = roleOf({
      vip,
      driver,
      hint: this.lastHint?.state,
      driverDeadForMs: this.driverDeadSince === undefined ? 0 : Date.now() - this.driverDeadSince,
      staleAfterMs: this.staleAfterMs,
    });
    const changed = observed.role !== this.lastRole || observed.staleVip;
    if (reason === 'timer' && (!changed || Date.now() < this.retryAt)) return;
    const seenAt = Date.now();
    const nat = await this.executor.readNat();
    const state = this.state!;
    const actions = plan({ observed, nat, state, dnatLine: dnatLine(this.target), now: new Date(seenAt) });
    if (actions.length > 0) log.debug({ reason, actions: actions.map((action) => action.type) }, 'plan');
    const done = await this.executor.execute(actions);
    if (done.state) this.state = done.state;
    if (changed) this.logTransition(reason, observed.role, seenAt, done);
    else if (actions.some((action) => action.type !== 'saveState')) log.warn({ reason, actions: actions.map((action) => action.type) }, 'repaired drift in the nat chain');
    const roleChanged = observed.role !== this.lastRole;
    this.lastRole = observed.role;
    if (roleChanged) this.publishStatus();
  }

  /** One line per transition, with the times of each step (epoch ms) and their distance from the first sign. */
  private logTransition(reason: Reason, role: Role, seenAt: number, done: Executed): void {
    // Only a hint that came since the last transition led to this one.
    const hint = this.lastHint && this.lastHint.at > this.lastTransitionAt ? this.lastHint : undefined;
    this.lastTransitionAt = seenAt;
    const origin = Math.min(hint?.at ?? seenAt, seenAt);
    const at = { hint: hint?.at, vipSeen: seenAt, dnat: done.dnatAt, restarted: done.restartedAt, accepting: done.acceptingAt };
    const ms = Object.fromEntries(Object.entries(at).flatMap(([step, time]) => (time === undefined ? [] : [[step, time - origin]])));
    this.options.log.info(
      { role, from: this.lastRole ?? 'UNKNOWN', reason, epoch: this.state?.epoch, hint: hint?.state, vip: role === 'MASTER', at, ms },
      `role ${this.lastRole ?? 'UNKNOWN'} -> ${role}`,
    );
  }
}
