/**
 * broker.save_on_session_change (issue 15, "a broker that keeps what it acknowledged"): mosquitto
 * keeps its database in memory and writes it every `autosave_interval` seconds, so a broker killed
 * with -9 and started again in place comes back without the persistent sessions and subscriptions
 * made since its last save, and what publishers send it before those clients subscribe again has
 * no one to go to. This component reads its own broker's log (`log_dest topic`, rendered with the
 * feature: the connect lines on `$SYS/broker/log/N`, the subscribes and unsubscribes on
 * `$SYS/broker/log/M/...`) and asks the broker, through the broker-control seam, to save now
 * whenever one of them changes what it would save (save-trigger.ts), at most once per SAVE_GAP_MS.
 *
 * On every node, whatever its role: a backup's broker holds the shadow sessions and a peer's
 * bridge session. A save is SIGUSR1: mosquitto sets a flag and writes the whole database (every
 * retained message, session and queued message; fsync, rename) in its main loop, between two
 * network passes (loop.c, persist__backup), so a save costs the database's size in disk writes and
 * holds every client for as long as the write takes.
 */
import type { Logger } from 'pino';
import { connectLasting, uniqueClientId, type Login, type MqttClient } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';
import { Throttle } from '../peer/limits.js';
import { parseLogLine } from '../sessions/log-line.js';
import { Coalescer, type Clock } from './coalesce.js';
import { SaveTrigger } from './save-trigger.js';

/**
 * At most one save per this long: a subscribe storm (Home Assistant's start, every client coming
 * back after a restart) costs 5 saves a second, not one per filter; a subscribe is in the saved
 * database at most this long plus one write after its SUBACK.
 */
export const SAVE_GAP_MS = 200;
/** How many clients a save's log line names, with what each changed (the rest are counted). */
const NAMED_CLIENTS = 10;
/** Reconnecting to the own broker after its restart: at once, then a little slower (as the session learner). */
const OWN_BROKER_BACKOFF = { minMs: 50, maxMs: 1_000 };

export interface SaveOnChangeOptions {
  /** The daemon user on this node's broker (reads its log). */
  login: Login;
  nodeId: number;
  topics: Topics;
  /** The broker-control seam's save (BrokerControl.save): false when no broker was ready for it. */
  save: () => Promise<boolean>;
  log: Logger;
  gapMs?: number;
  clock?: Clock;
}

export class SaveOnChange {
  private readonly options: SaveOnChangeOptions;
  private readonly trigger = new SaveTrigger();
  private readonly coalescer: Coalescer;
  private readonly warnings = new Throttle(60_000);
  private client: MqttClient | undefined;
  /** The reasons asked for since the last save began, for its log line. */
  private reasons = new Map<string, number>();
  /** The clients whose changes those are (at most NAMED_CLIENTS), and the changes of the others. */
  private clients = new Map<string, Set<string>>();
  private unnamed = 0;
  /** Saves sent, and saves skipped because no broker was ready. */
  readonly counts = { saved: 0, skipped: 0 };

  constructor(options: SaveOnChangeOptions) {
    this.options = options;
    this.coalescer = new Coalescer(options.gapMs ?? SAVE_GAP_MS, () => this.save(), options.clock);
  }

  async start(): Promise<void> {
    const { login, nodeId, topics, log } = this.options;
    const client = connectLasting(login, { clientId: uniqueClientId(`${nodeId}-save`), backoff: OWN_BROKER_BACKOFF });
    this.client = client;
    client.on('connect', () => {
      client.subscribeAsync(topics.brokerLog, { qos: 0 }).catch((error: unknown) => log.warn({ err: error }, 'could not read the broker\'s log: no save on a session change until the next connect'));
    });
    // Not read for a while (the broker restarted, from its last save): what this daemon knew of its
    // sessions may not be in it, so every persistent client that comes back asks for a save again.
    client.on('close', () => this.trigger.forget());
    client.on('message', (topic, payload) => this.onLog(topic, payload.toString()));
    log.info({ gapMs: this.options.gapMs ?? SAVE_GAP_MS }, 'saving the broker\'s database on each new persistent session and subscription change');
  }

  async stop(): Promise<void> {
    await this.coalescer.stop();
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = undefined;
  }

  /** The log event's save, if it calls for one (exposed for the tests). */
  onLog(topic: string, line: string): void {
    const event = parseLogLine(topic, line);
    if (!event) return;
    const reason = this.trigger.note(event);
    if (reason === undefined) return;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    const named = this.clients.get(event.client);
    if (named) named.add(reason);
    else if (this.clients.size < NAMED_CLIENTS) this.clients.set(event.client, new Set([reason]));
    else this.unnamed++;
    this.coalescer.request();
  }

  private async save(): Promise<void> {
    // What this save covers: every change logged before it was asked for (a log line comes after
    // mosquitto made the change, and the save after the signal).
    const reasons = Object.fromEntries(this.reasons);
    const clients = Object.fromEntries([...this.clients].map(([id, changes]) => [id, [...changes]]));
    const unnamed = this.unnamed;
    this.reasons = new Map();
    this.clients = new Map();
    this.unnamed = 0;
    const covers = { reasons, clients, ...(unnamed > 0 ? { otherChanges: unnamed } : {}) };
    const { log } = this.options;
    try {
      if (await this.options.save()) {
        this.counts.saved++;
        log.debug(covers, 'asked the broker to save its database');
      } else {
        this.counts.skipped++;
        log.debug(covers, 'no broker ready to save its database (restarting?): the clients that come back ask again');
      }
    } catch (error) {
      const suppressed = this.warnings.pass('save');
      if (suppressed !== undefined) log.warn({ err: error, ...covers, suppressed }, 'could not ask the broker to save its database');
    }
  }
}
