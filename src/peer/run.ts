/**
 * The daemon's run number (`<state_dir>/run.json`): larger at every start, so that readers order a
 * node's statuses across restarts (status.ts). It is the larger of the last run + 1 and the start
 * time in seconds: it grows even when the clock went back, and even when the state directory was
 * wiped (unless the clock went back too).
 */
import { readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { MqfoError } from '../errors.js';

const Stored = z.object({ run: z.int().min(0) });

/** The run after `last` (undefined: no file, or an unreadable one), at `nowMs`. Pure. */
export function nextRun(last: number | undefined, nowMs: number): number {
  return Math.max((last ?? 0) + 1, Math.floor(nowMs / 1000));
}

/** Reads the last run, saves and returns the next. An unreadable file counts as none (the clock then orders). */
export async function startRun(file: string, nowMs: number): Promise<number> {
  let last: number | undefined;
  try {
    last = Stored.safeParse(JSON.parse(await readFile(file, 'utf8'))).data?.run;
  } catch {
    last = undefined;
  }
  const run = nextRun(last, nowMs);
  try {
    await writeFileAtomic(file, `${JSON.stringify({ run })}\n`, { mode: 0o644 });
  } catch (error) {
    throw new MqfoError('ESTATE', `cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
  return run;
}
