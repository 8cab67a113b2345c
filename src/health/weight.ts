/**
 * The weight this node writes into keepalived's track file (src/health/track-file.ts), from
 * everything that moves its priority. Pure: one function, plain values in and out. Today the
 * broker's health; the operator's promote/demote and the split-brain step-down add their terms
 * here, so that one writer owns the file.
 *
 * keepalived.conf(5), track_file: the number read is multiplied by the weight (ours is 1) and,
 * between -253 and 253, added to the priority, "although the effective priority will be limited
 * to the range [1,254]"; below -253 the instance goes to FAULT. So -253 puts a sick node at
 * priority 1 whatever its configured priority (1..254): below every healthy peer (rules.ts
 * refuses priority 1 when health is on, so no peer ties with it). Not FAULT: a node at priority 1
 * still holds the VIP when no other keepalived answers, so a wrong verdict, or a peer that is
 * gone, never leaves the VIP on no node.
 *
 * A split-brain step-down (split.ts) is the one term below that: SPLIT_WEIGHT (-254) puts the
 * instance in FAULT, because a lower priority does not end a split where adverts do not cross.
 */
import { SPLIT_WEIGHT } from './split.js';

export const SICK_WEIGHT = -253;
/** The hand-over's weight (WeightInputs.handover): FAULT, as a split brain's step-down. */
export const HANDOVER_WEIGHT = SPLIT_WEIGHT;

/** keepalived's bounds for a track file's value (times weight 1): beyond them the instance goes to FAULT. */
export const MAX_WEIGHT = 253;
export const MIN_WEIGHT = -253;
/** keepalived's effective priority range. */
const TOP_PRIORITY = 254;
/** The priority a demoted node drops to: above a sick node (1), below every other node. */
const DEMOTED_PRIORITY = 2;

/**
 * The operator's planned switchover (`promote NODE` / `demote NODE`, the synced `leader` file) as
 * it concerns this node: whether it names this node or another, and this node's configured priority.
 */
export interface Switchover {
  action: 'promote' | 'demote';
  /** `self`: this node is the one promoted or demoted. */
  target: 'self' | 'other';
  /** This node's configured priority (1..254; cluster.yaml keeps them distinct). */
  priority: number;
  /**
   * A promote of this node: false while its broker is not yet prepared for the takeover
   * (takeover/plan.ts, `prepareBroker`), and the promote's term waits; default true.
   */
  ready?: boolean;
}

/** What this node knows of a peer's broker: `unknown` when its status is missing, offline, or its broker cannot be reached now. */
export type PeerHealth = 'well' | 'sick' | 'unknown';

export interface WeightInputs {
  /** This node's broker, by the hysteresis. */
  sick: boolean;
  /** Whether this node stepped down for its health at the last decision. */
  steppedDown: boolean;
  /** Each other node's broker, by name. */
  peers: Readonly<Record<string, PeerHealth>>;
  /** The operator's preference; undefined when there is none (`promote --clear`). */
  switchover?: Switchover | undefined;
  /** The node this one steps down for in a split brain (split.ts), by name: FAULT, whatever the other terms. */
  split?: string | undefined;
  /**
   * This node is MASTER and steps down for its health now: hand the VIP over at once. A master
   * whose priority drops keeps advertising, and keepalived's backups discard its lower-priority
   * adverts and wait out their master-down timer (3 adverts and the skew); a master that goes to
   * FAULT sends a priority-0 advert, after which a backup takes over within its skew alone
   * (RFC 5798 6.4.2; keepalived's vrrp.c). The monitor lifts it as soon as this node is MASTER no
   * more, so FAULT lasts only the moment it takes to send that advert.
   */
  handover?: boolean | undefined;
}

export interface Weight {
  value: number;
  /** Why, one line per term; empty when there is nothing to say. */
  reasons: string[];
  /** Whether this node now stands down for its health (fed back as `steppedDown`). */
  steppedDown: boolean;
}

