/**
 * Network faults inside a lab namespace, each in a chain of its own so clearing it touches
 * nothing else: a VRRP/CARP-only partition, random loss, and a fixed delay.
 *
 * netem is what one would use, but these machines' kernel is built without it (CONFIG_NET_SCH_NETEM
 * is not set: "Specified qdisc kind is unknown"). Loss is the iptables statistic match instead, and
 * delay an NFQUEUE that our small libnetfilter_queue program (native/nfq-delay.c) holds packets in.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../src/exec/runner.js';
import type { Netns } from './netns.js';
import { spawnIn, terminate, type LabProcess } from './process.js';
import { waitFor } from './wait.js';

const VRRP_CHAIN = 'MQFO-LAB-VRRP';
const LINK_CHAIN = 'MQFO-LAB-LINK';
/** VRRP and CARP are both IP protocol 112. */
const VRRP_PROTOCOL = '112';
const DELAY_QUEUE = '7';
/** The delay program's process name (what /proc/PID/comm shows). */
export const DELAY_PROGRAM = 'mqfo-nfq-delay';

async function iptables(ns: Netns, args: readonly string[]): Promise<void> {
  await ns.exec(['iptables', '-w', '5', ...args], { timeout: 10_000 });
}

/** Creates `chain` (empty) and jumps to it from INPUT and OUTPUT on `ifname`, once. */
async function ensureChain(ns: Netns, chain: string, ifname: string): Promise<void> {
  const { stdout } = await ns.exec(['iptables', '-w', '5', '-S'], { timeout: 10_000 });
  if (!stdout.includes(`-N ${chain}`)) {
    await iptables(ns, ['-N', chain]);
    await iptables(ns, ['-I', 'INPUT', '-i', ifname, '-j', chain]);
    await iptables(ns, ['-I', 'OUTPUT', '-o', ifname, '-j', chain]);
  }
}

/**
 * Drops VRRP/CARP between this namespace and `peerAddress`, both ways; TCP and the rest pass. The
 * jump to the chain is inserted first in INPUT and OUTPUT, so it drops the packets before anything
 * else in the node sees them, as a wire would: the daemon's advert counter (src/health/vrrp-counter.ts,
 * appended to INPUT) does not count them.
 */
export async function blockVrrp(ns: Netns, ifname: string, peerAddress: string): Promise<void> {
  await ensureChain(ns, VRRP_CHAIN, ifname);
  await iptables(ns, ['-A', VRRP_CHAIN, '-p', VRRP_PROTOCOL, '-s', peerAddress, '-j', 'DROP']);
  await iptables(ns, ['-A', VRRP_CHAIN, '-p', VRRP_PROTOCOL, '-d', peerAddress, '-j', 'DROP']);
}

export async function unblockVrrp(ns: Netns): Promise<void> {
  await ns.exec(['iptables', '-w', '5', '-F', VRRP_CHAIN], { timeout: 10_000, reject: false });
}

const TCP_CHAIN = 'MQFO-LAB-TCP';

/**
 * Drops TCP between this namespace and `peerAddress`, both ways (the bridge and the peer channel);
 * VRRP and everything else pass, and so do clients.
 */
export async function blockTcp(ns: Netns, ifname: string, peerAddress: string): Promise<void> {
  await ensureChain(ns, TCP_CHAIN, ifname);
  await iptables(ns, ['-A', TCP_CHAIN, '-p', 'tcp', '-s', peerAddress, '-j', 'DROP']);
  await iptables(ns, ['-A', TCP_CHAIN, '-p', 'tcp', '-d', peerAddress, '-j', 'DROP']);
}

export async function unblockTcp(ns: Netns): Promise<void> {
  await ns.exec(['iptables', '-w', '5', '-F', TCP_CHAIN], { timeout: 10_000, reject: false });
}

const PORT_CHAIN = 'MQFO-LAB-PORT';

