import test from 'ava';
import { peerPrefix, Topics } from '../../src/mqtt/topics.js';

const topics = new Topics('home');

test('every topic of the peer channel is under mosquitto-failover/<cluster>/', (t) => {
  t.is(peerPrefix('home'), 'mosquitto-failover/home');
  t.is(topics.status(2), 'mosquitto-failover/home/node/2/status');
  t.is(topics.sync('passwd'), 'mosquitto-failover/home/sync/passwd');
  t.is(topics.health(3), 'mosquitto-failover/home/health/3');
  t.is(topics.sessions(2), 'mosquitto-failover/home/node/2/sessions');
  t.deepEqual(topics.peerFilters, ['mosquitto-failover/home/node/+/status', 'mosquitto-failover/home/sync/+', 'mosquitto-failover/home/node/+/command', 'mosquitto-failover/home/node/+/sessions', 'mosquitto-failover/home/node/+/presence']);
  t.is(topics.presence(2), 'mosquitto-failover/home/node/2/presence');
});

test('a topic is parsed back into what it is about; anything else is other', (t) => {
  t.deepEqual(topics.parse(topics.status(12)), { type: 'status', node: 12 });
  t.deepEqual(topics.parse(topics.sync('acl')), { type: 'sync', kind: 'acl' });
  t.deepEqual(topics.parse(topics.sessions(3)), { type: 'sessions', node: 3 });
  t.deepEqual(topics.parse(topics.presence(3)), { type: 'presence', node: 3 });
  t.deepEqual(topics.parse('mosquitto-failover/other/node/1/status'), { type: 'other' });
  t.deepEqual(topics.parse('mosquitto-failover/home/node/x/status'), { type: 'other' });
  t.deepEqual(topics.parse('mosquitto-failover/home/node/1/status/extra'), { type: 'other' });
  t.deepEqual(topics.parse(topics.health(1)), { type: 'other' });
});
