/**
 * The MQTT seam over TLS against the real mosquitto on 127.0.0.1, with a throwaway CA made by
 * openssl in the test's scratch directory: a login with the CA connects; one that trusts another
 * CA, one whose broker certificate names another address, and a plain MQTT login are refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { issueCert, makeCa, type Issued } from '../../lab/certs.js';
import { chownToMosquitto } from '../../lab/place.js';
import { connectOnce, type Login } from '../../src/mqtt/client.js';
import { scratch, startBroker, write } from '../helpers/broker.js';
import { missingRequirements } from '../helpers/real.js';

const missing = missingRequirements(['mosquitto', 'mosquitto_passwd', 'openssl']);
const real = missing ? test.serial.skip : test.serial;
if (missing) console.log(`MQTT seam TLS tests skipped: this machine ${missing}`);

/** A broker whose only listener is TLS with `server`'s certificate, and the daemon user in its password file. */
async function tlsBroker(t: Parameters<typeof scratch>[0], dir: string, ca: Issued, server: Issued) {
  const passwd = write(join(dir, 'passwd'), '');
  await execa('mosquitto_passwd', ['-b', passwd, 'mqfo-daemon', 'daemon-pw']);
  chownToMosquitto(server.key);
  const broker = await startBroker(t, dir, [`cafile ${ca.cert}`, `certfile ${server.cert}`, `keyfile ${server.key}`, 'tls_version tlsv1.2', 'allow_anonymous false', `password_file ${passwd}`]);
  if ('refused' in broker) throw new Error(`mosquitto did not start: ${broker.refused}`);
  return broker;
}

const login = (port: number, ca?: string): Login => ({ host: '127.0.0.1', port, username: 'mqfo-daemon', password: 'daemon-pw', ...(ca ? { tls: { ca: readFileSync(ca) } } : {}) });

real('a login with the CA connects over TLS; another CA and plain MQTT are refused', async (t) => {
  const dir = scratch(t);
  const ca = makeCa(join(dir, 'ca'), 'ca');
  const other = makeCa(join(dir, 'other'), 'other-ca');
  const broker = await tlsBroker(t, dir, ca, issueCert(ca, join(dir, 'node'), 'node1', '127.0.0.1'));

  const client = await connectOnce(login(broker.port, ca.cert), { purpose: 'test', timeoutMs: 5_000 });
  t.true(client.connected);
  t.is((client.stream as { encrypted?: boolean }).encrypted, true, 'a TLS socket');
  await client.publishAsync('mosquitto-failover/test/probe', 'ok', { qos: 1 });
  await client.endAsync();

  const wrongCa = await t.throwsAsync(connectOnce(login(broker.port, other.cert), { purpose: 'test', timeoutMs: 5_000 }));
  t.regex(wrongCa.message, /unable to verify|self[- ]signed|certificate/i);
  const plain = await t.throwsAsync(connectOnce(login(broker.port), { purpose: 'test', timeoutMs: 2_000 }), undefined, 'plain MQTT to the TLS listener');
  t.regex(plain.message, /ECONNRESET|closed/, 'mosquitto drops the connection: "wrong version number"');
});

real("a broker certificate for another address is refused: the client checks the IP SAN, not just the CA's signature", async (t) => {
  const dir = scratch(t);
  const ca = makeCa(join(dir, 'ca'), 'ca');
  const broker = await tlsBroker(t, dir, ca, issueCert(ca, join(dir, 'node'), 'node2', '127.0.0.2'));
  const error = await t.throwsAsync(connectOnce(login(broker.port, ca.cert), { purpose: 'test', timeoutMs: 5_000 }));
  t.regex(error.message, /IP: 127\.0\.0\.1 is not in the cert's list: 127\.0\.0\.2/);
});
