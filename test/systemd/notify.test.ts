import test from 'ava';
import { pino } from 'pino';
import type { Runner, RunOptions } from '../../src/exec/runner.js';
import { SystemdNotify } from '../../src/systemd/notify.js';

const log = pino({ level: 'silent' });

function recorder() {
  const calls: { argv: readonly string[]; options: RunOptions | undefined }[] = [];
  const run: Runner = async (argv, options) => {
    calls.push({ argv, options });
    return { stdout: '', stderr: '', exitCode: 0 };
  };
  return { calls, run };
}

test('without NOTIFY_SOCKET there is no notifier, and the watchdog variables are taken out of the environment too', (t) => {
  const env: NodeJS.ProcessEnv = { WATCHDOG_USEC: '1000000', WATCHDOG_PID: '7', PATH: '/bin' };
  t.is(SystemdNotify.fromEnvironment({ env, run: recorder().run, log }), undefined);
  t.deepEqual(env, { PATH: '/bin' });
});

test('READY and STOPPING go to the socket named in the environment, which the daemon\'s children no longer see', async (t) => {
  const { calls, run } = recorder();
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/bin' };
  const notify = SystemdNotify.fromEnvironment({ env, run, log });
  t.deepEqual(env, { PATH: '/bin' });
  await notify!.ready('MASTER (node node1, cluster home)');
  await notify!.stopping();
  t.deepEqual(calls.map((call) => call.argv), [['systemd-notify', '--ready', '--status=MASTER (node node1, cluster home)'], ['systemd-notify', 'STOPPING=1']]);
  t.true(calls.every((call) => call.options?.env?.['NOTIFY_SOCKET'] === '/run/systemd/notify'));
});

test('watchdog pings: none before READY, then one per half of WATCHDOG_USEC however often the loop is alive', async (t) => {
  const { calls, run } = recorder();
  let now = 0;
  const notify = SystemdNotify.fromEnvironment({ env: { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '10000000' }, run, log, now: () => now })!;
  notify.alive();
  t.is(calls.length, 0, 'no ping before READY');
  await notify.ready('BACKUP');
  const pings = () => calls.filter((call) => call.argv.includes('WATCHDOG=1')).length;
  for (now = 0; now <= 12_000; now += 200) {
    notify.alive();
    await Promise.resolve();
  }
  // 10 s watchdog: pings at 0, 5 and 10 s.
  t.is(pings(), 3);
});

test('a watchdog meant for another pid (WATCHDOG_PID) is not ours: no pings', async (t) => {
  const { calls, run } = recorder();
  const notify = SystemdNotify.fromEnvironment({ env: { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' }, run, log, pid: 4242 })!;
  await notify.ready('BACKUP');
  notify.alive();
  t.deepEqual(calls.map((call) => call.argv[1]), ['--ready']);
});
