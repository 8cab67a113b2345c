import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { pino } from 'pino';
import { UcarpAdvertising } from '../../src/failover/advertise.js';
import { CommandDriverControl, SystemdDriverControl } from '../../src/failover/control.js';
import { run } from '../../src/exec/runner.js';
import { MqfoError } from '../../src/errors.js';
import { scratchDir } from '../helpers/scratch.js';

const FAKES = fileURLToPath(new URL('../fixtures/bin/', import.meta.url));
// The recording systemctl comes first on PATH for every program this test process runs.
process.env['PATH'] = `${FAKES}:${process.env['PATH'] ?? ''}`;
const silent = pino({ level: 'silent' });

test.serial('systemd: stepping down is systemctl stop of the ucarp unit, advertising again systemctl start', async (t) => {
  const log = join(scratchDir('systemctl'), 'calls');
  process.env['MQFO_FAKE_SYSTEMCTL_LOG'] = log;
  const control = new SystemdDriverControl(run, 'mosquitto-failover-ucarp.service');
  await control.start();
  await control.release();
  await control.resume();
  await control.stop();
  t.deepEqual(readFileSync(log, 'utf8').split('\n').filter(Boolean), ['stop mosquitto-failover-ucarp.service', 'start mosquitto-failover-ucarp.service']);
});

test('command: the configured argv runs as given, without a shell', async (t) => {
  const out = join(scratchDir('command'), 'out');
  const control = new CommandDriverControl(run, ['sh', '-c', 'printf "start|" >> "$0"', out], ['sh', '-c', 'printf "%s|" "$@" >> "$0"', out, 'stop', 'a b;c']);
  await control.release();
  await control.resume();
  t.is(readFileSync(out, 'utf8'), 'stop|a b;c|start|');
});

function recorder(fail?: 'release' | 'resume') {
  const calls: string[] = [];
  const act = (name: 'release' | 'resume') => async () => {
    calls.push(name);
    if (fail === name) throw new Error(`${name} broke`);
  };
  return { calls, control: { release: act('release'), resume: act('resume') } };
}

test('the weight under ucarp: below 0 stops it, 0 or more starts it, each once per change; the first write starts it', async (t) => {
  const { calls, control } = recorder();
  const writer = new UcarpAdvertising(control, silent);
  for (const value of [0, 0, -253, -253, -1, 0, 5, -253]) await writer.write(value);
  t.deepEqual(calls, ['resume', 'release', 'resume', 'release']);
});

test('the weight under ucarp: a failed stop is an EDRIVER error naming it, and the next write tries again', async (t) => {
  const { calls, control } = recorder('release');
  const writer = new UcarpAdvertising(control, silent);
  await writer.write(0);
  const error = await t.throwsAsync(writer.write(-253), { instanceOf: MqfoError });
  t.is(error.code, 'EDRIVER');
  t.regex(error.message, /cannot stop ucarp: release broke/);
  await t.throwsAsync(writer.write(-253));
  t.deepEqual(calls, ['resume', 'release', 'release']);
});
