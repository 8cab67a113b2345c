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
 *   the restart, while one refused meanwhile simply retries and connects once.
 * - anything else: our chain empty, no restart.
 */
import { HOOKS, type Hook, type NatState } from './nat.js';
import type { ObservedRole, Role } from '../role/observe.js';

export interface TakeoverState {
  role: Role | 'UNKNOWN';
  /** Takeovers seen by this node so far. */
  epoch: number;
  /** The epoch whose broker restart is done. */
  restartedEpoch: number;
  /** When this role began (ISO time). */
  since: string;
}

export const INITIAL_STATE: TakeoverState = { role: 'UNKNOWN', epoch: 0, restartedEpoch: 0, since: new Date(0).toISOString() };

export type Action =
  | { type: 'createChain' }
  | { type: 'addJump'; hook: Hook }
  | { type: 'deleteJump'; hook: Hook }
  | { type: 'flushChain' }
  | { type: 'addDnat' }
  | { type: 'removeStaleVip' }
  | { type: 'saveState'; state: TakeoverState }
  | { type: 'restartBroker'; epoch: number };

export interface PlanInput {
  observed: ObservedRole;
  nat: NatState;
  state: TakeoverState;
  /** The DNAT rule as `iptables -S` prints it. */
  dnatLine: string;
  now: Date;
}

function natActions(nat: NatState, wanted: readonly string[], dnatLine: string): Action[] {
  const actions: Action[] = [];
  if (!nat.chainExists) actions.push({ type: 'createChain' });
  for (const hook of HOOKS) {
    if (nat.jumps[hook] === 0) actions.push({ type: 'addJump', hook });
    for (let extra = 1; extra < nat.jumps[hook]; extra++) actions.push({ type: 'deleteJump', hook });
  }
  const exact = nat.rules.length === wanted.length && nat.rules.every((rule, index) => rule === wanted[index]);
  if (!exact) {
    if (nat.rules.length > 0) actions.push({ type: 'flushChain' });
    if (wanted.includes(dnatLine)) actions.push({ type: 'addDnat' });
  }
  return actions;
}

export function plan(input: PlanInput): Action[] {
  const { observed, nat, state, dnatLine, now } = input;
  const master = observed.role === 'MASTER';
  const actions: Action[] = [];
  if (observed.staleVip) actions.push({ type: 'removeStaleVip' });
  const nats = natActions(nat, master ? [dnatLine] : [], dnatLine);

  if (!master) {
    actions.push(...nats);
    if (state.role !== observed.role) actions.push({ type: 'saveState', state: { ...state, role: observed.role, since: now.toISOString() } });
    return actions;
  }
  const addDnat = nats.filter((action) => action.type === 'addDnat');
  actions.push(...nats.filter((action) => action.type !== 'addDnat'));
  if (state.role !== 'MASTER') {
    const epoch = state.epoch + 1;
    actions.push({ type: 'saveState', state: { ...state, role: 'MASTER', epoch, since: now.toISOString() } });
    actions.push({ type: 'restartBroker', epoch }, ...addDnat);
    actions.push({ type: 'saveState', state: { ...state, role: 'MASTER', epoch, restartedEpoch: epoch, since: now.toISOString() } });
  } else if (state.restartedEpoch < state.epoch) {
    // A daemon that died between saving the takeover and finishing its restart.
    actions.push({ type: 'restartBroker', epoch: state.epoch }, ...addDnat);
    actions.push({ type: 'saveState', state: { ...state, restartedEpoch: state.epoch } });
  } else {
    actions.push(...addDnat);
  }
  return actions;
}