/**
 * A sick node steps down only when a peer is known well: never when every peer is sick (the VIP
 * stays where it is), and never because peers cannot be reached (unknown is not sick, and not
 * well either). Once down, it stays down while it is sick, whatever happens to the peers: coming
 * back up then would pull the VIP onto a sick broker. Well again: 0, and preempt decides.
 */
export function weightOf(inputs: WeightInputs): Weight {
  const combined = withSwitchover(inputs);
  if (inputs.split !== undefined) return { ...combined, value: SPLIT_WEIGHT, reasons: [...combined.reasons, `split brain: giving up the VIP to ${inputs.split} (FAULT)`] };
  if (inputs.handover && inputs.sick && combined.steppedDown) {
    return { ...combined, value: HANDOVER_WEIGHT, reasons: [...combined.reasons, 'handing the VIP over now (FAULT for a priority-0 advert, until this node is MASTER no more)'] };
  }
  return combined;
}

/** The health term, and the operator's preference unless the broker is sick (sick wins: a sick node's weight is its health's alone, promoted or not). */
function withSwitchover(inputs: WeightInputs): Weight {
  const health = healthWeight(inputs);
  if (inputs.sick || !inputs.switchover) return health;
  const term = switchoverTerm(inputs.switchover);
  return { value: clampWeight(health.value + term.value), reasons: [...health.reasons, ...term.reasons], steppedDown: health.steppedDown };
}
/** Never beyond ±253: nothing adds up to FAULT by accident. */
export function clampWeight(value: number): number {
  return Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, value));
}

/**
 * The preference's term, in three tiers of effective priority: the promoted node at 254 (the top,
 * +253 from any priority), the other nodes at 253 at most (a node configured 254 gives one up, so
 * the promoted one is strictly above it and no tie is left to the IP addresses), a demoted node
 * at 2 (above a sick node's 1, below every other node: a node configured 2 then goes to 3).
 * Nothing else moves, so the order of the other nodes among themselves stays as configured
 * (except that 254 and 253 then tie: only the VRRP IP rule tells them apart, which matters only
 * when the promoted node is sick). A promoted node not `ready` adds nothing yet: its takeover is
 * prepared first (its broker restarted while it has no clients), so that the takeover that the
 * weight brings need not restart it.
 */
function switchoverTerm({ action, target, priority, ready = true }: Switchover): { value: number; reasons: string[] } {
  if (action === 'promote' && target === 'self' && !ready) return { value: 0, reasons: ['promoted by the operator: preparing the takeover (broker restart) before the weight rises'] };
  if (action === 'promote' && target === 'self') return { value: TOP_PRIORITY - priority, reasons: ['promoted by the operator'] };
  if (action === 'promote') return priority === TOP_PRIORITY ? { value: -1, reasons: ['another node is promoted: below it'] } : { value: 0, reasons: [] };
  if (target === 'self') return { value: DEMOTED_PRIORITY - priority, reasons: ['demoted by the operator'] };
  return priority === DEMOTED_PRIORITY ? { value: 1, reasons: ['another node is demoted: above it'] } : { value: 0, reasons: [] };
}

function healthWeight(inputs: WeightInputs): Weight {
  const names = (health: PeerHealth) => Object.entries(inputs.peers).filter(([, value]) => value === health).map(([name]) => name);
  if (!inputs.sick) return { value: 0, reasons: [], steppedDown: false };
  const well = names('well');
  if (well.length > 0) return { value: SICK_WEIGHT, reasons: [`broker sick; stepping down for ${well.join(', ')} (well)`], steppedDown: true };
  if (inputs.steppedDown) return { value: SICK_WEIGHT, reasons: ['broker sick; staying down (no peer is known well now)'], steppedDown: true };
  const sick = names('sick');
  const unknown = names('unknown');
  const seen = [...(sick.length > 0 ? [`sick: ${sick.join(', ')}`] : []), ...(unknown.length > 0 ? [`unknown: ${unknown.join(', ')}`] : [])].join('; ');
  return { value: 0, reasons: [`broker sick, but no peer is known well (${seen || 'no peers'}): the VIP stays`], steppedDown: false };
}
