import { pbkdf2Sync } from 'node:crypto';
import test from 'ava';
import type { FileState } from '../../src/sync/decide.js';
import { sha256, type Envelope, type Verified } from '../../src/sync/envelope.js';
import type { Version } from '../../src/sync/hlc.js';
import { localState, MAX_AHEAD_MS, planEnvelope, planLocal, type LocalText, type Received } from '../../src/sync/plan.js';
import { repairServiceUsers } from '../../src/sync/service.js';

const users = { bridge: 'mqfo-bridge', daemon: 'mqfo-daemon' };
const passwords = { bridge: 'bridge-pw', daemon: 'daemon-pw' };
const nodes = [
  { id: 1, name: 'node1' },
  { id: 2, name: 'node2' },
];

/** A `$7$` line as mosquitto_passwd writes it (PBKDF2-SHA512, 12-byte salt, 64-byte hash). */
function entry(user: string, password: string, seed = 'a'): string {
  const salt = Buffer.alloc(12, seed);
  return `${user}:$7$101$${salt.toString('base64')}$${pbkdf2Sync(password, salt, 101, 64, 'sha512').toString('base64')}`;
}
const lines = (...items: string[]): string => `${items.join('\n')}\n`;

const BRIDGE = entry(users.bridge, passwords.bridge);
const DAEMON = entry(users.daemon, passwords.daemon);
const ALICE = entry('alice', 'alice-pw');
const BOB = entry('bob', 'bob-pw');
const MINE = lines(BRIDGE, DAEMON, ALICE);

const v = (wall: number, node = 1, counter = 0): Version => ({ wall, counter, node });
const CURRENT: FileState = { version: v(20, 1), origin: 1, sha256: sha256(MINE), history: [v(20, 1), v(10, 2)] };

// ------------------------------------------------------------------ the service-user repair

test('the repair takes service users that verify as they come, and puts back those that do not', (t) => {
  const theirs = lines(entry(users.bridge, passwords.bridge, 'b'), entry(users.daemon, passwords.daemon, 'b'), BOB);
  t.deepEqual(repairServiceUsers('passwd', theirs, MINE, users, passwords), { text: theirs, restored: [] }, 'other salts, same passwords: byte-identical');
  t.deepEqual(repairServiceUsers('passwd', lines(BRIDGE, BOB), MINE, users, passwords), { text: lines(BRIDGE, BOB, DAEMON), restored: ['mqfo-daemon'] });
  const wrong = lines(entry(users.bridge, 'guessed'), DAEMON, BOB);
  t.deepEqual(repairServiceUsers('passwd', wrong, MINE, users, passwords), { text: lines(BRIDGE, DAEMON, BOB), restored: ['mqfo-bridge'] });
});

test('with shadow sessions on, the repair puts the shadow user back like the other service users', (t) => {
  const shadowUsers = { ...users, shadow: 'mqfo-shadow' };
  const shadowPasswords = { ...passwords, shadow: 'shadow-pw' };
  const SHADOW = entry('mqfo-shadow', 'shadow-pw');
  const mine = lines(BRIDGE, DAEMON, SHADOW, ALICE);
  t.deepEqual(repairServiceUsers('passwd', lines(BRIDGE, DAEMON, BOB), mine, shadowUsers, shadowPasswords), { text: lines(BRIDGE, DAEMON, BOB, SHADOW), restored: ['mqfo-shadow'] });
  const guessed = lines(BRIDGE, DAEMON, entry('mqfo-shadow', 'guessed'), BOB);
  t.deepEqual(repairServiceUsers('passwd', guessed, mine, shadowUsers, shadowPasswords), { text: lines(BRIDGE, DAEMON, SHADOW, BOB), restored: ['mqfo-shadow'] });
  t.deepEqual(repairServiceUsers('passwd', lines(BRIDGE, DAEMON, BOB), mine, users, passwords), { text: lines(BRIDGE, DAEMON, BOB), restored: [] }, 'sessions off: an ordinary user');
});

