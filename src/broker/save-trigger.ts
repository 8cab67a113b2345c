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
 * seen ids are forgotten first, and a client's filters beyond a bound are not remembered (their
 * next subscribe asks for a save again). Deterministic, no I/O.
 */
import type { LogEvent } from '../sessions/log-line.js';

/** How many client ids it remembers. */
export const MAX_CLIENTS = 10_000;
/** How many filters of one client it remembers. */
export const MAX_FILTERS = 1_000;

/** A client's last connect was clean, or its persistent session's filters (and QoS). */
type Client = 'clean' | Map<string, 0 | 1 | 2>;

export class SaveTrigger {
  private readonly clients = new Map<string, Client>();

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
    if (known === 'clean') return undefined;
    const filters = known ?? new Map<string, 0 | 1 | 2>();
    this.remember(event.client, filters);
    if (event.type === 'unsubscribe') {
      if (known !== undefined && !filters.delete(event.filter)) return undefined;
      return 'an unsubscribe';
    }
    if (filters.get(event.filter) === event.qos) return undefined;
    if (filters.has(event.filter) || filters.size < MAX_FILTERS) filters.set(event.filter, event.qos);
    return 'a subscribe';
  }

  /** Forgets every client: the broker may have restarted from an older save (the log was not read for a while). */
  forget(): void {
    this.clients.clear();
  }

  get size(): number {
    return this.clients.size;
  }

  private remember(id: string, client: Client): void {
    this.clients.delete(id);
    if (this.clients.size >= MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value!);
    this.clients.set(id, client);
  }
}
