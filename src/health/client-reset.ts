/**
 * Resets the client connections of a broker this node stepped down for, once the VIP has left
 * it. A hung broker's clients do not notice that the VIP moved: a client that only receives
 * (a subscriber) sends nothing until its next keepalive ping (60 s for many clients; 2 s in the
 * lab's probe), and only then does a packet reach the new master, which resets it. The kernel of
 * the old master still holds those sockets, hung process or not, so it can end them at once:
 * `ss -K` (ss(8), --kill: needs CONFIG_INET_DIAG_DESTROY) aborts each one and sends the client a
 * reset, conntrack carrying it back from the VIP's address for a connection that came through
 * the DNAT rule. The clients reconnect through the VIP, to the new master.
 *
 * Only the client listener's established connections: the admin listener's are the peers'
 * channel and the bridges, which find their way on their own.
 */
import type { Runner } from '../exec/runner.js';

/** The ss(8) command that kills the established TCP connections on local port `port`. */
export function resetCommand(port: number): string[] {
  return ['ss', '--kill', '--no-header', '--tcp', '--numeric', 'state', 'established', `( sport = :${port} )`];
}

/** How many connections ss killed: it lists each one, a line apiece. */
export function countReset(stdout: string): number {
  return stdout.split('\n').filter((line) => line.trim() !== '').length;
}

/** Kills the client connections on `port`; resolves with how many there were. */
export async function resetClients(run: Runner, port: number): Promise<number> {
  const result = await run(resetCommand(port), { timeout: 5_000 });
  return countReset(result.stdout);
}