test('without a text of this node\'s, the repair has nothing to take the service users from', (t) => {
  t.deepEqual(repairServiceUsers('passwd', lines(BOB), undefined, users, passwords), { text: lines(BOB), restored: [] });
});

// ------------------------------------------------------------------ a local change

const local = (over: Partial<LocalText>): LocalText => ({ kind: 'passwd', text: MINE, current: CURRENT, previous: MINE, reported: undefined, start: false, users, passwords, ...over });

test('a local text with the hash of this node\'s version is unchanged', (t) => {
  t.deepEqual(planLocal(local({ previous: undefined, start: true })), { type: 'unchanged' });
  t.deepEqual(planLocal(local({})), { type: 'unchanged' });
});

test('an invalid local text is reported with every problem, then not again', (t) => {
  const text = lines(BRIDGE, DAEMON, 'alice:plain-text');
  const plan = planLocal(local({ text }));
  t.like(plan, { type: 'invalid', sha256: sha256(text) });
  t.is(plan.type === 'invalid' ? plan.problems.length : 0, 1);
  t.deepEqual(planLocal(local({ text, reported: sha256(text) })), { type: 'reported' });
  t.like(planLocal(local({ text, reported: sha256('an earlier one') })), { type: 'invalid' });
});

test('an edit is applied, then published as it is', (t) => {
  const text = lines(BRIDGE, DAEMON, ALICE, BOB);
  t.deepEqual(planLocal(local({ text })), { type: 'publish', text, restored: [], rewritten: false, missing: [], apply: true });
});

test('at start the file is published without applying it (the broker has just read it), and nothing is repaired', (t) => {
  const text = lines(BRIDGE, ALICE);
  t.deepEqual(planLocal(local({ text, current: undefined, previous: undefined, start: true })), {
    type: 'publish', text, restored: [], rewritten: false, missing: ['mqfo-daemon'], apply: false,
  });
});

test('an edit that removes or breaks a service user gets it back, written to the file before it is applied', (t) => {
  t.deepEqual(planLocal(local({ text: lines(BRIDGE, ALICE, BOB) })), {
    type: 'publish', text: lines(BRIDGE, ALICE, BOB, DAEMON), restored: ['mqfo-daemon'], rewritten: true, missing: [], apply: true,
  });
  const changed = planLocal(local({ text: lines(entry(users.bridge, 'new-pw'), DAEMON, ALICE) }));
  t.like(changed, { type: 'publish', text: MINE, restored: ['mqfo-bridge'], rewritten: true });
});

test('a local ACL edit is the user\'s own text: only a changed service user rewrites it', (t) => {
  const block = ['# BEGIN mosquitto-failover service users', 'user mqfo-bridge', 'topic readwrite home/#', '', 'user mqfo-daemon', 'topic readwrite mosquitto-failover/home/#', '# END mosquitto-failover service users'];
  const mine = lines(...block);
  const current = { ...CURRENT, sha256: sha256(mine) };
  const commented = lines(...block.slice(0, 2), '# the bridge', ...block.slice(2), '', 'user sensor', 'topic write home/sensors/#');
  t.like(planLocal(local({ kind: 'acl', text: commented, current, previous: mine })), { type: 'publish', text: commented, restored: [], rewritten: false });
  const widened = lines(...block.map((line) => line.replace('home/#', '#')));
  t.like(planLocal(local({ kind: 'acl', text: widened, current, previous: mine })), { type: 'publish', text: mine, restored: ['mqfo-bridge'], rewritten: true });
});

test('a file without sync state gets version 0, so any synced version wins over it', (t) => {
  t.deepEqual(localState(undefined, MINE, v(500, 2), 1_000, 3), { version: v(0, 3), origin: 3, sha256: sha256(MINE), history: [v(0, 3)] });
});

