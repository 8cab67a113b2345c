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

// mosquitto 2.0.11 loop.c, do_disconnect: every line that ends a connection with a client id.
test('every line that ends a connection gives the client id', (t) => {
  const lines = [
    'Client sub-1 closed its connection.',
    'Client sub-1 disconnected.',
    'Client sub-1 has exceeded timeout, disconnecting.',
    'Client sub-1 disconnected due to malformed packet.',
    'Client sub-1 disconnected due to protocol error.',
    'Client sub-1 disconnected, not authorised.',
    'Client sub-1 disconnected due to oversize packet.',
    'Client sub-1 disconnected due to oversize payload.',
    'Client sub-1 disconnected due to out of memory.',
    'Client sub-1 disconnected due to QoS too high or retain not supported.',
    'Client sub-1 been disconnected by administrative action.',
    'Client sub-1 disconnected: Connection reset by peer.',
    'Bad socket read/write on client sub-1: Unknown error.',
  ];
  for (const line of lines) t.deepEqual(parseLogLine('$SYS/broker/log/N', `1764000000: ${line}`), { type: 'disconnect', client: 'sub-1' }, line);
  // A takeover by another connection with the same id is logged at error level, and the new connection's connect line follows.
  t.is(parseLogLine('$SYS/broker/log/E', '1764000000: Client sub-1 already connected, closing old connection.'), undefined);
  t.is(parseLogLine('$SYS/broker/log/I', '1764000000: Client sub-1 closed its connection.'), undefined);
  t.is(parseLogLine('$SYS/broker/log/N', '1764000000: Client sub-1 closed its connection, maybe.'), undefined);
});

test('any other line, or a line on another topic, is nothing', (t) => {
  t.is(parseLogLine('$SYS/broker/log/I', "1764000000: New client connected from 1.2.3.4:5 as x (p2, c0, k2, u'lab')."), undefined);
  t.is(parseLogLine('$SYS/broker/log/M/subscribe', '1764000000: sub-1 7 home/#'), undefined);
  t.is(parseLogLine('$SYS/broker/log/M/subscribe', ''), undefined);
});
