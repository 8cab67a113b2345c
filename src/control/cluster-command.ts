/**
 * A daemon's request to every other daemon, over the peer channel (sealed, not retained, on the
 * asking node's own broker at Topics.command): today `syncNow`, the control API's sweep on every
 * node. Pure: what to do with a message read there.
 */
import { z } from 'zod';

/** How old (or how far ahead) a command may be: a late or replayed one does nothing. */
export const COMMAND_TTL_MS = 30_000;

export const ClusterCommand = z.strictObject({ command: z.literal('syncNow'), at: z.number() });
export type ClusterCommand = z.infer<typeof ClusterCommand>;

/** The command to run, or why not: not one, not from the broker's own node, or outside its time. */
export function commandToRun(value: unknown, topicNode: number, from: number, now: number): { ok: true; command: ClusterCommand } | { ok: false; reason: string } {
  if (topicNode !== from) return { ok: false, reason: `node ${topicNode}'s command read on node ${from}'s broker` };
  const parsed = ClusterCommand.safeParse(value);
  if (!parsed.success) return { ok: false, reason: 'not a command' };
  if (Math.abs(now - parsed.data.at) > COMMAND_TTL_MS) return { ok: false, reason: `sent ${Math.round((now - parsed.data.at) / 1000)} s from now: too old, replayed, or a clock far off` };
  return { ok: true, command: parsed.data };
}
