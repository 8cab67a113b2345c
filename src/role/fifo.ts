/**
 * Reads hint lines from the FIFO keepalived writes (vrrp_notify_fifo) and the ucarp scripts
 * write. The FIFO is opened read-write, so that it never reports end-of-file when a writer
 * goes away (keepalived restarting, a script exiting), and non-blocking, so that libuv polls it
 * instead of parking a thread-pool thread on a blocking read. readline joins partial lines.
 */
import { constants, openSync, closeSync } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import type { Logger } from 'pino';
import { MqfoError } from '../errors.js';
import type { Runner } from '../exec/runner.js';

export interface FifoReaderOptions {
  path: string;
  run: Runner;
  log: Logger;
  onLine: (line: string) => void;
}

/** Makes `path` a FIFO: keeps one that is there, replaces a stale socket or file we left, never a directory. */
export async function ensureFifo(path: string, run: Runner): Promise<void> {
  const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (stat?.isFIFO()) return;
  if (stat?.isDirectory()) throw new MqfoError('EFIFO', `${path} is a directory, not the FIFO keepalived writes to`);
  if (stat) await unlink(path);
  // keepalived runs as root and writes; only root reads (the daemon) and writes.
  await run(['mkfifo', '--mode=0600', path], { timeout: 5_000 });
}

export class FifoReader {
  private readonly options: FifoReaderOptions;
  private socket: Socket | undefined;
  private lines: Interface | undefined;

  constructor(options: FifoReaderOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const { path, run, log, onLine } = this.options;
    await ensureFifo(path, run);
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      this.socket = new Socket({ fd, readable: true, writable: false });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.socket.on('error', (error) => log.error({ err: error, fifo: path }, 'cannot read the notify FIFO'));
    this.lines = createInterface({ input: this.socket, crlfDelay: Infinity });
    this.lines.on('line', onLine);
  }

  stop(): void {
    this.lines?.close();
    this.socket?.destroy();
    this.lines = undefined;
    this.socket = undefined;
  }
}
