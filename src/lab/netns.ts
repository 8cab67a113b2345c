/**
 * Network namespaces for tests, benchmarks and the demo. Each carries this run's prefix
 * (`mqfo<pid>-`), so a namespace left by a crashed run is known by its dead pid and removed by
 * the next run. Nothing here touches the machine's own namespace.
 */
import { execFileSync } from 'node:child_process';
import { constants } from 'node:os';
import { execa, type ResultPromise } from 'execa';
import { run, type RunOptions, type RunResult } from '../exec/runner.js';

const PREFIX = 'mqfo';
const NAME = /^mqfo(\d+)-[a-z0-9-]+$/;

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

/** Kills what runs inside a namespace of ours (only ours: the name says so) and deletes it. */
function destroySync(name: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean).map(Number);
  } catch {
    // Already gone.
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { timeout: 10_000, stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

/** Removes the namespaces of earlier runs whose process is dead. Returns their names. */
export async function removeStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter((name) => {
    const match = NAME.exec(name);
    return match !== null && Number(match[1]) !== process.pid && !alive(Number(match[1]));
  });
  for (const name of stale) destroySync(name);
  return stale;
}

const live = new Set<string>();
let hooked = false;

/** On exit, SIGINT or SIGTERM, this run's namespaces go, whatever state the test left them in. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const name of live) destroySync(name);
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const name of live) destroySync(name);
      process.exit(128 + constants.signals[signal]);
    });
  }
}

export class Netns {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /** `tag` names the host (`n1`, `switch`…); the run prefix is added here. */
  static async create(tag: string): Promise<Netns> {
    hookExit();
    const name = `${PREFIX}${process.pid}-${tag}`;
    if (!NAME.test(name)) throw new Error(`bad namespace tag ${JSON.stringify(tag)}`);
    live.add(name);
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

  async addresses(ifname: string): Promise<string[]> {
    const { stdout } = await run(['ip', '-n', this.name, '-4', '-o', 'address', 'show', 'dev', ifname], { timeout: 10_000 });
    return [...stdout.matchAll(/inet (\S+)/g)].map((match) => match[1] ?? '');
  }

  destroy(): void {
    destroySync(this.name);
    live.delete(this.name);
  }
}
