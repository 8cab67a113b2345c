/**
 * The MQTT seam against the real mosquitto on 127.0.0.1: a lasting connection that the broker
 * refuses (CONNACK "not authorized", as a broker restarting before its password file has the
 * daemon user answers) comes back once the broker accepts the user. mqtt.js alone stops
 * reconnecting for good after a refused CONNACK.
 */
import { join } from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { waitFor } from '../../lab/wait.js';
import { connectLasting } from '../../src/mqtt/client.js';
import { scratch, startBroker, write } from '../helpers/broker.js';
import { missingRequirements } from '../helpers/real.js';

const missing = missingRequirements(['mosquitto', 'mosquitto_passwd']);
const real = missing ? test.serial.skip : test.serial;
if (missing) console.log(`MQTT seam tests skipped: this machine ${missing}`);

real('a lasting connection refused by the broker (not authorized) connects once the user is there, without a restart of the client', async (t) => {
  const dir = scratch(t);
  const passwd = write(join(dir, 'passwd'), '');
  await execa('mosquitto_passwd', ['-b', passwd, 'someone-else', 'pw']);
  const broker = await startBroker(t, dir, ['allow_anonymous false', `password_file ${passwd}`]);
  if ('refused' in broker) return t.fail(`mosquitto did not start: ${broker.refused}`);
  const client = connectLasting({ host: '127.0.0.1', port: broker.port, username: 'mqfo-daemon', password: 'daemon-pw' }, { clientId: 'mqfo-test-seam', backoff: { minMs: 100, maxMs: 200 } });
  t.teardown(() => client.endAsync(true));
  const errors: string[] = [];
  let connects = 0;
  client.on('error', (error) => errors.push(error.message));
  client.on('connect', () => connects++);
  await waitFor('the broker to refuse the client', () => errors.length > 0 || undefined, { timeoutMs: 10_000, intervalMs: 20 });
  t.regex(errors[0]!, /Not authorized|Bad User Name or Password/i);

  await execa('mosquitto_passwd', ['-b', passwd, 'mqfo-daemon', 'daemon-pw']);
  broker.signal('SIGHUP');
  await waitFor('the client to connect after the broker reread its password file', () => connects > 0 || undefined, { timeoutMs: 10_000, intervalMs: 20 });
  t.true(client.connected);
  t.true(errors.length >= 1, `refused ${errors.length} time(s) before`);
});
