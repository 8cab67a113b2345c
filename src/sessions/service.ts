/**
 * Shadow sessions (sessions.enabled; README "Shadow sessions"): the component that learns the
 * persistent sessions of the master's clients and keeps them shadowed on the other nodes.
 *
 * - It reads its own broker's log on `$SYS/broker/log/...` (`log_dest topic`, rendered with the
 *   feature): while this node is MASTER, each connect, subscribe and unsubscribe of an ordinary
 *   client changes the list (list.ts: learn).
 * - It holds the newest list it has seen, its own or a peer's, saves it (a restarted daemon goes on
 *   from it) and publishes it, sealed and retained, on the peer channel; a list from a peer that
 *   is not one (malformed, beyond the bounds) is logged and changes nothing (forged and oversized
 *   ones never open: peer/channel.ts).
 * - While this node is not MASTER and does not hold the VIP, it keeps a shadow of each listed
 *   session on its own broker (shadows.ts); when it takes over they are there already, and stop.
 *   A real client that appears on this broker while it shadows is left its session.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import writeFileAtomic from 'write-file-atomic';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import { connectLasting, uniqueClientId, type Login, type MqttClient } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';
import type { NodeState } from '../node-state.js';
import { MAX_PAYLOAD_BYTES, Throttle } from '../peer/limits.js';
import { parseLogLine } from './log-line.js';
import { EMPTY_LIST, isNewer, learn, parseList, toJson, type Book, type ListBounds, type SessionList } from './list.js';
import { HEARTBEAT_MS, nextOnline, parsePresence, PresenceView, toPresenceJson, type Online } from './presence.js';
import { Shadows } from './shadows.js';


/** Reconnecting to the own broker after its restart (a takeover's): at once, then a little slower. */
const OWN_BROKER_BACKOFF = { minMs: 50, maxMs: 1_000 };
/** How long a takeover's DNAT rule waits for the log to be read again after its broker restart (waitReading). */
export const READING_WAIT_MS = 1_000;
export interface SessionServiceOptions {
  config: ClusterConfig;
  self: NodeConfig;
  state: NodeState;
  topics: Topics;
  /** The daemon user on this node's broker (reads its log). */
  daemonLogin: Login;
  /** The shadow user on this node's broker. */
  shadowLogin: Login;
  file: string;
  /** Publishes this node's list on the peer channel (sealed, retained). */
  publish: (value: unknown) => Promise<void>;
  /** Publishes this node's report of its connected clients on the peer channel (sealed, not retained: presence.ts). */
  publishPresence: (value: unknown) => Promise<void>;
  /** Whether the VIP is on this node now. */
  holdsVip: () => boolean;
  log: Logger;
  now?: () => number;
}

export class SessionService {
  private readonly options: SessionServiceOptions;
  private readonly bounds: ListBounds;
  private readonly serviceUsers: ReadonlySet<string>;
  private book: Book = { list: EMPTY_LIST, clients: new Map() };
  private readonly shadows: Shadows;
  private client: MqttClient | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly warnings = new Throttle(60_000);
  private saving: Promise<void> = Promise.resolve();
  /** Epoch ms since which the broker's log is read on the current connection (its SUBACK); undefined while not. */
  private readingSince: number | undefined;
  private readonly onReading = new Set<(stopping?: boolean) => void>();
  /** While this node is the master: its broker's clients connected since the log is read (presence.ts). */
  private online: Online = new Map();
  private presenceSeq = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  /** What the masters say of their clients (a backup's shadows drain by it). */
  readonly presence = new PresenceView();

  constructor(options: SessionServiceOptions) {
    this.options = options;
    const { sessions, bridge, daemon } = options.config;
    this.bounds = { maxClients: sessions.max_clients, maxFilters: sessions.max_filters };
    this.serviceUsers = new Set([bridge.user, daemon.user, sessions.user]);
    this.shadows = new Shadows({
      login: options.shadowLogin,
      intervalMs: sessions.drain_interval * 1000,
      active: () => !this.mastering(),
      presence: this.presence,
      log: options.log,
    });
  }

  get list(): SessionList {
    return this.book.list;
  }

  /** The number of sessions shadowed here, and what the drains took. */
  get shadowed(): { sessions: number; messages: number; drains: number; kept: number } {
    return { sessions: this.shadows.size, ...this.shadows.drained };
  }

