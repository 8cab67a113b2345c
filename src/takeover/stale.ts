/**
 * A stale VIP, in one place. keepalived killed with -9 leaves its VIP on the interface while a
 * peer takes over; nobody else will remove it. The daemon tells a stale VIP from a live one by
 * the VRRP program's pid file, keeps serving through it until a peer must have taken over
 * (`staleAfterMs`: VRRP's master-down interval and a margin, so clients see no gap before the
 * peer is there), and then removes it (role/observe.ts decides, the executor acts), asking
 * `stillDead()` once more right before: a keepalived started again meanwhile owns the VIP.
 * ucarp has no pid file: a ucarp killed with -9 leaves its VIP until it is started again.
 */
import type { Logger } from 'pino';
import type { ClusterConfig } from '../config/schema.js';
import { driverState } from '../role/truth.js';
import type { DriverState } from '../role/observe.js';

export const DEFAULT_KEEPALIVED_PID_FILE = '/run/keepalived.pid';

/** The VRRP/CARP program's pid file, when there is one to tell a stale VIP by. */
function driverPidFile(config: ClusterConfig): string | undefined {
  const { failover } = config;
  return failover.pid_file ?? (failover.driver === 'keepalived' ? DEFAULT_KEEPALIVED_PID_FILE : undefined);
}

/** keepalived's master-down interval is 3 adverts and a skew below one; one more advert and 500 ms of margin. */
export function staleAfterMs(advertIntSeconds: number): number {
  return Math.round(4 * advertIntSeconds * 1000 + 500);
}

export interface DriverLook {
  driver: DriverState;
  /** How long the program has been seen dead, ms (0 while it is not). */
  deadForMs: number;
}

/** Watches the VRRP/CARP program's life through its pid file, and says when it first found it dead. */
export class DriverWatch {
  readonly staleAfterMs: number;
  private readonly config: ClusterConfig;
  private readonly log: Logger;
  private deadSince: number | undefined;

  constructor(config: ClusterConfig, log: Logger) {
    this.config = config;
    this.log = log;
    this.staleAfterMs = staleAfterMs(config.failover.advert_int);
  }

  async look(vip: boolean, now = Date.now()): Promise<DriverLook> {
    const { driver: program } = this.config.failover;
    const pidFile = driverPidFile(this.config);
    const driver = await driverState(pidFile, program);
    if (driver !== 'dead') this.deadSince = undefined;
    else if (this.deadSince === undefined) {
      this.deadSince = now;
      const grace = this.staleAfterMs;
      this.log.warn({ pidFile, vip, graceMs: grace }, `${program} is not running${vip ? `: serving through the VIP for ${grace} ms more, until a peer has taken over, then removing it` : ''}`);
    }
    return { driver, deadForMs: this.deadSince === undefined ? 0 : now - this.deadSince };
  }

  /** Asked again right before a stale VIP is removed. */
  async stillDead(): Promise<boolean> {
    return (await driverState(driverPidFile(this.config), this.config.failover.driver)) === 'dead';
  }
}
