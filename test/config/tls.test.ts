/** The CA is read once, by withTls; daemonLogin never logs in without TLS when the config asks for it. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { makeCa } from '../../lab/certs.js';
import { onPath } from '../../lab/machine.mjs';
import { parseConfig } from '../../src/config/load.js';
import { withTls } from '../../src/config/tls.js';
import { MqfoError } from '../../src/errors.js';
import { daemonLogin, endpoint } from '../../src/mqtt/client.js';
import { baseDocument, EXAMPLE_ENV, example, ROOT, yamlOf } from '../helpers/config.js';

/** A PEM block that is not a certificate: what a truncated or hand-edited file looks like. */
const BROKEN = '-----BEGIN CERTIFICATE-----\nMIIBfTCCASOgAwIBAgIUBC8mO4ufxiTlAVcCJvwT69ZltgIw\n-----END CERTIFICATE-----\n';
const FAKE_CA = Buffer.from('a CA as withTls read it');

function scratch(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mqfo-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function withTlsAt(dir: string) {
  const tls = { cafile: join(dir, 'ca.crt'), certfile: join(dir, 'node.crt'), keyfile: join(dir, 'node.key') };
  return parseConfig(yamlOf({ ...baseDocument(), tls }), EXAMPLE_ENV);
}

test('without a tls section, nothing is read and the daemon logs in with plain MQTT', async (t) => {
  const loaded = example('two-node');
  t.is(await withTls(loaded), loaded);
  const login = daemonLogin(loaded, loaded.config.nodes[1]!);
  t.is(login.tls, undefined);
  t.deepEqual(endpoint(login), { url: 'mqtt://192.168.1.12:1885', tls: {} });
});

test('an unreadable CA file is one clear error naming it', async (t) => {
  const dir = scratch(t);
  const error = await t.throwsAsync(withTls(withTlsAt(dir)), { instanceOf: MqfoError });
  t.is(error.code, 'ETLSFILE');
  t.regex(error.message, new RegExp(`^cannot read tls\\.cafile ${join(dir, 'ca.crt')}: ENOENT`));
});

test('a CA file that holds no certificate (a key, a typo) is refused at start', async (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'ca.crt'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  const error = await t.throwsAsync(withTls(withTlsAt(dir)), { instanceOf: MqfoError });
  t.is(error.code, 'ETLSFILE');
  t.regex(error.message, /is not a PEM certificate/);
  writeFileSync(join(dir, 'ca.crt'), BROKEN);
  t.is((await t.throwsAsync(withTls(withTlsAt(dir)), { instanceOf: MqfoError })).code, 'ETLSFILE', 'a broken certificate too');
});

const openssl = onPath('openssl') ? test : test.skip;

openssl('a CA made by openssl is read once, as it is on disk', async (t) => {
  const dir = scratch(t);
  const ca = makeCa(dir, 'ca');
  const loaded = await withTls(withTlsAt(dir));
  t.deepEqual(loaded.tls, { ca: readFileSync(ca.cert) });
});

test('with tls, the daemon logs in with mqtts:// trusting the CA only, and never without it', (t) => {
  const loaded = withTlsAt('/etc/mosquitto-failover/tls');
  const error = t.throws(() => daemonLogin(loaded, loaded.config.nodes[0]!), { instanceOf: MqfoError });
  t.is(error.code, 'ETLSFILE');
  const ca = FAKE_CA;
  const login = daemonLogin({ ...loaded, tls: { ca } }, loaded.config.nodes[0]!);
  t.deepEqual(login.tls, { ca });
  t.deepEqual(endpoint(login), { url: 'mqtts://192.168.1.11:1885', tls: { ca, rejectUnauthorized: true } });
});

test("the example's tls section, uncommented, is valid", (t) => {
  const text = readFileSync(`${ROOT}examples/two-node.yaml`, 'utf8').replace(/^# (tls:| {2}\w+file: .*)$/gm, '$1');
  t.deepEqual(parseConfig(text, EXAMPLE_ENV).config.tls, { cafile: '/etc/mosquitto-failover/tls/ca.crt', certfile: '/etc/mosquitto-failover/tls/node.crt', keyfile: '/etc/mosquitto-failover/tls/node.key' });
});
