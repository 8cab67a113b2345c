/**
 * One broker host of the lab: its namespace, its rendered files, the programs it runs
 * (mosquitto, keepalived or ucarp) and the faults that can be done to it.
 */
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../src/config/schema.js';
import type { RunResult } from '../src/exec/runner.js';
import { adminTlsArgs } from './certs.js';
import { acceptPort, refusePort, setLinkFaults, type LinkFaults, type LinkFaultState } from './faults.js';
import type { Netns } from './netns.js';
import type { PlacedNode } from './place.js';
import { readPidFileSync, readTextSync } from '../src/exec/pids.js';
import { isRunning, signalPids, spawnIn, terminate, type LabProcess } from './process.js';
import { cliArgv, DIST_ENTRY, requireFreshDist, SOURCE_ENTRY } from './entry.js';
import { LAB_INTERFACE } from './topology.js';
import { GiveUp, waitFor } from './wait.js';


export interface DaemonStartOptions {
  /** `--log-level` (default debug). */
  logLevel?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * `dist` (default) runs the compiled `node dist/bin.js`, as installed (lab/entry.ts: refused
   * when older than the sources); `src` runs the TypeScript sources under tsx.
   */
  entry?: 'src' | 'dist';
  /** Options for node itself, before the entry (e.g. `--max-semi-space-size=1`). */
  nodeArgs?: readonly string[];
}

/** One pino line of the daemon's log. */
export interface DaemonLine {
  time: number;
  pid: number;
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** Whether a role line's takeover is complete: restarted and accepting, or its DNAT rule in without a restart. */
function takeoverDone(line: DaemonLine): boolean {
  const at = (line.at ?? {}) as { accepting?: number; restarted?: number; dnat?: number };
  return at.accepting !== undefined || (at.restarted === undefined && at.dnat !== undefined);
}

export class LabNode {
  readonly id: number;
  readonly name: string;
  readonly address: string;
  readonly priority: number;
  readonly ns: Netns;
  readonly placed: PlacedNode;
  /** The switch namespace and the name of this node's port on its bridge (the other end of eth0). */
  private readonly switchNs: Netns;
  private readonly port: string;
  private readonly faultState: LinkFaultState = {};
  /** mosquitto.conf as it was before breakBrokerConfig(). */
  private brokerConfig: string | undefined;

  constructor(node: NodeConfig, ns: Netns, placed: PlacedNode, switchNs: Netns, port: string) {
    this.id = node.id;
    this.name = node.name;
    this.address = node.address;
    this.priority = node.priority;
    this.ns = ns;
    this.placed = placed;
    this.switchNs = switchNs;
    this.port = port;
  }

  get config() {
    return this.placed.loaded.config;
  }

  get logDir(): string {
    return join(this.placed.dir, 'log');
  }

  /** The pids of `program` on this node (keepalived runs as a parent and a VRRP child). */
  pids(program: string): number[] {
    return this.ns.pidsOf(program);
  }

  /**
   * kill -SIGNAL every process of `program` on this node; returns the pids reached. SIGKILL is a
   * crash of the whole program at once: all its processes are stopped first, because keepalived's
   * VRRP child gets a signal when its parent dies and would otherwise shut down gracefully
   * (removing the VIP, advertising priority 0) in the moment between two kills.
   */
  signal(program: string, signal: NodeJS.Signals): number[] {
    const pids = this.pids(program);
    if (signal === 'SIGKILL') signalPids(pids, 'SIGSTOP');
    return signalPids(pids, signal);
  }

  kill(program: string): number[] {
    return this.signal(program, 'SIGKILL');
  }

  pause(program: string): number[] {
    return this.signal(program, 'SIGSTOP');
  }

  resume(program: string): number[] {
    return this.signal(program, 'SIGCONT');
  }

  /** Starts mosquitto on the rendered conf and waits (bounded) until the daemon user can publish on both listeners. */
  async startBroker(): Promise<void> {
    if (this.pids('mosquitto').length > 0) throw new Error(`${this.name}: mosquitto is already running`);
    const broker = spawnIn(this.ns, ['mosquitto', '-c', this.placed.files.get('mosquitto.conf')!], join(this.logDir, 'mosquitto.log'));
    await this.waitForBroker('mosquitto', broker).catch(async (error: unknown) => {
      await terminate([broker.pid]);
      throw error;
    });
  }

  /**
   * Starts this node's daemon (`mosquitto-failover run`, as shipped unless `entry` says `src`) and waits (bounded) until it has started and, as it supervises mosquitto, its broker
   * accepts the daemon user.
   */
  async startDaemon(options: DaemonStartOptions = {}): Promise<LabProcess> {
    if (this.daemonPids().length > 0) throw new Error(`${this.name}: the daemon is already running`);
    const entry = options.entry === 'src' ? ['--import', import.meta.resolve('tsx'), SOURCE_ENTRY] : (requireFreshDist(), [DIST_ENTRY]);
    const argv = [process.execPath, ...(options.nodeArgs ?? []), ...entry, 'run', '--config', this.placed.clusterFile, '--env', this.placed.envFile, '--node', String(this.id), '--log-level', options.logLevel ?? 'debug'];
    const daemon = spawnIn(this.ns, argv, this.daemonLog, options.env);
    await this.waitForBroker('the daemon and its broker', daemon, () => this.daemonLines().some((line) => line.pid === daemon.pid && line.msg === 'started')).catch(async (error: unknown) => {
      await terminate([daemon.pid]);
      throw error;
    });
    return daemon;
  }

