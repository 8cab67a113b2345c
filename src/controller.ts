/**
 * `mosquitto-failover run`: builds the components of a node on one shared node state, starts them
 * in order and stops them in reverse. The takeover loop first (it starts or adopts the broker and
 * stops it last), then, under ucarp, the failover driver's control (it may run ucarp), the broker's
 * save on each session change (broker.save_on_session_change), the sync
 * (credentials and the switchover preference, which the first weight needs), the health monitor
 * (it probes that broker and writes the weight; under ucarp it stops and starts ucarp), the
 * split-brain watch (stopped before the monitor, so that its step-down is lifted through the
 * monitor's write), the shadow sessions when they are on (src/sessions/: before the channel, which
 * hands them the peers' lists), the peer channel, the status publisher (its offline status goes out
 * before the channel closes), the control API (for control.users, and the daemon user's read-only
 * commands), Home Assistant discovery and the metrics endpoint (each when it is on).
 */
import type { Logger } from 'pino';
import { brokerControl } from './broker/control.js';
import type { LoadedConfig } from './config/load.js';
import type { NodeConfig } from './config/schema.js';
import type { Component, DaemonContext } from './context.js';
import type { Runner } from './exec/runner.js';
import { bridgeLogin, daemonLogin, shadowLogin } from './mqtt/client.js';
import { HomeAssistantTopics, Topics } from './mqtt/topics.js';
import { HomeAssistantDiscovery } from './homeassistant/publisher.js';
import { hasAddress } from './role/truth.js';
import { SessionService } from './sessions/service.js';
import { VERSION } from './version.js';
import { NodeState } from './node-state.js';
import { runtimePaths, type RuntimePaths } from './paths.js';
import { PeerChannel } from './peer/channel.js';
import { StatusPublisher } from './peer/publisher.js';
import { startRun } from './peer/run.js';
import { sealKey } from './peer/seal.js';
import { resetClients } from './health/client-reset.js';
import { HealthMonitor } from './health/monitor.js';
import { Metrics } from './metrics/metrics.js';
import { bridgeOf, savesOnSessionChange } from './render/model.js';
import { SaveOnChange } from './broker/save-on-change.js';
import { commandToRun } from './control/cluster-command.js';
import { controlCommands } from './control/commands.js';
import { ControlServer } from './control/server.js';
import { droppableTopic, sessionSubscriptions } from './mesh/plan.js';
import { socketTable, WaitingSessions } from './mesh/waiting.js';
import { SetLeader } from './control/set-leader.js';
import { switchover } from './switchover/run.js';
import { SplitWatch } from './health/split-watch.js';
import { TrackFile } from './health/track-file.js';
import { VrrpCounter } from './health/vrrp-counter.js';
import { probeOnce } from './broker/health.js';
import { createSyncer } from './sync/index.js';
import { createTakeover } from './takeover/index.js';
import { driverControl } from './failover/control.js';
import { UcarpAdvertising } from './failover/advertise.js';

export interface ControllerOptions {
  loaded: LoadedConfig;
  node: NodeConfig;
  log: Logger;
  run: Runner;
  /** Called whenever the takeover loop has reconciled (systemd's watchdog). */
  onAlive?: () => void;
}

