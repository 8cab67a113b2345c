/**
 * Our DNAT rule lives in a nat chain of our own, jumped to from PREROUTING (clients on the LAN)
 * and OUTPUT (clients on this host), so that "no rule" is a flush of our chain and nothing of
 * anyone else's is ever touched. Parsing `iptables -S` output is pure.
 *
 * The rule matches only while the VIP is an address of this host (`-m addrtype --dst-type LOCAL`,
 * iptables-extensions(8): the kernel's own routing table says so, the moment keepalived or ucarp
 * adds or removes the address). So a rule that is there before the VIP (a promote's prepared
 * takeover, takeover/plan.ts) or still there after it left (until the daemon flushes the chain)
 * does nothing: packets to the VIP are then routed to the node that holds it, this host's own
 * clients' included, as without the rule.
 */

export const CHAIN = 'MOSQUITTO-FAILOVER';
export const HOOKS = ['PREROUTING', 'OUTPUT'] as const;
export type Hook = (typeof HOOKS)[number];

export interface NatState {
  chainExists: boolean;
  /** Our chain's rules, as `iptables -t nat -S` prints them (`-A MOSQUITTO-FAILOVER …`). */
  rules: string[];
  /** How many `-j MOSQUITTO-FAILOVER` jumps each hook has. */
  jumps: Record<Hook, number>;
}

export interface DnatTarget {
  vip: string;
  port: number;
  address: string;
  addressPort: number;
}

/** The arguments after `-A CHAIN` that add the rule. */
export function dnatArgs(target: DnatTarget): string[] {
  return ['-d', `${target.vip}/32`, '-p', 'tcp', '--dport', String(target.port), '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DNAT', '--to-destination', `${target.address}:${target.addressPort}`];
}

/** The rule as `iptables -S` prints it back (it adds the implied `-m tcp`). */
export function dnatLine(target: DnatTarget): string {
  return `-A ${CHAIN} -d ${target.vip}/32 -p tcp -m tcp --dport ${target.port} -m addrtype --dst-type LOCAL -j DNAT --to-destination ${target.address}:${target.addressPort}`;
}

export function jumpArgs(hook: Hook): string[] {
  return [hook, '-j', CHAIN];
}

/** Reads `iptables -t nat -S` (all chains) into what the planner needs. */
export function parseNat(listing: string): NatState {
  const lines = listing.split('\n').map((line) => line.trim());
  const jumps = { PREROUTING: 0, OUTPUT: 0 };
  for (const hook of HOOKS) jumps[hook] = lines.filter((line) => line === `-A ${hook} -j ${CHAIN}`).length;
  return {
    chainExists: lines.includes(`-N ${CHAIN}`),
    rules: lines.filter((line) => line.startsWith(`-A ${CHAIN} `)),
    jumps,
  };
}
