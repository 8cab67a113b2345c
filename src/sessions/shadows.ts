/**
 * The shadows on this node's broker: for each persistent session of the list, a session with the
 * same client id (clean session off, the same filters and QoS, logged in as the shadow user), so
 * that what the bridges bring waits there as it waits for the real client on the master. A
 * shadow is offline between drains: every `intervalMs` it connects, takes what queued (acking
 * it), subscribes or unsubscribes what changed, and leaves once nothing came for QUIET_MS; a
 * takeover therefore delivers at most about one interval of messages the client already had.
 *
 * mosquitto resumes a session by client id alone (connect__on_authorised), whoever logs in: the
 * real client that reaches this broker after a takeover takes the shadow's session, queue and
 * subscriptions over, and mosquitto checks the queued messages against that client's own ACL
 * then (connection_check_acl). The other way round a shadow would take a real client's session
 * and its messages: so nothing connects while `active()` says no (this node holds the VIP or is
 * MASTER), a drain under way is ended the moment it says no, and an id whose real client
 * appeared on this broker is left alone (`release`).
 */
import type { Logger } from 'pino';
import { connectShadow, type Login, type MqttClient } from '../mqtt/client.js';
import type { Qos, SessionList } from './list.js';
import { HEARTBEAT_MS, type PresenceView } from './presence.js';

/** A drain ends once nothing arrived for this long. */
export const QUIET_MS = 150;
/** And in any case after this long (a queue still draining goes on at the next interval). */
export const MAX_DRAIN_MS = 3_000;
/** How many shadows drain at once. */
const PARALLEL = 8;
/** How often a drain under way asks whether it may go on. */
const CHECK_MS = 25;
/**
 * A drain acknowledges what it took only once a report of the master's clients that arrived at
 * least this long after the last of those messages still shows the client on the same connection
 * (README, "Shadow sessions": the race that is left).
 */
export const CONFIRM_MARGIN_MS = 150;
/** Under steady traffic a drain acknowledges what it took in rounds this long (so a takeover finds about this much again). */
const ROUND_MS = 500;
/** How long a drain waits for that report (a heartbeat comes every HEARTBEAT_MS). */
const CONFIRM_WAIT_MS = CONFIRM_MARGIN_MS + 2 * HEARTBEAT_MS;

/** mqtt.js goes on reading only once a message's ack callback ran: this error makes it go on without acking (handlers/publish.js, failCustomAck). */
const HELD = new Error('held: acknowledged once the master says the client is still connected');

interface Held {
  messageId: number;
  qos: Qos;
  at: number;
}

/**
 * Acknowledges messages a drain held back. mqtt.js has no public call for a deferred ack: its own
 * handlers send them with `_sendPacket` (PUBACK for QoS 1; PUBREC for QoS 2, after which it
 * answers mosquitto's PUBREL with PUBCOMP by itself, handlers/pubrel.js).
 */
function acknowledge(client: MqttClient, held: readonly Held[]): void {
  const send = (client as unknown as { _sendPacket: (packet: { cmd: 'puback' | 'pubrec'; messageId: number }) => void })._sendPacket.bind(client);
  for (const { messageId, qos } of held) send({ cmd: qos === 2 ? 'pubrec' : 'puback', messageId });
}

function sameFilters(a: ReadonlyMap<string, Qos>, b: ReadonlyMap<string, Qos>): boolean {
  return a.size === b.size && [...a].every(([filter, qos]) => b.get(filter) === qos);
}

export interface ShadowsOptions {
  login: Login;
  intervalMs: number;
  /** Whether shadows may connect now. */
  active: () => boolean;
  /** Which listed clients are connected to the master (presence.ts): a shadow drains only while its client is. */
  presence: PresenceView;
  log: Logger;
}

interface Shadow {
  /** The filters this shadow has on the broker, as far as this daemon knows (undefined: not known since it started). */
  applied?: Map<string, Qos>;
  client?: MqttClient;
  /** The client's connection to the master at the previous pass (presence.ts), if it had one. */
  seen?: string;
  /** The session on the broker may hold filters beyond `applied` (it was there before this daemon knew it). */
  uncertain?: boolean;
}

export interface DrainResult {
  /** Messages taken and acknowledged. */
  messages: number;
  /** Messages received and left in the session (not acknowledged). */
  kept: number;
  ms: number;
  /** Why nothing was acknowledged, if so. */
  keptBecause?: string;
}

export class Shadows {
  private readonly options: ShadowsOptions;
  private wanted: ReadonlyMap<string, ReadonlyMap<string, Qos>> = new Map();
  private readonly shadows = new Map<string, Shadow>();
  /** Ids listed before and no longer: their shadow sessions are ended on the broker at the next pass. */
  private readonly ended = new Set<string>();
  /** Ids whose real client appeared on this broker. */
  private readonly released = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /** Messages taken by drains since the start, drains done, and passes that left a shadow's queue alone (its client not known connected to the master). */
  drained = { messages: 0, drains: 0, kept: 0 };

