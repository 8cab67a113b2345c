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

/** What this node knows of a peer's broker: `unknown` when its status is missing, offline, or its broker cannot be reached now. */
export type PeerHealth = 'well' | 'sick' | 'unknown';

export interface WeightInputs {
  /** This node's broker, by the hysteresis. */
  sick: boolean;
  /** Whether this node stepped down for its health at the last decision. */
  steppedDown: boolean;
  /** Each other node's broker, by name. */
  peers: Readonly<Record<string, PeerHealth>>;
  /** The node this one steps down for in a split brain (split.ts), by name: FAULT, whatever the other terms. */
  split?: string | undefined;
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
  const weight = healthWeight(inputs);
  if (inputs.split === undefined) return weight;
  return { ...weight, value: SPLIT_WEIGHT, reasons: [...weight.reasons, `split brain: giving up the VIP to ${inputs.split} (FAULT)`] };
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
