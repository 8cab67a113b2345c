import { constants, lstatSync, mkdirSync, openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { pino } from 'pino';
import { FifoReader, ensureFifo } from '../../src/role/fifo.js';
import { run } from '../../src/exec/runner.js';
import { waitFor } from '../../lab/wait.js';
import { scratchDir } from '../helpers/scratch.js';

const log = pino({ level: 'silent' });

/** Opens the FIFO for writing as keepalived does, writes `chunks` with a pause between them, closes. */
async function writer(path: string, chunks: readonly string[]): Promise<void> {
  const fd = openSync(path, 'w');
  try {
    for (const chunk of chunks) {
      writeSync(fd, chunk);
      await sleep(30);
    }
  } finally {
    closeSync(fd);
  }
}

test('lines come through whole, across partial writes and writers that come and go', async (t) => {
  const path = join(scratchDir('fifo'), 'vrrp.fifo');
  const lines: string[] = [];
  const reader = new FifoReader({ path, run, log, onLine: (line) => lines.push(line) });
  await reader.start();
  t.teardown(() => reader.stop());
  t.true(lstatSync(path).isFIFO());
  await writer(path, ['INSTANCE "mqfo_lab" BAC', 'KUP 200\nINSTANCE "mqfo_lab" MAS', 'TER 200\n']);
  // keepalived restarts: its writer end closes, a new one opens. The reader sees no end of file.
  await writer(path, ['INSTANCE "mqfo_lab" FAULT 0\n']);
  await waitFor('three lines', () => lines.length >= 3, { timeoutMs: 5_000 });
  t.deepEqual(lines, ['INSTANCE "mqfo_lab" BACKUP 200', 'INSTANCE "mqfo_lab" MASTER 200', 'INSTANCE "mqfo_lab" FAULT 0']);
});

test('an existing FIFO is kept, a stale file is replaced by one, a directory is refused', async (t) => {
  const dir = scratchDir('fifo');
  const path = join(dir, 'vrrp.fifo');
  await ensureFifo(path, run);
  const inode = lstatSync(path).ino;
  await ensureFifo(path, run);
  t.is(lstatSync(path).ino, inode);
  const file = join(dir, 'file');
  writeFileSync(file, 'left over');
  await ensureFifo(file, run);
  t.true(lstatSync(file).isFIFO());
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  await t.throwsAsync(ensureFifo(sub, run), { message: /is a directory/ });
});

test('stop is idempotent and ends the reading', async (t) => {
  const path = join(scratchDir('fifo'), 'vrrp.fifo');
  const lines: string[] = [];
  const reader = new FifoReader({ path, run, log, onLine: (line) => lines.push(line) });
  await reader.start();
  closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  reader.stop();
  reader.stop();
  // A non-blocking writer can open a FIFO only while someone has it open for reading: nobody now.
  const error = t.throws(() => openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  t.is((error as NodeJS.ErrnoException).code, 'ENXIO');
  t.deepEqual(lines, []);
});
