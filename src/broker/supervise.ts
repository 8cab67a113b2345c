/**
 * `broker.control: supervise`: the daemon runs mosquitto as its child, restarts it when asked
 * and when it dies (with a growing delay), reaps it, and stops it on exit. Its pid is kept in a
 * file so that a daemon killed with -9 and started again adopts the broker it left running
 * instead of restarting it (or failing to bind a second one to the same ports).
 *
 * The same supervisor runs ucarp under `failover.control: supervise` (src/failover/control.ts),
 * with its own name in the log, its own arguments, and `respawnOnCleanExit: false`.
 */
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import type { Logger } from 'pino';
import writeFileAtomic from 'write-file-atomic';
import { catchesSignal, commandLine, isRunning, readPidFile } from '../exec/pids.js';
import { MqfoError } from '../errors.js';
import { backoffDelay, type Backoff } from '../retry.js';
import type { BrokerControl } from './control.js';

export interface SupervisorOptions {
  binary: string;
  /** Its arguments; the default is mosquitto's, `-c configFile`. */
  args?: readonly string[];
  /** An argument that tells our program from another copy of it (adoption): default `configFile`. */
  configFile: string;
  pidFile: string;
  log: Logger;
  /** What the log calls it (default `broker`). */
  name?: string;
  /**
   * Whether an exit with code 0 is a crash to restart from (default true). ucarp exits 0 on
   * SIGTERM, after its down script: someone stopped it on purpose, as systemd's
   * Restart=on-failure takes it (systemd.service(5)).
   */
  respawnOnCleanExit?: boolean;
  /** Milliseconds between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
  /** How long it must have run for its death to start the respawn delay from the minimum again (default STABLE_MS). */
  stableMs?: number;
}

/**
 * How the program it runs ended on its own: `failedStart` when it exited with a code (not killed
 * by a signal) less than FAILED_START_MS after the supervisor started it (not adopted): a program
 * that cannot run (a broken config, a port taken), which the health monitor takes for a crash
 * loop (src/health/monitor.ts).
 */
export interface Exit {
  how: string;
  ranMs: number;
  respawnInMs: number;
  failedStart: boolean;
}

const ADOPTED_POLL_MS = 250;
/**
 * A broker that exits this soon after its start did not start: mosquitto exits within
 * milliseconds on a config it cannot read or a port it cannot bind, while one that starts runs
 * until something ends it.
 */
export const FAILED_START_MS = 1_000;
const RESPAWN: Backoff = { minMs: 500, maxMs: 10_000 };
/**
 * A broker that ran this long before it died starts the respawn delay from the minimum again.
 * The delay is there against a hot loop of failed starts (those die within FAILED_START_MS); a
 * broker that served for seconds and was then killed is restarted at once, however often that
 * happened in the last minute: with 60 s here, a second kill within a minute waited 1 s, a third
 * 2 s, and the refused probes moved the VIP (issue 15, broker-kill rounds 10 s apart).
 */
export const STABLE_MS = 5_000;

export class Supervisor implements BrokerControl {
  private readonly options: SupervisorOptions;
  private child: ResultPromise | undefined;
  private adopted: number | undefined;
  private adoptedWatch: NodeJS.Timeout | undefined;
  private respawnTimer: NodeJS.Timeout | undefined;
  /** Respawns since the broker last ran stably. */
  private respawns = 0;
  private startedAt = 0;
  /** Whether the program running now is one we started (not adopted). */
  private spawned = false;
  private readonly exitListeners = new Set<(exit: Exit) => void>();
  /** True while we stop the broker on purpose, so its exit is not a crash. */
  private stopping = false;
  private stopped = false;

  constructor(options: SupervisorOptions) {
    this.options = options;
  }

  private get name(): string {
    return this.options.name ?? 'broker';
  }

  /** The log field of its pid (`brokerPid`): pino's own `pid` is the daemon's. */
  private get pidField(): string {
    return `${this.name}Pid`;
  }

  /** The pid of the program we run or adopted, if it runs. */
  get pid(): number | undefined {
    return this.child?.pid ?? this.adopted;
  }

  async start(): Promise<void> {
    if (this.pid !== undefined) return;
    // Started now: a respawn still pending from a crash would stop this one and start another.
    clearTimeout(this.respawnTimer);
    const left = await readPidFile(this.options.pidFile);
    if (left !== undefined && this.isOurBroker(left)) {
      this.adopt(left);
      return;
    }
    await this.spawn();
  }

  async restart(): Promise<void> {
    await this.kill();
    // A restart asked for (a takeover's) is a fresh start: the respawn delay counts from the
    // minimum again, so that a crash loop after it is seen at the first respawn (0.5 s), not
    // after a delay grown by crashes before it (up to 10 s).
    this.respawns = 0;
    await this.spawn();
  }

