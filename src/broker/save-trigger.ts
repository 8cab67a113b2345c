/**
 * Which of its broker's log events change what mosquitto would write to its persistence file, so
 * that a save asked for right then keeps it across a kill -9 (broker.save_on_session_change).
 * mosquitto 2.0 saves a client's session, its subscriptions and its queue only when the client
 * last connected with clean start off (persist_write.c: persist__client_save,
 * persist__subs_save); it logs a connect with that flag (`c0`) and each subscribe after adding it
 * (handle_subscribe.c: sub__add, then the log line, then the SUBACK). So a save is due on:
 *
 * - a persistent connect of an id not known persistent: a new session (or one resumed that this
 *   daemon has not seen since it started reading: a save too many, not one too few);
 * - a subscribe, or an unsubscribe, that changes a persistent client's filters, or of a client whose
 *   connect was not read (taken for persistent);
 * - a clean connect of an id known persistent: mosquitto drops the session, and a kill before the
 *   next save would bring it back with its subscriptions, queueing for a client that no longer has it.
 *
 * Every client counts, the service users' too: a peer's bridge and the shadow sessions are
 * persistent sessions like any other. The clean clients' connects, which are most of them
 * (mosquitto_pub, the daemons' own), ask for nothing. Its memory is bounded: the least recently
 * seen ids are forgotten first, and a client's filters beyond a bound, or beyond a bound over every
 * client, are not remembered (their next subscribe asks for a save again); a long filter is kept
 * as its digest. Deterministic, no I/O.
 */
import { createHash } from 'node:crypto';
import type { LogEvent } from '../sessions/log-line.js';

/** How many client ids it remembers. */
export const MAX_CLIENTS = 10_000;
/** How many filters of one client it remembers. */
export const MAX_FILTERS = 1_000;
/** How many filters it remembers in all (10,000 clients of 1,000 filters each would be 10 million). */
export const MAX_FILTERS_TOTAL = 100_000;
/**
 * A filter longer than this is remembered by its digest (a log line carries up to about 1,000
 * characters): at most about 100 bytes a filter. The digest's `#` prefix is no valid filter.
 */
const LONG_FILTER = 64;
/** Marks a client with filters it could not remember: any unsubscribe of it may change its filters. */
const OVERFLOW = '#overflow';

function filterKey(filter: string): string {
  return filter.length <= LONG_FILTER ? filter : `#sha256:${createHash('sha256').update(filter).digest('base64')}`;
}

/** A client's last connect was clean, or its persistent session's filters (and QoS). */
type Client = 'clean' | Map<string, 0 | 1 | 2>;

export class SaveTrigger {
  private readonly clients = new Map<string, Client>();
  /** Filters remembered, over every client. */
  private filters = 0;

  /** Why `event` calls for a save now, or undefined. */
  note(event: LogEvent): string | undefined {
    const known = this.clients.get(event.client);
    if (event.type === 'connect') {
      if (event.clean) {
        this.remember(event.client, 'clean');
        return known instanceof Map ? 'a clean connect ended a persistent session' : undefined;
      }
      if (known instanceof Map) {
        this.remember(event.client, known);
        return undefined;
      }
      this.remember(event.client, new Map());
      return 'a new persistent session';
    }
    // The end of a connection changes nothing mosquitto saves (a persistent session stays as it was).
    if (event.type === 'disconnect' || known === 'clean') return undefined;
    const filters = known ?? new Map<string, 0 | 1 | 2>();
    this.remember(event.client, filters);
    const key = filterKey(event.filter);
    if (event.type === 'unsubscribe') {
      if (filters.delete(key)) this.filters--;
      else if (known !== undefined && !filters.has(OVERFLOW)) return undefined;
      return 'an unsubscribe';
    }
    if (filters.get(key) === event.qos) return undefined;
    if (filters.has(key)) filters.set(key, event.qos);
    else if (filters.size < MAX_FILTERS && this.filters < MAX_FILTERS_TOTAL) {
      filters.set(key, event.qos);
      this.filters++;
    } else if (!filters.has(OVERFLOW)) {
      filters.set(OVERFLOW, 0);
      this.filters++;
    }
    return 'a subscribe';
  }

  /** Forgets every client: the broker may have restarted from an older save (the log was not read for a while). */
  forget(): void {
    this.clients.clear();
    this.filters = 0;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Filters remembered, over every client. */
  get filterCount(): number {
    return this.filters;
  }

  private remember(id: string, client: Client): void {
    this.drop(id, client);
    if (this.clients.size >= MAX_CLIENTS) this.drop(this.clients.keys().next().value!);
    this.clients.set(id, client);
  }

  /** Forgets `id`, and its filters unless they are `kept` (the same map, remembered again). */
  private drop(id: string, kept?: Client): void {
    const client = this.clients.get(id);
    if (client instanceof Map && client !== kept) this.filters -= client.size;
    this.clients.delete(id);
  }
}
