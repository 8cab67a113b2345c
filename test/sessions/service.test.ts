import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { Topics } from '../../src/mqtt/topics.js';
import { NodeState } from '../../src/node-state.js';
import { SessionService } from '../../src/sessions/service.js';
import type { Login } from '../../src/mqtt/client.js';
import { scratch, startBroker } from '../helpers/broker.js';
import { example } from '../helpers/config.js';

function service(t: import('ava').ExecutionContext, daemonLogin?: Login) {
  const dir = mkdtempSync(join(tmpdir(), 'mqfo-sessions-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { config } = example('two-node');
  const [one, two] = config.nodes as [typeof config.nodes[0], typeof config.nodes[0]];
  const lines: { msg: string; reason?: string; from?: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) });
  const published: unknown[] = [];
  const login = { host: '127.0.0.1', port: 1, username: 'x', password: 'y' };
  const file = join(dir, 'sessions.json');
  const sessions = new SessionService({
    config: { ...config, sessions: { ...config.sessions, enabled: true, max_clients: 2, max_filters: 2 } },
    self: two,
    state: new NodeState(log),
    topics: new Topics(config.cluster),
    daemonLogin: daemonLogin ?? login,
    shadowLogin: login,
    file,
    publish: async (value) => {
      published.push(value);
    },
    publishPresence: async () => undefined,
    holdsVip: () => false,
    log,
  });
  return { sessions, one, two, lines, published, file };
}

const good = { version: 5, origin: 1, sessions: [{ id: 'a', filters: [{ filter: 'home/#', qos: 1 }] }] };

test("a peer's newer list is taken, saved and published again as this node's", async (t) => {
  const { sessions, one, published, file, lines } = service(t);
  sessions.receive(one, one.id, good);
  t.is(sessions.list.version, 5);
  t.deepEqual(published, [good]);
  await sessions.stop();
  t.deepEqual(JSON.parse(readFileSync(file, 'utf8')), good);
  t.true(lines.some((line) => line.msg === 'took a newer session list'));
});

test('a malformed or oversized list is rejected with a log line and changes nothing', async (t) => {
  const { sessions, one, published, file, lines } = service(t);
  const bad = [
    'not a list',
    { ...good, sessions: [{ id: 'a', filters: [] }, { id: 'b', filters: [] }, { id: 'c', filters: [] }] },
    { ...good, sessions: [{ id: 'a', filters: [{ filter: 'a/#/b', qos: 1 }] }] },
    { ...good, origin: 'x' },
  ];
  for (const value of bad) sessions.receive(one, one.id, value);
  await sessions.stop();
  t.is(sessions.list.version, 0);
  t.deepEqual(published, []);
  t.false(existsSync(file));
  const rejected = lines.filter((line) => line.msg === 'rejected a session list');
  t.is(rejected.length, bad.length);
  t.true(rejected.every((line) => line.from === one.name && typeof line.reason === 'string'));
});

test("an older list, another node's list read on a peer's broker, and this node's own are not taken", async (t) => {
  const { sessions, one, two, published } = service(t);
  sessions.receive(one, one.id, good);
  sessions.receive(one, one.id, { ...good, version: 4, sessions: [] });
  sessions.receive(one, two.id, { ...good, version: 9, origin: 2, sessions: [] });
  sessions.receive(two, two.id, { ...good, version: 9, origin: 2, sessions: [] });
  await sessions.stop();
  t.is(sessions.list.version, 5);
  t.is(published.length, 1);
});

test("a takeover's wait for the learner: met by a log subscription made after the restart began, else ended by its bound with a warning", async (t) => {
  const dir = scratch(t);
  const broker = await startBroker(t, dir, ['allow_anonymous true', 'log_dest topic', 'log_type subscribe']);
  if (!('port' in broker)) return t.fail(broker.refused);
  const { sessions, lines } = service(t, { host: '127.0.0.1', port: broker.port, username: 'daemon', password: 'x' });
  await sessions.start();
  t.teardown(() => sessions.stop());
  await sessions.waitReading(0, 10_000);
  t.true(lines.some((line) => line.msg.startsWith('reading the broker\'s log again after the restart')), 'the subscription made since the start meets a wait since 0');
  // A subscription from before the restart does not count: nothing subscribes again here.
  await sessions.waitReading(Date.now() + 1, 200);
  t.true(lines.some((line) => line.msg.startsWith('not reading the broker\'s log again after the restart in time')));
});

test('stopping the service ends a wait for the learner', async (t) => {
  const { sessions, lines } = service(t);
  await sessions.start();
  // A bound beyond ava's timeout: only the stop can end it.
  const waiting = sessions.waitReading(Date.now(), 600_000);
  await sessions.stop();
  await waiting;
  t.true(lines.some((line) => line.msg.startsWith('not reading the broker\'s log again')));
});

test("a master's presence report is taken: a listed client on it is connected to that master", (t) => {
  const { sessions, one, lines } = service(t);
  sessions.receive(one, one.id, good);
  const now = Date.now();
  sessions.receivePresence(one, one.id, { origin: 1, seq: now, online: [{ id: 'a', since: now - 1 }] });
  t.is(sessions.presence.connection('a', Date.now()), `1:${now - 1}`);
  t.true(lines.some((line) => line.msg === "a shadowed client's connection to the master changed"));
  t.false(lines.some((line) => line.msg === 'rejected a presence report'));
});

test('a malformed, oversized, misplaced or replayed presence report is rejected with a log line and changes nothing', (t) => {
  const { sessions, one, two, lines } = service(t);
  sessions.receive(one, one.id, good);
  const now = Date.now();
  const genuine = { origin: 1, seq: now, online: [{ id: 'a', since: now - 1 }] };
  sessions.receivePresence(one, one.id, { ...genuine, online: [] });
  const bad = [
    'not a report',
    { ...genuine, seq: now + 1, online: [{ id: 'a', since: 1 }, { id: 'b', since: 1 }, { id: 'c', since: 1 }] },
    { ...genuine, seq: now + 1, origin: 2 },
    { ...genuine, seq: now - 10 * 60_000 },
    // A replay of an older genuine report: it said `a` was connected.
    { ...genuine, seq: now - 1 },
  ];
  // (five: the log lets five a minute through per peer, then counts)
  for (const value of bad) sessions.receivePresence(one, one.id, value);
  t.is(sessions.presence.connection('a', Date.now()), undefined);
  const rejected = lines.filter((line) => line.msg === 'rejected a presence report');
  t.is(rejected.length, bad.length);
  t.true(rejected.every((line) => line.from === one.name && typeof line.reason === 'string'));
  // Another node's report read on a peer's broker, and this node's own, are not read at all.
  sessions.receivePresence(one, two.id, { ...genuine, origin: 2, seq: now + 5 });
  sessions.receivePresence(two, two.id, { ...genuine, origin: 2, seq: now + 5 });
  t.is(sessions.presence.connection('a', Date.now()), undefined);
  t.is(lines.filter((line) => line.msg === 'rejected a presence report').length, bad.length);
});
