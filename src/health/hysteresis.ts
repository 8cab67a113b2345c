/**
 * Sick or well, from the probes of this node's own broker: `fall` failures in a row make a well
 * broker sick, `rise` successes in a row make a sick one well again; anything else keeps the
 * verdict. Pure: probes in, verdict and (when it changes) the change with its reason and times.
 *
 * Two kinds of failure count faster than `fall` (issue 13: a hung or crash-looping master kept
 * the clients waiting about 2 s):
 * - a probe that got no answer within its timeout (`unanswered`): the kernel accepted the
 *   connection and nothing answered, a hung broker. `hangFall` of those in a row make it sick.
 *   A crash restarted in place refuses connections instead (nothing listens), so it still needs
 *   `fall` failures and rides the restart out.
 * - a failure that is `conclusive`: the supervise adapter saw the broker exit on its own right
 *   after it started it (a crash loop: src/broker/supervise.ts). It cannot serve before the next
 *   respawn, which is further off each time; one is enough. A single crash whose restart comes up
 *   is not one (it ran before it died).
 *
 * A daemon starts with its broker taken as well: it steps down only after failures it saw
 * itself, so a daemon restarted beside a broker that is still starting moves nothing.
 */

export type Verdict = 'well' | 'sick';

export interface ProbeResult {
  ok: boolean;
  /** Epoch ms when the probe started. */
  at: number;
  /** Why it failed. */
  problem?: string;
  /** It failed because nothing answered within the probe's timeout (a hang), not by a refusal or an error. */
  unanswered?: boolean;
  /** It failed beyond doubt: sick at once, whatever the counts (a broker that exits as soon as it starts). */
  conclusive?: boolean;
}

export interface HealthState {
  verdict: Verdict;
  /** Failures in a row (0 after a success). */
  failures: number;
  /** Unanswered probes in a row (0 after a success or another failure). */
  unanswered: number;
  /** Successes in a row (0 after a failure). */
  successes: number;
  /** When the current run of failures or successes began (epoch ms). */
  runSince?: number;
  /** The last failure's reason. */
  problem?: string;
}

/** A change of verdict: what it became, why, and how long the run that decided it took. */
export interface HealthChange {
  from: Verdict;
  to: Verdict;
  reason: string;
  /** Probes in the run that decided it (fall or rise). */
  probes: number;
  /** Epoch ms of the run's first probe and of the deciding one. */
  since: number;
  at: number;
  /** at - since. */
  ms: number;
}

export interface Thresholds {
  fall: number;
  rise: number;
  /** Unanswered probes in a row that make a well broker sick (health.hang_fall); `fall` when not given. */
  hangFall?: number;
}

export const INITIAL_HEALTH: HealthState = { verdict: 'well', failures: 0, unanswered: 0, successes: 0 };

export function nextHealth(state: HealthState, probe: ProbeResult, thresholds: Thresholds): { state: HealthState; change?: HealthChange } {
  const continues = probe.ok ? state.successes > 0 : state.failures > 0;
  const runSince = continues ? (state.runSince ?? probe.at) : probe.at;
  const next: HealthState = probe.ok
    ? { verdict: state.verdict, failures: 0, unanswered: 0, successes: state.successes + 1, runSince }
    : {
        verdict: state.verdict,
        failures: state.failures + 1,
        unanswered: probe.unanswered ? state.unanswered + 1 : 0,
        successes: 0,
        runSince,
        problem: probe.problem ?? 'the probe failed',
      };
  const falls = fallen(next, probe, thresholds);
  const flips = probe.ok ? state.verdict === 'sick' && next.successes >= thresholds.rise : state.verdict === 'well' && falls !== undefined;
  if (!flips) return { state: next };
  const to: Verdict = probe.ok ? 'well' : 'sick';
  next.verdict = to;
  const probes = probe.ok ? next.successes : next.failures;
  const counted = probes === 1 ? 'the probe' : `${probes} probes in a row`;
  const reason = probe.ok ? `${counted} succeeded` : probe.conclusive ? `${next.problem} (sick at once)` : `${falls}; the last: ${next.problem}`;
  return { state: next, change: { from: state.verdict, to, reason, probes, since: runSince, at: probe.at, ms: probe.at - runSince } };
}

/** Why the failures so far make a well broker sick, or undefined when they do not (yet). */
function fallen(next: HealthState, probe: ProbeResult, { fall, hangFall = fall }: Thresholds): string | undefined {
  if (probe.ok) return undefined;
  const inARow = (count: number) => (count === 1 ? 'the probe' : `${count} probes in a row`);
  if (probe.conclusive) return 'conclusive';
  if (next.failures >= fall) return `${inARow(next.failures)} failed`;
  if (next.unanswered >= hangFall) return `${inARow(next.unanswered)} got no answer (health.hang_fall ${hangFall}: a hung broker)`;
  return undefined;
}
