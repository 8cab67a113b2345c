import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { execa } from 'execa';
import { CommandControl, SystemdControl } from '../../src/broker/control.js';
import { catchesSignal, isRunning, readTextSync } from '../../src/exec/pids.js';
import { waitFor } from '../../lab/wait.js';
import { CommandError, run } from '../../src/exec/runner.js';
import { scratchDir } from '../helpers/scratch.js';

const FAKES = fileURLToPath(new URL('../fixtures/bin/', import.meta.url));
// The recording systemctl comes first on PATH for every program this test process runs.
process.env['PATH'] = `${FAKES}:${process.env['PATH'] ?? ''}`;

test.serial('systemd: restart and reload are systemctl restart/reload of the unit, nothing else', async (t) => {
  const log = join(scratchDir('systemctl'), 'calls');
  process.env['MQFO_FAKE_SYSTEMCTL_LOG'] = log;
  const control = new SystemdControl(run, 'mosquitto.service');
  await control.start();
  await control.restart();
  await control.reload();
  await control.stop();
  t.deepEqual(readFileSync(log, 'utf8').split('\n').filter(Boolean), ['restart mosquitto.service', 'reload mosquitto.service']);
});

test.serial('systemd: a failed restart is a CommandError with the command, exit code and stderr', async (t) => {
  process.env['MQFO_FAKE_SYSTEMCTL_LOG'] = join(scratchDir('systemctl'), 'calls');
  process.env['MQFO_FAKE_SYSTEMCTL_EXIT'] = '1';
  t.teardown(() => delete process.env['MQFO_FAKE_SYSTEMCTL_EXIT']);
  const error = await t.throwsAsync(new SystemdControl(run, 'mosquitto.service').restart(), { instanceOf: CommandError });
  t.deepEqual(error.argv, ['systemctl', 'restart', 'mosquitto.service']);
  t.is(error.exitCode, 1);
  t.regex(error.message, /Job for mosquitto.service failed/);
});

test('command: the configured argv runs as given, without a shell', async (t) => {
  const dir = scratchDir('command');
  const out = join(dir, 'out');
  const control = new CommandControl(run, ['sh', '-c', 'printf "%s|" "$@" >> "$0"', out, 'restart', 'a b;c'], ['sh', '-c', 'printf "reload|" >> "$0"', out]);
  await control.restart();
  await control.reload();
  t.is(readFileSync(out, 'utf8'), 'restart|a b;c|reload|');
});

test.serial('systemd: save is SIGUSR1 to the unit\'s main process, only once that process catches it', async (t) => {
  const dir = scratchDir('systemctl');
  const log = join(dir, 'calls');
  const saves = join(dir, 'saves');
  process.env['MQFO_FAKE_SYSTEMCTL_LOG'] = log;
  // The unit's main process: a shell that catches SIGUSR1 (and writes a line on it), and then one that does not.
  const catching = execa('/bin/sh', ['-c', 'trap "echo saved >> $0" USR1; trap "exit 0" TERM; while :; do sleep 30 & wait; done', saves]);
  const plain = execa('/bin/sh', ['-c', 'trap "exit 0" TERM; sleep 30 & wait'], { reject: false });
  t.teardown(() => {
    catching.kill();
    plain.kill();
    delete process.env['MQFO_FAKE_SYSTEMCTL_MAINPID'];
  });
  await waitFor('the handler installed', () => catchesSignal(catching.pid!, 'SIGUSR1'), { timeoutMs: 5_000, intervalMs: 10 });
  const control = new SystemdControl(run, 'mosquitto.service');
  process.env['MQFO_FAKE_SYSTEMCTL_MAINPID'] = String(catching.pid);
  t.true(await control.save());
  await waitFor('the save written', () => readTextSync(saves) === 'saved\n', { timeoutMs: 5_000, intervalMs: 10 });
  process.env['MQFO_FAKE_SYSTEMCTL_MAINPID'] = String(plain.pid);
  t.false(await control.save());
  process.env['MQFO_FAKE_SYSTEMCTL_MAINPID'] = '0';
  t.false(await control.save(), 'the unit is not running');
  t.true(isRunning(plain.pid!), 'the one without a handler was not signalled');
  t.is(readTextSync(saves), 'saved\n');
  t.deepEqual(readFileSync(log, 'utf8').split('\n').filter(Boolean), [
    'show --property=MainPID --value mosquitto.service',
    'show --property=MainPID --value mosquitto.service',
    'show --property=MainPID --value mosquitto.service',
  ]);
});

test('command: save runs save_command; without one there is no save', async (t) => {
  const dir = scratchDir('command');
  const out = join(dir, 'out');
  const control = new CommandControl(run, ['true'], ['true'], ['sh', '-c', 'printf "save|" >> "$0"', out]);
  t.true(await control.save!());
  t.is(readFileSync(out, 'utf8'), 'save|');
  t.is(new CommandControl(run, ['true'], ['true']).save, undefined);
});
