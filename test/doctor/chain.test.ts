import test from 'ava';
import { chainCheck, preparedAt } from '../../src/doctor/chain.js';
import { PREPARED_VALID_MS, type TakeoverState } from '../../src/takeover/plan.js';
import { CHAIN, dnatLine } from '../../src/takeover/nat.js';

const target = { vip: '192.168.1.10', port: 1883, address: '192.168.1.11', addressPort: 1883 };
const base = ['-P PREROUTING ACCEPT', '-P OUTPUT ACCEPT', '-N DOCKER', `-N ${CHAIN}`, `-A PREROUTING -j ${CHAIN}`, '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER', `-A OUTPUT -j ${CHAIN}`];
const listing = (...extra: string[]) => [...base, ...extra, ''].join('\n');

test('master with its one DNAT rule, backup with none: consistent', (t) => {
  const master = chainCheck(listing(dnatLine(target)), true, target);
  t.is(master.ok, true);
  t.is(master.detail, `${CHAIN} jumped to once from PREROUTING and OUTPUT; VIP here, DNAT 192.168.1.10:1883 -> 192.168.1.11:1883`);
  t.is(chainCheck(listing(), false, target).ok, true);
});

test('the VIP here but no DNAT rule, or a DNAT rule without the VIP: failed, with a fix', (t) => {
  const missing = chainCheck(listing(), true, target);
  t.is(missing.ok, false);
  t.is(missing.detail, `this node holds the VIP but the DNAT rule is missing (${dnatLine(target)})`);
  t.truthy(missing.fix);
  const stray = chainCheck(listing(dnatLine(target)), false, target);
  t.is(stray.ok, false);
  t.is(stray.detail, `this node does not hold the VIP but its chain has: ${dnatLine(target)}`);
});

test('a duplicate or a foreign rule in our chain fails', (t) => {
  t.is(chainCheck(listing(dnatLine(target), dnatLine(target)), true, target).detail, `a rule that should not be there: ${dnatLine(target)}`);
  const other = `-A ${CHAIN} -d 192.168.1.10/32 -p tcp -m tcp --dport 1883 -j DNAT --to-destination 192.168.1.12:1883`;
  t.is(chainCheck(listing(other), true, target).detail, `this node holds the VIP but the DNAT rule is missing (${dnatLine(target)}); a rule that should not be there: ${other}`);
});

test('no chain, a hook without its jump, a second jump, a jump from elsewhere: each said', (t) => {
  t.is(chainCheck('-P PREROUTING ACCEPT\n', false, target).detail, `no chain ${CHAIN} in the nat table`);
  t.is(chainCheck(base.filter((line) => line !== `-A OUTPUT -j ${CHAIN}`).join('\n'), false, target).detail, `OUTPUT jumps to ${CHAIN} 0 times, not once`);
  t.is(chainCheck(listing(`-A PREROUTING -j ${CHAIN}`), false, target).detail, `PREROUTING jumps to ${CHAIN} 2 times, not once`);
  t.is(chainCheck(listing('-N OTHER', `-A OTHER -i eth1 -j ${CHAIN}`), false, target).detail, `a jump we did not add: -A OTHER -i eth1 -j ${CHAIN}`);
});

const PREPARED = new Date('2026-11-24T08:00:00Z');

test('a BACKUP with a standing preparation (a promote of this node) may hold the DNAT rule: inert until the VIP comes', (t) => {
  const prepared = chainCheck(listing(dnatLine(target)), false, target, PREPARED);
  t.is(prepared.ok, true);
  t.is(prepared.detail, `${CHAIN} jumped to once from PREROUTING and OUTPUT; VIP not here; the DNAT rule of a takeover prepared at 2026-11-24T08:00:00.000Z (a promote of this node), in effect only once the VIP comes`);
  // …or not yet (the executor adds it right after the preparation's restart).
  t.is(chainCheck(listing(), false, target, PREPARED).ok, true);
  // Not a second one, nor another rule.
  t.is(chainCheck(listing(dnatLine(target), dnatLine(target)), false, target, PREPARED).ok, false);
});

test('a preparation stands while it is younger than PREPARED_VALID_MS and the repair after it', (t) => {
  const state: TakeoverState = { role: 'BACKUP', epoch: 1, restartedEpoch: 1, since: PREPARED.toISOString(), prepared: { at: PREPARED.toISOString(), ok: true } };
  const after = (ms: number) => new Date(PREPARED.getTime() + ms);
  t.deepEqual(preparedAt(state, after(1_000)), PREPARED);
  t.deepEqual(preparedAt(state, after(PREPARED_VALID_MS + 9_999)), PREPARED);
  t.is(preparedAt(state, after(PREPARED_VALID_MS + 10_000)), undefined);
  t.is(preparedAt({ ...state, prepared: { at: PREPARED.toISOString(), ok: false } }, after(1_000)), undefined);
  t.is(preparedAt({ ...state, prepared: undefined }, after(1_000)), undefined);
});
