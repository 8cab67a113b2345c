import test from 'ava';
import { resolveNode } from '../../src/config/identity.js';
import { example } from '../helpers/config.js';

const { config } = example('two-node');

test('--node takes an id or a name, and wins over the environment', (t) => {
  t.is(resolveNode(config, { flag: '2', env: '1', localAddresses: [] }).name, 'mqtt-b');
  t.is(resolveNode(config, { flag: 'mqtt-a', env: '2', localAddresses: [] }).id, 1);
});

test('MQFO_NODE is used when there is no flag', (t) => {
  t.is(resolveNode(config, { env: 'mqtt-b', localAddresses: ['192.168.1.11'] }).id, 2);
});

test('otherwise the node whose address is local', (t) => {
  t.is(resolveNode(config, { localAddresses: ['127.0.0.1', '192.168.1.12'] }).id, 2);
});

test('an unknown node, no local address, or several are clear errors', (t) => {
  t.throws(() => resolveNode(config, { flag: '9', localAddresses: [] }), { message: /--node "9" is no node of cluster "home"; its nodes are 1 \(mqtt-a, 192\.168\.1\.11\), 2/ });
  t.throws(() => resolveNode(config, { localAddresses: ['10.0.0.1'] }), { message: /no node's address is on this machine \(it has 10\.0\.0\.1;.*--node/ });
  t.throws(() => resolveNode(config, { localAddresses: ['192.168.1.11', '192.168.1.12'] }), { message: /several nodes.*--node ID or MQFO_NODE/ });
});
