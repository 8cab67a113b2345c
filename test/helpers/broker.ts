/**
 * A real mosquitto on 127.0.0.1 for a test: a scratch directory it can read, a free port, and a
 * stop that runs at the test's end. One broker per call; nothing outside the scratch directory.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { execa, type ResultPromise } from 'execa';
import { GiveUp, waitFor } from '../../lab/wait.js';
import { stopperOf } from './real.js';

/** A scratch directory the mosquitto user can read (the broker drops root before it reads the files), removed after the test. */
export function scratch(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mqfo-content-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  return dir;
}

export function write(path: string, text: string): string {
  writeFileSync(path, text, { mode: 0o644 });
  return path;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, timeout: 500 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

export interface Broker {
  port: number;
  /** What the broker printed; complete once it has exited. */
  output: () => Promise<string>;
  stop: () => Promise<void>;
  /** Sends the broker a signal (SIGHUP rereads password and ACL files). */
  signal: (signal: NodeJS.Signals) => void;
}

/** Starts mosquitto on `settings`; undefined with its output when it exits instead of listening. Bounded: 5 s. */
export async function startBroker(t: ExecutionContext, dir: string, settings: readonly string[]): Promise<Broker | { refused: string; exitCode?: number; signal?: string }> {
  const port = await freePort();
  const conf = write(join(dir, 'mosquitto.conf'), [`listener ${port} 127.0.0.1`, 'log_dest stdout', ...settings, ''].join('\n'));
  const child: ResultPromise<{ reject: false; all: true }> = execa('mosquitto', ['-c', conf], { reject: false, all: true });
  const { stop, exited } = stopperOf(child);
  t.teardown(stop);
  const listening = await waitFor(
    `mosquitto on port ${port} to listen or exit`,
    async () => {
      if (exited()) throw new GiveUp();
      return (await accepts(port)) || undefined;
    },
    { timeoutMs: 5_000, intervalMs: 25 },
  ).catch((error: unknown) => (error instanceof GiveUp ? false : Promise.reject(error as Error)));
  if (!listening) {
    const result = await child;
    return { refused: result.all, exitCode: result.exitCode, signal: result.signal };
  }
  return { port, output: async () => (await child).all, stop, signal: (signal) => void child.kill(signal) };
}

