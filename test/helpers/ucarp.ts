/** What the lab tests under ucarp share. */
import { holdDownMs } from '../../src/takeover/plan.js';
import type { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';

/**
 * ucarp reads adverts through libpcap, opened with a 1 s packet buffer timeout and no immediate
 * mode (ucarp's carp.c: `pcap_open_live(..., CAPTURE_TIMEOUT, ...)`, ucarp.h: `CAPTURE_TIMEOUT
 * 1000`); on Linux (TPACKET_V3) the kernel hands packets over only when it retires a ring block,
 * so a BACKUP hears the master's adverts up to 1 s late. Both ucarps start at once, each waits
 * 3 adverts and its skew in BACKUP, and node2's wait ends a moment after node1's: it often claims
 * MASTER before it has read node1's first advert, and goes back to BACKUP when it reads it.
 */
export const UCARP_CAPTURE_TIMEOUT_MS = 1_000;

/**
 * Waits (bounded) until the start is over: node `masterId` (node1) alone holds the VIP, and node2 has held still
 * as a BACKUP (no DNAT rule, its last role line not MASTER, no takeover begun after it) for one
 * advert and ucarp's capture timeout, by which time its ucarp has read node1's adverts, and for
 * the planner's hold-down, so that its next MASTER is a takeover of its own and not the tail of a
 * start-up one (same epoch, no restart).
 */
export async function waitForUcarpSettled(current: Lab, backup: LabNode, masterId = 1): Promise<void> {
  const advertMs = backup.config.failover.advert_int * 1_000;
  const quietMs = Math.max(advertMs + UCARP_CAPTURE_TIMEOUT_MS, holdDownMs(backup.config.failover.advert_int));
  let quietSince: number | undefined;
  const still = async () => {
    const lines = backup.daemonLines();
    const lastRole = lines.findLastIndex((line) => line.msg.startsWith('role '));
    const takingOver = lines.slice(lastRole + 1).some((line) => line.msg === 'restarting the broker for this takeover');
    return lastRole >= 0 && lines[lastRole]!.role !== 'MASTER' && !takingOver && (await backup.dnatRules()).length === 0 && (await current.vipHolders()).join() === String(masterId);
  };
  await waitFor(
    `${backup.name} to hold still as BACKUP for ${quietMs} ms`,
    async () => {
      if (!(await still())) quietSince = undefined;
      else quietSince ??= Date.now();
      return quietSince !== undefined && Date.now() - quietSince >= quietMs;
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  ).catch(async (error: unknown) => {
    // Where things are, and what moved meanwhile: roles, takeovers, health and ucarp stops and starts on every node.
    const moves = /^(role |restarting the broker|broker sick|broker well|ucarp |weight )/;
    const lines = current.nodes.flatMap((node) => node.daemonLines().filter((line) => moves.test(line.msg)).map((line) => ({ ...line, node: node.name })));
    const shown = lines.sort((a, b) => a.time - b.time).slice(-30).map((line) => `${new Date(line.time).toISOString().slice(11, 23)} ${line.node}: ${line.msg}`);
    const where = `VIP on ${(await current.vipHolders()).join(',') || 'none'}, DNAT rules on ${backup.name}: ${(await backup.dnatRules()).length}`;
    throw new Error(`${(error as Error).message}; ${where}; what moved:\n${shown.join('\n')}`, { cause: error });
  });
}

