/** The one retry helper: a growing delay, and a bounded loop that tries until a deadline. */
import { setTimeout as sleep } from 'node:timers/promises';
import { MqfoError, type ErrorCode, messageOf } from './errors.js';

export interface Backoff {
  minMs: number;
  maxMs: number;
}

/** The delay before attempt `attempt` (0-based): `minMs`, doubling, capped at `maxMs`. Pure. */
export function backoffDelay(attempt: number, backoff: Backoff): number {
  return Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
}

export interface RetryOptions {
  /** What is being waited for, for the error message. */
  what: string;
  code: ErrorCode;
  timeoutMs: number;
  /** Pause between attempts. */
  intervalMs: number;
  /** Hard bound on attempts, whatever the clock says. */
  maxAttempts?: number;
}

/**
 * Calls `attempt(deadline)` until it resolves; after `timeoutMs` (or `maxAttempts`) rejects with
 * an MqfoError carrying the last failure as `cause`.
 */
export async function retryUntil<T>(options: RetryOptions, attempt: (deadline: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (let tried = 0; tried < (options.maxAttempts ?? 10_000) && (tried === 0 || Date.now() < deadline); tried++) {
    try {
      return await attempt(deadline);
    } catch (error) {
      last = error;
      if (Date.now() + options.intervalMs >= deadline) break;
      await sleep(options.intervalMs);
    }
  }
  throw new MqfoError(options.code, `${options.what}: ${last === undefined ? 'no attempt' : messageOf(last)}`, { cause: last });
}
