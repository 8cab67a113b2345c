import test from 'ava';
import { CHAIN, dnatLine, type NatState } from '../../src/takeover/nat.js';
import { holdDownMs, INITIAL_STATE, plan, PREPARED_VALID_MS, type Action, type TakeoverState } from '../../src/takeover/plan.js';
import type { ObservedRole } from '../../src/role/observe.js';

const LINE = dnatLine({ vip: '10.0.0.10', port: 1883, address: '10.0.0.11', addressPort: 1883 });
const NOW = new Date('2026-11-23T10:00:00Z');
const MASTER: ObservedRole = { role: 'MASTER', staleVip: false };
const BACKUP: ObservedRole = { role: 'BACKUP', staleVip: false };
const EMPTY: NatState = { chainExists: false, rules: [], jumps: { PREROUTING: 0, OUTPUT: 0 } };
const READY: NatState = { chainExists: true, rules: [], jumps: { PREROUTING: 1, OUTPUT: 1 } };

/** What the executor would leave behind: the planner's model of the system. */
function apply(nat: NatState, state: TakeoverState, actions: readonly Action[]): { nat: NatState; state: TakeoverState; restarts: number } {
  const next = structuredClone(nat);
  let saved = state;
  let restarts = 0;
  for (const action of actions) {
    if (action.type === 'createChain') next.chainExists = true;
    else if (action.type === 'addJump') next.jumps[action.hook]++;
    else if (action.type === 'deleteJump') next.jumps[action.hook]--;
    else if (action.type === 'flushChain') next.rules = [];
    else if (action.type === 'addDnat') next.rules.push(LINE);
    else if (action.type === 'replaceDnat') next.rules[0] = LINE;
    // The executor adds the rule once the preparation went well (the model: it does).
    else if (action.type === 'prepareBroker') next.rules.push(LINE);
    else if (action.type === 'saveState') saved = action.state;
    else if (action.type === 'restartBroker') restarts++;
    if (action.type === 'prepareBroker') saved = { ...action.state, prepared: { at: NOW.toISOString(), ok: true } };
  }
  return { nat: next, state: saved, restarts };
}

const types = (actions: readonly Action[]) => actions.map((action) => action.type);

test('a takeover adds the chain, the jumps and, after the one broker restart, one DNAT rule, before waiting for the broker to accept', (t) => {
  const actions = plan({ observed: MASTER, nat: EMPTY, state: INITIAL_STATE, dnatLine: LINE, now: NOW });
  t.deepEqual(types(actions), ['createChain', 'addJump', 'addJump', 'saveState', 'restartBroker', 'addDnat', 'waitAccepting', 'saveState']);
  const after = apply(EMPTY, INITIAL_STATE, actions);
  t.deepEqual(after.nat.rules, [LINE]);
  t.like(after.state, { role: 'MASTER', epoch: 1, restartedEpoch: 1 });
  t.is(after.restarts, 1);
});

test('the epoch is saved before the restart and marked restarted only after it', (t) => {
  const actions = plan({ observed: MASTER, nat: READY, state: INITIAL_STATE, dnatLine: LINE, now: NOW });
  const restart = actions.findIndex((action) => action.type === 'restartBroker');
  t.like(actions[restart - 1], { type: 'saveState', state: { role: 'MASTER', epoch: 1, restartedEpoch: 0 } });
  t.like(actions.at(-1), { type: 'saveState', state: { role: 'MASTER', epoch: 1, restartedEpoch: 1 } });
  t.is(actions.findIndex((action) => action.type === 'saveState' && action.state.restartedEpoch === 1), actions.length - 1);
});

test('planning again on the result plans nothing, however often: no duplicate rule, no second restart', (t) => {
  let nat = EMPTY;
  let state = INITIAL_STATE;
  let restarts = 0;
  for (let round = 0; round < 5; round++) {
    const after = apply(nat, state, plan({ observed: MASTER, nat, state, dnatLine: LINE, now: NOW }));
    ({ nat, state } = after);
    restarts += after.restarts;
  }
  t.deepEqual(nat.rules, [LINE]);
  t.deepEqual(nat.jumps, { PREROUTING: 1, OUTPUT: 1 });
  t.is(restarts, 1);
  t.deepEqual(plan({ observed: MASTER, nat, state, dnatLine: LINE, now: NOW }), []);
});

