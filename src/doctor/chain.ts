/**
 * Is our nat chain as the daemon leaves it (takeover/nat.ts): the chain there, jumped to exactly
 * once from each hook and from nowhere else, and holding the DNAT rule exactly when this node
 * holds the VIP, or may hold it without the VIP while a promote's prepared takeover stands
 * (takeover/plan.ts: the rule is inert until the VIP comes). Pure: decided from `iptables -t nat
 * -S` text, whether the VIP is here and whether a preparation stands.
 */
import { PREPARED_VALID_MS, type TakeoverState } from '../takeover/plan.js';
import { CHAIN, dnatLine, HOOKS, parseNat, type DnatTarget } from '../takeover/nat.js';
import type { CheckResult } from './report.js';

// The takeover loop's REPAIR_MS.
const REPAIR_MS = 10_000;
const FIX = 'the daemon repairs its chain every 10 s; if this stays, restart it (systemctl restart mosquitto-failover) and read its log';

/**
 * Whether takeover.json says a prepared takeover stands at `now`: one that went well, younger
 * than PREPARED_VALID_MS and the repair that removes its rule after that.
 */
export function preparedAt(state: TakeoverState, now: Date): Date | undefined {
  if (!state.prepared?.ok) return undefined;
  const at = new Date(state.prepared.at);
  const age = now.getTime() - at.getTime();
  return age >= 0 && age < PREPARED_VALID_MS + REPAIR_MS ? at : undefined;
}

/** `prepared`: when this node's standing preparation was made (preparedAt), if one stands. */
export function chainCheck(listing: string, holdsVip: boolean, target: DnatTarget, prepared?: Date): CheckResult {
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
  const inert = !holdsVip && prepared !== undefined && nat.rules.length === 1 && nat.rules[0] === wanted;
  const expected = holdsVip || inert ? [wanted] : [];
  const missing = expected.filter((line) => !nat.rules.includes(line));
  const extra = nat.rules.filter((line, index) => !expected.includes(line) || nat.rules.indexOf(line) !== index);
  if (missing.length > 0) problems.push(`this node holds the VIP but the DNAT rule is missing (${wanted})`);
  for (const line of extra) problems.push(holdsVip ? `a rule that should not be there: ${line}` : `this node does not hold the VIP but its chain has: ${line}`);
  if (problems.length > 0) return { name, ok: false, detail: problems.join('; '), fix: FIX };
  return {
    name,
    ok: true,
    detail: `${CHAIN} jumped to once from ${HOOKS.join(' and ')}; ${
      holdsVip
        ? `VIP here, DNAT ${target.vip}:${target.port} -> ${target.address}:${target.addressPort}`
        : inert
          ? `VIP not here; the DNAT rule of a takeover prepared at ${prepared.toISOString()} (a promote of this node), in effect only once the VIP comes`
          : 'VIP not here, no DNAT rule'
    }`,
  };
}
