/**
 * systemd's readiness and watchdog protocol, end to end in the lab: the daemons run with
 * NOTIFY_SOCKET pointing at a stand-in for systemd's socket (test/fixtures/notify-socket.py, which
 * reads the sender's credentials as systemd does) and WATCHDOG_USEC set, as a `Type=notify` unit
 * with `WatchdogSec=1` would start them. systemd itself cannot run here (it is not PID 1).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { Lab } from '../../lab/lab.js';
import { terminate } from '../../lab/process.js';
import { waitFor } from '../../lab/wait.js';
import { ROOT } from '../helpers/config.js';
import { missingRequirements } from '../helpers/real.js';
import { scratchDir } from '../helpers/scratch.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`systemd lab tests skipped: this machine ${unavailable}`);

interface Notification {
  pid: number | null;
  t: number;
  vars: string[];
}

/** The stand-in socket at `path`: every notification it has read, in order. */
async function notifySocket(path: string): Promise<{ pid: number; received: Notification[] }> {
  const child = spawn('python3', [join(ROOT, 'test/fixtures/notify-socket.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const received: Notification[] = [];
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the notify socket did not start within 10 s')), 10_000);
    child.once('error', reject);
    lines.on('line', (line) => {
      if (line === 'listening') {
        clearTimeout(timer);
        resolve();
      } else received.push(JSON.parse(line) as Notification);
    });
  });
  return { pid: child.pid!, received };
}

lab('Type=notify: READY after the first reconcile, from the daemon\'s own pid; watchdog pings while the loop runs; STOPPING at stop; children never see the socket', async (t) => {
  const dir = scratchDir('systemd');
  const socket = await notifySocket(join(dir, 'notify'));
  t.teardown(() => terminate([socket.pid]));
  // WatchdogSec=1: a ping every half second.
  const current = await Lab.start({ daemon: true, daemonEnv: { ...process.env, NOTIFY_SOCKET: join(dir, 'notify'), WATCHDOG_USEC: '1000000' } });
  t.teardown(() => current.stop());
  await current.waitForVipOn(1);
  const from = (pid: number, variable: string) => socket.received.filter((message) => message.pid === pid && message.vars.some((line) => line.startsWith(variable)));

  for (const node of current.nodes) {
    const [pid] = node.daemonPids();
    if (pid === undefined) return t.fail(`${node.name}: no daemon`);
    const [ready] = await waitFor(`READY=1 from ${node.name}'s daemon (pid ${pid})`, () => from(pid, 'READY=1').length > 0 && from(pid, 'READY=1'), { timeoutMs: 10_000, intervalMs: 50 });
    const started = node.daemonLines().find((line) => line.pid === pid && line.msg === 'started');
    t.truthy(started, `${node.name} logged that it started`);
    t.true(ready!.t >= started!.time, `${node.name}: READY came after the start was complete`);
    t.true(ready!.vars.some((line) => /^STATUS=(MASTER|BACKUP) \(node node\d, cluster /.test(line)), `${node.name}: READY carries a status (${ready!.vars.join(' ')})`);
    const pings = await waitFor(`3 watchdog pings from ${node.name}`, () => from(pid, 'WATCHDOG=1').length >= 3 && from(pid, 'WATCHDOG=1'), { timeoutMs: 10_000, intervalMs: 100 });
    t.true(pings.every((ping) => ping.t >= ready!.t), `${node.name}: the pings began after READY`);
    // The supervised broker is the daemon's child: it must not be able to speak for it.
    // The master's takeover restarts its broker: a pid listed a moment ago may be gone; list again.
    const environs = await waitFor(
      `${node.name}'s mosquitto's environment`,
      () => {
        const pids = node.pids('mosquitto');
        try {
          return pids.length > 0 && pids.map((broker) => readFileSync(`/proc/${broker}/environ`, 'utf8').split('\0'));
        } catch {
          return false;
        }
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    for (const environ of environs) t.false(environ.some((line) => line.startsWith('NOTIFY_SOCKET=')), `${node.name}'s mosquitto has no NOTIFY_SOCKET`);
  }
  t.deepEqual(
    socket.received
      // systemd-notify's barrier (an fd the manager closes once it has read what came before) is
      // sent under its own pid; the manager answers a barrier before it looks for the unit.
      .filter((message) => message.vars.join() !== 'BARRIER=1')
      .filter((message) => !current.nodes.some((node) => node.daemonPids().includes(message.pid ?? -1)))
      .map((message) => message.vars.join(' ')),
    [],
    'every notification came from a daemon\'s own pid (what NotifyAccess=main takes)',
  );

  const one = current.node(1);
  const [pid] = one.daemonPids();
  await one.stopDaemon();
  await waitFor('STOPPING=1 from node1\'s daemon', () => from(pid!, 'STOPPING=1').length > 0, { timeoutMs: 10_000, intervalMs: 50 });
  t.pass();
});
