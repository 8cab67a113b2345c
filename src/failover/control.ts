/**
 * How the daemon stops and starts the failover driver, ucarp, when the broker's health moves the
 * VIP (src/failover/advertise.ts). ucarp has no runtime priority (ucarp(8): --advskew and
 * --advbase are read once, at start), so a sick node stops advertising: ucarp stopped runs its
 * down script (--shutdown, which the rendered arguments carry) and the VIP goes to the next node
 * once its master-down wait ends. The adapters are the broker's (src/broker/control.ts):
 * `systemd` (systemctl stop/start of the rendered mosquitto-failover-ucarp.service), `command`
 * (argv from cluster.yaml) or `supervise` (the daemon runs ucarp as its child: containers, the
 * lab). SIGUSR2 (ucarp(8), SIGNALS) would demote a master too, but only for 3 s: it then competes
 * again and, with --preempt and the better skew, takes the VIP back onto a broker still sick.
 */
import type { Logger } from 'pino';
import { Supervisor } from '../broker/supervise.js';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { Runner } from '../exec/runner.js';
import type { RuntimePaths } from '../paths.js';
import { ucarpArgs } from '../render/model.js';

export interface DriverControl {
  /** At the daemon's start: supervise starts (or adopts) ucarp here; the others leave that to whoever runs it. */
  start(): Promise<void>;
  /** Stops advertising: ucarp stops, its down script releases the VIP. */
  release(): Promise<void>;
  /** Advertises again: ucarp starts (a no-op where it runs). */
  resume(): Promise<void>;
  /** At the daemon's stop: supervise stops ucarp here (its down script releases the VIP); under systemd or a command it outlives the daemon. */
  stop(): Promise<void>;
}

const COMMAND_TIMEOUT = 60_000;

export class SystemdDriverControl implements DriverControl {
  private readonly run: Runner;
  private readonly unit: string;

  constructor(run: Runner, unit: string) {
    this.run = run;
    this.unit = unit;
  }

  async start(): Promise<void> {}

  async release(): Promise<void> {
    await this.run(['systemctl', 'stop', this.unit], { timeout: COMMAND_TIMEOUT });
  }

  /** systemctl start of a running unit does nothing (systemctl(1)). */
  async resume(): Promise<void> {
    await this.run(['systemctl', 'start', this.unit], { timeout: COMMAND_TIMEOUT });
  }

  async stop(): Promise<void> {}
}

export class CommandDriverControl implements DriverControl {
  private readonly run: Runner;
  private readonly startCommand: readonly string[];
  private readonly stopCommand: readonly string[];

  constructor(run: Runner, startCommand: readonly string[], stopCommand: readonly string[]) {
    this.run = run;
    this.startCommand = startCommand;
    this.stopCommand = stopCommand;
  }

  async start(): Promise<void> {}

  async release(): Promise<void> {
    await this.run(this.stopCommand, { timeout: COMMAND_TIMEOUT });
  }

  /** The start command runs at the daemon's start too: it must do nothing where ucarp runs. */
  async resume(): Promise<void> {
    await this.run(this.startCommand, { timeout: COMMAND_TIMEOUT });
  }

  async stop(): Promise<void> {}
}

export class SupervisedDriverControl implements DriverControl {
  private readonly supervisor: Supervisor;

  constructor(supervisor: Supervisor) {
    this.supervisor = supervisor;
  }

  async start(): Promise<void> {
    await this.supervisor.start();
  }

  async release(): Promise<void> {
    await this.supervisor.halt();
  }

  async resume(): Promise<void> {
    await this.supervisor.start();
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
  }
}

/** The adapter cluster.yaml asks for (rules.ts has checked that `command` has both commands). */
export function driverControl(config: ClusterConfig, node: NodeConfig, paths: RuntimePaths, run: Runner, log: Logger): DriverControl {
  const { failover } = config;
  switch (failover.control) {
    case 'systemd':
      return new SystemdDriverControl(run, failover.unit);
    case 'command':
      return new CommandDriverControl(run, failover.start_command ?? [], failover.stop_command ?? []);
    case 'supervise':
      return new SupervisedDriverControl(
        new Supervisor({
          binary: failover.binary,
          args: ucarpArgs(config, node),
          // The up script's path names this cluster's ucarp among others on the machine.
          configFile: `--upscript=${paths.vipUp}`,
          pidFile: paths.ucarpPidFile,
          log,
          name: 'ucarp',
          respawnOnCleanExit: false,
        }),
      );
  }
}