test('a daemon restarted while MASTER (state file says so) does not restart the broker again', (t) => {
  const state: TakeoverState = { role: 'MASTER', epoch: 4, restartedEpoch: 4, since: NOW.toISOString() };
  t.deepEqual(plan({ observed: MASTER, nat: { ...READY, rules: [LINE] }, state, dnatLine: LINE, now: NOW }), []);
  // …and one that finds the rule gone puts it back, still without a restart.
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state, dnatLine: LINE, now: NOW })), ['addDnat']);
});

test('a daemon that died between saving a takeover and restarting the broker restarts it', (t) => {
  const state: TakeoverState = { role: 'MASTER', epoch: 4, restartedEpoch: 3, since: NOW.toISOString() };
  const actions = plan({ observed: MASTER, nat: { ...READY, rules: [LINE] }, state, dnatLine: LINE, now: NOW });
  t.deepEqual(actions, [{ type: 'restartBroker', epoch: 4 }, { type: 'waitAccepting' }, { type: 'saveState', state: { ...state, restartedEpoch: 4 } }]);
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state, dnatLine: LINE, now: NOW })), ['restartBroker', 'addDnat', 'waitAccepting', 'saveState']);
});

test('each new takeover is a new epoch with its own restart', (t) => {
  let nat = EMPTY;
  let state = INITIAL_STATE;
  let restarts = 0;
  for (const observed of [MASTER, BACKUP, MASTER, { role: 'FAULT', staleVip: false } as const, MASTER]) {
    const after = apply(nat, state, plan({ observed, nat, state, dnatLine: LINE, now: NOW }));
    ({ nat, state } = after);
    restarts += after.restarts;
  }
  t.is(restarts, 3);
  t.like(state, { role: 'MASTER', epoch: 3, restartedEpoch: 3 });
});

test('BACKUP flushes our chain and never restarts', (t) => {
  const state: TakeoverState = { role: 'MASTER', epoch: 2, restartedEpoch: 2, since: NOW.toISOString() };
  const actions = plan({ observed: BACKUP, nat: { ...READY, rules: [LINE] }, state, dnatLine: LINE, now: NOW });
  t.deepEqual(types(actions), ['flushChain', 'saveState']);
  t.like(actions[1], { state: { role: 'BACKUP', epoch: 2 } });
  t.deepEqual(plan({ observed: BACKUP, nat: READY, state: { ...state, role: 'BACKUP' }, dnatLine: LINE, now: NOW }), []);
});

test('extra jumps are removed and rules that should not be in our chain are flushed', (t) => {
  const nat: NatState = { chainExists: true, rules: [LINE, LINE, `-A ${CHAIN} -j RETURN`], jumps: { PREROUTING: 3, OUTPUT: 1 } };
  const state: TakeoverState = { role: 'MASTER', epoch: 1, restartedEpoch: 1, since: NOW.toISOString() };
  const actions = plan({ observed: MASTER, nat, state, dnatLine: LINE, now: NOW });
  t.deepEqual(types(actions), ['deleteJump', 'deleteJump', 'flushChain', 'addDnat']);
  t.deepEqual(apply(nat, state, actions).nat, { chainExists: true, rules: [LINE], jumps: { PREROUTING: 1, OUTPUT: 1 } });
});

test('a stale VIP is removed first, and the node is not MASTER', (t) => {
  const state: TakeoverState = { role: 'MASTER', epoch: 1, restartedEpoch: 1, since: NOW.toISOString() };
  const actions = plan({ observed: { role: 'FAULT', staleVip: true }, nat: { ...READY, rules: [LINE] }, state, dnatLine: LINE, now: NOW });
  t.deepEqual(types(actions), ['removeStaleVip', 'flushChain', 'saveState']);
});

