/**
 * The peer channel (DESIGN.md): one MQTT connection to every node's admin listener, this node's
 * own included, as the daemon user. What this node publishes goes to its own broker, retained and
 * sealed (seal.ts); the others read it there. The own connection carries a last-will that marks
 * the node offline, so a daemon that dies is seen as gone while its broker still runs.
 * Connections come back with a growing delay (mqtt/client.ts), and a peer that returns hands over
 * its retained messages on subscribe.
 *
 * Ordinary users may be able to write the channel's topics (seal.ts says why): a payload that does
 * not open is dropped with a log line (one a minute per peer and topic), and when it replaced one
 * of this node's own retained messages, that message is published again (at most once a second
 * per topic), so a forgery or a deletion does not stay. A payload larger than a daemon accepts
 * never reaches it (the broker drops it for that client: limits.ts), so such an overwrite goes
 * unseen; every retained message of this node is therefore published again each REFRESH_MS too.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/schema.js';
import { MqfoError } from '../errors.js';
import { connectLasting, uniqueClientId, type Login, type MqttClient } from '../mqtt/client.js';
import type { PeerTopic, Topics } from '../mqtt/topics.js';
import { MAX_PACKET_BYTES, maxPayloadOf, Throttle } from './limits.js';
import { open, seal, type SealKey } from './seal.js';

/** How often one of this node's retained messages may be published again after a tampering. */
export const REPAIR_INTERVAL_MS = 1_000;
const LOG_INTERVAL_MS = 60_000;
/** How often this node's retained messages are published again, seen tampered with or not. */
export const REFRESH_MS = 60_000;

export interface PeerChannelOptions {
  self: NodeConfig;
  nodes: readonly NodeConfig[];
  loginTo: (node: NodeConfig) => Login;
  topics: Topics;
  key: SealKey;
  /** The retained last-will on this node's own broker for connection `connection` (see `connection`). */
  will: (connection: number) => { topic: string; value: unknown };
  log: Logger;
  /** A message read on `from`'s broker, opened: written by a holder of the cluster secret. */
  onMessage: (from: NodeConfig, topic: PeerTopic, value: unknown) => void;
  /** Called each time the own broker's connection is (re)made: publish the retained state again. */
  onOwnConnect: () => void;
  now?: () => number;
}

interface Link {
  node: NodeConfig;
  client: MqttClient;
  connected: boolean;
  lastError?: string;
}

export class PeerChannel {
  private readonly options: PeerChannelOptions;
  private links: Link[] = [];
  private attempts = 0;
  /** What this node last published, retained, on each topic of its own broker. */
  private readonly published = new Map<string, Buffer>();
  private readonly repairs = new Map<string, { at: number; timer?: NodeJS.Timeout }>();
  private readonly rejections: Throttle;
  private refresh: NodeJS.Timeout | undefined;

  constructor(options: PeerChannelOptions) {
    this.options = options;
    this.rejections = new Throttle(LOG_INTERVAL_MS, options.now ? { now: options.now } : {});
  }

  /**
   * The number of the own broker's current connection attempt: it grows with every attempt, and
   * the will of an attempt carries it, so readers can order a will before what the next
   * connection publishes.
   */
  get connection(): number {
    return this.attempts;
  }

  /** Starts connecting to every node; does not wait (a peer may be down for hours). */
  async start(): Promise<void> {
    this.links = this.options.nodes.map((node) => this.connect(node));
    this.refresh = setInterval(() => {
      for (const [topic, payload] of this.published) this.send(topic, payload, true).catch(() => undefined);
    }, REFRESH_MS);
  }

  /** Whether the connection to `nodeId`'s broker is up. */
  isConnected(nodeId: number): boolean {
    return this.links.some((link) => link.node.id === nodeId && link.connected);
  }

  /** Seals `value` for `topic` and publishes it on this node's own broker (QoS 1); rejects if it is not connected. */
  async publish(topic: string, value: unknown, options: { retain: boolean }): Promise<void> {
    const payload = seal(this.options.key, topic, value);
    if (options.retain) this.published.set(topic, payload);
    await this.send(topic, payload, options.retain);
  }

  /**
   * Publishes this node's last retained message on `topic` again: now, or once REPAIR_INTERVAL_MS
   * has passed since the last time, however often it is asked.
   */
  repair(topic: string): void {
    const payload = this.published.get(topic);
    const repair = this.repairs.get(topic) ?? { at: 0 };
    if (!payload || repair.timer) return;
    const now = this.now();
    repair.timer = setTimeout(() => {
      delete repair.timer;
      repair.at = this.now();
      const latest = this.published.get(topic);
      if (latest) this.send(topic, latest, true).catch((error: unknown) => this.options.log.debug({ err: error, topic }, 'not published again now'));
    }, Math.max(0, repair.at + REPAIR_INTERVAL_MS - now));
    this.repairs.set(topic, repair);
  }

  /** Ends every connection. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.refresh);
    for (const repair of this.repairs.values()) clearTimeout(repair.timer);
    this.repairs.clear();
    const links = this.links;
    this.links = [];
    await Promise.all(links.map((link) => link.client.endAsync(true).catch(() => undefined)));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async send(topic: string, payload: Buffer, retain: boolean): Promise<void> {
    const own = this.links.find((link) => link.node.id === this.options.self.id);
    if (!own?.connected) throw new MqfoError('ENOTCONNECTED', 'not connected to this node\'s broker');
    await own.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  private connect(node: NodeConfig): Link {
    const { self, topics, log, key } = this.options;
    const own = node.id === self.id;
    const will = () => {
      const { topic, value } = this.options.will(++this.attempts);
      return { topic, payload: seal(key, topic, value) };
    };
    const client = connectLasting(this.options.loginTo(node), {
      clientId: uniqueClientId(`${self.id}-to-${node.id}`),
      maxPacketBytes: MAX_PACKET_BYTES,
      ...(own ? { will } : {}),
    });
    const link: Link = { node, client, connected: false };
    const peerLog = log.child({ peer: node.name });
    client.on('connect', () => {
      link.connected = true;
      delete link.lastError;
      peerLog.info({ own }, 'peer channel connected');
      client.subscribeAsync(topics.peerFilters, { qos: 1 }).catch((error: unknown) => peerLog.warn({ err: error }, 'peer channel subscribe failed'));
      if (own) this.options.onOwnConnect();
    });
    client.on('close', () => {
      if (link.connected) peerLog.warn('peer channel lost; reconnecting');
      link.connected = false;
    });
    // Each new kind of failure is a warning (a wrong daemon password, say), its repeats are not.
    client.on('error', (error) => {
      const level = error.message === link.lastError ? 'debug' : 'warn';
      link.lastError = error.message;
      peerLog[level]({ err: error }, 'peer channel error');
    });
    client.on('message', (name, payload) => this.receive(link, name, payload));
    return link;
  }

  private receive(link: Link, name: string, payload: Buffer): void {
    const topic = this.options.topics.parse(name);
    if (topic.type === 'other') return;
    const opened = open(this.options.key, name, payload, maxPayloadOf(topic));
    if (opened.ok) {
      this.options.onMessage(link.node, topic, opened.value);
      return;
    }
    const own = link.node.id === this.options.self.id;
    const suppressed = this.rejections.pass(`${link.node.id} ${name}`);
    if (suppressed !== undefined) {
      this.options.log.warn({ peer: link.node.name, topic: name, bytes: payload.length, reason: opened.reason, suppressed, repaired: own && this.published.has(name) }, 'dropped a message on the peer channel that does not open');
    }
    if (own) this.repair(name);
  }
}
