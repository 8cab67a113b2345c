/**
 * The supervisor with a stand-in program (sh waiting on a sleep), as it runs ucarp for the
 * failover driver's control: halted it stays stopped until started again, and a clean exit is
 * someone stopping it, not a crash to restart from.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { pino } from 'pino';
import { Supervisor } from '../../src/broker/supervise.js';
import { isRunning } from '../../src/exec/pids.js';
import { waitFor } from '../../lab/wait.js';
import { scratchDir } from '../helpers/scratch.js';

// Exits 0 on SIGTERM, as ucarp does after its down script; `marker` tells it from other shells.
const PROGRAM = ['-c', 'trap "exit 0" TERM; sleep 30 & wait', 'mqfo-supervise-test'];

function supervisor() {
  const messages: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => messages.push((JSON.parse(line) as { msg: string }).msg) });
  const supervised = new Supervisor({ binary: '/bin/sh', args: PROGRAM, configFile: 'mqfo-supervise-test', pidFile: join(scratchDir('supervise'), 'pid'), log, name: 'ucarp', respawnOnCleanExit: false, stopGraceMs: 2_000 });
  return { supervised, messages };
}

test('halt stops the program and keeps it stopped; start runs it again', async (t) => {
  const { supervised, messages } = supervisor();
  t.teardown(() => supervised.stop());
  await supervised.start();
  const first = supervised.pid!;
  t.true(isRunning(first));
  await supervised.halt();
  t.is(supervised.pid, undefined);
  t.false(isRunning(first));
  // Longer than the first respawn delay (0.5 s): nothing starts it behind our back.
  await sleep(1_000);
  t.is(supervised.pid, undefined);
  await supervised.start();
  t.not(supervised.pid, undefined);
  t.not(supervised.pid, first);
  t.deepEqual(messages.filter((message) => message.includes('exited')), []);
  t.deepEqual(messages.filter((message) => message === 'ucarp started'), ['ucarp started', 'ucarp started']);
});

test('a clean exit of its own (someone stopped it) is not restarted; a crash is', async (t) => {
  const { supervised, messages } = supervisor();
  t.teardown(() => supervised.stop());
  await supervised.start();
  const first = supervised.pid!;
  process.kill(first, 'SIGTERM');
  await waitFor('the clean exit to be seen', () => messages.some((message) => message.startsWith('ucarp exited with code 0')), { timeoutMs: 5_000, intervalMs: 20 });
  await sleep(1_000);
  t.is(supervised.pid, undefined, 'not started again');
  await supervised.start();
  const second = supervised.pid!;
  process.kill(second, 'SIGKILL');
  await waitFor('the crash to be restarted from', () => supervised.pid !== undefined && supervised.pid !== second, { timeoutMs: 5_000, intervalMs: 20 });
  t.true(messages.some((message) => message === 'ucarp exited on its own; starting it again'));
});
