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

/** A drain ends once nothing arrived for this long. */
export const QUIET_MS = 150;
/** And in any case after this long (a queue still draining goes on at the next interval). */
export const MAX_DRAIN_MS = 3_000;
/** How many shadows drain at once. */
const PARALLEL = 8;
/** How often a drain under way asks whether it may go on. */
const CHECK_MS = 25;

export interface ShadowsOptions {
  login: Login;
  intervalMs: number;
  /** Whether shadows may connect now. */
  active: () => boolean;
  log: Logger;
}

interface Shadow {
  /** The filters this shadow has on the broker, as far as this daemon knows (undefined: not known since it started). */
  applied?: Map<string, Qos>;
  client?: MqttClient;
}

export interface DrainResult {
  messages: number;
  ms: number;
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
  /** Messages taken by drains since the start, and drains done. */
  drained = { messages: 0, drains: 0 };

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

  /** Connects shadow `id`, takes what queued, brings its filters in line with the list, and leaves. */
  async drain(id: string): Promise<DrainResult | undefined> {
    const wanted = this.wanted.get(id);
    if (!wanted || this.released.has(id) || !this.options.active()) return undefined;
    const shadow = this.shadows.get(id) ?? {};
    this.shadows.set(id, shadow);
    const started = Date.now();
    let last = started;
    let messages = 0;
    // Which filters a session on the broker has cannot be asked (MQTT has no such request): a
    // shadow this daemon has not made since it started, or since this node was MASTER (when the
    // real client could change them), starts afresh with the listed ones. What that drops is what
    // a drain would have taken.
    const fresh = shadow.applied === undefined;
    // Afresh is two connects: one that discards the old session, then one with clean start off.
    // mosquitto 2.0 saves only sessions whose last connect had clean start off (persist_write.c),
    // whatever their expiry: a shadow made by a clean start alone would not survive the takeover's
    // broker restart, and its client would find no session there (issue 15).
    if (fresh) {
      await this.discard(id);
      if (this.released.has(id) || !this.options.active() || this.stopped) return undefined;
    }
    const client = connectShadow(this.options.login, { clientId: id, fresh: false, timeoutMs: 3_000 });
    shadow.client = client;
    client.on('message', () => {
      messages++;
      last = Date.now();
    });
    const watch = setInterval(() => {
      if (!this.options.active() || this.stopped) client.end(true);
    }, CHECK_MS);
    try {
      const connack = await this.until(client, 'connect', 3_000);
      const present = (connack as { sessionPresent?: boolean } | undefined)?.sessionPresent === true;
      const applied = present && shadow.applied ? shadow.applied : new Map<string, Qos>();
      const add = [...wanted].filter(([filter, qos]) => applied.get(filter) !== qos);
      const remove = [...applied.keys()].filter((filter) => !wanted.has(filter));
      // Retain handling 2: a shadow's subscribe queues no retained message (the real client gets those itself).
      if (add.length > 0) await client.subscribeAsync(Object.fromEntries(add.map(([filter, qos]) => [filter, { qos, rh: 2 }])));
      if (remove.length > 0) await client.unsubscribeAsync(remove);
      if (add.length > 0 || remove.length > 0) this.options.log.info({ client: id, fresh, subscribed: add.map(([filter]) => filter), unsubscribed: remove }, 'shadow subscriptions changed');
      shadow.applied = new Map(wanted);
      last = Math.max(last, Date.now());
      while (client.connected && Date.now() - last < QUIET_MS && Date.now() - started < MAX_DRAIN_MS) {
        await new Promise((resolve) => setTimeout(resolve, CHECK_MS));
      }
      if (client.connected) await client.endAsync(false);
    } finally {
      clearInterval(watch);
      if (shadow.client === client) delete shadow.client;
      if (!client.disconnected) await client.endAsync(true).catch(() => undefined);
    }
    this.drained.messages += messages;
    this.drained.drains++;
    return { messages, ms: Date.now() - started };
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
