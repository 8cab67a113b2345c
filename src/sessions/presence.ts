/**
 * Which listed clients are connected to the master right now (issue 15: an offline persistent
 * subscriber). A backup's shadow may give up (drain) what queued for a client only while that
 * client is connected to the master, which delivered the same messages to it; while the client is
 * offline, the master's queue for it is the only other copy, and a master that dies for good takes
 * it along: the shadow must keep its own.
 *
 * - The master's daemon reads the connects and the ends of connections in its broker's log
 *   (log-line.ts) and gives each connection a number (`since`: when this daemon read its connect,
 *   epoch ms, growing). `nextOnline` is that bookkeeping. A connection it did not see begin (the
 *   daemon started, or read the log again, after the client connected) is not online: in doubt a
 *   shadow keeps its queue (a duplicate later, never a loss).
 * - It publishes a report, beside the session list (not in it: the list is retained, saved, made
 *   newest-wins between nodes, and up to 1 MiB; presence changes with every connect, is only the
 *   master's, and must not outlive it): `{origin, seq, online: [{id, since}]}`, sealed, not
 *   retained, on each change and every HEARTBEAT_MS. `seq` is the master's clock (epoch ms,
 *   growing), so an older report (a replay) is refused.
 * - A backup holds the newest report of each node (`PresenceView`); one older than STALE_MS, or
 *   none, says nobody is online. Pure (the clock is given).
 */
import { z } from 'zod';
import type { LogEvent } from './log-line.js';
import { MAX_ID_BYTES } from './list.js';

/** How often the master's daemon sends its report when nothing changed. */
export const HEARTBEAT_MS = 500;
/** A report older than this (by the backup's clock, from when it arrived) says nothing. */
export const STALE_MS = 2_000;
/** A report whose `seq` is this far from the backup's clock is refused: a replay, or clocks that disagree (then no shadow drains: fails safe). */
export const MAX_SKEW_MS = 30_000;
/** How many connected clients the master remembers (the oldest forgotten first: then not online, so not drained). */
export const MAX_TRACKED = 10_000;

export type Online = ReadonlyMap<string, number>;

/**
 * The connected clients after one log event of the master's broker, or undefined if unchanged: a
 * connect of an ordinary user's client (clean or not: a clean one's session is gone from the list
 * anyway) is a new connection; any end of a connection ends it.
 */
export function nextOnline(online: Online, event: LogEvent, options: { serviceUsers: ReadonlySet<string>; now: number }): Online | undefined {
  if (event.type === 'disconnect') {
    if (!online.has(event.client)) return undefined;
    const next = new Map(online);
    next.delete(event.client);
    return next;
  }
  if (event.type !== 'connect') return undefined;
  const next = new Map(online);
  next.delete(event.client);
  if (event.user !== undefined && options.serviceUsers.has(event.user)) return online.has(event.client) ? next : undefined;
  if (next.size >= MAX_TRACKED) next.delete(next.keys().next().value!);
  const latest = Math.max(0, ...online.values());
  next.set(event.client, Math.max(options.now, latest + 1));
  return next;
}

export interface PresenceJson {
  origin: number;
  seq: number;
  online: { id: string; since: number }[];
}

/** The report of the listed clients among `online`. */
export function toPresenceJson(origin: number, seq: number, online: Online, listed: ReadonlySet<string> | ReadonlyMap<string, unknown>): PresenceJson {
  return { origin, seq, online: [...online].filter(([id]) => listed.has(id)).map(([id, since]) => ({ id, since })) };
}

function schema(maxClients: number) {
  const id = z.string().min(1).refine((value) => Buffer.byteLength(value) <= MAX_ID_BYTES, { error: `a client id is at most ${MAX_ID_BYTES} bytes` });
  return z.strictObject({
    origin: z.int().min(1).max(255),
    seq: z.int().min(1),
    online: z.array(z.strictObject({ id, since: z.int().min(1) })).max(maxClients, { error: `more than ${maxClients} clients` }),
  });
}

export interface Report {
  origin: number;
  seq: number;
  online: Online;
  /** The backup's clock when it arrived. */
  receivedAt: number;
}

/** A report read from `from`'s broker, checked (shape, bounds, its sender, its age); or why not (never any of its text). */
export function parsePresence(value: unknown, options: { from: number; maxClients: number; now: number }): { ok: true; report: Report } | { ok: false; reason: string } {
  const parsed = schema(options.maxClients).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `${issue.path.join('.') || 'report'}: ${issue.message}` };
  }
  const { origin, seq, online } = parsed.data;
  if (origin !== options.from) return { ok: false, reason: `made by node ${origin}, read on node ${options.from}'s topic` };
  if (Math.abs(seq - options.now) > MAX_SKEW_MS) return { ok: false, reason: `${Math.round((options.now - seq) / 1000)} s away from this node's clock (a replay, or clocks more than ${MAX_SKEW_MS / 1000} s apart)` };
  const map = new Map<string, number>();
  for (const { id, since } of online) {
    if (map.has(id)) return { ok: false, reason: 'a client id is listed twice' };
    map.set(id, since);
  }
  return { ok: true, report: { origin, seq, online: map, receivedAt: options.now } };
}

/**
 * What a backup knows of the master's clients: the newest report of each node. `connection(id)`
 * names the client's connection to a master now (`origin:since`), or is undefined when it is not
 * known to be connected (offline, no fresh report, a report older than STALE_MS).
 */
export class PresenceView {
  private readonly reports = new Map<number, Report>();
  private readonly waiting = new Set<() => void>();

  /** Takes `report` if it is newer than the one held from its node; says whether it did. */
  take(report: Report): boolean {
    const held = this.reports.get(report.origin);
    if (held && report.seq <= held.seq) return false;
    this.reports.set(report.origin, report);
    for (const wake of this.waiting) wake();
    return true;
  }

  /** Forgets every report (this node is MASTER: it knows its own clients). */
  clear(): void {
    this.reports.clear();
  }

  connection(id: string, now: number): string | undefined {
    for (const report of this.reports.values()) {
      if (now - report.receivedAt > STALE_MS) continue;
      const since = report.online.get(id);
      if (since !== undefined) return `${report.origin}:${since}`;
    }
    return undefined;
  }

  /** The newest arrival of any report (epoch ms, this node's clock), or 0. */
  get lastArrival(): number {
    return Math.max(0, ...[...this.reports.values()].map((report) => report.receivedAt));
  }

  /** Resolves true once a report arrives after `after` (this node's clock), false after `timeoutMs`. */
  async arrivalAfter(after: number, timeoutMs: number): Promise<boolean> {
    if (this.lastArrival > after) return true;
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve(value);
      };
      const wake = () => {
        if (this.lastArrival > after) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiting.add(wake);
    });
  }
}