  constructor(options: ShadowsOptions) {
    this.options = options;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort();
    await this.pass;
  }

  /** The list to shadow now; a changed list is acted on at once. */
  setList(list: SessionList): void {
    for (const id of this.shadows.keys()) {
      if (!list.sessions.has(id)) {
        this.shadows.delete(id);
        this.ended.add(id);
      }
    }
    for (const id of list.sessions.keys()) this.ended.delete(id);
    this.wanted = list.sessions;
    this.kick();
  }

  /** The real client of `id` appeared on this broker: its shadow leaves it alone from now on. */
  release(id: string): void {
    this.released.add(id);
    this.shadows.get(id)?.client?.end(true);
  }

  /** This node may shadow again (it no longer holds the VIP): the clients it had have gone elsewhere. */
  resume(): void {
    this.released.clear();
    for (const shadow of this.shadows.values()) delete shadow.applied;
    this.kick();
  }

  /** Ends every drain under way, now. */
  abort(): void {
    for (const shadow of this.shadows.values()) shadow.client?.end(true);
  }

  /** The number of sessions shadowed here. */
  get size(): number {
    return [...this.wanted.keys()].filter((id) => !this.released.has(id)).length;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.pass) this.again = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.pass = this.runPass().catch((error: unknown) => this.options.log.warn({ err: error }, 'a shadow pass failed'));
      void this.pass.finally(() => {
        this.pass = undefined;
        const again = this.again;
        this.again = false;
        this.schedule(again ? 0 : Math.max(0, this.options.intervalMs - (Date.now() - started)));
      });
    }, ms);
  }

  private async runPass(): Promise<void> {
    if (!this.options.active()) return;
    const ended = [...this.ended];
    const ids = [...this.wanted.keys()].filter((id) => !this.released.has(id));
    const jobs: (() => Promise<void>)[] = [
      ...ended.map((id) => async () => {
        await this.end(id);
        this.ended.delete(id);
      }),
      ...ids.map((id) => async () => {
        await this.drain(id);
      }),
    ];
    for (let next = 0; next < jobs.length && !this.stopped && this.options.active(); next += PARALLEL) {
      await Promise.all(jobs.slice(next, next + PARALLEL).map((job) => job().catch((error: unknown) => this.options.log.debug({ err: error }, 'a shadow drain failed'))));
    }
  }

  /** Ends a shadow session that is no longer listed. */
  private async end(id: string): Promise<void> {
    await this.discard(id);
    this.options.log.info({ client: id }, 'shadow session ended (no longer listed)');
  }

  /** Discards the session `id` has on the broker: a clean connect with no session expiry (MQTT 3.1.2.4). */
  private async discard(id: string): Promise<void> {
    const client = connectShadow(this.options.login, { clientId: id, fresh: true, end: true, timeoutMs: 3_000 });
    try {
      await this.until(client, 'connect', 3_000);
    } finally {
      await client.endAsync(true).catch(() => undefined);
    }
  }

  /**
   * Connects shadow `id` when there is something to do: takes what queued (only while its client
   * has been connected to the master since the previous pass, on the same connection, and still is
   * when the drain ends: presence.ts), brings its filters in line with the list, and leaves. What it
   * may not take it receives and does not acknowledge, so mosquitto keeps it in the session (sent
   * again at the next connect, the real client's included).
   */
  async drain(id: string): Promise<DrainResult | undefined> {
    const wanted = this.wanted.get(id);
    if (!wanted || this.released.has(id) || !this.options.active()) return undefined;
    const shadow = this.shadows.get(id) ?? {};
    this.shadows.set(id, shadow);
    const { presence } = this.options;
    const connection = presence.connection(id, Date.now());
    const may = connection !== undefined && connection === shadow.seen;
    const keptBecause = connection === undefined ? 'not known connected to the master' : may ? undefined : 'connected to the master only since the previous pass';
    shadow.seen = connection;
    const started = Date.now();
    const known = shadow.applied !== undefined;
    if (!may && known && sameFilters(shadow.applied!, wanted)) {
      this.drained.kept++;
      return { messages: 0, kept: 0, ms: 0, ...(keptBecause ? { keptBecause } : {}) };
    }
    // Which filters a session on the broker has cannot be asked (MQTT has no such request): a
    // shadow this daemon has not made since it started, or since this node was MASTER (when the
    // real client could change them), starts afresh with the listed ones, which drops its queue:
    // only when a drain may take that queue anyway. Otherwise the listed filters are added to the
    // session as it is, and it starts afresh at the first drain that may take its queue (until
    // then a filter the client dropped may still be in it: `uncertain`).
    const afresh = may && (!known || shadow.uncertain === true);
    // Afresh is two connects: one that discards the old session, then one with clean start off.
    // mosquitto 2.0 saves only sessions whose last connect had clean start off (persist_write.c),
    // whatever their expiry: a shadow made by a clean start alone would not survive the takeover's
    // broker restart, and its client would find no session there (issue 15).
    if (afresh) {
      await this.discard(id);
      if (this.released.has(id) || !this.options.active() || this.stopped) return undefined;
    }
    let last = started;
    const held: Held[] = [];
    const client = connectShadow(this.options.login, {
      clientId: id,
      fresh: false,
      timeoutMs: 3_000,
      customHandleAcks: (_topic, _message, packet: { messageId?: number; qos: Qos }, done) => {
        last = Date.now();
        if (packet.messageId !== undefined) held.push({ messageId: packet.messageId, qos: packet.qos, at: last });
        done(HELD);
      },
    });
    client.on('error', (error) => {
      if (error !== HELD) this.options.log.debug({ err: error, client: id }, 'shadow connection error');
    });
    shadow.client = client;
    const watch = setInterval(() => {
      if (!this.options.active() || this.stopped) client.end(true);
    }, CHECK_MS);
    let acked = 0;
    let confirmed: boolean | undefined;
    try {
      const connack = await this.until(client, 'connect', 3_000);
      const present = (connack as { sessionPresent?: boolean } | undefined)?.sessionPresent === true;
      const applied = present && known && !afresh ? shadow.applied! : new Map<string, Qos>();
      const add = [...wanted].filter(([filter, qos]) => applied.get(filter) !== qos);
      const remove = [...applied.keys()].filter((filter) => !wanted.has(filter));
      // Retain handling 2: a shadow's subscribe queues no retained message (the real client gets those itself).
      if (add.length > 0) await client.subscribeAsync(Object.fromEntries(add.map(([filter, qos]) => [filter, { qos, rh: 2 }])));
      if (remove.length > 0) await client.unsubscribeAsync(remove);
      if (add.length > 0 || remove.length > 0) this.options.log.info({ client: id, fresh: afresh, subscribed: add.map(([filter]) => filter), unsubscribed: remove }, 'shadow subscriptions changed');
      shadow.applied = new Map(wanted);
      shadow.uncertain = afresh ? false : (present && !known) || shadow.uncertain === true;
      if (may) {
        last = Math.max(last, Date.now());
        // Rounds: take until quiet (or ROUND_MS under steady traffic); what arrived until then is
        // acknowledged if a report that arrived CONFIRM_MARGIN_MS later still shows the client on
        // the same connection (it was on it when the master took them); else the drain ends there.
        for (let round = started; client.connected && confirmed !== false; round = Date.now()) {
          while (client.connected && Date.now() - last < QUIET_MS && Date.now() - round < ROUND_MS && Date.now() - started < MAX_DRAIN_MS) {
            await new Promise((resolve) => setTimeout(resolve, CHECK_MS));
          }
          const quiet = Date.now() - last >= QUIET_MS;
          const cutoff = Date.now();
          const take = held.slice(acked).filter((message) => message.at <= cutoff);
          if (take.length > 0 && client.connected) {
            await new Promise((resolve) => setTimeout(resolve, CONFIRM_MARGIN_MS));
            const arrived = await presence.arrivalAfter(cutoff + CONFIRM_MARGIN_MS, CONFIRM_WAIT_MS);
            confirmed = arrived && presence.connection(id, Date.now()) === connection;
            if (confirmed && client.connected && this.options.active() && !this.stopped) {
              acknowledge(client, take);
              acked += take.length;
            } else {
              confirmed = false;
              shadow.seen = undefined;
            }
          }
          // Quiet after an ack: mosquitto may have held more back (max_inflight_messages), so one more round.
          if ((quiet && take.length === 0) || Date.now() - started >= MAX_DRAIN_MS) break;
        }
      }
      if (client.connected) await client.endAsync(false);
    } finally {
      clearInterval(watch);
      if (shadow.client === client) delete shadow.client;
      if (!client.disconnected) await client.endAsync(true).catch(() => undefined);
    }
    const kept = held.length - acked;
    this.drained.messages += acked;
    this.drained.drains++;
    if (!may) this.drained.kept++;
    const because = keptBecause ?? (confirmed === false ? 'not confirmed connected to the master at the end of the drain' : undefined);
    if (kept > 0 && because) this.options.log.debug({ client: id, kept, because }, 'shadow queue kept');
    return { messages: acked, kept, ms: Date.now() - started, ...(because ? { keptBecause: because } : {}) };
  }

  /** Resolves with the event's first argument, or rejects on close, error or after `ms`. */
  private async until(client: MqttClient, event: 'connect', ms: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no ${event} within ${ms} ms`)), ms);
      const onEvent = (value: unknown) => done(undefined, value);
      const onClose = () => done(new Error(`closed before ${event}`));
      const onError = (error: Error) => done(error);
      const done = (error: Error | undefined, value?: unknown) => {
        clearTimeout(timer);
        client.off(event, onEvent);
        client.off('close', onClose);
        client.off('error', onError);
        if (error) reject(error);
        else resolve(value);
      };
      client.on(event, onEvent);
      client.on('close', onClose);
      client.on('error', onError);
    });
  }
}
