/**
 * systemd's readiness and watchdog protocol (sd_notify(3)) for the daemon's `Type=notify` unit
 * with `WatchdogSec`: READY=1 once the first reconcile is done and every component runs,
 * WATCHDOG=1 from the takeover loop (a loop that stops reconciling stops the pings, and systemd
 * restarts the daemon), STOPPING=1 when a stop begins.
 *
 * Node has no unix datagram sockets, and the npm packages that send them are native addons that
 * need a compiler and node's headers at install. Each message therefore goes through
 * systemd-notify(1), from the systemd package every systemd machine has. Run by root (the
 * daemon's user), it sends with the daemon's PID as the sender's credentials, so the unit's
 * `NotifyAccess=main` takes it; and without --no-block it waits until the manager has read the
 * message (a barrier), so that the short-lived sender is still attributed to the unit.
 *
 * The variables are taken out of the daemon's environment at start: a program it runs (the
 * supervised mosquitto is built with systemd support) must not speak for it.
 */
import type { Logger } from 'pino';
import type { Runner } from '../exec/runner.js';

/** How long one systemd-notify may take (the barrier waits for the manager). */
const SEND_TIMEOUT_MS = 5_000;

export interface NotifyOptions {
  env: NodeJS.ProcessEnv;
  run: Runner;
  log: Logger;
  pid?: number;
  now?: () => number;
}

export class SystemdNotify {
  private readonly socket: string;
  /** Half of WatchdogSec, as sd_watchdog_enabled(3) advises; undefined without a watchdog. */
  private readonly pingEveryMs: number | undefined;
  private readonly run: Runner;
  private readonly log: Logger;
  private readonly now: () => number;
  private lastPing = Number.NEGATIVE_INFINITY;
  private pinging = false;
  /** systemd's watchdog runs from the end of the start-up (systemd.service(5)): no pings before READY. */
  private isReady = false;

  private constructor(socket: string, pingEveryMs: number | undefined, options: NotifyOptions) {
    this.socket = socket;
    this.pingEveryMs = pingEveryMs;
    this.run = options.run;
    this.log = options.log;
    this.now = options.now ?? Date.now;
  }

  /**
   * The notifier of a daemon that systemd started with NOTIFY_SOCKET, or undefined (run by hand,
   * or under `Type=exec`). Removes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env`.
   */
  static fromEnvironment(options: NotifyOptions): SystemdNotify | undefined {
    const { env, log } = options;
    const socket = env['NOTIFY_SOCKET'];
    const usec = Number(env['WATCHDOG_USEC']);
    const watchdogPid = env['WATCHDOG_PID'];
    delete env['NOTIFY_SOCKET'];
    delete env['WATCHDOG_USEC'];
    delete env['WATCHDOG_PID'];
    if (!socket) return undefined;
    // sd_watchdog_enabled(3): the watchdog is for WATCHDOG_PID when it is set.
    const forUs = watchdogPid === undefined || Number(watchdogPid) === (options.pid ?? process.pid);
    const pingEveryMs = forUs && Number.isFinite(usec) && usec > 0 ? usec / 2_000 : undefined;
    log.debug({ watchdogMs: pingEveryMs === undefined ? undefined : pingEveryMs * 2 }, 'systemd notify socket found');
    return new SystemdNotify(socket, pingEveryMs, options);
  }

  /** READY=1 with a one-line status. */
  async ready(status: string): Promise<void> {
    await this.send(['--ready', `--status=${status}`]);
    this.isReady = true;
    this.log.info({ status }, 'told systemd: ready');
  }

  /** STOPPING=1. */
  async stopping(): Promise<void> {
    await this.send(['STOPPING=1']);
  }

  /** The takeover loop is alive: WATCHDOG=1 once ready, when half the watchdog time has passed since the last one. Never throws. */
  alive(): void {
    if (this.pingEveryMs === undefined || !this.isReady || this.pinging || this.now() - this.lastPing < this.pingEveryMs) return;
    this.pinging = true;
    this.lastPing = this.now();
    this.send(['WATCHDOG=1'])
      .catch((error: unknown) => this.log.warn({ err: error }, 'a watchdog ping to systemd failed'))
      .finally(() => {
        this.pinging = false;
      });
  }

  private async send(args: readonly string[]): Promise<void> {
    await this.run(['systemd-notify', ...args], { timeout: SEND_TIMEOUT_MS, env: { NOTIFY_SOCKET: this.socket } });
  }
}
