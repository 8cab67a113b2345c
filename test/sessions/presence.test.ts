import test from 'ava';
import { MAX_SKEW_MS, nextOnline, parsePresence, PresenceView, STALE_MS, toPresenceJson, type Online } from '../../src/sessions/presence.js';

const options = { serviceUsers: new Set(['bridge', 'mqfo-shadow']), now: 1_000 };
const connect = (client: string, user?: string) => ({ type: 'connect' as const, client, clean: false, user });

test('a connect of an ordinary client is a new connection; its end, or another connection of the same id, ends it', (t) => {
  let online: Online = new Map();
  online = nextOnline(online, connect('a', 'lab'), options)!;
  t.deepEqual([...online], [['a', 1_000]]);
  // Connections read in the same millisecond still get numbers of their own.
  online = nextOnline(online, connect('a', 'lab'), options)!;
  t.deepEqual([...online], [['a', 1_001]]);
  t.is(nextOnline(online, { type: 'disconnect', client: 'b' }, options), undefined, 'the end of an unknown connection changes nothing');
  online = nextOnline(online, { type: 'disconnect', client: 'a' }, options)!;
  t.deepEqual([...online], []);
  t.is(nextOnline(online, { type: 'subscribe', client: 'a', qos: 1, filter: 'x' }, options), undefined);
});

test("a service user's connect is never a client's connection, and takes the id's over", (t) => {
  t.is(nextOnline(new Map(), connect('a', 'mqfo-shadow'), options), undefined);
  t.deepEqual([...nextOnline(new Map([['a', 5]]), connect('a', 'mqfo-shadow'), options)!], []);
});

test('the report holds only listed clients', (t) => {
  const online = new Map([['a', 5], ['b', 6]]);
  t.deepEqual(toPresenceJson(1, 10, online, new Set(['b', 'c'])), { origin: 1, seq: 10, online: [{ id: 'b', since: 6 }] });
});

const now = 1_764_000_000_000;
const good = { origin: 1, seq: now, online: [{ id: 'a', since: now - 5 }] };

test('a report is read back, and tells which connection a client has while fresh', (t) => {
  const parsed = parsePresence(good, { from: 1, maxClients: 2, now });
  if (!parsed.ok) return t.fail(parsed.reason);
  const view = new PresenceView();
  t.true(view.take(parsed.report));
  t.is(view.connection('a', now), `1:${now - 5}`);
  t.is(view.connection('b', now), undefined);
  t.is(view.connection('a', now + STALE_MS + 1), undefined, 'a stale report says nobody is connected');
});

test('a malformed, oversized, misplaced or far-off report is refused with its reason', (t) => {
  const bad: [unknown, RegExp][] = [
    ['not a report', /report/],
    [{ ...good, online: [{ id: 'a', since: 1 }, { id: 'b', since: 1 }, { id: 'c', since: 1 }] }, /more than 2 clients/],
    [{ ...good, online: [{ id: 'x'.repeat(300), since: 1 }] }, /at most 256 bytes/],
    [{ ...good, online: [{ id: 'a', since: 1 }, { id: 'a', since: 2 }] }, /listed twice/],
    [{ ...good, extra: true }, /report/],
    [{ ...good, origin: 2 }, /made by node 2/],
    [{ ...good, seq: now - MAX_SKEW_MS - 1 }, /away from this node's clock/],
    [{ ...good, seq: now + MAX_SKEW_MS + 1 }, /away from this node's clock/],
  ];
  for (const [value, reason] of bad) {
    const parsed = parsePresence(value, { from: 1, maxClients: 2, now });
    t.false(parsed.ok);
    if (!parsed.ok) t.regex(parsed.reason, reason);
  }
});

test('an older or equal report of the same node (a replay) is not taken; another node keeps its own', (t) => {
  const view = new PresenceView();
  const report = (origin: number, seq: number, ids: string[]) => ({ origin, seq, online: new Map(ids.map((id) => [id, 7])), receivedAt: now });
  t.true(view.take(report(1, 10, [])));
  t.false(view.take(report(1, 9, ['a'])));
  t.false(view.take(report(1, 10, ['a'])));
  t.is(view.connection('a', now), undefined);
  t.true(view.take(report(2, 1, ['a'])));
  t.is(view.connection('a', now), '2:7');
});

test("a wait for a report's arrival ends with it, or with false at its bound", async (t) => {
  const view = new PresenceView();
  const after = Date.now();
  const waiting = view.arrivalAfter(after, 5_000);
  view.take({ origin: 1, seq: 1, online: new Map(), receivedAt: after + 1 });
  t.true(await waiting);
  t.false(await view.arrivalAfter(after + 10, 20));
});