test('a new local version is later than anything seen, whatever the clock says, and carries the lineage', (t) => {
  t.deepEqual(localState(CURRENT, 'x', v(20, 1), 1_000, 1), { version: v(1_000, 1), origin: 1, sha256: sha256('x'), history: [v(1_000, 1), ...CURRENT.history] });
  t.deepEqual(localState(CURRENT, 'x', v(5_000, 2, 3), 1_000, 1).version, v(5_000, 1, 4), 'a clock behind the cluster');
  const long = { ...CURRENT, history: Array.from({ length: 32 }, (_, index) => v(20 - index)) };
  t.is(localState(long, 'x', v(20), 1_000, 1).history.length, 32);
});

// ------------------------------------------------------------------ an envelope

function envelope(content: string, version: Version, history: Version[] = [version], origin = version.node): Verified {
  const body: Envelope = { cluster: 'home', kind: 'passwd', origin, version, history, sha256: sha256(content), content };
  return { ok: true, envelope: body };
}
const received = (verified: Verified, over: Partial<Received> = {}): Received => ({
  kind: 'passwd', own: false, verified, current: CURRENT, text: MINE, onDisk: undefined, refused: new Set(), users, passwords, nodes, now: 1_000_000, ...over,
});
const NEWER = lines(BRIDGE, DAEMON, ALICE, BOB);

test('a bad envelope is rejected with its reason; on this node\'s own broker, this node\'s version is published again', (t) => {
  const bad: Verified = { ok: false, reason: 'bad signature' };
  t.deepEqual(planEnvelope(received(bad)), { type: 'reject', reason: 'bad signature', republish: false });
  t.deepEqual(planEnvelope(received(bad, { own: true })), { type: 'reject', reason: 'bad signature', republish: true });
});

test('a version more than five minutes ahead of this node\'s clock is rejected, naming the node whose clock it is', (t) => {
  const ahead = envelope(NEWER, v(1_000_000 + MAX_AHEAD_MS + 1_000, 2));
  const plan = planEnvelope(received(ahead));
  t.is(plan.type, 'reject');
  t.regex((plan as { reason: string }).reason, /is 301 s ahead of this node's clock \(at most 300 s\): is node2's clock wrong\?/);
  t.is(planEnvelope(received(envelope(NEWER, v(1_000_000 + MAX_AHEAD_MS, 2)))).type, 'install', 'five minutes ahead is still taken');
});

test('this node\'s version is nothing to do, on its own broker too', (t) => {
  t.deepEqual(planEnvelope(received(envelope(MINE, v(20, 1), CURRENT.history), { own: true })), { type: 'same', republish: false });
});

test('an older version this file has been through is stale; an older one on this node\'s own broker is replaced', (t) => {
  const old = envelope(lines(BRIDGE, DAEMON), v(10, 2));
  t.deepEqual(planEnvelope(received(old)), { type: 'stale', republish: false });
  t.deepEqual(planEnvelope(received(old, { own: true })), { type: 'stale', republish: true });
});

test('an older concurrent edit loses: its text is kept beside the file, named after its node and version', (t) => {
  const text = lines(BRIDGE, DAEMON, BOB);
  t.deepEqual(planEnvelope(received(envelope(text, v(15, 2), [v(15, 2), v(10, 2)]))), {
    type: 'conflict', republish: false, keep: { suffix: 'conflict-node2-15.0@2', text },
  });
  t.like(planEnvelope(received(envelope(text, v(15, 7)))), { keep: { suffix: 'conflict-node7-15.0@7' } }, 'a node not in cluster.yaml');
});

test('a newer version of the same text only moves the version', (t) => {
  const incoming = envelope(MINE, v(30, 2), [v(30, 2), v(20, 1)]);
  const state = { version: v(30, 2), origin: 2, sha256: sha256(MINE), history: [v(30, 2), v(20, 1)] };
  t.deepEqual(planEnvelope(received(incoming)), { type: 'adopt', republish: false, state, text: MINE });
  t.deepEqual(planEnvelope(received(incoming, { text: undefined, own: true })), { type: 'adopt', republish: true, state, text: MINE });
});

