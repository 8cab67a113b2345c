import test from 'ava';
import { roleOf } from '../../src/role/observe.js';
import { staleAfterMs } from '../../src/takeover/stale.js';

test('the VIP on the interface is MASTER, whatever the hint says', (t) => {
  t.deepEqual(roleOf({ vip: true, driver: 'alive', hint: 'BACKUP' }), { role: 'MASTER', staleVip: false });
  t.deepEqual(roleOf({ vip: true, driver: 'unknown' }), { role: 'MASTER', staleVip: false });
});

test('a MASTER hint without the VIP is not MASTER', (t) => {
  t.deepEqual(roleOf({ vip: false, driver: 'alive', hint: 'MASTER' }), { role: 'BACKUP', staleVip: false });
  t.deepEqual(roleOf({ vip: false, driver: 'alive' }), { role: 'BACKUP', staleVip: false });
});

test('without the VIP, the hint names the role', (t) => {
  t.is(roleOf({ vip: false, driver: 'alive', hint: 'FAULT' }).role, 'FAULT');
  t.is(roleOf({ vip: false, driver: 'unknown', hint: 'STOP' }).role, 'STOP');
});

test('a VIP whose keepalived is dead is served until a peer must have taken over, then it is stale and must go', (t) => {
  t.deepEqual(roleOf({ vip: true, driver: 'dead', hint: 'MASTER' }), { role: 'FAULT', staleVip: true });
  const grace = staleAfterMs(1);
  t.is(grace, 4_500);
  t.deepEqual(roleOf({ vip: true, driver: 'dead', driverDeadForMs: 0, staleAfterMs: grace }), { role: 'MASTER', staleVip: false });
  t.deepEqual(roleOf({ vip: true, driver: 'dead', driverDeadForMs: 4_499, staleAfterMs: grace }), { role: 'MASTER', staleVip: false });
  t.deepEqual(roleOf({ vip: true, driver: 'dead', driverDeadForMs: 4_500, staleAfterMs: grace }), { role: 'FAULT', staleVip: true });
  t.is(staleAfterMs(0.1), 900);
  t.deepEqual(roleOf({ vip: false, driver: 'dead', hint: 'MASTER' }), { role: 'FAULT', staleVip: false });
});
