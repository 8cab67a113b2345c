/** The truth, read from this machine: is the VIP on the interface, is the VRRP/CARP program alive. */
import { networkInterfaces } from 'node:os';
import { isRunning, commandLine, readPidFileSync } from '../exec/pids.js';
import type { DriverState } from './observe.js';

export type AddressLister = () => ReturnType<typeof networkInterfaces>;

/**
 * Whether `address` is on `ifname`. getifaddrs(3) (behind os.networkInterfaces) is a netlink
 * dump in this process: cheap enough to run every few hundred milliseconds, unlike `ip`.
 * keepalived adds the VIP without a label, so it is listed under the interface's own name.
 */
export function hasAddress(ifname: string, address: string, list: AddressLister = networkInterfaces): boolean {
  return (list()[ifname] ?? []).some((entry) => entry.family === 'IPv4' && entry.address === address);
}

/**
 * Whether the program whose pid is in `pidFile` runs: `unknown` without a pid file (none
 * configured, or the program stopped cleanly and removed it); `dead` when the pid is gone or
 * has become another program. It runs on every VIP poll, so the pid file is read synchronously,
 * as /proc is: a few bytes from tmpfs, where an async read would take four trips through
 * libuv's thread pool (open, fstat, read, close), each waking the event loop.
 */
export async function driverState(pidFile: string | undefined, program: string): Promise<DriverState> {
  if (!pidFile) return 'unknown';
  const pid = readPidFileSync(pidFile);
  if (pid === undefined) return 'unknown';
  if (!isRunning(pid)) return 'dead';
  const argv0 = commandLine(pid)?.[0] ?? '';
  return argv0.endsWith(program) ? 'alive' : 'dead';
}
