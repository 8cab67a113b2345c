/**
 * Every message on the peer channel is sealed (DESIGN.md, "The peer channel"): AES-256-GCM under
 * a key derived from the cluster secret (HKDF-SHA256), with the topic as additional data. Ordinary
 * users whose ACL grants `topic readwrite #` can read and overwrite the channel's retained
 * messages (mosquitto checks a user's own `topic` lines before any pattern, so no ACL line of ours
 * can deny them); sealing makes what they read opaque and what they write fail to open. The topic
 * in the additional data keeps a sealed message from being moved to another topic (another
 * node's status, another file). A payload is checked for size before it is opened, and opened
 * before it is parsed. Replays of a genuine message are the readers' concern (versions, status
 * order). Pure.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** `MQFO` and a format byte: tells a sealed message from anything else at a glance. */
const HEADER = Buffer.from([0x4d, 0x51, 0x46, 0x4f, 0x01]);
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const OVERHEAD = HEADER.length + NONCE_BYTES + TAG_BYTES;

export type SealKey = Buffer & { readonly sealKey: unique symbol };

/** The channel's key for `cluster`: another cluster's secret, or the same secret in another cluster, opens nothing. */
export function sealKey(secret: string, cluster: string): SealKey {
  return Buffer.from(hkdfSync('sha256', secret, `mosquitto-failover/${cluster}`, 'peer channel seal v1', 32)) as SealKey;
}

export function seal(key: SealKey, topic: string, value: unknown): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(topic));
  const body = Buffer.concat([cipher.update(JSON.stringify(value)), cipher.final()]);
  return Buffer.concat([HEADER, nonce, body, cipher.getAuthTag()]);
}

export type Opened = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * Opens a payload read on `topic`; the reason never holds any of the payload's bytes (it is the
 * sender's text, and a log line must not carry it).
 */
export function open(key: SealKey, topic: string, payload: Buffer, maxBytes: number): Opened {
  if (payload.length === 0) return { ok: false, reason: 'empty (the retained message was deleted)' };
  if (payload.length > maxBytes) return { ok: false, reason: `${payload.length} bytes, more than the ${maxBytes} allowed here` };
  if (payload.length <= OVERHEAD || !payload.subarray(0, HEADER.length).equals(HEADER)) return { ok: false, reason: 'not sealed (no mosquitto-failover header)' };
  const nonce = payload.subarray(HEADER.length, HEADER.length + NONCE_BYTES);
  const tag = payload.subarray(payload.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(topic));
  decipher.setAuthTag(tag);
  let text: string;
  try {
    text = Buffer.concat([decipher.update(payload.subarray(HEADER.length + NONCE_BYTES, payload.length - TAG_BYTES)), decipher.final()]).toString();
  } catch {
    return { ok: false, reason: 'does not open with the cluster key (forged, altered, moved from another topic, or sealed under another cluster secret)' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: 'opens, but is not JSON' };
  }
}
