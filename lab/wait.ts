/** Waiting for something in the lab, always bounded in time and in the number of checks. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown by a condition that will never hold (the process it waits for died): stops the wait at once. */
export class GiveUp extends Error {}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Checks `condition` every `intervalMs` until it returns a value other than false or undefined;
 * resolves with that value. Throws, naming `what`, after `timeoutMs` (and at most
 * timeoutMs / intervalMs + 1 checks). A check that throws counts as "not yet", unless it throws GiveUp.
 */
export async function waitFor<T>(what: string, condition: () => T | false | undefined | Promise<T | false | undefined>, options: WaitOptions): Promise<T> {
  const interval = options.intervalMs ?? 20;
  const deadline = Date.now() + options.timeoutMs;
  const checks = Math.ceil(options.timeoutMs / interval) + 1;
  let last: unknown;
  for (let check = 0; check < checks; check++) {
    try {
      const value = await condition();
      if (value !== false && value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(interval);
  }
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
