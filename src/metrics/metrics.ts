/**
 * Prometheus metrics (`metrics:` in cluster.yaml, off by default): an HTTP endpoint at
 * `http://<metrics.address, default this node's address>:<metrics.port>/metrics`, served with
 * prom-client from the node state. What a scrape reads: the role, whether this node holds the
 * VIP, the broker's health and the weight (health/), takeovers and the duration of the last one
 * with a histogram of each takeover step, synced files installed and rejected by kind and reason,
 * the peer channel per peer, and this node's own bridge's connection as its broker reports it
 * (`$SYS/broker/connection/<name>/state`, the bridge's notification topic; none on the hub). Not
 * the copies that other nodes' bridges leave on this broker: a bridge that moved to another node
 * (src/render/model.ts bridgeOf) leaves its will, "0", retained here while it is up there.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { Component } from '../context.js';
import { MqfoError } from '../errors.js';
import { connectLasting, uniqueClientId, type Login, type MqttClient } from '../mqtt/client.js';
import { takeoverOf, type NodeState, type RoleName } from '../node-state.js';

const PREFIX = 'mosquitto_failover_';
const ROLES: readonly RoleName[] = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'UNKNOWN'];
/** From a well-tuned takeover (tens of ms) to a slow broker restart. */
const STEP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface MetricsOptions {
  config: ClusterConfig;
  self: NodeConfig;
  state: NodeState;
  log: Logger;
  /** The daemon user on this node's admin listener (the bridge's state). */
  login: Login;
  /** This node's bridge's connection name (src/render/model.ts bridgeName); none on the hub. */
  bridge: string | undefined;
  /** Whether the peer channel's connection to `nodeId`'s broker is up now. */
  isConnected: (nodeId: number) => boolean;
  /** What the features that are on have done so far (each key only when its feature is on). */
  features?: () => FeatureCounts;
}

/** Running totals of the shadow sessions (src/sessions/) and the broker saves (broker.save_on_session_change). */
export interface FeatureCounts {
  shadows?: { sessions: number; messages: number; kept: number };
  saves?: { saved: number; skipped: number };
}

export class Metrics implements Component {
  private readonly options: MetricsOptions;
  readonly registry = new Registry();
  private server: Server | undefined;
  private client: MqttClient | undefined;
  private readonly bridges = new Map<string, number>();
  private unsubscribe: (() => void)[] = [];

  constructor(options: MetricsOptions) {
    this.options = options;
  }

  /** The address and port the endpoint listens on. */
  get listen(): { host: string; port: number } {
    const { config, self } = this.options;
    return { host: config.metrics.address ?? self.address, port: config.metrics.port };
  }

