import test from 'ava';
import { CLOCK_FIX, clockCheck, FAIL_SKEW_MS, skewOf, WARN_SKEW_MS } from '../../src/doctor/clock.js';

const T0 = Date.parse('2026-11-24T05:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

test('the skew is the peer\'s time minus the midpoint of the round trip; the bound half the round trip plus the resolution', (t) => {
  t.deepEqual(skewOf(iso(T0 + 5), T0, T0 + 10), { skewMs: 0, boundMs: 7 });
  t.deepEqual(skewOf(iso(T0 + 3_000), T0, T0 + 4), { skewMs: 2_998, boundMs: 4 });
  t.deepEqual(skewOf(iso(T0 - 60_000), T0, T0 + 2), { skewMs: -60_001, boundMs: 3 });
  t.throws(() => skewOf('yesterday', T0, T0 + 1), { message: /the answer's time "yesterday" is not a time/ });
});

test('the true skew lies within the bound, wherever in the round trip the peer read its clock', (t) => {
  const offset = 1_234;
  for (const [sent, received] of [[0, 2], [0, 400], [10, 11]] as const) {
    for (let readAt = sent; readAt <= received; readAt++) {
      const { skewMs, boundMs } = skewOf(iso(T0 + readAt + offset), T0 + sent, T0 + received);
      t.true(Math.abs(skewMs - offset) <= boundMs, `read at ${readAt} in [${sent}, ${received}]`);
    }
  }
});

test('ok below a second; a warning above it, a failure above 10 s, each with the NTP fix', (t) => {
  const at = (skewMs: number, boundMs = 2) => ({ peer: 'node2', skew: { skewMs, boundMs } });
  t.deepEqual(clockCheck([at(3), at(-40)].map((entry, index) => ({ ...entry, peer: `node${index + 2}` }))), { name: 'clock skew', ok: true, detail: 'node2 +3 ms (±2 ms), node3 -40 ms (±2 ms); peer clock minus this one' });
  const warned = clockCheck([at(2_500)]);
  t.is(warned.ok, 'warn');
  t.is(warned.fix, CLOCK_FIX);
  t.regex(warned.detail, /^node2 \+2500 ms \(±2 ms\); peer clock minus this one: more than 1 s/);
  const failed = clockCheck([at(3), at(-45_000)]);
  t.is(failed.ok, false);
  t.is(failed.fix, CLOCK_FIX);
  t.regex(failed.detail, /node2 -45000 ms \(±2 ms\); .*more than 10 s \(a peer's syncNow is refused beyond 30 s/);
  t.regex(CLOCK_FIX, /chrony/);
  t.regex(CLOCK_FIX, /systemd-timesyncd/);
});

test('the verdict goes by what the bound cannot explain: a slow round trip alone never warns', (t) => {
  t.is(clockCheck([{ peer: 'p', skew: { skewMs: 1_400, boundMs: 500 } }]).ok, true);
  t.is(clockCheck([{ peer: 'p', skew: { skewMs: WARN_SKEW_MS + 501, boundMs: 500 } }]).ok, 'warn');
  t.is(clockCheck([{ peer: 'p', skew: { skewMs: -(FAIL_SKEW_MS + 501), boundMs: 500 } }]).ok, false);
  t.is(clockCheck([{ peer: 'p', skew: { skewMs: FAIL_SKEW_MS + 400, boundMs: 500 } }]).ok, 'warn');
});

test('a peer not measured: a warning beside measured ones, skipped when none was, and no peer at all', (t) => {
  const partly = clockCheck([{ peer: 'node2', skew: { skewMs: 1, boundMs: 2 } }, { peer: 'node3', error: 'no answer within 5000 ms' }]);
  t.is(partly.ok, 'warn');
  t.is(partly.detail, 'node2 +1 ms (±2 ms), node3 not measured: no answer within 5000 ms; peer clock minus this one');
  t.regex(partly.fix ?? '', /start the daemon/);
  t.deepEqual(clockCheck([{ peer: 'node2', error: 'refused' }]), { name: 'clock skew', ok: 'skipped', detail: "no peer's daemon answered: node2 not measured: refused" });
  t.is(clockCheck([]).ok, 'skipped');
});
