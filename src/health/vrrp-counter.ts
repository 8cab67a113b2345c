/**
 * Counts the VRRP adverts (IP protocol 112) that reach this node from each peer, so that a node
 * stepped down for a split brain knows when the VRRP path is back: in FAULT it sends no adverts,
 * but the winner still sends its own to every unicast peer, and they arrive again once the path
 * heals. keepalived says nothing of adverts it gets in FAULT, so the kernel counts them.
 *
 * One chain of our own in the filter table, jumped to from INPUT for protocol 112 and holding one
 * RETURN rule per peer (a rule without a verdict: it only counts). The jump is appended: a rule
 * before it that drops VRRP (a host firewall, or the lab's fault, which is inserted first) leaves
 * nothing to count, as a wire that drops the packets would. Idempotent (checked with `-S` first),
 * and removed on stop. Parsing is pure.
 */
import type { Runner } from '../exec/runner.js';

export const COUNT_CHAIN = 'MOSQUITTO-FAILOVER-VRRP';
const VRRP_PROTOCOL = '112';
const IPTABLES_TIMEOUT = 15_000;

/** The rule (as `iptables -S` prints it) that counts `address`'s adverts. */
export function countLine(address: string): string {
  return `-A ${COUNT_CHAIN} -s ${address}/32 -j RETURN`;
}

const JUMP_LINE = `-A INPUT -p ${VRRP_PROTOCOL} -j ${COUNT_CHAIN}`;

/** Packets counted per source address, from `iptables -L COUNT_CHAIN -n -v -x`. */
export function parseCounts(listing: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of listing.split('\n')) {
    // pkts bytes target prot opt in out source destination
    const fields = line.trim().split(/\s+/);
    if (fields.length < 9 || fields[2] !== 'RETURN' || !/^\d+$/.test(fields[0]!)) continue;
    const source = fields[7]!.replace(/\/32$/, '');
    counts[source] = (counts[source] ?? 0) + Number(fields[0]);
  }
  return counts;
}

export class VrrpCounter {
  private readonly run: Runner;
  private readonly peers: readonly string[];
  private installed = false;

  constructor(run: Runner, peerAddresses: readonly string[]) {
    this.run = run;
    this.peers = peerAddresses;
  }

  private async iptables(args: readonly string[]): Promise<string> {
    return (await this.run(['iptables', '-w', '5', ...args], { timeout: IPTABLES_TIMEOUT })).stdout;
  }

  /** Makes the chain hold exactly one counting rule per peer and INPUT exactly one jump to it. */
  async install(): Promise<void> {
    const lines = (await this.iptables(['-S'])).split('\n').map((line) => line.trim());
    if (!lines.includes(`-N ${COUNT_CHAIN}`)) await this.iptables(['-N', COUNT_CHAIN]);
    const rules = lines.filter((line) => line.startsWith(`-A ${COUNT_CHAIN} `));
    const wanted = this.peers.map(countLine);
    if (rules.length !== wanted.length || rules.some((rule, index) => rule !== wanted[index])) {
      await this.iptables(['-F', COUNT_CHAIN]);
      for (const address of this.peers) await this.iptables(['-A', COUNT_CHAIN, '-s', `${address}/32`, '-j', 'RETURN']);
    }
    const jumps = lines.filter((line) => line === JUMP_LINE).length;
    if (jumps === 0) await this.iptables(['-A', 'INPUT', '-p', VRRP_PROTOCOL, '-j', COUNT_CHAIN]);
    for (let extra = 1; extra < jumps; extra++) await this.iptables(['-D', 'INPUT', '-p', VRRP_PROTOCOL, '-j', COUNT_CHAIN]);
    this.installed = true;
  }

  /** The adverts counted from each peer so far, by address (installing the chain first if needed). */
  async read(): Promise<Record<string, number>> {
    if (!this.installed) await this.install();
    return parseCounts(await this.iptables(['-L', COUNT_CHAIN, '-n', '-v', '-x']));
  }

  /** Removes the jump and the chain (whatever an earlier run left). Idempotent. */
  async remove(): Promise<void> {
    this.installed = false;
    const lines = (await this.iptables(['-S'])).split('\n').map((line) => line.trim());
    const jumps = lines.filter((line) => line === JUMP_LINE).length;
    for (let jump = 0; jump < jumps; jump++) await this.iptables(['-D', 'INPUT', '-p', VRRP_PROTOCOL, '-j', COUNT_CHAIN]);
    if (lines.includes(`-N ${COUNT_CHAIN}`)) {
      await this.iptables(['-F', COUNT_CHAIN]);
      await this.iptables(['-X', COUNT_CHAIN]);
    }
  }
}
