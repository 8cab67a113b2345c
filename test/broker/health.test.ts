import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { NoAnswerError, probeOnce } from '../../src/broker/health.js';

/** A broker that lets a client in (an MQTT 5 CONNACK) and then never answers: a broker too busy to acknowledge a subscription in time. */
async function silentBroker(t: ExecutionContext): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => socket.write(Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00])));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

test('a probe whose subscription is never acknowledged fails, and leaves no rejection unheard (one crashed the daemon under load)', async (t) => {
  const port = await silentBroker(t);
  const unheard: unknown[] = [];
  const listen = (reason: unknown) => unheard.push(reason);
  process.on('unhandledRejection', listen);
  t.teardown(() => process.off('unhandledRejection', listen));
  const timeoutMs = 300;
  await t.throwsAsync(probeOnce({ host: '127.0.0.1', port, username: 'mqfo-daemon', password: 'secret' }, 'mosquitto-failover/test/health/1', timeoutMs), {
    instanceOf: NoAnswerError,
    message: /no answer from 127\.0\.0\.1:\d+ within 300 ms/,
  });
  // The round trip's own timer ends with the probe's; give it time to fire (a bounded wait, no timing asserted).
  await sleep(timeoutMs + 700);
  t.deepEqual(unheard.map(String), []);
});

test('a probe of a port nothing listens on (a crashed broker) is refused: a failure, but not an unanswered one (the monitor counts those faster)', async (t) => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  const error = await t.throwsAsync(probeOnce({ host: '127.0.0.1', port, username: 'mqfo-daemon', password: 'secret' }, 'mosquitto-failover/test/health/1', 2_000));
  t.false(error instanceof NoAnswerError);
  t.regex(String(error?.message), /ECONNREFUSED/);
});
