/**
 * Node status on the peer channel: retained on the node's own broker (Topics.status), sealed, with
 * a last-will that says offline. Peers (and `mosquitto-failover passwd`) read it to know each
 * node's role and which version of each synced file it has.
 *
 * A sealed status cannot be forged, but a genuine old one can be published again by anyone who may
 * write the topic. So every status carries its place in the node's sequence: the daemon's run
 * (grows with every start, run.ts), the own broker's connection attempt (the will of an attempt
 * comes after everything published on it, and before everything the next one publishes) and a
 * counter; a reader takes only a status later than the one it has.
 */
import { z } from 'zod';

const FileVersion = z.object({ version: z.string(), origin: z.int(), sha256: z.string() });

export const NodeStatus = z.object({
  node: z.int(),
  name: z.string(),
  online: z.boolean(),
  role: z.string().optional(),
  /** Whether its VRRP/CARP program runs (a MASTER whose program is dead holds a stale VIP that goes soon: not a split brain). */
  driver: z.enum(['alive', 'dead', 'unknown']).optional(),
  /** When this daemon started (ISO time). */
  since: z.string().optional(),
  versions: z.record(z.string(), FileVersion).optional(),
  /** The health monitor's verdict on the node's own broker (health/hysteresis.ts); absent until it probed. */
  health: z.enum(['well', 'sick']).optional(),
  /** What the node adds to its VRRP priority, and why (health/weight.ts). */
  weight: z.object({ value: z.int(), reasons: z.array(z.string()).max(16) }).optional(),
  /** The node's last takeover: its epoch, when it began (epoch ms) and how long it took (ms). */
  takeover: z.object({ epoch: z.int(), at: z.number(), ms: z.number() }).optional(),
  /** The standing priority (configured plus the weight without the split term, 1..254): who keeps the VIP in a split brain (health/split.ts). */
  priority: z.int().min(1).max(254).optional(),
  /** While the node gives up the VIP for a split brain: to whom (name), and since when the split was seen (epoch ms). */
  split: z.object({ winner: z.string(), since: z.number() }).optional(),
  run: z.int().min(0),
  connection: z.int().min(0),
  seq: z.int().min(0),
});

export type NodeStatus = z.infer<typeof NodeStatus>;

/** The will's place in its connection: after everything published on it. */
export const LAST_SEQ = Number.MAX_SAFE_INTEGER;

export function parseStatus(value: unknown): NodeStatus | undefined {
  const parsed = NodeStatus.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** < 0 when `a` was published before `b`, 0 when it is the same status, > 0 when after. */
export function compareStatus(a: Pick<NodeStatus, 'run' | 'connection' | 'seq'>, b: Pick<NodeStatus, 'run' | 'connection' | 'seq'>): number {
  return a.run - b.run || a.connection - b.connection || a.seq - b.seq;
}

/** Whether `status` should replace `held` (a reader's latest of that node). */
export function isNewer(status: NodeStatus, held: NodeStatus | undefined): boolean {
  return !held || compareStatus(status, held) > 0;
}
