/**
 * What a process costs, as the kernel counts it (proc(5)): resident memory from
 * /proc/PID/status and CPU time from /proc/PID/stat, for the footprint benchmark.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Memory {
  /** VmRSS: resident now, in KiB. */
  rssKiB: number;
  /** RssAnon: the heaps, stacks and the rest nobody else has a copy of. */
  anonKiB: number;
  /** RssFile: mapped files, mostly the node binary's own code (shared with every other node process). */
  fileKiB: number;
  /** VmHWM: the most it was ever resident (start-up included). */
  peakKiB: number;
}

export interface Sample extends Memory {
  /** performance.now() when taken. */
  at: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** stime alone: the kernel's work for it (netlink dumps, file reads, fork and exec). */
  systemTicks: number;
  /** cutime + cstime: its children that ended and were reaped (iptables; the broker only once it exits). */
  childTicks: number;
  /** Context switches of the main thread (the event loop's): each wake-up is at least one. */
  switches: number;
}

function field(status: string, name: string, unit = ' kB'): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)${unit}$`, 'm').exec(status);
  if (!match) throw new Error(`no ${name} in /proc/PID/status`);
  return Number(match[1]);
}

export function parseStatus(status: string): Memory {
  return { rssKiB: field(status, 'VmRSS'), anonKiB: field(status, 'RssAnon'), fileKiB: field(status, 'RssFile'), peakKiB: field(status, 'VmHWM') };
}

/**
 * The CPU times (fields 14 to 17: utime, stime, cutime, cstime) of a /proc/PID/stat line. The
 * fields are counted after the command name's closing parenthesis, since the name itself may
 * hold spaces and parentheses.
 */
export function parseStatTicks(stat: string): Pick<Sample, 'cpuTicks' | 'systemTicks' | 'childTicks'> {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 3 (state) is the first after the name: utime is field 14, so index 11 here.
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
  if (![utime, stime, cutime, cstime].every(Number.isInteger)) throw new Error(`cannot read the CPU times from ${JSON.stringify(stat)}`);
  return { cpuTicks: utime! + stime!, systemTicks: stime!, childTicks: cutime! + cstime! };
}

export function parseSwitches(status: string): number {
  return field(status, 'voluntary_ctxt_switches', '') + field(status, 'nonvoluntary_ctxt_switches', '');
}

export function sample(pid: number): Sample {
  const at = performance.now();
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { at, ...parseStatus(status), ...parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')), switches: parseSwitches(status) };
}

/** Wake-ups of the main thread per second between two samples. */
export function wakeupRate(from: Sample, to: Sample): number {
  const wallSeconds = (to.at - from.at) / 1000;
  return wallSeconds > 0 ? (to.switches - from.switches) / wallSeconds : 0;
}

/** sysconf(_SC_CLK_TCK), the unit of utime and stime: 100 on every Linux we run on. */
export function clockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** CPU time (`cpuTicks`, or another count of ticks) between two samples over the wall time between them, in percent of one CPU. */
export function cpuShare(from: Sample, to: Sample, ticksPerSecond: number, ticks: 'cpuTicks' | 'systemTicks' | 'childTicks' = 'cpuTicks'): number {
  const cpuSeconds = (to[ticks] - from[ticks]) / ticksPerSecond;
  const wallSeconds = (to.at - from.at) / 1000;
  return wallSeconds > 0 ? (100 * cpuSeconds) / wallSeconds : 0;
}

/** A process's writes so far (/proc/PID/io, proc(5)): bytes that reached the block layer, and write calls of every kind (sockets too). */
export interface Io {
  writeBytes: number;
  syscw: number;
}

export function io(pid: number): Io {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { writeBytes: field('write_bytes'), syscw: field('syscw') };
}