test('a newer version made on top of this one is installed over this node\'s text', (t) => {
  const history = [v(30, 2), v(20, 1)];
  t.deepEqual(planEnvelope(received(envelope(NEWER, v(30, 2), history))), {
    type: 'install',
    republish: false,
    key: 'passwd 30.0@2',
    text: NEWER,
    previous: MINE,
    restored: [],
    missing: [],
    keepCurrent: undefined,
    state: { version: v(30, 2), origin: 2, sha256: sha256(NEWER), history },
  });
});

test('a newer version made without this one is installed, and this node\'s text kept beside the file', (t) => {
  t.like(planEnvelope(received(envelope(NEWER, v(30, 2), [v(30, 2), v(10, 2)]))), {
    type: 'install', text: NEWER, keepCurrent: { suffix: 'conflict-node1-20.0@1', text: MINE },
  });
  t.like(planEnvelope(received(envelope(NEWER, v(30, 2), [v(30, 2)]), { text: undefined })), { type: 'install', previous: undefined, keepCurrent: undefined }, 'no text to keep');
});

test('a newer version of this node\'s own file on its own broker (state lost) is installed and this node\'s published again', (t) => {
  t.like(planEnvelope(received(envelope(NEWER, v(30, 1), [v(30, 1), v(20, 1)]), { own: true })), { type: 'install', republish: true, text: NEWER });
});

test('a node without sync state installs any version over the file it has, without keeping it as a conflict', (t) => {
  const onDisk = lines(BRIDGE, DAEMON, 'carol:plain');
  t.like(planEnvelope(received(envelope(NEWER, v(0, 2)), { current: undefined, text: undefined, onDisk })), { type: 'install', previous: onDisk, keepCurrent: undefined });
  t.like(planEnvelope(received(envelope(NEWER, v(0, 2)), { current: undefined, text: undefined })), { type: 'install', previous: undefined, restored: [] });
});

test('a version refused here before is not tried again', (t) => {
  t.deepEqual(planEnvelope(received(envelope(NEWER, v(30, 2)), { refused: new Set(['passwd 30.0@2']) })), { type: 'refused', republish: false });
});

test('a version that is not valid is refused, with every problem', (t) => {
  const plan = planEnvelope(received(envelope(lines(BRIDGE, DAEMON, 'mallory:plain'), v(30, 2))));
  t.like(plan, { type: 'invalid', key: 'passwd 30.0@2', restored: [] });
  t.is(plan.type === 'invalid' ? plan.problems.length : 0, 1);
  t.like(planEnvelope(received(envelope(lines(BRIDGE, 'mallory:plain'), v(30, 2)))), { type: 'invalid', restored: ['mqfo-daemon'] }, 'repaired first');
});

test('a version without the service users, or with other passwords for them, gets this node\'s entries', (t) => {
  const plan = planEnvelope(received(envelope(lines(ALICE, BOB), v(30, 2))));
  const text = lines(ALICE, BOB, BRIDGE, DAEMON);
  t.like(plan, { type: 'install', text, restored: ['mqfo-bridge', 'mqfo-daemon'], missing: [], state: { sha256: sha256(text) } });
  t.like(planEnvelope(received(envelope(lines(entry(users.bridge, 'x'), DAEMON, BOB), v(30, 2)))), { type: 'install', text: lines(BRIDGE, DAEMON, BOB), restored: ['mqfo-bridge'] });
});

test('service users missing on both sides stay missing, and are named', (t) => {
  t.like(planEnvelope(received(envelope(lines(BOB), v(30, 2)), { text: lines(BRIDGE, ALICE) })), { type: 'install', text: lines(BOB, BRIDGE), missing: ['mqfo-daemon'] });
});
