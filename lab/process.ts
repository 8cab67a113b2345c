/**
 * Programs started inside lab namespaces: each with its own log file, detached from our terminal
 * (so a Ctrl-C reaches only us, and we end them ourselves), found again by pid and name.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRunning } from '../src/exec/pids.js';
import type { Netns } from './netns.js';

export { isRunning };

export interface LabProcess {
  pid: number;
  log: string;
  /** Resolves with the exit code, or the signal's name, when the process ends. */
  exited: Promise<number | string>;
}

/** Starts `argv` inside `ns`; `ip netns exec` execs it, so the pid is the program's own. */
export function spawnIn(ns: Netns, argv: readonly string[], log: string, env?: NodeJS.ProcessEnv): LabProcess {
  const fd = openSync(log, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', ns.name, ...argv], { detached: true, stdio: ['ignore', fd, fd], ...(env ? { env } : {}) });
    child.unref();
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      child.once('error', (error) => resolve(error.message));
    });
    if (child.pid === undefined) throw new Error(`cannot start ${argv.join(' ')} in ${ns.name}`);
    return { pid: child.pid, log, exited };
  } finally {
    closeSync(fd);
  }
}

/** Sends `signal` to each pid that still runs; returns the pids it reached. */
export function signalPids(pids: readonly number[], signal: NodeJS.Signals): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once every pid is gone (bounded). */
export async function terminate(pids: readonly number[], graceMs = 5_000): Promise<void> {
  signalPids(pids, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(isRunning) && Date.now() < deadline) await sleep(20);
  if (!pids.some(isRunning)) return;
  signalPids(pids, 'SIGKILL');
  for (let attempt = 0; attempt < 100 && pids.some(isRunning); attempt++) await sleep(20);
  const left = pids.filter(isRunning);
  if (left.length > 0) throw new Error(`processes ${left.join(', ')} survived SIGKILL for 2 s`);
}
