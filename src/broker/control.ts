/**
 * How the daemon restarts and reloads the broker: `systemd` (systemctl), `command` (argv from
 * cluster.yaml) or `supervise` (the daemon runs mosquitto itself). Restart makes every client
 * reconnect; reload (SIGHUP) rereads password and ACL files without dropping anyone.
 */
import type { Logger } from 'pino';
import type { ClusterConfig } from '../config/schema.js';
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
}

const COMMAND_TIMEOUT = 60_000;

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

  async stop(): Promise<void> {}
}

export class CommandControl implements BrokerControl {
  private readonly run: Runner;
  private readonly restartCommand: readonly string[];
  private readonly reloadCommand: readonly string[];

  constructor(run: Runner, restartCommand: readonly string[], reloadCommand: readonly string[]) {
    this.run = run;
    this.restartCommand = restartCommand;
    this.reloadCommand = reloadCommand;
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
      return new CommandControl(run, broker.restart_command ?? [], broker.reload_command ?? []);
    case 'supervise':
      return new Supervisor({ binary: broker.binary, configFile: broker.config_file, pidFile, log });
  }
}
