import test from 'ava';
import { sha256, sign, verify, type Unsigned } from '../../src/sync/envelope.js';

const SECRET = 'a-cluster-secret-of-some-length';
const content = 'alice:$7$101$c2FsdA==$aGFzaA==\n';
const body: Unsigned = {
  cluster: 'home',
  kind: 'passwd',
  origin: 1,
  version: { wall: 1000, counter: 0, node: 1 },
  history: [{ wall: 1000, counter: 0, node: 1 }],
  sha256: sha256(content),
  content,
};
const where = { cluster: 'home', kind: 'passwd' } as const;

test('a signed envelope verifies', (t) => {
  const result = verify(SECRET, JSON.stringify(sign(SECRET, body)), where);
  t.true(result.ok);
  if (result.ok) t.deepEqual(result.envelope, sign(SECRET, body));
});

test('another secret, a changed field or a changed content is a bad signature', (t) => {
  const signed = sign(SECRET, body);
  const reasons = [
    verify('another-secret', JSON.stringify(signed), where),
    verify(SECRET, JSON.stringify({ ...signed, version: { ...signed.version, wall: 2000 }, history: [{ ...signed.version, wall: 2000 }] }), where),
    verify(SECRET, JSON.stringify({ ...signed, content: `${content}mallory:$7$101$c2FsdA==$aGFzaA==\n`, sha256: sha256(`${content}mallory:$7$101$c2FsdA==$aGFzaA==\n`) }), where),
    verify(SECRET, JSON.stringify({ ...signed, origin: 2 }), where),
  ].map((result) => (result.ok ? 'ok' : result.reason));
  t.deepEqual(reasons, Array(4).fill('bad signature (HMAC-SHA256 under the cluster secret does not match)'));
});

test('an envelope signed for another kind or cluster is refused', (t) => {
  const signed = JSON.stringify(sign(SECRET, body));
  const kind = verify(SECRET, signed, { cluster: 'home', kind: 'acl' });
  const cluster = verify(SECRET, signed, { cluster: 'cabin', kind: 'passwd' });
  t.deepEqual(kind, { ok: false, reason: 'signed for passwd, published as acl' });
  t.deepEqual(cluster, { ok: false, reason: 'signed for cluster "home"' });
});

test('a content that does not match its hash is refused even when signed', (t) => {
  const signed = JSON.stringify(sign(SECRET, { ...body, sha256: sha256('something else') }));
  t.deepEqual(verify(SECRET, signed, where), { ok: false, reason: 'sha256 does not match the content' });
});

test('garbage is refused with what is wrong', (t) => {
  t.deepEqual(verify(SECRET, 'not json', where), { ok: false, reason: 'not JSON' });
  const result = verify(SECRET, JSON.stringify({ ...sign(SECRET, body), hmac: 'xyz' }), where);
  t.false(result.ok);
  if (!result.ok) t.regex(result.reason, /^not an envelope: hmac: /);
});
