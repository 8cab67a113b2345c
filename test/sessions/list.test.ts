import test from 'ava';
import type { LogEvent } from '../../src/sessions/log-line.js';
import { EMPTY_LIST, isNewer, learn, parseList, toJson, type Book } from '../../src/sessions/list.js';

const options = { maxClients: 2, maxFilters: 2, serviceUsers: new Set(['mqfo-bridge', 'mqfo-daemon', 'mqfo-shadow']), origin: 1, now: 1_000 };
const empty: Book = { list: EMPTY_LIST, clients: new Map() };

function run(events: LogEvent[], from: Book = empty): { book: Book; refused: string[] } {
  let book = from;
  const refused: string[] = [];
  for (const [index, event] of events.entries()) {
    const learned = learn(book, event, { ...options, now: options.now + index });
    if (learned.refused) refused.push(learned.refused);
    book = learned.book;
  }
  return { book, refused };
}

const sessions = (book: Book) => toJson(book.list).sessions;
const connect = (client: string, clean = false, user = 'lab'): LogEvent => ({ type: 'connect', client, clean, user });
const subscribe = (client: string, filter: string, qos: 0 | 1 | 2 = 1): LogEvent => ({ type: 'subscribe', client, filter, qos });

test('a persistent client and its subscriptions are learned; an unsubscribe and a clean connect take them away', (t) => {
  const { book } = run([connect('a'), subscribe('a', 'home/#'), subscribe('a', 'lab/x', 2), subscribe('a', 'home/#', 0), { type: 'unsubscribe', client: 'a', filter: 'lab/x' }]);
  t.deepEqual(sessions(book), [{ id: 'a', filters: [{ filter: 'home/#', qos: 0 }] }]);
  t.is(book.list.origin, 1);
  t.true(book.list.version >= 1_000);
  t.deepEqual(sessions(run([connect('a', true)], book).book), [], 'a clean connect discards the session');
});

test("clean clients, service users and ids whose connect was not read are not learned; $SYS and the daemons' topics are not shadowed", (t) => {
  const { book } = run([
    connect('clean', true),
    subscribe('clean', 'home/#'),
    connect('bridge', false, 'mqfo-bridge'),
    subscribe('bridge', 'home/#'),
    subscribe('unknown', 'home/#'),
    connect('a'),
    subscribe('a', '$SYS/#'),
    subscribe('a', 'mosquitto-failover/lab/#'),
  ]);
  t.deepEqual(sessions(book), [{ id: 'a', filters: [] }]);
});

test('a listed id whose connect this daemon did not read still has its subscriptions learned (a new master)', (t) => {
  const listed = run([connect('a')]).book;
  const { book } = run([subscribe('a', 'home/#')], { list: listed.list, clients: new Map() });
  t.deepEqual(sessions(book), [{ id: 'a', filters: [{ filter: 'home/#', qos: 1 }] }]);
});

test('the bounds: clients and filters beyond them are refused with a reason, the list unchanged', (t) => {
  const { book, refused } = run([connect('a'), connect('b'), connect('c'), subscribe('a', 'x/1'), subscribe('a', 'x/2'), subscribe('a', 'x/3'), connect('x'.repeat(300))]);
  t.deepEqual(sessions(book).map((session) => session.id), ['a', 'b']);
  t.deepEqual(sessions(book)[0]!.filters.map((filter) => filter.filter), ['x/1', 'x/2']);
  t.is(refused.length, 3);
  t.regex(refused[0]!, /sessions.max_clients/);
  t.regex(refused[1]!, /sessions.max_filters/);
  t.regex(refused[2]!, /longer than 256 bytes/);
});

test('an event that changes nothing keeps the version', (t) => {
  const first = run([connect('a'), subscribe('a', 'home/#')]).book;
  const again = learn(first, subscribe('a', 'home/#'), { ...options, now: 5_000 });
  t.false(again.changed);
  t.is(again.book.list.version, first.list.version);
});

test('the version never goes back, even with a clock that does', (t) => {
  const first = run([connect('a')]).book;
  const next = learn(first, connect('b'), { ...options, now: 10 });
  t.is(next.book.list.version, first.list.version + 1);
});

test('a later version wins; the same version goes to the higher node id', (t) => {
  t.true(isNewer({ version: 2, origin: 1 }, { version: 1, origin: 2 }));
  t.false(isNewer({ version: 1, origin: 2 }, { version: 2, origin: 1 }));
  t.true(isNewer({ version: 2, origin: 2 }, { version: 2, origin: 1 }));
  t.false(isNewer({ version: 2, origin: 1 }, { version: 2, origin: 1 }));
});

test('a list from a peer is read back as it was sent', (t) => {
  const { book } = run([connect('a'), subscribe('a', 'home/#', 2), connect('b')]);
  const parsed = parseList(JSON.parse(JSON.stringify(toJson(book.list))), options);
  t.true(parsed.ok);
  if (parsed.ok) t.deepEqual(toJson(parsed.list), toJson(book.list));
});

test('a malformed or oversized list is refused with the reason', (t) => {
  const bad = (value: unknown) => {
    const parsed = parseList(value, options);
    return parsed.ok ? 'accepted' : parsed.reason;
  };
  t.regex(bad(undefined), /list/);
  t.regex(bad({ version: 1, origin: 1 }), /sessions/);
  t.regex(bad({ version: 1, origin: 0, sessions: [] }), /origin/);
  t.regex(bad({ version: 1, origin: 1, sessions: [{ id: 'a', filters: [] }, { id: 'b', filters: [] }, { id: 'c', filters: [] }] }), /more than 2 sessions/);
  t.regex(bad({ version: 1, origin: 1, sessions: [{ id: 'a', filters: [{ filter: 'a', qos: 1 }, { filter: 'b', qos: 1 }, { filter: 'c', qos: 1 }] }] }), /more than 2 filters/);
  t.regex(bad({ version: 1, origin: 1, sessions: [{ id: 'a', filters: [{ filter: 'a/#/b', qos: 1 }] }] }), /# in the wrong place/);
  t.regex(bad({ version: 1, origin: 1, sessions: [{ id: 'a', filters: [{ filter: 'a', qos: 3 }] }] }), /qos/);
  t.regex(bad({ version: 1, origin: 1, sessions: [{ id: 'a', filters: [] }, { id: 'a', filters: [] }] }), /twice/);
  t.regex(bad({ version: 1, origin: 1, sessions: [], extra: true }), /extra|Unrecognized/i);
});