/** Plans and applies each step at its time (ms after NOW); the restarts, the state and the nat chain at the end. */
function run(steps: readonly (readonly [ObservedRole, number])[], hold = holdDownMs(1)) {
  let nat = EMPTY;
  let state = INITIAL_STATE;
  let restarts = 0;
  for (const [observed, at] of steps) {
    const after = apply(nat, state, plan({ observed, nat, state, dnatLine: LINE, now: new Date(NOW.getTime() + at), holdDownMs: hold }));
    ({ nat, state } = after);
    restarts += after.restarts;
  }
  return { nat, state, restarts };
}

test('the hold-down is the master-down wait, one more advert and skew, and a second: 6 s for advert_int 1', (t) => {
  t.is(holdDownMs(1), 6_000);
  t.is(holdDownMs(3), 14_000);
  t.is(holdDownMs(0.1), 2_400);
});

test('giving MASTER up to a BACKUP notes when', (t) => {
  const state: TakeoverState = { role: 'MASTER', epoch: 2, restartedEpoch: 2, since: NOW.toISOString() };
  t.like(plan({ observed: BACKUP, nat: { ...READY, rules: [LINE] }, state, dnatLine: LINE, now: NOW }).at(-1), { type: 'saveState', state: { role: 'BACKUP', epoch: 2, releasedAt: NOW.toISOString() } });
});

test('a MASTER given up to a BACKUP and regained within the hold-down is the same takeover: same epoch, no second restart, the DNAT rule back', (t) => {
  // ucarp's flap, as in the lab: MASTER, back to BACKUP 100 ms later on a late advert, MASTER again 3.9 s after that.
  const after = run([[MASTER, 0], [BACKUP, 100], [MASTER, 4_000]]);
  t.is(after.restarts, 1);
  t.like(after.state, { role: 'MASTER', epoch: 1, restartedEpoch: 1 });
  t.deepEqual(after.nat.rules, [LINE]);
  const state: TakeoverState = { role: 'BACKUP', epoch: 1, restartedEpoch: 1, since: NOW.toISOString(), releasedAt: NOW.toISOString() };
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state, dnatLine: LINE, now: new Date(NOW.getTime() + 4_000), holdDownMs: holdDownMs(1) })), ['saveState', 'addDnat']);
});

test('a MASTER regained after the hold-down, or after a FAULT in between, is a new takeover with its own restart', (t) => {
  t.like(run([[MASTER, 0], [BACKUP, 100], [MASTER, 6_100]]), { restarts: 2, state: { role: 'MASTER', epoch: 2, restartedEpoch: 2 } });
  t.like(run([[MASTER, 0], [BACKUP, 100], [{ role: 'FAULT', staleVip: false }, 200], [MASTER, 1_000]]), { restarts: 2, state: { epoch: 2 } });
  t.like(run([[MASTER, 0], [{ role: 'FAULT', staleVip: false }, 100], [MASTER, 1_000]]), { restarts: 2, state: { epoch: 2 } });
  // No hold-down configured: every regain is a takeover.
  t.like(run([[MASTER, 0], [BACKUP, 100], [MASTER, 200]], 0), { restarts: 2, state: { epoch: 2 } });
  // A first MASTER (nothing given up before) is always a takeover.
  t.like(run([[BACKUP, 0], [MASTER, 100]]), { restarts: 1, state: { epoch: 1 } });
});

test('a MASTER regained within the hold-down whose restart never finished restarts for that epoch, once', (t) => {
  const state: TakeoverState = { role: 'BACKUP', epoch: 3, restartedEpoch: 2, since: NOW.toISOString(), releasedAt: NOW.toISOString() };
  const actions = plan({ observed: MASTER, nat: READY, state, dnatLine: LINE, now: new Date(NOW.getTime() + 1_000), holdDownMs: holdDownMs(1) });
  t.deepEqual(types(actions), ['saveState', 'restartBroker', 'addDnat', 'waitAccepting', 'saveState']);
  t.like(actions[1], { epoch: 3 });
  t.like(apply(READY, state, actions).state, { role: 'MASTER', epoch: 3, restartedEpoch: 3 });
});

const NO_RESTART = { restartOnTakeover: false } as const;