export class Controller {
  readonly state: NodeState;
  private readonly options: ControllerOptions;
  private started: [string, Component][] = [];
  private stopping: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.state = new NodeState(options.log);
  }

  private build(paths: RuntimePaths, runNumber: number): [string, Component][] {
    const { loaded, node, log, run } = this.options;
    const { config, secrets } = loaded;
    const broker = brokerControl(config, run, log.child({ component: 'broker' }), paths.brokerPidFile);
    const context: DaemonContext = { loaded, node, log, run, state: this.state, paths, topics: new Topics(config.cluster), broker };
    const { topics } = context;
    const channel: PeerChannel = new PeerChannel({
      self: node,
      nodes: config.nodes,
      loginTo: (peer) => daemonLogin(loaded, peer),
      topics,
      key: sealKey(secrets.clusterSecret, config.cluster),
      will: (connection) => status.will(connection),
      log: log.child({ component: 'peer' }),
      onMessage: (from, topic, value) => {
        if (topic.type === 'sync') syncer.receive(from, topic.kind, value);
        else if (topic.type === 'status') status.take(from, topic.node, value);
        else if (topic.type === 'sessions') sessions?.receive(from, topic.node, value);
        else if (topic.type === 'presence') sessions?.receivePresence(from, topic.node, value);
        else if (topic.type === 'command' && from.id !== node.id) {
          const command = commandToRun(value, topic.node, from.id, Date.now());
          if (!command.ok) log.warn({ from: from.name, reason: command.reason }, 'ignored a command on the peer channel');
          else {
            log.info({ from: from.name }, `${from.name} asked for the sync sweep now`);
            syncer.sweepNow();
          }
        }
      },
      onOwnConnect: () => {
        status.publish();
        syncer.publishAll();
        sessions?.publishNow();
      },
    });
    const sessions = config.sessions.enabled
      ? new SessionService({
        config,
        self: node,
        state: this.state,
        topics,
        daemonLogin: daemonLogin(loaded, node),
        shadowLogin: shadowLogin(loaded, node),
        file: paths.sessions,
        publish: (value) => channel.publish(topics.sessions(node.id), value, { retain: true }),
        publishPresence: (value) => channel.publish(topics.presence(node.id), value, { retain: false }),
        holdsVip: () => hasAddress(config.vip.interface, config.vip.address),
        log: log.child({ component: 'sessions' }),
      })
      : undefined;
    const syncer = createSyncer(context, {
      publish: (topic, value) => channel.publish(topic, value, { retain: true }),
      repair: (topic) => channel.repair(topic),
    });
    const status: StatusPublisher = new StatusPublisher({ self: node, state: this.state, channel, topics, log, run: runNumber });
    const takeover = createTakeover(context, {
      ...(this.options.onAlive ? { onAlive: this.options.onAlive } : {}),
      ...(sessions ? { waitLearner: (since: number) => sessions.waitReading(since) } : {}),
    });
    const brokerSave = broker.save?.bind(broker);
    const saver = brokerSave && savesOnSessionChange(config)
      ? new SaveOnChange({ login: daemonLogin(loaded, node), nodeId: node.id, topics, save: brokerSave, log: log.child({ component: 'broker-save' }) })
      : undefined;
    // ucarp has no runtime priority: the weight stops and starts it (src/failover/advertise.ts).
    const driver = config.failover.driver === 'ucarp' ? driverControl(config, node, paths, run, log.child({ component: 'failover' })) : undefined;
    const health = new HealthMonitor({
      config,
      self: node,
      loginTo: (peer, port) => ({ ...daemonLogin(loaded, peer), ...(port === undefined ? {} : { port }) }),
      topics,
      state: this.state,
      log: log.child({ component: 'health' }),
      isConnected: (id) => channel.isConnected(id),
      track: driver ? new UcarpAdvertising(driver, log.child({ component: 'failover' })) : new TrackFile(paths.trackFile),
      brokerExits: broker.onExit?.bind(broker),
      resetClients: () => resetClients(run, config.broker.client_port),
    });
    const split = new SplitWatch({
      config,
      self: node,
      state: this.state,
      log: log.child({ component: 'split' }),
      isConnected: (id) => channel.isConnected(id),
      reaches: (peer) => probeOnce(daemonLogin(loaded, peer), topics.health(node.id), config.health.timeout * 1000).then(() => true, () => false),
      counter: config.failover.driver === 'keepalived' ? new VrrpCounter(run, config.nodes.filter((peer) => peer.id !== node.id).map((peer) => peer.address)) : undefined,
    });
    const controlLog = log.child({ component: 'control' });
    const setLeader = new SetLeader(config, (action, timeoutMs) => switchover({ loaded, node, action, timeoutMs, say: (line) => controlLog.info(`setLeader: ${line}`) }));
    const control = new ControlServer({
      config,
      self: node,
      topics,
      login: daemonLogin(loaded, node),
      log: controlLog,
      handlers: controlCommands({
        config,
        self: node,
        state: this.state,
        syncNow: async () => {
          syncer.sweepNow();
          await channel.publish(topics.command(node.id), { command: 'syncNow', at: Date.now() }, { retain: false });
          return config.nodes.map((peer) => peer.name);
        },
        setLeader: setLeader.handle,
      }),
    });
    const homeassistant = config.homeassistant.enabled
      ? new HomeAssistantDiscovery({
        config,
        self: node,
        topics,
        ha: new HomeAssistantTopics(config.cluster, config.homeassistant.discovery_prefix),
        state: this.state,
        loginTo: (peer) => daemonLogin(loaded, peer),
        log: log.child({ component: 'homeassistant' }),
        version: VERSION,
      })
      : undefined;
    const metrics = config.metrics.enabled
      ? new Metrics({
        config, self: node, state: this.state, log: log.child({ component: 'metrics' }), login: daemonLogin(loaded, node), bridge: bridgeOf(config, secrets, node)?.name, isConnected: (id) => channel.isConnected(id),
        features: () => ({
          ...(sessions ? { shadows: { sessions: sessions.shadowed.sessions, messages: sessions.shadowed.messages, kept: sessions.shadowed.kept } } : {}),
          ...(saver ? { saves: { ...saver.counts } } : {}),
        }),
      })
      : undefined;
    const bridge = bridgeOf(config, secrets, node);
    // The bridge's session waits on every node it may move to (none with one target).
    const waiting = bridge && bridge.targets.length > 1
      ? new WaitingSessions({
        self: node,
        bridge,
        subscriptions: sessionSubscriptions(config, `${topics.drainPrefix}/#`),
        droppable: droppableTopic(config, `${topics.drainPrefix}/#`),
        bridgeLogin: (peer) => bridgeLogin(loaded, peer),
        daemonLogin: (peer) => daemonLogin(loaded, peer),
        topics,
        intervalMs: config.bridge.drain_interval * 1000,
        log: log.child({ component: 'mesh' }),
        bridgeOn: socketTable(bridge, config.broker.admin_port),
      })
      : undefined;
    return [
      ['takeover', takeover],
      ...(driver ? [['failover', driver] as [string, Component]] : []),
      // Right after the broker is started or adopted.
      ...(saver ? [['broker-save', saver] as [string, Component]] : []),
      // The sync before the health monitor: the monitor's first weight includes the synced
      // preference, so a restarted daemon never writes a weight without its promote, not even for a moment.
      ['sync', syncer],
      ['health', health],
      ['split', split],
      // Before the channel, which hands it the peers' lists: it has loaded its own by then.
      ...(sessions ? [['sessions', sessions] as [string, Component]] : []),
      ['peer', channel],
      ...(waiting ? [['mesh', waiting] as [string, Component]] : []),
      ['status', status],
      ['control', control],
      ...(homeassistant ? [['homeassistant', homeassistant] as [string, Component]] : []),
      ...(metrics ? [['metrics', metrics] as [string, Component]] : []),
    ];
  }

  /** Starts every component in order; if one fails, stops those started (it too), in reverse, and rethrows. */
  async start(): Promise<void> {
    try {
      const paths = runtimePaths(this.options.loaded.config);
      for (const [name, component] of this.build(paths, await startRun(paths.runState, Date.now()))) {
        this.started.push([name, component]);
        await component.start();
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
    const { role, epoch } = this.state.current;
    const { config } = this.options.loaded;
    this.options.log.info({ role, epoch, components: this.started.map(([name]) => name), vip: config.vip.address, control: config.broker.control }, 'started');
  }

  /** Stops the started components in reverse order; a failing one is logged and the rest still stop. Idempotent. */
  async stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    await this.stopping;
  }

  private async stopAll(): Promise<void> {
    for (const [name, component] of [...this.started].reverse()) {
      await component.stop().catch((error: unknown) => this.options.log.error({ err: error, component: name }, 'stopping a component failed'));
    }
    this.options.log.info({ role: this.state.current.role }, 'stopped');
  }
}
