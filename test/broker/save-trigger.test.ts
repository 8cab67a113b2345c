/** Which log events ask for a save: what mosquitto would write differently, and nothing else. */
import test from 'ava';
import { MAX_CLIENTS, MAX_FILTERS, MAX_FILTERS_TOTAL, SaveTrigger } from '../../src/broker/save-trigger.js';
import type { LogEvent } from '../../src/sessions/log-line.js';

const connect = (client: string, clean: boolean, user = 'u'): LogEvent => ({ type: 'connect', client, clean, user });
const subscribe = (client: string, filter: string, qos: 0 | 1 | 2 = 1): LogEvent => ({ type: 'subscribe', client, qos, filter });
const unsubscribe = (client: string, filter: string): LogEvent => ({ type: 'unsubscribe', client, filter });

function reasons(events: LogEvent[], trigger = new SaveTrigger()): (string | undefined)[] {
  return events.map((event) => trigger.note(event));
}

test('a persistent client: its new session and each change of its filters, not a resumed session nor a repeated subscribe', (t) => {
  t.deepEqual(reasons([
    connect('sub', false),
    subscribe('sub', 'home/#'),
    subscribe('sub', 'home/#'),
    subscribe('sub', 'home/#', 2),
    connect('sub', false),
    subscribe('sub', 'home/#', 2),
    unsubscribe('sub', 'home/#'),
    unsubscribe('sub', 'home/#'),
  ]), ['a new persistent session', 'a subscribe', undefined, 'a subscribe', undefined, undefined, 'an unsubscribe', undefined]);
});

test('the end of a connection asks for nothing, and the session is still known after it', (t) => {
  const disconnect = (client: string): LogEvent => ({ type: 'disconnect', client });
  t.deepEqual(reasons([disconnect('sub'), connect('sub', false), subscribe('sub', 'a/b'), disconnect('sub'), connect('sub', false), subscribe('sub', 'a/b')]), [
    undefined, 'a new persistent session', 'a subscribe', undefined, undefined, undefined,
  ]);
});

test('a clean client asks for nothing, however it subscribes', (t) => {
  t.deepEqual(reasons([connect('pub', true), subscribe('pub', 'a/b'), unsubscribe('pub', 'a/b'), connect('pub', true)]), [undefined, undefined, undefined, undefined]);
});

test('a clean connect that ends a persistent session asks for a save; a persistent one after it is a new session', (t) => {
  t.deepEqual(reasons([connect('c', false), subscribe('c', 'x'), connect('c', true), connect('c', false)]), [
    'a new persistent session',
    'a subscribe',
    'a clean connect ended a persistent session',
    'a new persistent session',
  ]);
});

test('the service users count (a bridge, a shadow): their sessions are saved like any other', (t) => {
  t.deepEqual(reasons([connect('bridge-node2', false, 'mqfo-bridge'), subscribe('bridge-node2', 'home/#', 2)]), ['a new persistent session', 'a subscribe']);
});

test('a client whose connect was not read is taken for persistent', (t) => {
  const trigger = new SaveTrigger();
  t.deepEqual(reasons([subscribe('old', 'a'), subscribe('old', 'a'), unsubscribe('older', 'b')], trigger), ['a subscribe', undefined, 'an unsubscribe']);
  t.is(trigger.note(connect('old', false)), undefined, 'then known persistent');
});

test('forget: every client asks again, as after a broker restart', (t) => {
  const trigger = new SaveTrigger();
  reasons([connect('sub', false), subscribe('sub', 'home/#')], trigger);
  trigger.forget();
  t.deepEqual(reasons([connect('sub', false), subscribe('sub', 'home/#')], trigger), ['a new persistent session', 'a subscribe']);
});

test('bounded: the least recently seen client is forgotten first (and asks again)', (t) => {
  const trigger = new SaveTrigger();
  trigger.note(connect('first', false));
  trigger.note(connect('second', false));
  for (let index = 0; index < MAX_CLIENTS - 2; index++) trigger.note(connect(`c${index}`, true));
  t.is(trigger.size, MAX_CLIENTS);
  t.is(trigger.note(connect('first', false)), undefined, 'seen again: now the most recent');
  trigger.note(connect('one-more', true));
  t.is(trigger.size, MAX_CLIENTS);
  t.is(trigger.note(connect('second', false)), 'a new persistent session', 'forgotten');
});

test('bounded over every client: past MAX_FILTERS_TOTAL a filter is not remembered (asks again), and that client\'s unsubscribes still ask', (t) => {
  const trigger = new SaveTrigger();
  const clients = MAX_FILTERS_TOTAL / MAX_FILTERS;
  for (let client = 0; client < clients; client++) {
    trigger.note(connect(`c${client}`, false));
    for (let filter = 0; filter < MAX_FILTERS; filter++) trigger.note(subscribe(`c${client}`, `f/${filter}`));
  }
  t.is(trigger.filterCount, MAX_FILTERS_TOTAL);
  t.deepEqual(reasons([connect('late', false), subscribe('late', 'x'), subscribe('late', 'x'), unsubscribe('late', 'y')], trigger), [
    'a new persistent session',
    'a subscribe',
    'a subscribe',
    'an unsubscribe',
  ]);
  t.is(trigger.note(subscribe('c0', 'f/0')), undefined, 'what it remembers still asks for nothing');
  t.is(trigger.note(connect('c0', true)), 'a clean connect ended a persistent session');
  t.is(trigger.filterCount, MAX_FILTERS_TOTAL - MAX_FILTERS + 1, 'c0\'s filters forgotten; late marked');
  trigger.forget();
  t.is(trigger.filterCount, 0);
});

test('a long filter is remembered by its digest: the same one asks once, another of the same length asks again', (t) => {
  const long = `home/${'a'.repeat(900)}`;
  const other = `home/${'a'.repeat(899)}b`;
  t.deepEqual(reasons([connect('sub', false), subscribe('sub', long), subscribe('sub', long), subscribe('sub', other), unsubscribe('sub', long), unsubscribe('sub', long)]), [
    'a new persistent session',
    'a subscribe',
    undefined,
    'a subscribe',
    'an unsubscribe',
    undefined,
  ]);
});