test('restart_on_takeover false: a takeover opens the DNAT rule at once, restarts nothing, and is a new epoch recorded as done', (t) => {
  const actions = plan({ observed: MASTER, nat: EMPTY, state: INITIAL_STATE, dnatLine: LINE, now: NOW, ...NO_RESTART });
  t.deepEqual(types(actions), ['createChain', 'addJump', 'addJump', 'addDnat', 'saveState']);
  const after = apply(EMPTY, INITIAL_STATE, actions);
  t.deepEqual(after.nat.rules, [LINE]);
  t.like(after.state, { role: 'MASTER', epoch: 1, restartedEpoch: 1 });
  t.is(after.restarts, 0);
  t.deepEqual(plan({ observed: MASTER, nat: after.nat, state: after.state, dnatLine: LINE, now: NOW, ...NO_RESTART }), [], 'planning again plans nothing');
});

test('restart_on_takeover false: every takeover, and a BACKUP in between, restarts nothing; the default still restarts once', (t) => {
  let nat = READY;
  let state = INITIAL_STATE;
  const seen: string[][] = [];
  for (const [index, observed] of [MASTER, BACKUP, MASTER].entries()) {
    const actions = plan({ observed, nat, state, dnatLine: LINE, now: new Date(NOW.getTime() + index * 60_000), holdDownMs: 1_000, ...NO_RESTART });
    seen.push(types(actions));
    ({ nat, state } = apply(nat, state, actions));
  }
  t.deepEqual(seen, [['addDnat', 'saveState'], ['flushChain', 'saveState'], ['addDnat', 'saveState']]);
  t.like(state, { role: 'MASTER', epoch: 2, restartedEpoch: 2 });
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state: INITIAL_STATE, dnatLine: LINE, now: NOW, restartOnTakeover: true })), ['saveState', 'restartBroker', 'addDnat', 'waitAccepting', 'saveState']);
});

test('restart_on_takeover false: a restart owed from before (the daemon died mid-takeover with restarts on) is dropped, the rule put in', (t) => {
  const state: TakeoverState = { role: 'MASTER', epoch: 3, restartedEpoch: 2, since: NOW.toISOString() };
  const actions = plan({ observed: MASTER, nat: READY, state, dnatLine: LINE, now: NOW, ...NO_RESTART });
  t.deepEqual(actions, [{ type: 'addDnat' }, { type: 'saveState', state: { ...state, restartedEpoch: 3 } }]);
});

test('restart_on_takeover false: a MASTER regained within the hold-down keeps its epoch', (t) => {
  const state: TakeoverState = { role: 'BACKUP', epoch: 4, restartedEpoch: 4, since: NOW.toISOString(), releasedAt: NOW.toISOString() };
  const actions = plan({ observed: MASTER, nat: READY, state, dnatLine: LINE, now: new Date(NOW.getTime() + 500), holdDownMs: 2_000, ...NO_RESTART });
  t.deepEqual(types(actions), ['addDnat', 'saveState']);
  t.like(apply(READY, state, actions).state, { role: 'MASTER', epoch: 4, restartedEpoch: 4 });
});

const PROMOTED = { prepare: true, holdDownMs: holdDownMs(0.1) };
const STANDBY: TakeoverState = { role: 'BACKUP', epoch: 2, restartedEpoch: 2, since: NOW.toISOString() };
const later = (ms: number) => new Date(NOW.getTime() + ms);

const WITH_RULE: NatState = { ...READY, rules: [LINE] };
const PREPARED: TakeoverState = { ...STANDBY, prepared: { at: NOW.toISOString(), ok: true } };

test('a promoted BACKUP prepares once: the broker restarted ahead of the takeover (the executor adds the DNAT rule then), and planning again plans nothing', (t) => {
  const actions = plan({ observed: BACKUP, nat: READY, state: STANDBY, dnatLine: LINE, now: NOW, ...PROMOTED });
  t.deepEqual(actions, [{ type: 'prepareBroker', state: STANDBY }]);
  const after = apply(READY, STANDBY, actions);
  t.deepEqual(after.nat.rules, [LINE]);
  t.deepEqual(plan({ observed: BACKUP, nat: after.nat, state: after.state, dnatLine: LINE, now: later(5_000), ...PROMOTED }), []);
  // Not promoted: nothing to prepare.
  t.deepEqual(plan({ observed: BACKUP, nat: READY, state: STANDBY, dnatLine: LINE, now: NOW }), []);
});

