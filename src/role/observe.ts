/**
 * The role, from the truth: the VIP on the interface makes this node MASTER, unless the program
 * that put it there (keepalived) is dead, in which case the VIP is a stale copy that nobody will
 * remove: keepalived killed with -9 leaves it behind while a peer takes over. The node keeps
 * serving through it until a peer must have taken over (`staleAfterMs`, VRRP's master-down
 * interval and a margin), so that clients see no outage before the peer is there; then the copy
 * goes, or two nodes would answer ARP for the VIP (takeover/stale.ts). Pure.
 */
import type { HintState } from './hint.js';

export type Role = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

/** Whether the VRRP/CARP program runs: `unknown` when there is no pid file to go by. */
export type DriverState = 'alive' | 'dead' | 'unknown';

export interface Observation {
  vip: boolean;
  driver: DriverState;
  /** The last hint, which names the role when the VIP is absent (BACKUP, FAULT or STOP). */
  hint?: HintState | undefined;
  /** How long the driver has been seen dead, ms (0 when just found). */
  driverDeadForMs?: number;
  /** How long a VIP whose driver is dead is still served. */
  staleAfterMs?: number;
}

export interface ObservedRole {
  role: Role;
  /** The VIP is on the interface but its owner is dead: it must go. */
  staleVip: boolean;
}

export function roleOf(observation: Observation): ObservedRole {
  if (observation.vip && observation.driver !== 'dead') return { role: 'MASTER', staleVip: false };
  if (observation.vip && (observation.driverDeadForMs ?? 0) < (observation.staleAfterMs ?? 0)) return { role: 'MASTER', staleVip: false };
  if (observation.vip) return { role: 'FAULT', staleVip: true };
  if (observation.driver === 'dead') return { role: 'FAULT', staleVip: false };
  // The hint said MASTER but the VIP is not there (yet, or any more): not MASTER.
  const hint = observation.hint === 'MASTER' || observation.hint === undefined ? 'BACKUP' : observation.hint;
  return { role: hint, staleVip: false };
}
