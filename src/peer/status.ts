/**
 * Node status on the peer channel: retained on the node's own broker (Topics.status), with a
 * last-will that says offline. Peers (and `mosquitto-failover passwd`) read it to know each
 * node's role and which version of each synced file it has.
 */
import { z } from 'zod';

const FileVersion = z.object({ version: z.string(), origin: z.int(), sha256: z.string() });

export const NodeStatus = z.object({
  node: z.int(),
  name: z.string(),
  online: z.boolean(),
  role: z.string().optional(),
  /** When this daemon started (ISO time). */
  since: z.string().optional(),
  versions: z.record(z.string(), FileVersion).optional(),
});

export type NodeStatus = z.infer<typeof NodeStatus>;

export function parseStatus(payload: Buffer | string): NodeStatus | undefined {
  try {
    const parsed = NodeStatus.safeParse(JSON.parse(payload.toString()));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function offlineStatus(node: { id: number; name: string }): NodeStatus {
  return { node: node.id, name: node.name, online: false };
}
