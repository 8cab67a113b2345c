import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CommandControl, SystemdControl } from '../../src/broker/control.js';
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
