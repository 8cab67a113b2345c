/**
 * Node status on the peer channel: `node/<id>/status`, retained on the node's own broker, with a
 * last-will that says offline. Peers (and `mosquitto-failover passwd`) read it to know each
 * node's role and which version of each synced file it has.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { NodeConfig } from '../config/schema.js';

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

export const statusTopic = (id: number): string => `node/${id}/status`;

/** The status topic's node id, or undefined for another topic. */
export function statusNode(topic: string): number | undefined {
  const match = /^node\/(\d+)\/status$/.exec(topic);
  return match ? Number(match[1]) : undefined;
}

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

/** The last status of every node, as read on its own broker; peers coming and going are logged. */
export class StatusBoard {
  private readonly self: NodeConfig;
  private readonly log: Logger;
  private readonly statuses = new Map<number, NodeStatus>();

  constructor(self: NodeConfig, log: Logger) {
    this.self = self;
    this.log = log;
  }

  /** A message on `topic` read on `from`'s broker: taken if it is `from`'s own status. */
  take(from: NodeConfig, topic: string, payload: Buffer): void {
    const id = statusNode(topic);
    // A node's status counts as read on its own broker, where it publishes it.
    if (id === undefined || id !== from.id) return;
    const status = parseStatus(payload);
    if (!status) {
      this.log.warn({ from: from.name, topic }, 'ignored a status that is not one');
      return;
    }
    const before = this.statuses.get(id);
    this.statuses.set(id, status);
    if (id !== this.self.id && before?.online !== status.online) {
      this.log.info({ peer: status.name, online: status.online, role: status.role }, `peer ${status.name} ${status.online ? 'online' : 'offline'}`);
    }
  }
}
