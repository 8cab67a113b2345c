/**
 * npx tsx scripts/bench-flap.ts [--advert-int S] [--minutes M] [--load N] [--rate N]
 *
 * What a short advert costs: a soak with no fault. A two-node lab with the daemon at
 * `advert_int` S (default 0.05), a QoS 1 client through the VIP at N msg/s (default 50), and the
 * machine loaded by N CPU burners (default: one per CPU; `stress-ng --cpu N` when it is
 * installed, else busy node processes; 0: no load of ours), for M minutes (default 10). Nothing
 * should move: every keepalived state change, daemon role change, broker restart or client
 * reconnect counted here is a false takeover (or its echo). The load is the point, so this runs
 * without the lab lock (which only keeps benches from disturbing each other's timings).
 *
 * Bounded: the burners end on their own a minute after the soak would, and are ended by pid when
 * it does (also on Ctrl-C); the lab's namespaces are removed at exit like every lab's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { outage } from '../lab/failover.js';
import { Lab } from '../lab/lab.js';
import { atRunExit } from '../lab/netns.js';
import { Probe } from '../lab/probe.js';
import { ensureFreshDist } from '../lab/entry.js';
import { labUnavailable } from '../lab/requirements.js';
import { ms } from '../lab/stats.js';
import { holdDownMs } from '../src/takeover/plan.js';

const { values } = parseArgs({
  options: {
    'advert-int': { type: 'string', default: '0.05' },
    minutes: { type: 'string', default: '10' },
    load: { type: 'string', default: String(availableParallelism()) },
    rate: { type: 'string', default: '50' },
  },
});

function usage(message: string): never {
  console.error(`bench-flap: ${message}\nusage: npx tsx scripts/bench-flap.ts [--advert-int SECONDS] [--minutes M] [--load BURNERS] [--rate MSG_PER_S]`);
  process.exit(2);
}

const advertInt = Number(values['advert-int']);
if (!(advertInt >= 0.01 && advertInt <= 40.95)) usage(`--advert-int is 0.01 to 40.95 seconds, not ${values['advert-int']}`);
const minutes = Number(values.minutes);
if (!(minutes > 0 && minutes <= 120)) usage(`--minutes is more than 0 and at most 120, not ${values.minutes}`);
const burners = Number(values.load);
if (!(Number.isInteger(burners) && burners >= 0 && burners <= 64)) usage(`--load is 0 to 64 CPU burners, not ${values.load}`);
const rate = Number(values.rate);
if (!(rate > 0 && rate <= 2000)) usage(`--rate is 1 to 2000 messages per second, not ${values.rate}`);
const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived', 'setsid', 'timeout']);
if (unavailable) {
  console.error(`bench-flap: this machine ${unavailable}`);
  process.exit(1);
}
// The lab runs the daemon as shipped: build it when the sources are newer.
ensureFreshDist((line) => process.stderr.write(`${line}\n`));

const progress = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const soakMs = minutes * 60_000;

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Starts the load; each burner ends on its own a minute after the soak would. */
function startLoad(): { what: string; children: ChildProcess[] } {
  if (burners === 0) return { what: 'none of ours', children: [] };
  const seconds = Math.ceil(soakMs / 1000) + 60;
  if (onPath('stress-ng')) {
    const child = spawn('stress-ng', ['--cpu', String(burners), '--timeout', `${seconds}s`, '--quiet'], { stdio: 'ignore' });
    return { what: `stress-ng --cpu ${burners}`, children: [child] };
  }
  const busy = `const end = Date.now() + ${seconds * 1000}; while (Date.now() < end) {}`;
  const children = Array.from({ length: burners }, () => spawn(process.execPath, ['-e', busy], { stdio: 'ignore' }));
  return { what: `${burners} busy node processes`, children };
}

function stopLoad(children: readonly ChildProcess[]): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // Ended meanwhile.
      }
    }
  }
}

