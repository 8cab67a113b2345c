/**
 * Sick or well, from the probes of this node's own broker: `fall` failures in a row make a well
 * broker sick, `rise` successes in a row make a sick one well again; anything else keeps the
 * verdict. Pure: probes in, verdict and (when it changes) the change with its reason and times.
 *
 * A daemon starts with its broker taken as well: it steps down only after `fall` failures it saw
 * itself, so a daemon restarted beside a broker that is still starting moves nothing.
 */

export type Verdict = 'well' | 'sick';

export interface ProbeResult {
  ok: boolean;
  /** Epoch ms when the probe started. */
  at: number;
  /** Why it failed. */
  problem?: string;
}

export interface HealthState {
  verdict: Verdict;
  /** Failures in a row (0 after a success). */
  failures: number;
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
}

export const INITIAL_HEALTH: HealthState = { verdict: 'well', failures: 0, successes: 0 };

export function nextHealth(state: HealthState, probe: ProbeResult, thresholds: Thresholds): { state: HealthState; change?: HealthChange } {
  const continues = probe.ok ? state.successes > 0 : state.failures > 0;
  const runSince = continues ? (state.runSince ?? probe.at) : probe.at;
  const next: HealthState = probe.ok
    ? { verdict: state.verdict, failures: 0, successes: state.successes + 1, runSince }
    : { verdict: state.verdict, failures: state.failures + 1, successes: 0, runSince, problem: probe.problem ?? 'the probe failed' };
  const flips = probe.ok ? state.verdict === 'sick' && next.successes >= thresholds.rise : state.verdict === 'well' && next.failures >= thresholds.fall;
  if (!flips) return { state: next };
  const to: Verdict = probe.ok ? 'well' : 'sick';
  next.verdict = to;
  const probes = probe.ok ? next.successes : next.failures;
  const counted = probes === 1 ? 'the probe' : `${probes} probes in a row`;
  const reason = probe.ok ? `${counted} succeeded` : `${counted} failed; the last: ${next.problem}`;
  return { state: next, change: { from: state.verdict, to, reason, probes, since: runSince, at: probe.at, ms: probe.at - runSince } };
}
