/**
 * How the daemon restarts and reloads the broker: `systemd` (systemctl), `command` (argv from
 * cluster.yaml) or `supervise` (the daemon runs mosquitto itself). Restart makes every client
 * reconnect; reload (SIGHUP) rereads password and ACL files without dropping anyone.
 */
import type { Logger } from 'pino';
import type { ClusterConfig } from '../config/schema.js';
import { catchesSignal } from '../exec/pids.js';
import type { Runner } from '../exec/runner.js';
import { Supervisor, type Exit } from './supervise.js';

export interface BrokerControl {
  /** Supervise starts (or adopts) mosquitto here; the others leave that to whoever runs it. */
  start(): Promise<void>;
  restart(): Promise<void>;
  reload(): Promise<void>;
  /** Supervise stops mosquitto here; under systemd or a command, the broker outlives the daemon. */
  stop(): Promise<void>;
  /**
   * Supervise only: calls `listener` each time the broker exits on its own (the health monitor
   * takes a failed start for a crash loop); returns the unsubscribe.
   */
  onExit?(listener: (exit: Exit) => void): () => void;
  /**
   * Asks the running broker to write its persistence file now (SIGUSR1, mosquitto(8)); resolves
   * false when there is no broker ready for it (stopped, restarting, or still starting: one that has
   * no SIGUSR1 handler yet would die of it). Absent under `command` without `save_command`.
   */
  save?(): Promise<boolean>;
}

const COMMAND_TIMEOUT = 60_000;
/** A save is asked for often and is worth little once late: its commands get this long. */
const SAVE_TIMEOUT = 10_000;

export class SystemdControl implements BrokerControl {
  private readonly run: Runner;
  private readonly unit: string;

  constructor(run: Runner, unit: string) {
    this.run = run;
    this.unit = unit;
  }

  async start(): Promise<void> {}

  async restart(): Promise<void> {
    await this.run(['systemctl', 'restart', this.unit], { timeout: COMMAND_TIMEOUT });
  }

  async reload(): Promise<void> {
    await this.run(['systemctl', 'reload', this.unit], { timeout: COMMAND_TIMEOUT });
  }

  /**
   * SIGUSR1 to the unit's main process, sent by the daemon itself (it runs as root) to the pid it
   * has just seen catch SIGUSR1: a broker still starting would die of it, and so would anything
   * else the unit runs as its main process. Not `systemctl kill --kill-whom=main`: that signals
   * whatever the main process is when it runs, and a restart between the check and it (a
   * takeover's, while clients reconnect and ask for saves) would hand SIGUSR1 to a broker that
   * has no handler yet. What is left is a pid reused between reading /proc and kill(2).
   */
  async save(): Promise<boolean> {
    const shown = await this.run(['systemctl', 'show', '--property=MainPID', '--value', this.unit], { timeout: SAVE_TIMEOUT });
    const pid = Number.parseInt(shown.stdout.trim(), 10);
    if (!(pid > 0) || !catchesSignal(pid, 'SIGUSR1')) return false;
    try {
      process.kill(pid, 'SIGUSR1');
    } catch (error) {
      // Gone since: nothing to save; anything else (EPERM: not root) is the caller's to report.
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw error;
    }
    return true;
  }

  async stop(): Promise<void> {}
}

export class CommandControl implements BrokerControl {
  private readonly run: Runner;
  private readonly restartCommand: readonly string[];
  private readonly reloadCommand: readonly string[];
  /** Present only with `broker.save_command`: the daemon cannot tell which process the commands run. */
  readonly save?: () => Promise<boolean>;

  constructor(run: Runner, restartCommand: readonly string[], reloadCommand: readonly string[], saveCommand?: readonly string[]) {
    this.run = run;
    this.restartCommand = restartCommand;
    this.reloadCommand = reloadCommand;
    if (saveCommand) {
      this.save = async () => {
        await this.run(saveCommand, { timeout: SAVE_TIMEOUT });
        return true;
      };
    }
  }

  async start(): Promise<void> {}

  async restart(): Promise<void> {
    await this.run(this.restartCommand, { timeout: COMMAND_TIMEOUT });
  }

  async reload(): Promise<void> {
    await this.run(this.reloadCommand, { timeout: COMMAND_TIMEOUT });
  }

  async stop(): Promise<void> {}
}

/** The adapter cluster.yaml asks for (rules.ts has checked that `command` has both commands). */
export function brokerControl(config: ClusterConfig, run: Runner, log: Logger, pidFile: string): BrokerControl {
  const { broker } = config;
  switch (broker.control) {
    case 'systemd':
      return new SystemdControl(run, broker.unit);
    case 'command':
      return new CommandControl(run, broker.restart_command ?? [], broker.reload_command ?? [], broker.save_command);
    case 'supervise':
      return new Supervisor({ binary: broker.binary, configFile: broker.config_file, pidFile, log });
  }
}
