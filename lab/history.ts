/**
 * What a probe saw, and what it means. Every message has a sequence number; the verdict uses
 * Jepsen's queue terms:
 * - ok: acknowledged and received;
 * - lost: acknowledged but never received (the number that must stay 0 for QoS 1 and 2);
 * - recovered: not acknowledged (the send failed or never returned) but received anyway;
 * - duplicated: received more than once;
 * - unexpected: received but never sent.
 * Pure: the events go in, the report comes out.
 */

export type ProbeEvent =
  | { t: number; e: 'connect' | 'close' | 'offline' | 'subscribed' | 'done'; who?: 'pub' | 'sub' }
  | { t: number; e: 'error'; who: 'pub' | 'sub'; detail: string }
  | { t: number; e: 'send' | 'ack'; seq: number }
  | { t: number; e: 'fail'; seq: number; detail: string }
  | { t: number; e: 'recv'; seq: number; dup: boolean };

export interface ProbeReport {
  attempted: number;
  acknowledged: number;
  received: number;
  ok: number;
  lost: number[];
  recovered: number[];
  duplicated: number[];
  unexpected: number[];
  /** Sent, never acknowledged and never received: the outcome is unknown to the client. */
  indeterminate: number[];
  /** The longest time between two receives while sending went on (the client-visible outage), ms. */
  longestGapMs: number;
  /** The receive that ended the longest gap, when there was one. */
  gapEndedAt?: number;
}

const sorted = (values: Iterable<number>) => [...values].sort((a, b) => a - b);

export function analyze(events: readonly ProbeEvent[]): ProbeReport {
  const sent = new Set<number>();
  const acked = new Set<number>();
  const receives = new Map<number, number>();
  const receiveTimes: number[] = [];
  for (const event of events) {
    if (event.e === 'send') sent.add(event.seq);
    else if (event.e === 'ack') acked.add(event.seq);
    else if (event.e === 'recv') {
      receives.set(event.seq, (receives.get(event.seq) ?? 0) + 1);
      receiveTimes.push(event.t);
    }
  }
  const received = new Set(receives.keys());
  const lost = sorted([...acked].filter((seq) => !received.has(seq)));
  const recovered = sorted([...received].filter((seq) => sent.has(seq) && !acked.has(seq)));
  const duplicated = sorted([...receives].filter(([, count]) => count > 1).map(([seq]) => seq));
  const unexpected = sorted([...received].filter((seq) => !sent.has(seq)));
  const indeterminate = sorted([...sent].filter((seq) => !acked.has(seq) && !received.has(seq)));
  let longestGapMs = 0;
  let gapEndedAt: number | undefined;
  receiveTimes.sort((a, b) => a - b);
  for (let index = 1; index < receiveTimes.length; index++) {
    const gap = receiveTimes[index]! - receiveTimes[index - 1]!;
    if (gap > longestGapMs) {
      longestGapMs = gap;
      gapEndedAt = receiveTimes[index];
    }
  }
  return {
    attempted: sent.size,
    acknowledged: acked.size,
    received: received.size,
    ok: [...acked].filter((seq) => received.has(seq)).length,
    lost,
    recovered,
    duplicated,
    unexpected,
    indeterminate,
    longestGapMs,
    ...(gapEndedAt === undefined ? {} : { gapEndedAt }),
  };
}

/** The first receive at or after time `t` (ms, same clock as the events), or undefined. */
export function firstReceiveAfter(events: readonly ProbeEvent[], t: number): ProbeEvent | undefined {
  return events.find((event) => event.e === 'recv' && event.t >= t);
}

/**
 * Of `seqs`, those sent before `t` (ms, same clock as the events). A master-gone round splits its
 * lost messages with it at the moment the publisher's connection to the old master closed: the
 * ones sent before were in flight to the old master (README, "Shadow sessions": limits).
 */
export function sentBefore(events: readonly ProbeEvent[], seqs: readonly number[], t: number): number[] {
  const wanted = new Set(seqs);
  return sorted(events.filter((event) => event.e === 'send' && event.t < t && wanted.has(event.seq)).map((event) => (event as { seq: number }).seq));
}
