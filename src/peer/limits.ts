/**
 * Bounds on what the peer channel reads: a payload larger than its topic allows is dropped before
 * it is opened, and the broker is asked (MQTT v5 Maximum Packet Size) not to send anything larger
 * at all, so that a user who may write the channel's topics cannot make a daemon hold 100 MB.
 */
import type { PeerTopic } from '../mqtt/topics.js';

/** A synced file's content: 1 MiB is some 7,000 password lines; larger files are refused (sync/content.ts). */
export const MAX_SYNCED_BYTES = 1024 * 1024;

/** Sealed payloads, by topic: a status (and a command) is small; an envelope is its content, JSON-escaped (at worst 6 times), plus its history. */
export const MAX_PAYLOAD_BYTES = { status: 64 * 1024, sync: 6 * MAX_SYNCED_BYTES + 64 * 1024, sessions: 1024 * 1024, presence: 256 * 1024 } as const;

/** What a daemon's connection accepts: the largest payload, its topic and the packet's header. */
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES.sync + 1024;

export function maxPayloadOf(topic: PeerTopic): number {
  if (topic.type === 'sync') return MAX_PAYLOAD_BYTES.sync;
  if (topic.type === 'presence') return MAX_PAYLOAD_BYTES.presence;
  return topic.type === 'sessions' ? MAX_PAYLOAD_BYTES.sessions : MAX_PAYLOAD_BYTES.status;
}

/**
 * Lets the first few events of each key through per interval and counts the rest, so that a
 * flood of bad messages makes a few log lines a minute, not one each.
 */
export class Throttle {
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly seen = new Map<string, { since: number; passed: number; suppressed: number }>();

  constructor(intervalMs: number, options: { burst?: number; now?: () => number } = {}) {
    this.intervalMs = intervalMs;
    this.burst = options.burst ?? 5;
    this.now = options.now ?? Date.now;
  }

  /** The number of events of `key` held back since the last one let through, or undefined to hold this one back too. */
  pass(key: string): number | undefined {
    const now = this.now();
    let window = this.seen.get(key);
    if (!window || now - window.since >= this.intervalMs) {
      // Bounded: keys are peers, topics and kinds, but forget old ones anyway.
      if (this.seen.size > 1000) this.seen.clear();
      window = { since: now, passed: 0, suppressed: window?.suppressed ?? 0 };
      this.seen.set(key, window);
    }
    if (window.passed >= this.burst) {
      window.suppressed++;
      return undefined;
    }
    window.passed++;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    return suppressed;
  }
}