  async start(): Promise<void> {
    const { config, self, state, log, isConnected } = this.options;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const facts = () => state.current;
    new Gauge({
      name: `${PREFIX}role`,
      help: 'This node\'s VRRP/CARP role: 1 for the current one',
      labelNames: ['role'],
      registers,
      collect() {
        for (const role of ROLES) this.set({ role }, facts().role === role ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}vip_held`,
      help: 'Whether this node holds the VIP (1) or not (0)',
      registers,
      collect() {
        this.set(facts().role === 'MASTER' ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}broker_healthy`,
      help: 'The health monitor\'s verdict on this node\'s broker: 1 well, 0 sick (absent before the first probe)',
      registers,
      collect() {
        this.reset();
        const { healthy } = facts().broker;
        if (healthy !== undefined) this.set(healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}weight`,
      help: 'What this node adds to its VRRP priority (keepalived\'s track file)',
      registers,
      collect() {
        this.set(facts().weight.value);
      },
    });
    new Gauge({
      name: `${PREFIX}peer_channel_up`,
      help: 'Whether the peer channel\'s connection to a node\'s broker is up (1) or not (0)',
      labelNames: ['peer'],
      registers,
      collect() {
        for (const node of config.nodes) this.set({ peer: node.name }, isConnected(node.id) ? 1 : 0);
      },
    });
    const bridges = this.bridges;
    new Gauge({
      name: `${PREFIX}bridge_connected`,
      help: 'This node\'s bridge\'s connection as its broker reports it: 1 up, 0 down (none on the hub, which has no bridge)',
      labelNames: ['bridge'],
      registers,
      collect() {
        for (const [bridge, up] of bridges) this.set({ bridge }, up);
      },
    });
    const takeovers = new Counter({ name: `${PREFIX}takeovers_total`, help: 'Takeovers this node has made (its takeover epoch, kept across restarts)', registers });
    const last = new Gauge({ name: `${PREFIX}last_takeover_seconds`, help: 'How long this node\'s last takeover took, from its first sign to the broker accepting', registers });
    const steps = new Histogram({
      name: `${PREFIX}takeover_step_seconds`,
      help: 'When each step of a takeover was done, from its first sign (hint, vipSeen, restarted, accepting, dnat)',
      labelNames: ['step'],
      buckets: STEP_BUCKETS,
      registers,
    });
    const installs = new Counter({ name: `${PREFIX}sync_installs_total`, help: 'Peers\' versions of a synced file installed here', labelNames: ['kind'], registers });
    const rejections = new Counter({
      name: `${PREFIX}sync_rejections_total`,
      help: 'Peers\' versions of a synced file rejected here, by reason (envelope, stale, invalid, conflict, broker)',
      labelNames: ['kind', 'reason'],
      registers,
    });

    this.featureMetrics(registers);

    let counted = facts().epoch;
    takeovers.inc(counted);
    this.unsubscribe.push(
      state.onChange((changed, current) => {
        if (changed.includes('epoch') && current.epoch > counted) {
          takeovers.inc(current.epoch - counted);
          counted = current.epoch;
        }
        const transition = current.lastTransition;
        const takeover = takeoverOf(transition);
        if (changed.includes('lastTransition') && transition && takeover) {
          last.set(takeover.ms / 1000);
          for (const [step, ms] of Object.entries(transition.ms)) steps.observe({ step }, ms / 1000);
        }
      }),
      state.onEvent((event) => {
        if (event.type !== 'sync') return;
        if (event.result === 'installed') installs.inc({ kind: event.kind });
        else rejections.inc({ kind: event.kind, reason: event.reason ?? 'unknown' });
      }),
    );

    const own = this.options.bridge;
    if (own !== undefined) {
      const topic = `$SYS/broker/connection/${own}/state`;
      this.client = connectLasting(this.options.login, { clientId: uniqueClientId(`${self.name}-metrics`) });
      this.client.on('connect', () => this.client?.subscribe(topic, { qos: 0 }));
      this.client.on('message', (received, payload) => {
        if (received === topic) this.bridges.set(own, payload.toString() === '1' ? 1 : 0);
      });
      this.client.on('error', (error) => log.debug({ err: error }, 'metrics: the own broker\'s connection failed (bridge state)'));
    }

    await this.serve();
    log.info({ url: `http://${this.listen.host}:${this.listen.port}/metrics` }, 'metrics endpoint listening');
  }

  /** The features' totals, read at each scrape; only those of the features that are on. */
  private featureMetrics(registers: Registry[]): void {
    const counts = this.options.features;
    const on = counts?.() ?? {};
    // A total kept by the feature itself, as a counter (set at each scrape; it only grows).
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    if (on.shadows) {
      const shadows = () => counts?.().shadows ?? { sessions: 0, messages: 0, kept: 0 };
      new Gauge({
        name: `${PREFIX}shadow_sessions`,
        help: 'Persistent sessions shadowed on this node\'s broker (a backup\'s copies of the master\'s)',
        registers,
        collect() {
          this.set(shadows().sessions);
        },
      });
      total('shadow_drained_messages_total', 'Messages this node\'s shadows gave up, the client having them from the master', () => shadows().messages);
      total('shadow_kept_messages_total', 'Messages a drain took and left in the shadow (the client not confirmed connected to the master)', () => shadows().kept);
    }
    if (on.saves) {
      const saves = () => counts?.().saves ?? { saved: 0, skipped: 0 };
      total('broker_saves_total', 'Saves of its database asked of this node\'s broker on a session change (SIGUSR1)', () => saves().saved);
      total('broker_saves_skipped_total', 'Saves due that were not asked: no broker ready for the signal', () => saves().skipped);
    }
  }

  private async serve(): Promise<void> {
    const { host, port } = this.listen;
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) => {
          this.options.log.error({ err: error }, 'metrics: a scrape failed');
          response.writeHead(500, { 'content-type': 'text/plain' }).end('the metrics could not be collected\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new MqfoError('EMETRICS', `cannot listen for metrics on ${host}:${port}: ${error.message}`, { cause: error })));
      server.listen(port, host, () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.unsubscribe = [];
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
