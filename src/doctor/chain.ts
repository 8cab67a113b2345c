/**
 * Is our nat chain as the daemon leaves it (takeover/nat.ts): the chain there, jumped to exactly
 * once from each hook and from nowhere else, and holding the DNAT rule exactly when this node
 * holds the VIP. Pure: decided from `iptables -t nat -S` text and whether the VIP is here.
 */
import { CHAIN, dnatLine, HOOKS, parseNat, type DnatTarget } from '../takeover/nat.js';
import type { CheckResult } from './report.js';

// The takeover loop's REPAIR_MS.
const FIX = 'the daemon repairs its chain every 10 s; if this stays, restart it (systemctl restart mosquitto-failover) and read its log';

export function chainCheck(listing: string, holdsVip: boolean, target: DnatTarget): CheckResult {
  const name = 'nat chain';
  const nat = parseNat(listing);
  if (!nat.chainExists) return { name, ok: false, detail: `no chain ${CHAIN} in the nat table`, fix: FIX };
  const problems: string[] = [];
  for (const hook of HOOKS) {
    if (nat.jumps[hook] !== 1) problems.push(`${hook} jumps to ${CHAIN} ${nat.jumps[hook]} times, not once`);
  }
  const hookLines = new Set(HOOKS.map((hook) => `-A ${hook} -j ${CHAIN}`));
  const elsewhere = listing
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('-A ') && line.endsWith(`-j ${CHAIN}`) && !hookLines.has(line));
  for (const line of elsewhere) problems.push(`a jump we did not add: ${line}`);
  const wanted = dnatLine(target);
  const expected = holdsVip ? [wanted] : [];
  const missing = expected.filter((line) => !nat.rules.includes(line));
  const extra = nat.rules.filter((line, index) => !expected.includes(line) || nat.rules.indexOf(line) !== index);
  if (missing.length > 0) problems.push(`this node holds the VIP but the DNAT rule is missing (${wanted})`);
  for (const line of extra) problems.push(holdsVip ? `a rule that should not be there: ${line}` : `this node does not hold the VIP but its chain has: ${line}`);
  if (problems.length > 0) return { name, ok: false, detail: problems.join('; '), fix: FIX };
  return {
    name,
    ok: true,
    detail: `${CHAIN} jumped to once from ${HOOKS.join(' and ')}; ${holdsVip ? `VIP here, DNAT ${target.vip}:${target.port} -> ${target.address}:${target.addressPort}` : 'VIP not here, no DNAT rule'}`,
  };
}