  /**
   * Runs `mosquitto-failover ARGS` on this node, as its operator would (as shipped, this node's
   * cluster file and env file, `--node` this node, `input` on its stdin), bounded; resolves with
   * its exit code and output whatever it is.
   */
  async cli(args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    const argv = cliArgv([...args, '--config', this.placed.clusterFile, '--env', this.placed.envFile, '--node', String(this.id)]);
    return this.ns.exec(argv, { reject: false, timeout: options.timeoutMs ?? 60_000, ...(options.input === undefined ? {} : { input: options.input }) });
  }

  /** The daemon's pids (node is its program name; nothing else of the lab runs node in a broker host, but cli() while it runs). */
  daemonPids(): number[] {
    return this.pids('node');
  }

  /** Stops the daemon as systemd would (SIGTERM, SIGKILL after 10 s). */
  async stopDaemon(): Promise<void> {
    await terminate(this.daemonPids(), 10_000);
  }

  get daemonLog(): string {
    return join(this.logDir, 'daemon.log');
  }

  /** The daemon's JSON log lines so far (mosquitto's own lines, on the same stderr, are skipped). */
  daemonLines(): DaemonLine[] {
    return readTextSync(this.daemonLog).split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as DaemonLine];
      } catch {
        return [];
      }
    });
  }

  /** Waits until the daemon user can publish on both listeners of this node's broker, and `also()`. */
  private async waitForBroker(what: string, started: LabProcess, also: () => boolean = () => true): Promise<void> {
    let exited: number | string | undefined;
    void started.exited.then((code) => (exited = code));
    const { config, secrets } = this.placed.loaded;
    await waitFor(
      `${what} on ${this.name} to accept the daemon user`,
      async () => {
        if (exited !== undefined) throw new GiveUp(`the process on ${this.name} exited (${exited}); see ${started.log}:\n${readFileSync(started.log, 'utf8').slice(-3000)}`);
        if (!also()) return false;
        const results = await Promise.all(
          [config.broker.client_port, config.broker.admin_port].map((port) =>
            this.ns.exec(['mosquitto_pub', '-h', this.address, '-p', String(port), ...(port === config.broker.admin_port ? adminTlsArgs(config) : []), '-u', config.daemon.user, '-P', secrets.daemonPassword, '-t', `mosquitto-failover/${config.cluster}/lab/ready`, '-m', 'ok', '-q', '1'], { reject: false, timeout: 5_000 }),
          ),
        );
        return results.every((result) => result.exitCode === 0);
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    ).catch((error: unknown) => {
      if (error instanceof GiveUp) throw error;
      throw new Error(`${(error as Error).message}; the end of ${started.log}:\n${readFileSync(started.log, 'utf8').slice(-3000)}`, { cause: error });
    });
  }

  /** Stops the broker as systemd would (SIGTERM, then SIGKILL after 5 s). */
  async stopBroker(): Promise<void> {
    await terminate(this.pids('mosquitto'));
  }

  /**
   * Makes this node's mosquitto.conf one that mosquitto refuses to start on (an unknown option:
   * mosquitto.conf(5) has no such key, and mosquitto exits at once), so that every start of the
   * broker fails until restoreBrokerConfig(). In the lab only: the file is the lab's copy.
   */
  breakBrokerConfig(): void {
    const path = this.placed.files.get('mosquitto.conf')!;
    this.brokerConfig ??= readFileSync(path, 'utf8');
    appendFileSync(path, '\n# lab fault: broker-crash-loop (lab/failover.ts)\nmqfo_lab_no_such_option true\n');
  }

  restoreBrokerConfig(): void {
    if (this.brokerConfig === undefined) return;
    writeFileSync(this.placed.files.get('mosquitto.conf')!, this.brokerConfig);
    this.brokerConfig = undefined;
  }

  /** Starts keepalived (VRRP only, in the foreground) or ucarp, as the config's driver says. */
  startFailover(): void {
    const log = join(this.logDir, `${this.config.failover.driver}.log`);
    if (this.pids(this.config.failover.driver).length > 0) throw new Error(`${this.name}: ${this.config.failover.driver} is already running`);
    if (this.config.failover.driver === 'ucarp') {
      const args = readFileSync(this.placed.files.get('ucarp.args')!, 'utf8').trim().split('\n');
      spawnIn(this.ns, ['ucarp', ...args], log);
      return;
    }
    const run = join(this.placed.dir, 'run');
    // A keepalived killed with -9 leaves pid files naming its processes, which stay zombies until
    // this machine's PID 1 gets round to reaping them (systemd would at once): the new keepalived
    // would take them for a running copy of itself and exit ("daemon is already running").
    for (const file of ['keepalived.pid', 'keepalived-vrrp.pid']) {
      const pid = readPidFileSync(join(run, file));
      if (pid !== undefined && !isRunning(pid)) rmSync(join(run, file), { force: true });
    }
    // Pid files of its own: several keepalived share this machine's /run (see keepalived(8)).
    spawnIn(
      this.ns,
      ['keepalived', '--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp', '--use-file', this.placed.files.get('keepalived.conf')!, '--pid', join(run, 'keepalived.pid'), '--vrrp_pid', join(run, 'keepalived-vrrp.pid')],
      log,
    );
  }

  async stopFailover(): Promise<void> {
    await terminate(this.pids(this.config.failover.driver));
  }

  /** Pulls the cable: this node's port on the switch goes down, so eth0 loses its carrier. */
  async linkDown(): Promise<void> {
    await this.switchNs.ip(['link', 'set', this.port, 'down']);
  }

  async linkUp(): Promise<void> {
    await this.switchNs.ip(['link', 'set', this.port, 'up']);
  }

  /** Loss and delay on this node's link, both directions; `{}` clears them. */
  async setLinkFaults(faults: LinkFaults): Promise<void> {
    await setLinkFaults(this.ns, LAB_INTERFACE, faults, this.faultState, this.logDir);
  }

  /** Refuses TCP to `port` on this node (a listener that stops working); `acceptPort` ends it. */
  async refusePort(port: number): Promise<void> {
    await refusePort(this.ns, port);
  }

  async acceptPort(): Promise<void> {
    await acceptPort(this.ns);
  }

  async hasVip(): Promise<boolean> {
    const { address, prefix } = this.config.vip;
    return (await this.ns.addresses(LAB_INTERFACE)).includes(`${address}/${prefix}`);
  }

  /** This node's nat table, as `iptables -t nat -S` prints it. */
  async natRules(): Promise<string[]> {
    const { stdout } = await this.ns.exec(['iptables', '-w', '5', '-t', 'nat', '-S'], { timeout: 10_000 });
    return stdout.split('\n').filter(Boolean);
  }

  /** The DNAT rules in this node's nat table. */
  async dnatRules(): Promise<string[]> {
    return (await this.natRules()).filter((line) => line.includes('-j DNAT'));
  }

  /** The daemon's log lines at or after `since` (epoch ms) whose message starts with `msg`. */
  linesSince(msg: string, since: number): DaemonLine[] {
    return this.daemonLines().filter((line) => line.time >= since && line.msg.startsWith(msg));
  }

  /** Waits (bounded) for a daemon log line like linesSince's; a timeout shows the lines logged meanwhile. */
  async waitForLine(msg: string, since: number, timeoutMs = 20_000): Promise<DaemonLine> {
    return waitFor(`"${msg}" in ${this.name}'s daemon log`, () => this.linesSince(msg, since)[0], { timeoutMs, intervalMs: 20 }).catch((error: unknown) => {
      const tail = this.daemonLines().filter((line) => line.time >= since).slice(-20).map((line) => `${line.time - since} ms: ${line.msg} ${JSON.stringify(line.peer ?? line.kind ?? '')}`);
      throw new Error(`${(error as Error).message}; its lines since:\n${tail.join('\n')}`, { cause: error });
    });
  }

  /**
   * Waits (bounded) for the daemon's transition to `role` logged at or after `since` (epoch ms),
   * and for a takeover, until its broker is accepting again (or, when it did not restart it,
   * `failover.restart_on_takeover: false`, until its DNAT rule is in); resolves with that log line.
   */
  async waitForRole(role: string, since: number, timeoutMs = 30_000): Promise<DaemonLine> {
    return waitFor(
      `the daemon on ${this.name} to become ${role}`,
      () =>
        this.daemonLines().find(
          (line) => line.time >= since && line.role === role && line.msg.startsWith('role ') && (role !== 'MASTER' || takeoverDone(line)),
        ),
      { timeoutMs, intervalMs: 20 },
    ).catch((error: unknown) => {
      // What it did instead: its role lines (with their steps) and failures since then.
      const seen = this.daemonLines()
        .filter((line) => line.time >= since && (line.msg.startsWith('role ') || line.level >= 50 || line.msg.includes('takeover')))
        .slice(-10)
        .map((line) => `${line.time - since} ms: ${line.msg}${line.at ? ` ${JSON.stringify(line.at)}` : ''}${line.err ? ` (${(line.err as { message?: string }).message ?? ''})` : ''}`);
      throw new Error(`${(error as Error).message}; ${this.name}'s log since: ${seen.join('; ') || 'nothing'}`);
    });
  }
}