test('a standing preparation keeps its DNAT rule on the BACKUP: the repair leaves it, and puts it back when it is gone', (t) => {
  t.deepEqual(plan({ observed: BACKUP, nat: WITH_RULE, state: PREPARED, dnatLine: LINE, now: later(PREPARED_VALID_MS - 1), ...PROMOTED }), []);
  t.deepEqual(plan({ observed: BACKUP, nat: READY, state: PREPARED, dnatLine: LINE, now: later(1_000), ...PROMOTED }), [{ type: 'addDnat' }]);
  // A failed preparation has no rule: the takeover restarts and adds it.
  const failed: TakeoverState = { ...STANDBY, prepared: { at: NOW.toISOString(), ok: false } };
  t.deepEqual(types(plan({ observed: BACKUP, nat: WITH_RULE, state: failed, dnatLine: LINE, now: later(1_000), ...PROMOTED })), ['flushChain']);
});

test('the takeover that follows a preparation skips its restart and finds its DNAT rule in place: nothing added, the epoch recorded as done, the preparation used up', (t) => {
  const actions = plan({ observed: MASTER, nat: WITH_RULE, state: PREPARED, dnatLine: LINE, now: later(800), ...PROMOTED });
  t.deepEqual(actions, [{ type: 'saveState', state: { role: 'MASTER', epoch: 3, restartedEpoch: 3, since: later(800).toISOString() } }]);
  const after = apply(WITH_RULE, PREPARED, actions);
  t.is(after.restarts, 0);
  t.deepEqual(after.nat.rules, [LINE], 'not added twice');
  t.deepEqual(plan({ observed: MASTER, nat: after.nat, state: after.state, dnatLine: LINE, now: later(900), ...PROMOTED }), []);
  // A preparation whose rule could not be added: the takeover adds it at once, still without a restart.
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state: PREPARED, dnatLine: LINE, now: later(800), ...PROMOTED })), ['addDnat', 'saveState']);
});

test('a preparation that failed, or aged past PREPARED_VALID_MS, leaves the restart to the takeover, is not made again while BACKUP, and the aged one loses its rule', (t) => {
  const failed: TakeoverState = { ...STANDBY, prepared: { at: NOW.toISOString(), ok: false } };
  t.deepEqual(plan({ observed: BACKUP, nat: READY, state: failed, dnatLine: LINE, now: later(1_000), ...PROMOTED }), []);
  t.deepEqual(types(plan({ observed: BACKUP, nat: WITH_RULE, state: PREPARED, dnatLine: LINE, now: later(PREPARED_VALID_MS), ...PROMOTED })), ['flushChain']);
  t.deepEqual(plan({ observed: BACKUP, nat: READY, state: PREPARED, dnatLine: LINE, now: later(PREPARED_VALID_MS + 1), ...PROMOTED }), []);
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state: failed, dnatLine: LINE, now: later(1_000), ...PROMOTED })), ['saveState', 'restartBroker', 'addDnat', 'waitAccepting', 'saveState']);
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state: PREPARED, dnatLine: LINE, now: later(PREPARED_VALID_MS), ...PROMOTED })), ['saveState', 'restartBroker', 'addDnat', 'waitAccepting', 'saveState']);
});

test('a preparation no longer wanted (the promote cleared) is forgotten with its rule, so a later takeover restarts', (t) => {
  const actions = plan({ observed: BACKUP, nat: WITH_RULE, state: PREPARED, dnatLine: LINE, now: later(500) });
  t.deepEqual(actions, [{ type: 'flushChain' }, { type: 'saveState', state: STANDBY }]);
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state: STANDBY, dnatLine: LINE, now: later(600) })), ['saveState', 'restartBroker', 'addDnat', 'waitAccepting', 'saveState']);
});

test('a prepared node that leaves BACKUP (FAULT: a split brain\'s step-down; STOP) loses its preparation and its rule', (t) => {
  for (const role of ['FAULT', 'STOP'] as const) {
    const actions = plan({ observed: { role, staleVip: false }, nat: WITH_RULE, state: PREPARED, dnatLine: LINE, now: later(500), ...PROMOTED });
    t.deepEqual(actions, [{ type: 'flushChain' }, { type: 'saveState', state: { ...STANDBY, role, since: later(500).toISOString() } }], role);
  }
});

