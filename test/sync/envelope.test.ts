import test from 'ava';
import { parseEnvelope, sha256, type Envelope } from '../../src/sync/envelope.js';

const content = 'alice:$7$101$c2FsdA==$aGFzaA==\n';
const body: Envelope = {
  cluster: 'home',
  kind: 'passwd',
  origin: 1,
  version: { wall: 1000, counter: 0, node: 1 },
  history: [{ wall: 1000, counter: 0, node: 1 }],
  sha256: sha256(content),
  content,
};
const where = { cluster: 'home', kind: 'passwd' } as const;

test('a well-formed envelope is taken as it is', (t) => {
  t.deepEqual(parseEnvelope(JSON.parse(JSON.stringify(body)), where), { ok: true, envelope: body });
});

test('an envelope for another kind or cluster is refused', (t) => {
  t.deepEqual(parseEnvelope(body, { cluster: 'home', kind: 'acl' }), { ok: false, reason: 'for passwd, published as acl' });
  t.deepEqual(parseEnvelope(body, { cluster: 'cabin', kind: 'passwd' }), { ok: false, reason: 'for cluster "home"' });
});

test('a content that does not match its hash is refused', (t) => {
  t.deepEqual(parseEnvelope({ ...body, sha256: sha256('something else') }, where), { ok: false, reason: 'sha256 does not match the content' });
});

test('a history that does not start with the version is refused', (t) => {
  t.deepEqual(parseEnvelope({ ...body, history: [{ wall: 999, counter: 0, node: 1 }] }, where), { ok: false, reason: 'history does not start with the version' });
});

test('anything else is refused with what is wrong, and an old signed envelope (with hmac) is not an envelope any more', (t) => {
  t.deepEqual(parseEnvelope('not an object', where), { ok: false, reason: 'not an envelope: payload: Invalid input: expected object, received string' });
  const old = parseEnvelope({ ...body, hmac: 'ab'.repeat(32) }, where);
  t.false(old.ok);
  if (!old.ok) t.regex(old.reason, /^not an envelope: payload: Unrecognized key: "hmac"/);
});
