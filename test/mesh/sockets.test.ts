import { createServer, connect, type Socket } from 'node:net';
import test from 'ava';
import { execa } from 'execa';
import { waitFor } from '../../lab/wait.js';
import { bridgeConnections, connectedTargets, parseAddress, parseTcpTable } from '../../src/mesh/sockets.js';

// Three lines of a little-endian host's /proc/net/tcp (proc(5)): a listener, the bridge's
// connection from 198.18.0.13 to node1's admin port 1885, and one in TIME_WAIT to node2's.
const TABLE = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0D0012C6:075D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 100 0 0 10 0',
  '   1: 0D0012C6:A1B2 0B0012C6:075D 01 00000000:00000000 02:000004F6 00000000   107        0 7001 2 0000000000000000 20 4 30 10 -1',
  '   2: 0D0012C6:A1B4 0C0012C6:075D 06 00000000:00000000 03:00000750 00000000     0        0 0 3 0000000000000000',
  '   3: garbage',
  '',
].join('\n');

const targets = [{ id: 1, address: '198.18.0.11' }, { id: 2, address: '198.18.0.12' }];

test("an address of /proc/net/tcp is the __be32 printed in the host's order", (t) => {
  t.deepEqual(parseAddress('0B0012C6:075D', true), { address: '198.18.0.11', port: 1885 });
  t.deepEqual(parseAddress('C612000B:075D', false), { address: '198.18.0.11', port: 1885 });
  t.is(parseAddress('0B0012C6', true), undefined);
  t.is(parseAddress('zz0012C6:075D', true), undefined);
});

test('the table is read line by line, a line it cannot read skipped', (t) => {
  t.deepEqual(parseTcpTable(TABLE, true), [
    { remote: '0.0.0.0', port: 0, state: '0A', inode: '5151' },
    { remote: '198.18.0.11', port: 1885, state: '01', inode: '7001' },
    { remote: '198.18.0.12', port: 1885, state: '06', inode: '0' },
  ]);
});

test("the bridge is on a target with a live connection to its admin port that is not the daemon's own", (t) => {
  const sockets = parseTcpTable(TABLE, true);
  t.deepEqual([...connectedTargets(sockets, new Set(), targets, 1885)], [1]);
  t.deepEqual([...connectedTargets(sockets, new Set(['7001']), targets, 1885)], [], "the daemon's own connection is not the bridge");
  t.deepEqual([...connectedTargets(sockets, new Set(), targets, 1883)], [], 'another port');
  const connecting = sockets.map((socket) => ({ ...socket, state: '02' }));
  t.deepEqual([...connectedTargets(connecting, new Set(), targets, 1885)], [1, 2], 'SYN_SENT counts: the bridge may be about to be there');
});

test("on this machine's table: another process's connection is seen, this process's own is not", async (t) => {
  const server = createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const local = [{ id: 1, address: '127.0.0.1' }];
  const own: Socket = connect({ host: '127.0.0.1', port });
  t.teardown(() => own.destroy());
  await new Promise((resolve) => own.once('connect', resolve));
  t.deepEqual([...(await bridgeConnections(local, port))], [], 'only this process is connected');
  const other = execa('node', ['-e', `require('node:net').connect(${port}, '127.0.0.1'); setTimeout(() => {}, 20000)`], { reject: false });
  t.teardown(() => void other.kill('SIGKILL'));
  await waitFor('the other process connected', async () => (await bridgeConnections(local, port)).has(1), { timeoutMs: 10_000, intervalMs: 50 });
  other.kill('SIGKILL');
  await other;
  await waitFor('its connection gone from the live ones', async () => !(await bridgeConnections(local, port)).has(1), { timeoutMs: 10_000, intervalMs: 50 });
  t.pass();
});