test('a rule of another shape (an older version\'s, without addrtype) is replaced in place: no moment without a rule on a MASTER', (t) => {
  const old = `-A ${CHAIN} -d 10.0.0.10/32 -p tcp -m tcp --dport 1883 -j DNAT --to-destination 10.0.0.11:1883`;
  const state: TakeoverState = { role: 'MASTER', epoch: 4, restartedEpoch: 4, since: NOW.toISOString() };
  const actions = plan({ observed: MASTER, nat: { ...READY, rules: [old] }, state, dnatLine: LINE, now: NOW });
  t.deepEqual(actions, [{ type: 'replaceDnat' }]);
  t.deepEqual(apply({ ...READY, rules: [old] }, state, actions).nat.rules, [LINE]);
  // At a takeover that restarts, in the rule's place: after the restart.
  t.deepEqual(types(plan({ observed: MASTER, nat: { ...READY, rules: [old] }, state: STANDBY, dnatLine: LINE, now: NOW })), ['saveState', 'restartBroker', 'replaceDnat', 'waitAccepting', 'saveState']);
  // Two rules are flushed and the one put back.
  t.deepEqual(types(plan({ observed: MASTER, nat: { ...READY, rules: [old, LINE] }, state, dnatLine: LINE, now: NOW })), ['flushChain', 'addDnat']);
});

test('no preparation where the takeover would not restart: restart_on_takeover false, within the hold-down, or not BACKUP', (t) => {
  t.deepEqual(plan({ observed: BACKUP, nat: READY, state: STANDBY, dnatLine: LINE, now: NOW, ...PROMOTED, ...NO_RESTART }), []);
  const released: TakeoverState = { ...STANDBY, releasedAt: NOW.toISOString() };
  t.deepEqual(plan({ observed: BACKUP, nat: READY, state: released, dnatLine: LINE, now: later(1_000), ...PROMOTED }), []);
  t.deepEqual(types(plan({ observed: BACKUP, nat: READY, state: released, dnatLine: LINE, now: later(holdDownMs(0.1)), ...PROMOTED })), ['prepareBroker']);
  const fault: ObservedRole = { role: 'FAULT', staleVip: false };
  t.deepEqual(types(plan({ observed: fault, nat: READY, state: STANDBY, dnatLine: LINE, now: NOW, ...PROMOTED })), ['saveState']);
});

test('a MASTER just given up to a BACKUP while promoted notes the release and does not prepare within the hold-down', (t) => {
  const master: TakeoverState = { role: 'MASTER', epoch: 2, restartedEpoch: 2, since: NOW.toISOString() };
  // Within the hold-down no preparation (the regained MASTER restarts nothing); the release is saved.
  const actions = plan({ observed: BACKUP, nat: READY, state: master, dnatLine: LINE, now: NOW, ...PROMOTED });
  t.deepEqual(types(actions), ['saveState']);
  t.like(actions[0], { state: { role: 'BACKUP', releasedAt: NOW.toISOString() } });
});

test('with shadow sessions the DNAT rule waits after the restart for the broker to accept and the learner to read its log; without a restart nothing waits', (t) => {
  const actions = plan({ observed: MASTER, nat: EMPTY, state: INITIAL_STATE, dnatLine: LINE, now: NOW, waitForLearner: true });
  t.deepEqual(types(actions), ['createChain', 'addJump', 'addJump', 'saveState', 'restartBroker', 'waitAccepting', 'waitLearner', 'addDnat', 'saveState']);
  const after = apply(EMPTY, INITIAL_STATE, actions);
  t.like(after.state, { role: 'MASTER', epoch: 1, restartedEpoch: 1 });
  t.deepEqual(plan({ observed: MASTER, nat: after.nat, state: after.state, dnatLine: LINE, now: NOW, waitForLearner: true }), []);
  t.deepEqual(types(plan({ observed: MASTER, nat: READY, state: INITIAL_STATE, dnatLine: LINE, now: NOW, waitForLearner: true, restartOnTakeover: false })), ['addDnat', 'saveState']);
});
