/**
 * The envelope a node publishes for each synced file (DESIGN.md, "The peer channel"). It travels
 * sealed (peer/seal.ts: encrypted and authenticated under the cluster key, bound to its topic), so
 * what arrives here was written by a holder of the cluster secret; this checks that it is
 * well-formed, for this cluster and kind, and that the hash matches the content. Pure.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { KINDS, type Kind } from './content.js';
import type { Version } from './hlc.js';

/** Versions kept in a file's lineage: enough to tell a replay from a concurrent edit. */
export const HISTORY_LENGTH = 32;

export interface Envelope {
  cluster: string;
  kind: Kind;
  /** The node whose edit this is (relays keep it). */
  origin: number;
  version: Version;
  /** This version and the ones it replaced, newest first, at most HISTORY_LENGTH. */
  history: Version[];
  sha256: string;
  content: string;
}

const VersionShape = z.strictObject({ wall: z.int().min(0), counter: z.int().min(0), node: z.int().min(1).max(255) });
const EnvelopeShape = z.strictObject({
  cluster: z.string(),
  kind: z.enum(KINDS),
  origin: z.int().min(1).max(255),
  version: VersionShape,
  history: z.array(VersionShape).min(1).max(HISTORY_LENGTH),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  content: z.string(),
});

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export type Verified = { ok: true; envelope: Envelope } | { ok: false; reason: string };

/** Checks an opened envelope; the reason names what is wrong. */
export function parseEnvelope(value: unknown, expected: { cluster: string; kind: Kind }): Verified {
  const parsed = EnvelopeShape.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `not an envelope: ${issue.path.join('.') || 'payload'}: ${issue.message}` };
  }
  const envelope = parsed.data;
  if (envelope.cluster !== expected.cluster) return { ok: false, reason: `for cluster ${JSON.stringify(envelope.cluster)}` };
  if (envelope.kind !== expected.kind) return { ok: false, reason: `for ${envelope.kind}, published as ${expected.kind}` };
  if (sha256(envelope.content) !== envelope.sha256) return { ok: false, reason: 'sha256 does not match the content' };
  const [first] = envelope.history;
  if (!first || first.wall !== envelope.version.wall || first.counter !== envelope.version.counter || first.node !== envelope.version.node) {
    return { ok: false, reason: 'history does not start with the version' };
  }
  return { ok: true, envelope };
}