  async start(): Promise<void> {
    const { log, topics, state } = this.options;
    this.book = { list: await this.load(), clients: new Map() };
    this.shadows.setList(this.book.list);
    let role = state.current.role;
    this.unsubscribe = state.onChange((changed, facts) => {
      if (!changed.includes('role') || facts.role === role) return;
      const was = role;
      role = facts.role;
      if (facts.role === 'MASTER') {
        this.shadows.abort();
        log.info({ sessions: this.book.list.sessions.size }, 'MASTER: the shadow sessions here are now the clients\' own');
      } else if (was === 'MASTER') this.shadows.resume();
    });
    this.shadows.start();
    // The own broker restarts at every takeover, when every client reconnects: what it logs before
    // this connection is back is not read (README, "Shadow sessions": limits), so come back fast.
    this.client = connectLasting(this.options.daemonLogin, { clientId: uniqueClientId(`${this.options.self.id}-sessions`), backoff: OWN_BROKER_BACKOFF });
    const client = this.client;
    client.on('connect', () => {
      client
        .subscribeAsync(topics.brokerLog, { qos: 0 })
        .then(() => {
          if (!client.connected) return;
          this.readingSince = Date.now();
          for (const wake of this.onReading) wake();
          log.debug('reading the broker\'s log');
        })
        .catch((error: unknown) => log.warn({ err: error }, 'could not read the broker\'s log'));
    });
    client.on('close', () => {
      this.readingSince = undefined;
      // What connects and disconnects while the log is not read is not seen: nobody is known connected until they connect again.
      if (this.online.size > 0) {
        this.online = new Map();
        this.sendPresence();
      }
    });
    this.heartbeat = setInterval(() => this.sendPresence(), HEARTBEAT_MS);
    this.client.on('message', (topic, payload) => this.onLog(topic, payload.toString()));
    log.info({ sessions: this.book.list.sessions.size, version: this.book.list.version }, 'shadow sessions on');
  }

