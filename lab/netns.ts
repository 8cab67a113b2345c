/**
 * Network namespaces for tests, benchmarks and the demo. Each carries its run's prefix: `mqfo<pid>-`
 * for a run that ends with its process (a namespace left by a crashed run is known by its dead pid
 * and removed by the next run), or `mqfoup-` for the lab that `npm run lab:up` leaves running until
 * `npm run lab:down`. Nothing here touches the machine's own namespace.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { execa, type ResultPromise } from 'execa';
import { run, type RunOptions, type RunResult } from '../src/exec/runner.js';
import { isRunning } from './process.js';

const PREFIX = 'mqfo';
const NAME = /^mqfo(\d+|[a-z][a-z0-9]*)-[a-z0-9-]+$/;

/**
 * The run a namespace belongs to: this process's pid, or a name (a letter, then letters and
 * digits; `up` by default) for a lab left running on purpose until `lab:down`.
 */
export type RunId = number | string;

export function isNamedRun(runId: RunId): runId is string {
  return typeof runId === 'string' && /^[a-z][a-z0-9]{0,15}$/.test(runId);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list'], { timeout: 10_000 });
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** The processes whose network namespace is `name` (an empty list once it is gone). */
export function namespacePids(name: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Kills what runs inside a namespace of ours (only ours: the name says so) and deletes it. */
export function destroySync(name: string): void {
  if (!NAME.test(name)) throw new Error(`not a lab namespace: ${name}`);
  const pids = namespacePids(name);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
  // Until they are really gone (bounded: 2 s), so that nothing of ours outlives the call.
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 0; wait < 100 && pids.some(isRunning); wait++) Atomics.wait(tick, 0, 0, 20);
  try {
    execFileSync('ip', ['netns', 'del', name], { timeout: 10_000, stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

/** The namespaces of a run (this process's by default). */
export async function namespacesOf(runId: RunId = process.pid): Promise<string[]> {
  return (await listNamespaces()).filter((name) => name.startsWith(`${PREFIX}${runId}-`));
}

/** Removes the namespaces of earlier runs whose process is dead. Returns their names. */
export async function removeStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter((name) => {
    const match = NAME.exec(name);
    return match !== null && /^\d+$/.test(match[1]!) && Number(match[1]) !== process.pid && !alive(Number(match[1]));
  });
  for (const name of stale) destroySync(name);
  return stale;
}

const live = new Set<string>();
const exitTasks = new Set<() => void>();
let hooked = false;

/** Runs `task` (synchronous, after this run's namespaces are gone) when this process exits or is interrupted. */
export function atRunExit(task: () => void): () => void {
  hookExit();
  exitTasks.add(task);
  return () => exitTasks.delete(task);
}

function cleanUp(): void {
  for (const name of live) destroySync(name);
  live.clear();
  for (const task of exitTasks) {
    try {
      task();
    } catch {
      // Best effort on the way out; the next run removes what is left.
    }
  }
  exitTasks.clear();
}

/** On exit, SIGINT or SIGTERM, this run's namespaces go, whatever state the test left them in. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(128 + constants.signals[signal]);
    });
  }
}

export class Netns {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * `tag` names the host (`n1`, `switch`…); the run prefix is added here. A namespace of this
   * process's run goes when the process exits; one of the `up` run stays until `lab:down`.
   */
  static async create(tag: string, runId: RunId = process.pid): Promise<Netns> {
    if (runId !== process.pid && !isNamedRun(runId)) throw new Error(`bad lab run name ${JSON.stringify(runId)}: a letter, then up to 15 letters or digits`);
    const name = `${PREFIX}${runId}-${tag}`;
    if (!NAME.test(name)) throw new Error(`bad namespace tag ${JSON.stringify(tag)}`);
    if (runId === process.pid) {
      hookExit();
      live.add(name);
    }
    await run(['ip', 'netns', 'add', name], { timeout: 10_000 });
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up'], { timeout: 10_000 });
    return new Netns(name);
  }

  /** Runs a program inside the namespace and waits for it (bounded by `timeout`). */
  exec(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', this.name, ...argv], options);
  }

  /** Starts a long-running program inside the namespace; `ip netns exec` execs it, so the pid is the program's. */
  spawn(argv: readonly string[]): ResultPromise<{ reject: false; buffer: true; all: true }> {
    return execa('ip', ['netns', 'exec', this.name, ...argv], { reject: false, buffer: true, all: true });
  }

  /**
   * An interface holding addresses, for a program that only needs them to exist: one end of a
   * veth pair whose other end stays in the namespace too (the kernel here has no dummy links).
   */
  async addStubInterface(ifname: string, cidrs: readonly string[]): Promise<void> {
    const peer = 'mqfo-stub';
    await run(['ip', '-n', this.name, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', peer], { timeout: 10_000 });
    for (const cidr of cidrs) await run(['ip', '-n', this.name, 'address', 'add', cidr, 'dev', ifname], { timeout: 10_000 });
    for (const link of [peer, ifname]) await run(['ip', '-n', this.name, 'link', 'set', link, 'up'], { timeout: 10_000 });
  }

  /** `ip` inside the namespace (`ip -n NAME …`). */
  ip(args: readonly string[], options?: RunOptions): Promise<RunResult> {
    return run(['ip', '-n', this.name, ...args], { timeout: 10_000, ...options });
  }

  /**
   * A cable from `ifname` here to `peerName` in `peer`: a veth pair created inside this namespace,
   * one end moved straight into the other (never through the machine's own namespace).
   */
  async connect(ifname: string, peer: Netns, peerName: string): Promise<void> {
    await this.ip(['link', 'add', ifname, 'type', 'veth', 'peer', 'name', peerName, 'netns', peer.name]);
  }

  /** The pids inside this namespace whose command name (/proc/PID/comm) is `program`. */
  pidsOf(program: string): number[] {
    return namespacePids(this.name).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === program;
      } catch {
        return false;
      }
    });
  }

  async addresses(ifname: string): Promise<string[]> {
    const { stdout } = await run(['ip', '-n', this.name, '-4', '-o', 'address', 'show', 'dev', ifname], { timeout: 10_000 });
    return [...stdout.matchAll(/inet (\S+)/g)].map((match) => match[1] ?? '');
  }

  destroy(): void {
    destroySync(this.name);
    live.delete(this.name);
  }
}
