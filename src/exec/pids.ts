/** Processes by pid, through /proc: alive or not, and what they are. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';

/** True while `pid` exists and is not a zombie (one whose parent has not reaped it yet is gone for us). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The command line of `pid`, or undefined once it is gone. */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

function parsePid(text: string): number | undefined {
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid written in `file`, or undefined when there is none (no file, or no number in it). */
export async function readPidFile(file: string): Promise<number | undefined> {
  return parsePid(await readFile(file, 'utf8').catch(() => ''));
}

export function readPidFileSync(file: string): number | undefined {
  return parsePid(readTextSync(file));
}

/** A file's text, or '' when it cannot be read (not there yet, or gone). */
export function readTextSync(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Whether `pid` has a handler of its own for `signal` now (the SigCgt mask of /proc/PID/status,
 * proc(5)): false when it is gone, a zombie, or has not installed one yet. mosquitto installs its
 * SIGUSR1 handler (save the database) only after it has read its persistence file and opened its
 * listeners (mosquitto.c: signal__setup after listeners__start); before that, SIGUSR1's default
 * action ends the process, so a save asked of a broker still starting would kill it.
 */
export function catchesSignal(pid: number, signal: 'SIGUSR1' | 'SIGHUP'): boolean {
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readTextSync(`/proc/${pid}/status`))?.[1];
  if (mask === undefined) return false;
  const bit = BigInt(osConstants.signals[signal] - 1);
  return ((BigInt(`0x${mask}`) >> bit) & 1n) === 1n;
}