  /**
   * Resolves once the broker's log is read on a connection subscribed after `since` (epoch ms: a
   * takeover's broker restart began), or after `timeoutMs`, logged: a takeover's DNAT rule waits
   * for it, so that what the first clients through the VIP subscribe is learned. Never rejects.
   */
  async waitReading(since: number, timeoutMs = READING_WAIT_MS): Promise<void> {
    const started = Date.now();
    const ready = () => this.readingSince !== undefined && this.readingSince >= since;
    if (!ready()) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.onReading.delete(wake);
          resolve();
        };
        const wake = (stopping?: boolean) => {
          if (stopping || ready()) done();
        };
        const timer = setTimeout(done, timeoutMs);
        this.onReading.add(wake);
      });
    }
    const ms = Date.now() - started;
    if (ready()) this.options.log.info({ ms }, 'reading the broker\'s log again after the restart: the DNAT rule may open');
    else this.options.log.warn({ ms }, 'not reading the broker\'s log again after the restart in time: the DNAT rule opens anyway, and what clients subscribe before it is read is not learned');
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.unsubscribe?.();
    for (const wake of this.onReading) wake(true);
    this.unsubscribe = undefined;
    await this.shadows.stop();
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = undefined;
    await this.saving;
  }

  /** Whether this node is, or is becoming, the master (its clients are its own; it shadows nothing). */
  private mastering(): boolean {
    return this.options.state.current.role === 'MASTER' || this.options.holdsVip();
  }

  /** This node's report of its connected clients, while it is the master and reads its broker's log. */
  private sendPresence(): void {
    if (!this.mastering() || this.readingSince === undefined) return;
    this.presenceSeq = Math.max((this.options.now ?? Date.now)(), this.presenceSeq + 1);
    const value = toPresenceJson(this.options.self.id, this.presenceSeq, this.online, this.book.list.sessions);
    this.options.publishPresence(value).catch((error: unknown) => this.options.log.debug({ err: error }, 'presence report not published now'));
  }

  /** A report of `from`'s connected clients, opened: taken if it is `from`'s own and newer than the one held. */
  receivePresence(from: NodeConfig, node: number, value: unknown): void {
    if (node !== from.id || node === this.options.self.id) return;
    const now = (this.options.now ?? Date.now)();
    const parsed = parsePresence(value, { from: from.id, maxClients: this.bounds.maxClients, now });
    const ids = [...this.book.list.sessions.keys()];
    const before = ids.map((id) => this.presence.connection(id, now));
    const reason = parsed.ok ? (this.presence.take(parsed.report) ? undefined : 'not newer than the one held (a replay?)') : parsed.reason;
    if (reason === undefined) {
      ids.forEach((id, index) => {
        const connection = this.presence.connection(id, now);
        if (connection !== before[index]) this.options.log.debug({ client: id, from: from.name, connection: connection ?? null }, 'a shadowed client\'s connection to the master changed');
      });
      return;
    }
    const suppressed = this.warnings.pass(`presence ${node}`);
    if (suppressed !== undefined) this.options.log.warn({ from: from.name, reason, suppressed }, 'rejected a presence report');
  }

  /** This node's list, for the peer channel (on each connect of the own broker). */
  publishNow(): void {
    if (this.book.list.version === 0) return;
    this.options.publish(toJson(this.book.list)).catch((error: unknown) => this.options.log.debug({ err: error }, 'session list not published now'));
  }

  /** A list read on `from`'s broker, opened: taken if it is `from`'s own and newer than the one held. */
  receive(from: NodeConfig, node: number, value: unknown): void {
    if (node !== from.id || node === this.options.self.id) return;
    const parsed = parseList(value, this.bounds);
    if (!parsed.ok) {
      const suppressed = this.warnings.pass(`bad ${node}`);
      if (suppressed !== undefined) this.options.log.warn({ from: from.name, reason: parsed.reason, suppressed }, 'rejected a session list');
      return;
    }
    if (!isNewer(parsed.list, this.book.list)) return;
    this.options.log.info({ from: from.name, sessions: parsed.list.sessions.size, version: parsed.list.version, origin: parsed.list.origin }, 'took a newer session list');
    this.adopt(parsed.list);
  }

  private adopt(list: SessionList): void {
    this.book = { list, clients: this.book.clients };
    this.shadows.setList(list);
    this.save(list);
    this.publishNow();
    this.sendPresence();
  }

  private onLog(topic: string, line: string): void {
    const event = parseLogLine(topic, line);
    if (!event) return;
    const { self, log } = this.options;
    // A takeover under way (the VIP here, the role not yet MASTER): the first clients through the VIP are the master's.
    if (!this.mastering()) {
      // A real client on this broker while it shadows: its session is its own.
      if (event.type === 'connect' && this.book.list.sessions.has(event.client) && !(event.user !== undefined && this.serviceUsers.has(event.user))) {
        log.info({ client: event.client }, 'the client of a shadowed session connected here: its shadow stops');
        this.shadows.release(event.client);
      }
      return;
    }
    const now = (this.options.now ?? Date.now)();
    const online = nextOnline(this.online, event, { serviceUsers: this.serviceUsers, now });
    if (online) {
      this.online = online;
      if (this.book.list.sessions.has(event.client)) {
        log.debug({ client: event.client, online: online.has(event.client) }, 'a listed client connected or disconnected');
        this.sendPresence();
      }
    }
    const learned = learn(this.book, event, { ...this.bounds, serviceUsers: this.serviceUsers, origin: self.id, now });
    if (learned.refused) {
      const suppressed = this.warnings.pass(`refused ${learned.refused}`);
      if (suppressed !== undefined) log.warn({ client: event.client, reason: learned.refused, suppressed }, 'a session not shadowed');
    }
    if (!learned.changed) {
      this.book = learned.book;
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(toJson(learned.book.list)));
    if (bytes > MAX_PAYLOAD_BYTES.sessions - 4096) {
      const suppressed = this.warnings.pass('too large');
      if (suppressed !== undefined) log.warn({ client: event.client, bytes, suppressed }, 'a session not shadowed: the list would be larger than the peer channel carries');
      this.book = { list: this.book.list, clients: learned.book.clients };
      return;
    }
    log.debug({ event }, 'session list changed');
    this.adopt(learned.book.list);
  }

  private async load(): Promise<SessionList> {
    let text: string;
    try {
      text = await readFile(this.options.file, 'utf8');
    } catch {
      return EMPTY_LIST;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const parsed = parseList(value, this.bounds);
    if (parsed.ok) return parsed.list;
    this.options.log.warn({ file: this.options.file, reason: parsed.reason }, 'ignored the saved session list');
    return EMPTY_LIST;
  }

  /** Saves the list (atomically), one write after the other. */
  private save(list: SessionList): void {
    const text = `${JSON.stringify(toJson(list))}\n`;
    this.saving = this.saving
      .then(() => writeFileAtomic(this.options.file, text, { mode: 0o600 }))
      .catch((error: unknown) => this.options.log.warn({ err: error, file: this.options.file }, 'could not save the session list'));
  }
}
