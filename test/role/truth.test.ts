import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { driverState, hasAddress } from '../../src/role/truth.js';
import { scratchDir } from '../helpers/scratch.js';

const entry = (address: string) => ({ address, family: 'IPv4' as const, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', internal: false, cidr: `${address}/24` });

test('the VIP counts only on the configured interface', (t) => {
  const list = () => ({ eth0: [entry('10.0.0.11'), entry('10.0.0.10')], eth1: [entry('10.0.1.10')] });
  t.true(hasAddress('eth0', '10.0.0.10', list));
  t.false(hasAddress('eth1', '10.0.0.10', list));
  t.false(hasAddress('eth2', '10.0.0.10', list));
});

test('the driver is alive while its pid runs that program, dead after, unknown without a pid file', async (t) => {
  const dir = scratchDir('truth');
  const pidFile = join(dir, 'keepalived.pid');
  t.is(await driverState(undefined, 'keepalived'), 'unknown');
  t.is(await driverState(pidFile, 'keepalived'), 'unknown');
  const child = execa('sleep', ['30']);
  t.teardown(() => child.kill('SIGKILL'));
  writeFileSync(pidFile, `${child.pid}\n`);
  t.is(await driverState(pidFile, 'sleep'), 'alive');
  // A reused pid that now belongs to another program is not our driver.
  t.is(await driverState(pidFile, 'keepalived'), 'dead');
  child.kill('SIGKILL');
  await child.catch(() => undefined);
  t.is(await driverState(pidFile, 'sleep'), 'dead');
});