/**
 * Refuses TCP to `port` on this namespace (a reset), from anywhere, the node itself included
 * (its own connections arrive on lo, so the jump names no interface): a listener that does not
 * work while the rest of the broker does. Idempotent.
 */
export async function refusePort(ns: Netns, port: number): Promise<void> {
  const { stdout } = await ns.exec(['iptables', '-w', '5', '-S'], { timeout: 10_000 });
  if (!stdout.includes(`-N ${PORT_CHAIN}`)) {
    await iptables(ns, ['-N', PORT_CHAIN]);
    await iptables(ns, ['-I', 'INPUT', '-j', PORT_CHAIN]);
  }
  await iptables(ns, ['-F', PORT_CHAIN]);
  await iptables(ns, ['-A', PORT_CHAIN, '-p', 'tcp', '--dport', String(port), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
}

export async function acceptPort(ns: Netns): Promise<void> {
  await ns.exec(['iptables', '-w', '5', '-F', PORT_CHAIN], { timeout: 10_000, reject: false });
}

export interface LinkFaults {
  /** Chance (0 to 1) that a packet is dropped, in each direction. */
  loss?: number;
  /** Milliseconds every packet is held, in each direction (a round trip grows by twice this). */
  delayMs?: number;
}

/** What a namespace's link fault left running: the delay program, if any. */
export interface LinkFaultState {
  delayer?: LabProcess;
}

/** Replaces the link faults of `ifname` with `faults` (an empty object clears them). */
export async function setLinkFaults(ns: Netns, ifname: string, faults: LinkFaults, state: LinkFaultState, logDir: string): Promise<void> {
  const { loss = 0, delayMs = 0 } = faults;
  if (!(loss >= 0 && loss <= 1)) throw new RangeError(`loss is a probability from 0 to 1, not ${loss}`);
  if (!(delayMs >= 0 && delayMs <= 60_000)) throw new RangeError(`delay is 0 to 60000 ms, not ${delayMs}`);
  await ensureChain(ns, LINK_CHAIN, ifname);
  await iptables(ns, ['-F', LINK_CHAIN]);
  if (state.delayer) {
    await terminate([state.delayer.pid]);
    delete state.delayer;
  }
  if (loss > 0) await iptables(ns, ['-A', LINK_CHAIN, '-m', 'statistic', '--mode', 'random', '--probability', String(loss), '-j', 'DROP']);
  if (delayMs > 0) {
    const binary = await delayProgram();
    const log = join(logDir, 'nfq-delay.log');
    const delayer = spawnIn(ns, [binary, DELAY_QUEUE, String(delayMs)], log);
    state.delayer = delayer;
    await waitFor(`nfq-delay ready in ${ns.name}`, () => readFileSync(log, 'utf8').includes('ready'), { timeoutMs: 5_000 });
    // --queue-bypass: should the program die, packets pass undelayed instead of being dropped.
    await iptables(ns, ['-A', LINK_CHAIN, '-j', 'NFQUEUE', '--queue-num', DELAY_QUEUE, '--queue-bypass']);
  }
}

const SOURCE = fileURLToPath(new URL('native/nfq-delay.c', import.meta.url));

const CACHE = fileURLToPath(new URL('../node_modules/.cache/mosquitto-failover/', import.meta.url));

/** The delay program, compiled once per source version into node_modules/.cache (cc and libnetfilter-queue-dev). */
async function delayProgram(): Promise<string> {
  const source = readFileSync(SOURCE);
  const dir = join(CACHE, `${DELAY_PROGRAM}-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  const binary = join(dir, DELAY_PROGRAM);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const building = `${binary}.${process.pid}`;
  await run(['cc', '-O2', '-o', building, SOURCE, '-lnetfilter_queue', '-lnfnetlink'], { timeout: 60_000 }).catch((error: unknown) => {
    throw new Error(`cannot build the lab's delay program (needs cc and libnetfilter-queue-dev): ${(error as Error).message}`, { cause: error });
  });
  renameSync(building, binary);
  return binary;
}
