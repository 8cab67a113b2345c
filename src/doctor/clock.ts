/**
 * doctor's clock skew check, pure: each peer's clock as its daemon answered (getCluster's `time`)
 * against this machine's, and what that skew breaks here.
 *
 * What skew breaks: synced files are ordered by a hybrid logical clock (sync/hlc.ts): last writer
 * wins by wall time, so two edits on two nodes less than the skew apart can be ordered against
 * the order they were made in (a node that has seen a version makes its next one later whatever
 * its clock, so edits after a sync are safe). A daemon's request to the others (syncNow,
 * control/cluster-command.ts) is refused when it is more than COMMAND_TTL_MS (30 s) from the
 * reader's clock. Takeover times, split-brain times and log lines of different nodes stop lining
 * up. Sealed messages (peer/seal.ts) carry no time and do not care.
 *
 * The measure: the peer read its clock (T) somewhere between the moment the request left
 * (sentAt) and the answer came (receivedAt), both on this clock. So its offset lies in
 * [T - receivedAt, T - sentAt]: the estimate is T minus the midpoint, the bound half the round
 * trip plus 1 ms for each side's millisecond resolution. The verdict goes by the offset the bound
 * cannot explain away: a slow network never makes a warning.
 */
import { COMMAND_TTL_MS } from '../control/cluster-command.js';
import type { CheckResult } from './report.js';

/** Above this (beyond the error bound), a warning: edits and log lines of different nodes no longer order as made. */
export const WARN_SKEW_MS = 1_000;
/** Above this, a failure: a third of the 30 s in which a peer's request is taken. */
export const FAIL_SKEW_MS = COMMAND_TTL_MS / 3;

export const CLOCK_FIX = 'keep every node on NTP: install and enable chrony (apt install chrony) or systemd-timesyncd (timedatectl set-ntp true), then check timedatectl';

export interface Skew {
  /** The peer's clock minus this one's, ms (positive: the peer is ahead). */
  skewMs: number;
  /** |true skew - skewMs| is at most this. */
  boundMs: number;
}

/** The skew from one answer: `peerTime` (ISO, ms) read by the peer between `sentAt` and `receivedAt` (this clock, epoch ms). */
export function skewOf(peerTime: string, sentAt: number, receivedAt: number): Skew {
  const time = Date.parse(peerTime);
  if (Number.isNaN(time)) throw new Error(`the answer's time ${JSON.stringify(peerTime).slice(0, 40)} is not a time`);
  return { skewMs: time - (sentAt + receivedAt) / 2, boundMs: (receivedAt - sentAt) / 2 + 2 };
}

export type Measured = { peer: string; skew: Skew } | { peer: string; error: string };

const signed = (ms: number): string => `${ms >= 0 ? '+' : '-'}${Math.abs(Math.round(ms))} ms`;

/** At least this much skew, whatever the measure's error. */
const sure = ({ skewMs, boundMs }: Skew): number => Math.max(0, Math.abs(skewMs) - boundMs);

export function clockCheck(measured: readonly Measured[]): CheckResult {
  const name = 'clock skew';
  if (measured.length === 0) return { name, ok: 'skipped', detail: 'no peer in cluster.yaml' };
  const parts = measured.map((entry) => ('skew' in entry ? `${entry.peer} ${signed(entry.skew.skewMs)} (±${Math.ceil(entry.skew.boundMs)} ms)` : `${entry.peer} not measured: ${entry.error}`));
  const skews = measured.flatMap((entry) => ('skew' in entry ? [sure(entry.skew)] : []));
  if (skews.length === 0) return { name, ok: 'skipped', detail: `no peer's daemon answered: ${parts.join('; ')}` };
  const worst = Math.max(...skews);
  const detail = `${parts.join(', ')}; peer clock minus this one`;
  if (worst > FAIL_SKEW_MS) return { name, ok: false, detail: `${detail}: more than ${FAIL_SKEW_MS / 1000} s (a peer's syncNow is refused beyond ${COMMAND_TTL_MS / 1000} s, and synced edits order by wall clock)`, fix: CLOCK_FIX };
  if (worst > WARN_SKEW_MS) return { name, ok: 'warn', detail: `${detail}: more than ${WARN_SKEW_MS / 1000} s (synced edits on two nodes that close together may be ordered wrong; logs do not line up)`, fix: CLOCK_FIX };
  if (skews.length < measured.length) return { name, ok: 'warn', detail, fix: 'start the daemon on the peers not measured (systemctl start mosquitto-failover); it answers the clock question' };
  return { name, ok: true, detail };
}
