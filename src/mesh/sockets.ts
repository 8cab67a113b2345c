/**
 * Where this node's bridge is connected, as the kernel sees it: a TCP connection from this network
 * namespace to a target's admin listener that this process (the daemon: its peer channel, probes
 * and drains go to the same port) does not own. mosquitto says only whether its bridge is up, not
 * to which address (`$SYS/broker/connection/<name>/state`), and a target's retained copy of that
 * state outlives a restart of the target's broker (a stale "1"); the socket table does not.
 * Another program connected from here to a target's admin port (an operator's mosquitto_sub) reads
 * as the bridge too: a drain of that target waits, which loses nothing.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { endianness } from 'node:os';

/** TCP states (include/net/tcp_states.h) of a connection that is, or is about to be, the bridge's. */
const LIVE = new Set(['01', '02', '03']); // ESTABLISHED, SYN_SENT, SYN_RECV

export interface TcpSocket {
  remote: string;
  port: number;
  state: string;
  inode: string;
}

/** An address of /proc/net/tcp (`%08X:%04X` of the __be32 as the host reads it), as `a.b.c.d` and a port. */
export function parseAddress(text: string, littleEndian = endianness() === 'LE'): { address: string; port: number } | undefined {
  const match = /^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})$/.exec(text);
  if (!match) return undefined;
  const bytes = [0, 2, 4, 6].map((at) => Number.parseInt(match[1]!.slice(at, at + 2), 16));
  return { address: (littleEndian ? bytes.reverse() : bytes).join('.'), port: Number.parseInt(match[2]!, 16) };
}

/** The sockets of /proc/net/tcp's text (proc(5)); lines it cannot read are skipped. */
export function parseTcpTable(text: string, littleEndian = endianness() === 'LE'): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const remote = parseAddress(fields[2] ?? '', littleEndian);
    const state = fields[3];
    const inode = fields[9];
    if (!remote || !state || !inode) continue;
    sockets.push({ remote: remote.address, port: remote.port, state, inode });
  }
  return sockets;
}

/** Which of `targets` have a live TCP connection to `port` that none of `own` (socket inodes) is. */
export function connectedTargets(sockets: readonly TcpSocket[], own: ReadonlySet<string>, targets: readonly { id: number; address: string }[], port: number): Set<number> {
  const live = sockets.filter((socket) => socket.port === port && LIVE.has(socket.state) && !own.has(socket.inode));
  return new Set(targets.filter((target) => live.some((socket) => socket.remote === target.address)).map((target) => target.id));
}

/** The inodes of this process's sockets (/proc/self/fd links `socket:[INODE]`). */
async function ownSockets(): Promise<Set<string>> {
  const own = new Set<string>();
  const fds = await readdir('/proc/self/fd').catch(() => []);
  await Promise.all(fds.map(async (fd) => {
    const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode) own.add(inode);
  }));
  return own;
}

/** The targets some other process of this namespace (the broker's bridge) is connected to now. */
export async function bridgeConnections(targets: readonly { id: number; address: string }[], port: number): Promise<Set<number>> {
  const [table, own] = await Promise.all([readFile('/proc/net/tcp', 'utf8'), ownSockets()]);
  return connectedTargets(parseTcpTable(table), own, targets, port);
}
