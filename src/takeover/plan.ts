/**
 * Decide, don't act: from the observed role, our nat chain as it is and the persisted takeover
 * state, the list of actions that makes this node what its role wants. Pure; the executor runs
 * the list, and running the planner again on the result plans nothing.
 *
 * - MASTER: exactly our one DNAT rule; the broker restarted once per takeover, so that every
 *   client reconnects through the VIP to this broker. A takeover is a change to MASTER from
 *   anything else; its epoch is saved before the restart, and the restart is marked done after,
 *   so a daemon that restarts while MASTER neither skips nor repeats it. The DNAT rule goes in
 *   after the restart: a client that reached the old broker process would be cut off again by
 *   the restart, while one refused meanwhile simply retries and connects once. But before the
 *   wait for the new broker to accept: the old process is gone by then, and until the new one
 *   listens a client is refused with or without the rule, so waiting only adds the iptables
 *   call (20 to 35 ms on a loaded machine) to the takeover (issue 13, bench:failover). With
 *   shadow sessions on (`waitForLearner`) the rule waits for the broker to accept and for the
 *   daemon to read its log again (bounded: `waitLearner`), so that the first clients' subscribes
 *   are learned (issue 15).
 * - MASTER with `restartOnTakeover: false` (`failover.restart_on_takeover`): no restart; the DNAT
 *   rule goes in at once and the takeover is recorded as done with it. The restart only cuts off
 *   clients already on this broker (the bridge, clients of this node's own address): the clients
 *   that came through the VIP were on the old master and reconnect anyway, because this node
 *   refuses (RST) their old connections' next packets.
 * - A planned takeover (`promote` of this node, issue 13): while BACKUP, with `prepare` (the
 *   operator promoted this node and restarts are on), the broker is restarted once beforehand
 *   (`prepareBroker`: restart, accepting, the master's bridge back; the health monitor raises the
 *   promote's weight only then), and the takeover that follows within PREPARED_VALID_MS skips its
 *   restart (and finds the DNAT rule in place: below). What the restart is for is done by then (every client
 *   of this broker reconnected and found it fresh), and the clients that come through the VIP
 *   were on the old master: this node refuses their old connections' next packets (RST), with or
 *   without a restart here. The DNAT rule goes in with the preparation too (the executor adds it
 *   once the broker accepts again) and stays while the preparation stands: it matches only while
 *   the VIP is this host's (nat.ts, addrtype LOCAL), so on a BACKUP it does nothing, and the
 *   takeover finds it in place and adds nothing: what is left of the clients' outage is their
 *   reconnect. A preparation no longer wanted (the promote cleared, or taken by a takeover, or the
 *   node no longer BACKUP: FAULT, STOP) is forgotten and its rule flushed; one that has aged past
 *   PREPARED_VALID_MS loses its rule (at the next repair) and is not repeated, and a takeover then
 *   restarts as any.
 * - anything else: our chain empty, no restart.
 * - A MASTER given up to a BACKUP and regained within the hold-down (`holdDownMs`) is the same
 *   takeover: same epoch, no second restart, the DNAT rule put back (see `heldDown`).
 */
import { HOOKS, type Hook, type NatState } from './nat.js';
import type { ObservedRole, Role } from '../role/observe.js';

export interface TakeoverState {
  role: Role | 'UNKNOWN';
  /** Takeovers seen by this node so far. */
  epoch: number;
  /** The epoch whose broker restart is done (or was not wanted: `restartOnTakeover` false). */
  restartedEpoch: number;
  /** When this role began (ISO time). */
  since: string;
  /** When MASTER was last given up to a BACKUP (ISO time), for the hold-down. */
  releasedAt?: string;
  /** The broker restarted ahead of a planned takeover (ISO time) and whether that went well; cleared by the takeover or when no longer wanted. */
  prepared?: { at: string; ok: boolean };
}

export const INITIAL_STATE: TakeoverState = { role: 'UNKNOWN', epoch: 0, restartedEpoch: 0, since: new Date(0).toISOString() };