  async reload(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) throw new MqfoError('EBROKER', 'mosquitto is not running');
    process.kill(pid, 'SIGHUP');
  }

  /**
   * SIGUSR1 (mosquitto saves its database), only to the program this supervisor identified as its
   * own: its child before node has reaped it, or the adopted pid still running our binary on our
   * config file (a pid can be reused once its process is gone); and only once it catches SIGUSR1
   * (catchesSignal: a broker still starting would die of it).
   */
  async save(): Promise<boolean> {
    const pid = this.pid;
    if (pid === undefined || this.stopping || this.stopped) return false;
    const child = this.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) return false;
    if (!this.isOurBroker(pid) || !catchesSignal(pid, 'SIGUSR1')) return false;
    process.kill(pid, 'SIGUSR1');
    return true;
  }

  /** Stops the program, SIGTERM then SIGKILL after the grace, and keeps it stopped until start() or restart(). */
  async halt(): Promise<void> {
    await this.kill();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.respawnTimer);
    await this.kill();
    await rm(this.options.pidFile, { force: true });
  }

  /** Calls `listener` each time the program exits on its own (not when we stop it); returns the unsubscribe. */
  onExit(listener: (exit: Exit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  private isOurBroker(pid: number): boolean {
    const argv = commandLine(pid);
    const program = this.options.binary.split('/').at(-1) ?? '';
    return isRunning(pid) && argv !== undefined && (argv[0] ?? '').endsWith(program) && argv.includes(this.options.configFile);
  }

  private adopt(pid: number): void {
    this.adopted = pid;
    this.startedAt = Date.now();
    this.spawned = false;
    this.options.log.info({ [this.pidField]: pid }, `adopted the running ${this.name}`);
    this.adoptedWatch = setInterval(() => {
      if (isRunning(pid)) return;
      clearInterval(this.adoptedWatch);
      this.adopted = undefined;
      this.exited(`pid ${pid} is gone`);
    }, ADOPTED_POLL_MS);
  }

  private async spawn(): Promise<void> {
    if (this.stopped) return;
    // Never two brokers on the same ports: a respawn racing a restart stops the first.
    if (this.pid !== undefined) await this.kill();
    const { binary, configFile, pidFile, log } = this.options;
    // mosquitto logs to stderr (log_dest in the rendered conf): ours, and so the journal's.
    const child = execa(binary, this.options.args ?? ['-c', configFile], { stdin: 'ignore', stdout: 'inherit', stderr: 'inherit', reject: false, cleanup: true });
    if (child.pid === undefined) {
      await child;
      throw new MqfoError('EBROKER', `cannot start ${binary}`);
    }
    this.child = child;
    this.startedAt = Date.now();
    this.spawned = true;
    await writeFileAtomic(pidFile, `${child.pid}\n`);
    log.info({ [this.pidField]: child.pid }, `${this.name} started`);
    void child.then((result) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (result.exitCode === 0 && this.options.respawnOnCleanExit === false && !this.stopping && !this.stopped) {
        log.warn({ [this.pidField]: child.pid }, `${this.name} exited with code 0: stopped on purpose, not starting it again`);
        return;
      }
      this.exited(result.signal ?? `exit code ${result.exitCode}`);
    });
  }

  private exited(how: string): void {
    if (this.stopping || this.stopped) return;
    const ran = Date.now() - this.startedAt;
    if (ran > (this.options.stableMs ?? STABLE_MS)) this.respawns = 0;
    const delay = backoffDelay(this.respawns++, RESPAWN);
    // An exit code, not a signal: a broker killed (by an admin, the OOM killer) crashed, whenever.
    const failedStart = this.spawned && ran < FAILED_START_MS && how.startsWith('exit code');
    this.options.log.error({ how, ranMs: ran, respawnInMs: delay, failedStart }, `${this.name} exited on its own; starting it again`);
    for (const listener of this.exitListeners) {
      try {
        listener({ how, ranMs: ran, respawnInMs: delay, failedStart });
      } catch (error) {
        this.options.log.error({ err: error }, `a listener of the ${this.name}'s exits failed`);
      }
    }
    this.respawnTimer = setTimeout(() => {
      this.spawn().catch((error: unknown) => this.options.log.error({ err: error }, `cannot start the ${this.name}`));
    }, delay);
  }

  /** SIGTERM (mosquitto saves its persistence file), SIGKILL after the grace; resolves when it is gone. */
  private async kill(): Promise<void> {
    clearTimeout(this.respawnTimer);
    clearInterval(this.adoptedWatch);
    const pid = this.pid;
    const child = this.child;
    if (pid === undefined) return;
    this.stopping = true;
    try {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + (this.options.stopGraceMs ?? 10_000);
      while (isRunning(pid) && Date.now() < deadline) await sleep(10);
      if (isRunning(pid)) {
        this.options.log.warn({ [this.pidField]: pid }, `${this.name} ignored SIGTERM; killing it`);
        process.kill(pid, 'SIGKILL');
      }
      if (child) await child;
      for (let attempt = 0; attempt < 200 && isRunning(pid); attempt++) await sleep(10);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    } finally {
      this.child = undefined;
      this.adopted = undefined;
      this.stopping = false;
    }
  }
}
