import test from 'ava';
import { roleOf } from '../../src/role/observe.js';

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

test('a VIP whose keepalived is dead is stale: FAULT, and it must go', (t) => {
  t.deepEqual(roleOf({ vip: true, driver: 'dead', hint: 'MASTER' }), { role: 'FAULT', staleVip: true });
  t.deepEqual(roleOf({ vip: false, driver: 'dead', hint: 'MASTER' }), { role: 'FAULT', staleVip: false });
});
