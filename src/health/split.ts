/**
 * Split brain (issue 13): two nodes hold the VIP at once because VRRP adverts do not cross,
 * while the peer channel (MQTT over TCP on the LAN, independent of VRRP) still works. Pure: the
 * facts this node has, in plain values, and the verdict.
 *
 * Lowering a MASTER's priority does not end such a split: neither node hears the other's adverts,
 * so each stays MASTER whatever its priority. The node that should not be MASTER gives the VIP up
 * for real: a track-file value below -253 puts its instance in FAULT (keepalived.conf(5),
 * track_file), and keepalived removes the VIP and notifies, which the takeover loop handles as any
 * release. Only the loser acts; the winner only reports. So the worst a stale fact can do is to
 * make both nodes think they lose: both go to FAULT, each then sees the other no longer MASTER and
 * lifts its step-down (below), and the next decision is made on fresh facts.
 *
 * Who should be MASTER: the higher standing priority (configured priority plus the weight without
 * the split term, kept within keepalived's 1..254, so a sick or demoted node loses), then the
 * higher id. Each node publishes its standing priority in its status, so both nodes compute the
 * same answer from the same facts.
 */

/** Below keepalived's -253: the instance goes to FAULT and gives up the VIP. */
export const SPLIT_WEIGHT = -254;

/** keepalived's effective priority from a configured priority and a track-file weight (keepalived.conf(5): "limited to the range [1,254]"). */
export function standingPriority(configured: number, weight: number): number {
  return Math.min(254, Math.max(1, configured + weight));
}

export interface SplitNode {
  id: number;
  name: string;
  /** standingPriority(): the priority without the split term. */
  priority: number;
}

export interface SplitPeer extends SplitNode {
  /** Its last status says MASTER (it holds the VIP by its interface's truth). */
  master: boolean;
  /** Its last status says online, and this node's peer-channel connection to its broker is up. */
  reachable: boolean;
}

export interface SplitInputs {
  self: SplitNode & { master: boolean };
  peers: readonly SplitPeer[];
  /** The id of the node this node stepped down for at the last decision. */
  steppedDownFor?: number | undefined;
  /** The winner's VRRP adverts have arrived at this node since it stepped down: the VRRP path is back. */
  healed?: boolean;
}

export type LiftReason = 'healed' | 'winner unreachable' | 'winner not MASTER' | 'winner outranked';

export interface SplitVerdict {
  /** The reachable peers that hold the VIP along with this node (a split brain seen), or the winner this node stands down for. */
  masters: SplitPeer[];
  /** Peers whose last status says MASTER while this node is MASTER, but which cannot be reached now: nothing is decided from them. */
  undecided: SplitPeer[];
  /** Who should hold the VIP among this node and `masters`. */
  winner?: SplitNode;
  /** Whether this node gives up the VIP (SPLIT_WEIGHT). */
  stepDown: boolean;
  /** Why a step-down in force at the last decision ends now. */
  lifted?: LiftReason;
}

/** Whether `a` should hold the VIP rather than `b`: higher priority, then higher id. */
export function outranks(a: SplitNode, b: SplitNode): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.id > b.id);
}

export function splitOf(inputs: SplitInputs): SplitVerdict {
  const { self, peers, steppedDownFor } = inputs;
  if (steppedDownFor !== undefined) {
    const winner = peers.find((peer) => peer.id === steppedDownFor);
    const lifted: LiftReason | undefined = inputs.healed
      ? 'healed'
      : !winner?.reachable
        ? 'winner unreachable'
        : !winner.master
          ? 'winner not MASTER'
          : !outranks(winner, self)
            ? 'winner outranked'
            : undefined;
    if (lifted || !winner) return { masters: [], undecided: [], stepDown: false, lifted: lifted ?? 'winner unreachable' };
    return { masters: [winner], undecided: [], winner, stepDown: true };
  }
  if (!self.master) return { masters: [], undecided: [], stepDown: false };
  const masters = peers.filter((peer) => peer.master && peer.reachable);
  const undecided = peers.filter((peer) => peer.master && !peer.reachable);
  if (masters.length === 0) return { masters, undecided, stepDown: false };
  const winner = masters.reduce<SplitNode>((best, peer) => (outranks(peer, best) ? peer : best), self);
  return { masters, undecided, winner, stepDown: winner.id !== self.id };
}
