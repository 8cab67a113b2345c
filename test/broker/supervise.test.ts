/**
 * The supervisor with a stand-in program (sh waiting on a sleep), as it runs ucarp for the
 * failover driver's control: halted it stays stopped until started again, and a clean exit is
 * someone stopping it, not a crash to restart from.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { pino } from 'pino';
import { FAILED_START_MS, Supervisor, type Exit } from '../../src/broker/supervise.js';
import { catchesSignal, isRunning, readTextSync } from '../../src/exec/pids.js';
import { waitFor } from '../../lab/wait.js';
import { scratchDir } from '../helpers/scratch.js';

// Exits 0 on SIGTERM, as ucarp does after its down script; `marker` tells it from other shells.
const PROGRAM = ['-c', 'trap "exit 0" TERM; sleep 30 & wait', 'mqfo-supervise-test'];

function supervisor(args: readonly string[] = PROGRAM, stableMs?: number) {
  const messages: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => messages.push((JSON.parse(line) as { msg: string }).msg) });
  const supervised = new Supervisor({ binary: '/bin/sh', args, configFile: 'mqfo-supervise-test', pidFile: join(scratchDir('supervise'), 'pid'), log, name: 'ucarp', respawnOnCleanExit: false, stopGraceMs: 2_000, ...(stableMs === undefined ? {} : { stableMs }) });
  const exits: Exit[] = [];
  supervised.onExit((exit) => exits.push(exit));
  return { supervised, messages, exits };
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

test('a program that exits on its own right after its start is a failed start, each time it is started again (a crash loop)', async (t) => {
  const { supervised, exits } = supervisor(['-c', 'exit 3', 'mqfo-supervise-test']);
  t.teardown(() => supervised.stop());
  await supervised.start();
  // The first exit, then the respawn 0.5 s later and its exit.
  await waitFor('two exits', () => exits.length >= 2, { timeoutMs: 5_000, intervalMs: 20 });
  t.deepEqual(
    exits.slice(0, 2).map(({ how, failedStart }) => ({ how, failedStart })),
    [
      { how: 'exit code 3', failedStart: true },
      { how: 'exit code 3', failedStart: true },
    ],
  );
  t.true(exits[1]!.respawnInMs > exits[0]!.respawnInMs, 'the respawn delay grows');
});

test('a program that ran before it was killed is a crash, not a failed start; its restart that stays up says nothing', async (t) => {
  const { supervised, exits } = supervisor();
  t.teardown(() => supervised.stop());
  await supervised.start();
  const first = supervised.pid!;
  // Past the failed-start bound (a bounded wait, no timing asserted).
  await sleep(FAILED_START_MS + 200);
  process.kill(first, 'SIGKILL');
  await waitFor('the restart', () => supervised.pid !== undefined && supervised.pid !== first, { timeoutMs: 5_000, intervalMs: 20 });
  await sleep(FAILED_START_MS + 200);
  t.deepEqual(
    exits.map(({ how, failedStart }) => ({ how, failedStart })),
    [{ how: 'SIGKILL', failedStart: false }],
  );
});

test('a restart asked for starts the respawn delay from the minimum again (a crash loop after a takeover is seen at the first respawn)', async (t) => {
  const { supervised, exits } = supervisor(['-c', 'exit 3', 'mqfo-supervise-test']);
  t.teardown(() => supervised.stop());
  await supervised.start();
  await waitFor('two exits', () => exits.length >= 2, { timeoutMs: 5_000, intervalMs: 20 });
  t.true(exits[1]!.respawnInMs > exits[0]!.respawnInMs, 'the delay grew');
  const before = exits.length;
  await supervised.restart();
  await waitFor('the restarted program\'s exit', () => exits.length > before, { timeoutMs: 5_000, intervalMs: 20 });
  t.is(exits[before]!.respawnInMs, exits[0]!.respawnInMs);
});

test('a program that ran for stableMs before it died is started again after the shortest delay, however often it died before (a broker killed now and then, issue 15)', async (t) => {
  const { supervised, exits } = supervisor(PROGRAM, 300);
  t.teardown(() => supervised.stop());
  await supervised.start();
  // Killed at once, twice: the delay grows (the backoff against a hot loop).
  for (let kill = 1; kill <= 2; kill++) {
    const pid = supervised.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor(`exit ${kill}`, () => exits.length >= kill, { timeoutMs: 5_000, intervalMs: 10 });
    await waitFor(`respawn ${kill}`, () => supervised.pid !== undefined && supervised.pid !== pid, { timeoutMs: 10_000, intervalMs: 10 });
  }
  t.true(exits[1]!.respawnInMs > exits[0]!.respawnInMs, 'the delay grew');
  // Then it runs past stableMs (a bounded wait, no timing asserted) and is killed again.
  await sleep(500);
  process.kill(supervised.pid!, 'SIGKILL');
  await waitFor('exit 3', () => exits.length >= 3, { timeoutMs: 5_000, intervalMs: 10 });
  t.is(exits[2]!.respawnInMs, exits[0]!.respawnInMs);
});

test('a program killed by a signal right after its start crashed: not a failed start (only an exit code says it cannot run)', async (t) => {
  const { supervised, exits } = supervisor();
  t.teardown(() => supervised.stop());
  await supervised.start();
  process.kill(supervised.pid!, 'SIGKILL');
  await waitFor('the exit', () => exits.length >= 1, { timeoutMs: 5_000, intervalMs: 20 });
  t.deepEqual(
    exits.map(({ how, failedStart }) => ({ how, failedStart })),
    [{ how: 'SIGKILL', failedStart: false }],
  );
});

/** A stand-in broker that writes a line into `file` on each SIGUSR1, once it has its handler. */
function saving(file: string, delayS = 0): string[] {
  return ['-c', `${delayS > 0 ? `sleep ${delayS}; ` : ''}trap "echo saved >> ${file}" USR1; trap "exit 0" TERM; while :; do sleep 30 & wait; done`, 'mqfo-supervise-test'];
}

test('save: SIGUSR1 to the program it runs, once that catches it', async (t) => {
  const file = join(scratchDir('supervise-save'), 'saves');
  const { supervised } = supervisor(saving(file));
  t.teardown(() => supervised.stop());
  await supervised.start();
  const pid = supervised.pid!;
  await waitFor('the handler installed', () => catchesSignal(pid, 'SIGUSR1'), { timeoutMs: 5_000, intervalMs: 10 });
  t.true(await supervised.save());
  await waitFor('the save written', () => readTextSync(file) === 'saved\n', { timeoutMs: 5_000, intervalMs: 10 });
  t.is(supervised.pid, pid, 'still the same program');
});

test('save: never to a program that does not catch SIGUSR1 (yet): it would die of it', async (t) => {
  const file = join(scratchDir('supervise-save'), 'saves');
  const { supervised, exits } = supervisor(saving(file, 1));
  t.teardown(() => supervised.stop());
  await supervised.start();
  const pid = supervised.pid!;
  t.false(await supervised.save(), 'still starting');
  await sleep(200);
  t.true(isRunning(pid));
  t.deepEqual(exits, []);
  await supervised.halt();
  t.false(await supervised.save(), 'stopped');
});