export type Action =
  | { type: 'createChain' }
  | { type: 'addJump'; hook: Hook }
  | { type: 'deleteJump'; hook: Hook }
  | { type: 'flushChain' }
  | { type: 'addDnat' }
  /** Our chain holds one rule, not ours as it should be now (an older version's): replace it in place, with no moment without a rule. */
  | { type: 'replaceDnat' }
  | { type: 'removeStaleVip' }
  | { type: 'saveState'; state: TakeoverState }
  | { type: 'restartBroker'; epoch: number }
  /** Restart the broker ahead of a planned takeover and wait until it accepts and the master's bridge is back; if that went well add the DNAT rule (inert until the VIP comes); then save `state` with `prepared` (ok or not: a failed preparation leaves the restart and the rule to the takeover). */
  | { type: 'prepareBroker'; state: TakeoverState }
  | { type: 'waitAccepting' }
  /** Wait (bounded) for what must be back on the restarted broker before clients come: the shadow sessions' learner (`waitForLearner`). */
  | { type: 'waitLearner' };

export interface PlanInput {
  observed: ObservedRole;
  nat: NatState;
  state: TakeoverState;
  /** The DNAT rule as `iptables -S` prints it. */
  dnatLine: string;
  now: Date;
  /** A MASTER regained this soon after it was given up to a BACKUP is the same takeover (0: never). */
  holdDownMs?: number;
  /** Restart the broker once per takeover (default true: the seed recipe's way). */
  restartOnTakeover?: boolean;
  /** The operator promoted this node (a planned takeover may come): restart the broker now, while BACKUP, rather than at the takeover. */
  prepare?: boolean;
  /**
   * Shadow sessions are on (sessions.enabled): after the takeover's restart the DNAT rule waits
   * until the broker accepts and the daemon reads its log again, or what the first clients
   * through the VIP subscribe is not learned (README, "Shadow sessions").
   */
  waitForLearner?: boolean;
}

/**
 * How long a preparation stands in for the takeover's restart. A promote's takeover follows its
 * preparation within a second or two (the weight, then VRRP's preemption); a takeover much
 * later is not that one, and restarts as any other.
 */
export const PREPARED_VALID_MS = 30_000;

/** Whether `state` holds a preparation that spares the restart of a takeover now. */
function preparedFor(state: TakeoverState, now: Date): boolean {
  if (!state.prepared?.ok) return false;
  const age = now.getTime() - Date.parse(state.prepared.at);
  return age >= 0 && age < PREPARED_VALID_MS;
}

/** `state` without its preparation. */
function unprepared(state: TakeoverState): TakeoverState {
  const rest = { ...state };
  delete rest.prepared;
  return rest;
}

/**
 * The hold-down for `advert_int` seconds: a BACKUP's master-down wait (3 adverts and a skew below
 * one advert: RFC 5798 section 6.1, ucarp's dead_ratio 3 and advskew/256 s) from the advert that
 * took MASTER away, one more advert and skew because ucarp looks at that timer only when its
 * poll() returns, every advert and skew (ucarp carp.c, docarp), and 1 s for the scripts and our
 * VIP poll. That covers the flap ucarp makes when it claims MASTER before it has read a
 * preferred master's advert (libpcap hands ucarp packets up to 1 s late: CAPTURE_TIMEOUT 1000,
 * no immediate mode): back to BACKUP when it reads it, MASTER again a master-down wait later if
 * that master is gone by then (it stopped meanwhile). 6 s for advert_int 1.
 */
export function holdDownMs(advertIntSeconds: number): number {
  return Math.round((4 * advertIntSeconds + 2) * 1000);
}

/**
 * Whether MASTER, regained now, is the takeover of `state.epoch` still, not a new one: it was
 * given up to a BACKUP less than `holdDownMs` ago, and the node has been a BACKUP since (a FAULT,
 * our VRRP/CARP program dead, or a STOP in between makes the next MASTER a new takeover).
 *
 * Safe for clients even when the peer really took over meanwhile and restarted its broker: the
 * VIP leaves the peer, so its clients' packets reach this node, which knows no such connection
 * and refuses them; they reconnect through the VIP to this broker, which is all our restart
 * would bring them. The restart would only cut off once more the clients that stayed on this
 * broker throughout, and they are already where they belong. What was published on the peer
 * meanwhile reaches this broker over the bridge, and a persistent session that moved to the peer
 * keeps its queue there, as after any failover.
 */
function heldDown(state: TakeoverState, now: Date, holdDownMs: number): boolean {
  if (holdDownMs <= 0 || state.epoch === 0 || state.role !== 'BACKUP' || state.releasedAt === undefined) return false;
  const since = now.getTime() - Date.parse(state.releasedAt);
  return since >= 0 && since < holdDownMs;
}

