import test from 'ava';
import { open, seal, sealKey } from '../../src/peer/seal.js';

const key = sealKey('a-cluster-secret-of-some-length', 'home');
const TOPIC = 'mosquitto-failover/home/sync/passwd';
const value = { content: 'alice:$7$101$c2FsdA==$aGFzaA==\n', version: 1 };

test('a sealed value opens on its topic, under its key, as it was', (t) => {
  t.deepEqual(open(key, TOPIC, seal(key, TOPIC, value), 1_000), { ok: true, value });
});

test('what a reader of the topic sees holds none of the value: not the text, not its JSON', (t) => {
  const payload = seal(key, TOPIC, value);
  t.false(payload.includes('alice'));
  t.false(payload.includes('$7$'));
  t.false(payload.includes('content'));
  t.notDeepEqual(seal(key, TOPIC, value), payload, 'a fresh nonce each time: equal values do not look equal');
});

const FORGED = 'does not open with the cluster key (forged, altered, moved from another topic, or sealed under another cluster secret)';

test('another secret, another cluster, another topic or one changed byte does not open', (t) => {
  const payload = seal(key, TOPIC, value);
  const flipped = Buffer.from(payload);
  flipped[20] = flipped[20]! ^ 1;
  const results = [
    open(sealKey('another-secret-of-some-length', 'home'), TOPIC, payload, 1_000),
    open(sealKey('a-cluster-secret-of-some-length', 'cabin'), TOPIC, payload, 1_000),
    open(key, 'mosquitto-failover/home/sync/acl', payload, 1_000),
    open(key, TOPIC, flipped, 1_000),
  ];
  t.deepEqual(results, Array(4).fill({ ok: false, reason: FORGED }));
});

test('an empty, oversized or unsealed payload is refused before any opening, and the reason holds none of its bytes', (t) => {
  t.deepEqual(open(key, TOPIC, Buffer.alloc(0), 1_000), { ok: false, reason: 'empty (the retained message was deleted)' });
  t.deepEqual(open(key, TOPIC, Buffer.alloc(2_000, 'x'), 1_000), { ok: false, reason: '2000 bytes, more than the 1000 allowed here' });
  const plain = Buffer.from(JSON.stringify({ ...value, content: 'mallory-was-here' }));
  const result = open(key, TOPIC, plain, 1_000);
  t.deepEqual(result, { ok: false, reason: 'not sealed (no mosquitto-failover header)' });
});
