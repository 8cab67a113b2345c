/**
 * The signed envelope a node publishes for each synced file (DESIGN.md, "The peer channel"). The
 * HMAC-SHA256 under the cluster secret covers every field, the cluster and the kind included, so an
 * envelope cannot be altered, moved to another kind or replayed into another cluster; the hash
 * must match the content. Pure.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
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
  hmac: string;
}

export type Unsigned = Omit<Envelope, 'hmac'>;

const VersionShape = z.strictObject({ wall: z.int().min(0), counter: z.int().min(0), node: z.int().min(1).max(255) });
const EnvelopeShape = z.strictObject({
  cluster: z.string(),
  kind: z.enum(KINDS),
  origin: z.int().min(1).max(255),
  version: VersionShape,
  history: z.array(VersionShape).min(1).max(HISTORY_LENGTH),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  content: z.string(),
  hmac: z.string().regex(/^[0-9a-f]{64}$/),
});

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function mac(secret: string, body: Unsigned): Buffer {
  const versions = body.history.map((v) => [v.wall, v.counter, v.node]);
  const fields = [body.cluster, body.kind, body.origin, [body.version.wall, body.version.counter, body.version.node], versions, body.sha256, body.content];
  return createHmac('sha256', secret).update(JSON.stringify(fields)).digest();
}

export function sign(secret: string, body: Unsigned): Envelope {
  return { ...body, hmac: mac(secret, body).toString('hex') };
}

export type Verified = { ok: true; envelope: Envelope } | { ok: false; reason: string };

/** Parses and checks a received payload; the reason names what is wrong, never the secret. */
export function verify(secret: string, payload: Buffer | string, expected: { cluster: string; kind: Kind }): Verified {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = EnvelopeShape.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `not an envelope: ${issue.path.join('.') || 'payload'}: ${issue.message}` };
  }
  const envelope = parsed.data;
  const { hmac, ...body } = envelope;
  const given = Buffer.from(hmac, 'hex');
  if (!timingSafeEqual(given, mac(secret, body))) return { ok: false, reason: 'bad signature (HMAC-SHA256 under the cluster secret does not match)' };
  if (envelope.cluster !== expected.cluster) return { ok: false, reason: `signed for cluster ${JSON.stringify(envelope.cluster)}` };
  if (envelope.kind !== expected.kind) return { ok: false, reason: `signed for ${envelope.kind}, published as ${expected.kind}` };
  if (sha256(envelope.content) !== envelope.sha256) return { ok: false, reason: 'sha256 does not match the content' };
  const [first] = envelope.history;
  if (!first || first.wall !== envelope.version.wall || first.counter !== envelope.version.counter || first.node !== envelope.version.node) {
    return { ok: false, reason: 'history does not start with the version' };
  }
  return { ok: true, envelope };
}