function natActions(nat: NatState, wanted: readonly string[], dnatLine: string): Action[] {
  const actions: Action[] = [];
  if (!nat.chainExists) actions.push({ type: 'createChain' });
  for (const hook of HOOKS) {
    if (nat.jumps[hook] === 0) actions.push({ type: 'addJump', hook });
    for (let extra = 1; extra < nat.jumps[hook]; extra++) actions.push({ type: 'deleteJump', hook });
  }
  const exact = nat.rules.length === wanted.length && nat.rules.every((rule, index) => rule === wanted[index]);
  if (exact) return actions;
  if (nat.rules.length === 1 && wanted.length === 1) actions.push({ type: 'replaceDnat' });
  else {
    if (nat.rules.length > 0) actions.push({ type: 'flushChain' });
    if (wanted.includes(dnatLine)) actions.push({ type: 'addDnat' });
  }
  return actions;
}

/** The actions that put the DNAT rule in (added, or a wrong one replaced): a takeover places them after its restart. */
const isRuleIn = (action: Action) => action.type === 'addDnat' || action.type === 'replaceDnat';

export function plan(input: PlanInput): Action[] {
  const { observed, nat, state, dnatLine, now } = input;
  const master = observed.role === 'MASTER';
  const actions: Action[] = [];
  if (observed.staleVip) actions.push({ type: 'removeStaleVip' });

  const restart = input.restartOnTakeover ?? true;
  if (!master) {
    let next = state.role === observed.role ? state : { ...state, role: observed.role, since: now.toISOString() };
    if (state.role === 'MASTER' && observed.role === 'BACKUP') next = { ...next, releasedAt: now.toISOString() };
    // Not within the hold-down: MASTER regained then restarts nothing anyway.
    const prepare = (input.prepare ?? false) && restart && observed.role === 'BACKUP' && !heldDown(next, now, input.holdDownMs ?? 0);
    if (!prepare && next.prepared) next = unprepared(next);
    // A standing preparation keeps its rule (inert on a BACKUP: nat.ts); a new one adds it itself once the broker is back.
    actions.push(...natActions(nat, prepare && preparedFor(next, now) ? [dnatLine] : [], dnatLine));
    if (prepare && !next.prepared) actions.push({ type: 'prepareBroker', state: next });
    else if (next !== state) actions.push({ type: 'saveState', state: next });
    return actions;
  }
  const nats = natActions(nat, [dnatLine], dnatLine);
  const addDnat = nats.filter(isRuleIn);
  actions.push(...nats.filter((action) => !isRuleIn(action)));
  // A takeover (a new epoch) unless MASTER was only lost for a moment (the hold-down).
  let wanted = state;
  if (state.role !== 'MASTER') {
    const epoch = heldDown(state, now, input.holdDownMs ?? 0) ? state.epoch : state.epoch + 1;
    const prepared = preparedFor(state, now);
    wanted = { ...unprepared(state), role: 'MASTER', epoch, since: now.toISOString() };
    if (!restart || prepared) {
      // Nothing to wait for: the rule first (a daemon that dies before the save takes over
      // again, harmlessly), and no restart owed for this epoch.
      actions.push(...addDnat, { type: 'saveState', state: { ...wanted, restartedEpoch: epoch } });
      return actions;
    }
    actions.push({ type: 'saveState', state: wanted });
  }
  // The epoch's restart is not done yet: a new takeover, or a daemon that died between saving
  // the takeover and finishing its restart. One owed under an earlier configuration is dropped
  // once restarts are off.
  if (wanted.restartedEpoch < wanted.epoch && !restart) {
    actions.push(...addDnat, { type: 'saveState', state: { ...wanted, restartedEpoch: wanted.epoch } });
  } else if (wanted.restartedEpoch < wanted.epoch && input.waitForLearner) {
    actions.push({ type: 'restartBroker', epoch: wanted.epoch }, { type: 'waitAccepting' }, { type: 'waitLearner' }, ...addDnat);
    actions.push({ type: 'saveState', state: { ...wanted, restartedEpoch: wanted.epoch } });
  } else if (wanted.restartedEpoch < wanted.epoch) {
    actions.push({ type: 'restartBroker', epoch: wanted.epoch }, ...addDnat, { type: 'waitAccepting' });
    actions.push({ type: 'saveState', state: { ...wanted, restartedEpoch: wanted.epoch } });
  } else {
    actions.push(...addDnat);
  }
  return actions;
}
