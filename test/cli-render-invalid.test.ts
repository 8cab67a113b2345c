/** Every kind of bad config the render command must refuse: its own message, exit 2, nothing written. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { main } from '../src/cli.js';
import { baseDocument, EXAMPLE_ENV, yamlOf } from './helpers/config.js';
import { scratchDir } from './helpers/scratch.js';

const envText = (env: Record<string, string | undefined>) =>
  Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`])).join('\n');

const cases: [string, (doc: Record<string, any>) => void, Record<string, string | undefined>, RegExp][] = [
  ['a wrong IP', (d) => (d.nodes[0].address = '192.168.1.256'), {}, /nodes\[0\]\.address \(line \d+\): "192\.168\.1\.256" is not an IPv4 address/],
  ['duplicate node ids', (d) => (d.nodes[1].id = 1), {}, /nodes\[1\]\.id \(line \d+\): 1 is also the id of nodes\[0\]/],
  ['duplicate addresses', (d) => (d.nodes[1].address = '192.168.1.11'), {}, /nodes\[1\]\.address \(line \d+\): "192\.168\.1\.11" is also the address/],
  ['a missing secret', () => undefined, { MQFO_DAEMON_PASSWORD: undefined }, /env\.MQFO_DAEMON_PASSWORD: is missing/],
  ['a VIP inside no node\'s subnet', (d) => (d.vip.address = '172.16.0.5'), {}, /vip\.address \(line \d+\): 172\.16\.0\.5 is in no node's subnet/],
  ['a priority out of range', (d) => (d.nodes[1].priority = 300), {}, /nodes\[1\]\.priority \(line \d+\): must be from 1 to 254/],
  ['advert_int < 1 with VRRPv2', (d) => (d.failover = { vrrp_version: 2, advert_int: 0.3 }), {}, /failover\.advert_int \(line \d+\): 0\.3 s needs VRRPv3/],
  ['an unknown key', (d) => (d.vip.netmask = 24), {}, /vip\.netmask \(line \d+\): unknown key/],
  ['a wildcard in the wrong place', (d) => (d.bridge.topics[0].pattern = 'home/#/temp'), {}, /bridge\.topics\[0\]\.pattern \(line \d+\): "home\/#\/temp" has # in the wrong place/],
];

for (const [name, change, envChange, expected] of cases) {
  test(`render refuses ${name}, says so, and writes nothing`, async (t) => {
    const dir = scratchDir('invalid');
    const document = baseDocument();
    change(document);
    writeFileSync(join(dir, 'cluster.yaml'), yamlOf(document));
    writeFileSync(join(dir, '.env'), envText({ ...EXAMPLE_ENV, ...envChange }));
    let stderr = '';
    let stdout = '';
    const out = join(dir, 'out');
    const code = await main(['render', '--config', join(dir, 'cluster.yaml'), '--env', join(dir, '.env'), '--node', '1', '--out', out], {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      env: {},
      localAddresses: () => [],
    });
    t.is(code, 2);
    t.regex(stderr, expected);
    t.is(stdout, '');
    t.false(existsSync(out));
  });
}