/** keepalived's own state lines ("(mqfo_lab) Entering MASTER STATE"), counted from a byte offset of its log. */
function keepalivedStates(log: string, from: number): string[] {
  let text = '';
  try {
    text = readFileSync(log).subarray(from).toString('utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((line) => /Entering (MASTER|BACKUP|FAULT) STATE/.test(line)).map((line) => line.replace(/^.*?\(/, '('));
}

const sizeOf = (file: string) => {
  try {
    return readFileSync(file).length;
  } catch {
    return 0;
  }
};

progress(`a two-node lab at advert ${advertInt} s (master down after ${(3 * advertInt + ((256 - 180) * advertInt) / 256).toFixed(3)} s on node2), ${minutes} min`);
const lab = await Lab.start({ nodes: 2, daemon: true, advertInt });
let load: ReturnType<typeof startLoad> = { what: 'none yet', children: [] };
atRunExit(() => stopLoad(load.children));
let probe: Probe | undefined;
try {
  await lab.waitForVipOn(1, { timeoutMs: 30_000 });
  await lab.waitForBridges(30_000);
  await lab.node(1).waitForRole('MASTER', 0);
  probe = await Probe.start(lab, { rate, qos: 1, clean: false, keepaliveSeconds: 2, reconnectPeriodMs: 100, drainMs: 15_000 });
  const ready = Date.now();
  await probe.waitFor('steady traffic', (event) => event.e === 'recv' && event.t > ready + 1_000, 20_000);

  const logs = lab.nodes.map((node) => join(node.logDir, 'keepalived.log'));
  const offsets = logs.map(sizeOf);
  load = startLoad();
  const start = Date.now();
  progress(`soaking for ${minutes} min; load: ${load.what}`);
  let reported = 0;
  while (Date.now() - start < soakMs) {
    await sleep(Math.min(5_000, soakMs - (Date.now() - start)));
    const roles = lab.nodes.flatMap((node) => node.daemonLines().filter((line) => line.time >= start && line.msg.startsWith('role ')).map((line) => `${node.name}: ${line.msg}`));
    for (const line of roles.slice(reported)) progress(`FLAP after ${((Date.now() - start) / 1000).toFixed(0)} s: ${line}`);
    reported = roles.length;
  }
  const end = Date.now();
  const load1 = loadavg()[0]!;
  stopLoad(load.children);

  const states = logs.flatMap((log, index) => keepalivedStates(log, offsets[index]!).map((line) => `${lab.nodes[index]!.name}: ${line}`));
  const roleChanges = lab.nodes.flatMap((node) => node.daemonLines().filter((line) => line.time >= start && line.time <= end && line.msg.startsWith('role ')).map((line) => ({ node: node.name, line })));
  const restarts = lab.nodes.map((node) => node.daemonLines().filter((line) => line.time >= start && line.time <= end && line.msg === 'restarting the broker for this takeover').length);
  const takeovers = roleChanges.filter(({ line }) => line.role === 'MASTER').length;
  const reconnects = probe.events.filter((event) => event.e === 'connect' && event.t >= start && event.t <= end).length;
  const gap = outage(probe.events, start, end).gapMs;
  const holders = await lab.vipHolders();
  const report = await probe.stop(40_000);
  probe = undefined;

  console.log(`machine: ${availableParallelism()} CPUs (nproc), Linux ${release()}, Node ${process.version}
advert ${advertInt} s (hold-down ${holdDownMs(advertInt)} ms), ${((end - start) / 60_000).toFixed(1)} min, load: ${load.what} (1-min load average at the end ${load1.toFixed(2)}), QoS 1 at ${rate} msg/s through the VIP

| advert | minutes | load | false takeovers | keepalived state changes | daemon role changes | broker restarts | client reconnects | longest client gap | acked-lost | duplicated | VIP at the end |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| ${advertInt} s | ${((end - start) / 60_000).toFixed(1)} | ${load.what} | ${takeovers} | ${states.length} | ${roleChanges.length} | ${restarts.join(' + ')} | ${reconnects} | ${ms(gap)} | ${report.lost.length} | ${report.duplicated.length} | node${holders.join(', node')} |`);
  if (states.length + roleChanges.length > 0) {
    console.log(`\nwhat moved:\n${[...states, ...roleChanges.map(({ node, line }) => `${node} at +${((line.time - start) / 1000).toFixed(1)} s: ${line.msg}`)].map((line) => `- ${line}`).join('\n')}`);
  }
} finally {
  stopLoad(load.children);
  if (probe) await probe.stop(5_000).catch(() => undefined);
  lab.stop();
}
