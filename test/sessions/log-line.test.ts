import test from 'ava';
import { parseLogLine } from '../../src/sessions/log-line.js';

// The lines as mosquitto 2.0.11 published them in the lab (log_dest topic, default timestamp).
test('a connect line gives the client id, the clean-session flag and the user', (t) => {
  t.deepEqual(parseLogLine('$SYS/broker/log/N', "1764000000: New client connected from 198.18.0.100:40122 as lab-probe-1-sub (p2, c0, k2, u'lab')."), {
    type: 'connect',
    client: 'lab-probe-1-sub',
    clean: false,
    user: 'lab',
  });
  t.deepEqual(parseLogLine('$SYS/broker/log/N', 'New client connected from 127.0.0.1:5 as anon (p5, c1, k60).'), { type: 'connect', client: 'anon', clean: true, user: undefined });
});

test('subscribe and unsubscribe lines give the client id, the QoS and the filter', (t) => {
  t.deepEqual(parseLogLine('$SYS/broker/log/M/subscribe', '1764000000: sub-1 1 home/+/state'), { type: 'subscribe', client: 'sub-1', qos: 1, filter: 'home/+/state' });
  t.deepEqual(parseLogLine('$SYS/broker/log/M/subscribe', '1764000000: sub-1 2 a filter with spaces'), { type: 'subscribe', client: 'sub-1', qos: 2, filter: 'a filter with spaces' });
  t.deepEqual(parseLogLine('$SYS/broker/log/M/unsubscribe', '1764000000: sub-1 home/#'), { type: 'unsubscribe', client: 'sub-1', filter: 'home/#' });
});

test('any other line, or a line on another topic, is nothing', (t) => {
  t.is(parseLogLine('$SYS/broker/log/N', '1764000000: Client sub-1 closed its connection.'), undefined);
  t.is(parseLogLine('$SYS/broker/log/I', "1764000000: New client connected from 1.2.3.4:5 as x (p2, c0, k2, u'lab')."), undefined);
  t.is(parseLogLine('$SYS/broker/log/M/subscribe', '1764000000: sub-1 7 home/#'), undefined);
  t.is(parseLogLine('$SYS/broker/log/M/subscribe', ''), undefined);
});
