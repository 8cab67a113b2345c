/**
 * The list of persistent sessions the backups shadow: each client id with its subscriptions
 * (filter and QoS), a version (epoch ms of its last change, never going back) and the node that
 * made it. The master learns it from its broker's log (learn); every daemon holds the newest list
 * it has seen, its own or a peer's (isNewer), and publishes it on the peer channel, so that a new
 * master goes on from the list it shadowed. A list read from a peer is checked against the same
 * bounds as one learned (parseList). Pure.
 */
import { z } from 'zod';
import { topicPatternProblem } from '../config/schema.js';
import type { LogEvent } from './log-line.js';

export type Qos = 0 | 1 | 2;

export interface SessionList {
  version: number;
  origin: number;
  /** By client id: each filter's QoS. */
  sessions: ReadonlyMap<string, ReadonlyMap<string, Qos>>;
}

export interface ListBounds {
  maxClients: number;
  maxFilters: number;
}

/** A client id or filter longer than this is not shadowed (MQTT allows 65535 bytes; no real client id comes near). */
export const MAX_ID_BYTES = 256;
export const MAX_FILTER_BYTES = 1024;

export const EMPTY_LIST: SessionList = { version: 0, origin: 0, sessions: new Map() };

/** Whether `list` should replace `held`: a later version, or the same one made by a higher node id (a split brain's two masters). */
export function isNewer(list: Pick<SessionList, 'version' | 'origin'>, held: Pick<SessionList, 'version' | 'origin'>): boolean {
  return list.version > held.version || (list.version === held.version && list.origin > held.origin);
}

/** What a client id's connect said: a service user's, a clean session, or a persistent one of an ordinary user. */
export type ClientKind = 'service' | 'clean' | 'persistent';

export interface Book {
  list: SessionList;
  /** What each client id's last connect said, as far as this daemon read it. */
  clients: ReadonlyMap<string, ClientKind>;
}

export interface Learned {
  book: Book;
  changed: boolean;
  /** Why an event that would have changed the list did not (a bound). */
  refused?: string;
}

/** How many client ids' last connect a book remembers (the oldest are forgotten first). */
const MAX_CLIENTS_SEEN = 10_000;

function filterProblem(filter: string): string | undefined {
  if (Buffer.byteLength(filter) > MAX_FILTER_BYTES) return `is longer than ${MAX_FILTER_BYTES} bytes`;
  return topicPatternProblem(filter);
}

/**
 * The book after one log event of the master's broker. A connect tells what kind of client the id
 * is (`serviceUsers`: the bridges, the daemons, the shadows, never shadowed); a persistent one adds
 * the id, a clean one ends its session (mosquitto discards a session a clean connect takes
 * over). A subscribe or unsubscribe changes the filters of a persistent client, or of one already
 * listed whose connect this daemon did not read.
 */
export function learn(book: Book, event: LogEvent, options: ListBounds & { serviceUsers: ReadonlySet<string>; origin: number; now: number }): Learned {
  const { list } = book;
  const clients = new Map(book.clients);
  const same = (refused?: string): Learned => ({ book: { list, clients }, changed: false, ...(refused ? { refused } : {}) });
  const changed = (sessions: Map<string, ReadonlyMap<string, Qos>>): Learned => ({
    book: { list: { version: Math.max(options.now, list.version + 1), origin: options.origin, sessions }, clients },
    changed: true,
  });
  if (event.type === 'connect') {
    const kind: ClientKind = event.user !== undefined && options.serviceUsers.has(event.user) ? 'service' : event.clean ? 'clean' : 'persistent';
    clients.delete(event.client);
    if (clients.size >= MAX_CLIENTS_SEEN) clients.delete(clients.keys().next().value!);
    clients.set(event.client, kind);
    if (kind === 'service') return same();
    const sessions = new Map(list.sessions);
    if (kind === 'clean') {
      if (!sessions.delete(event.client)) return same();
      return changed(sessions);
    }
    if (sessions.has(event.client)) return same();
    if (Buffer.byteLength(event.client) > MAX_ID_BYTES) return same(`client id longer than ${MAX_ID_BYTES} bytes`);
    if (sessions.size >= options.maxClients) return same(`already ${options.maxClients} sessions (sessions.max_clients)`);
    sessions.set(event.client, new Map());
    return changed(sessions);
  }
  if (event.type === 'disconnect') return same();
  const kind = clients.get(event.client);
  const filters = list.sessions.get(event.client);
  if (kind === 'service' || kind === 'clean' || filters === undefined) return same();
  const next = new Map(filters);
  if (event.type === 'unsubscribe') {
    if (!next.delete(event.filter)) return same();
  } else {
    if (next.get(event.filter) === event.qos) return same();
    const problem = filterProblem(event.filter);
    if (problem) return same(`filter ${problem}`);
    if (!next.has(event.filter) && next.size >= options.maxFilters) return same(`already ${options.maxFilters} filters for one client (sessions.max_filters)`);
    next.set(event.filter, event.qos);
  }
  const sessions = new Map(list.sessions);
  sessions.set(event.client, next);
  return changed(sessions);
}

/** The list as it travels and is saved: plain JSON. */
export interface ListJson {
  version: number;
  origin: number;
  sessions: { id: string; filters: { filter: string; qos: Qos }[] }[];
}

export function toJson(list: SessionList): ListJson {
  return {
    version: list.version,
    origin: list.origin,
    sessions: [...list.sessions].map(([id, filters]) => ({ id, filters: [...filters].map(([filter, qos]) => ({ filter, qos })) })),
  };
}

function schema(bounds: ListBounds) {
  const id = z.string().min(1).refine((value) => Buffer.byteLength(value) <= MAX_ID_BYTES, { error: `a client id is at most ${MAX_ID_BYTES} bytes` });
  const filter = z.string().superRefine((value, ctx) => {
    const problem = filterProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `filter ${problem}`, input: value });
  });
  return z.strictObject({
    version: z.int().min(0),
    origin: z.int().min(1).max(255),
    sessions: z
      .array(z.strictObject({ id, filters: z.array(z.strictObject({ filter, qos: z.union([z.literal(0), z.literal(1), z.literal(2)]) })).max(bounds.maxFilters, { error: `more than ${bounds.maxFilters} filters for one client` }) }))
      .max(bounds.maxClients, { error: `more than ${bounds.maxClients} sessions` }),
  });
}

/** A list read from a peer or a file, within `bounds`; or why not (no part of the text in the reason beyond the path). */
export function parseList(value: unknown, bounds: ListBounds): { ok: true; list: SessionList } | { ok: false; reason: string } {
  const parsed = schema(bounds).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `${issue.path.join('.') || 'list'}: ${issue.message}` };
  }
  const sessions = new Map<string, ReadonlyMap<string, Qos>>();
  for (const { id, filters } of parsed.data.sessions) {
    if (sessions.has(id)) return { ok: false, reason: 'a client id is listed twice' };
    sessions.set(id, new Map(filters.map(({ filter, qos }) => [filter, qos])));
  }
  return { ok: true, list: { version: parsed.data.version, origin: parsed.data.origin, sessions } };
}
