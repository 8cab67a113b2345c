/**
 * npm run bench:cost -- [--setups ID,…] [--rates 200,2000] [--clients 1,10,100] [--window S] [--reps N] [--settle S]
 *
 * What persistence and shadow sessions cost (issue 15): for each setup (a fresh two-node lab with
 * the daemon at log level info, advert 0.1 s), each publish rate and each number of persistent
 * clients, a QoS 1 publisher through the VIP at the rate with a persistent subscriber on its topic
 * (the probe), and N - 1 more persistent clients (clean session off, fixed ids, mosquitto_sub at
 * QoS 1) each subscribed to a topic of its own that nothing publishes to (a device's command
 * topic: the shadows' cost per session without multiplying the traffic). After `--settle` seconds
 * (the shadows made), `--reps` windows of `--window` seconds each, back to back; per window and
 * node, from /proc (proc(5)): the broker's and the daemon's CPU ((utime + stime) / wall, % of one
 * CPU), their RSS at the end, the broker's disk writes (/proc/PID/io: write_bytes, what reached
 * the block layer, and syscw, write calls) per second; and what the publisher achieved: acks per
 * second in the window and the median and maximum time from send to ack.
 *
 * Setups (`--setups`): `time` (broker.autosave_changes 0: autosave every 10 s, as before),
 * `changes-1` (broker.autosave_changes 1), `shadows` (sessions.enabled, autosave by time),
 * `shadows-changes-1` (both). Progress goes to stderr; stdout gets a markdown table (medians over
 * the windows, the maximum beside the CPU).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { clockTicks, cpuShare, io, sample, type Sample } from '../lab/footprint.js';
import { Lab } from '../lab/lab.js';
import { ensureFreshDist } from '../lab/entry.js';
import { Probe } from '../lab/probe.js';
import { spawnIn, terminate, type LabProcess } from '../lab/process.js';
import { labUnavailable } from '../lab/requirements.js';
import { median } from '../lab/stats.js';
import type { LabDocument } from '../lab/topology.js';

const { values } = parseArgs({
  options: {
    setups: { type: 'string', default: 'time,changes-1' },
    rates: { type: 'string', default: '200,2000' },
    clients: { type: 'string', default: '1' },
    window: { type: 'string', default: '10' },
    reps: { type: 'string', default: '3' },
    settle: { type: 'string', default: '6' },
  },
});

function usage(message: string): never {
  console.error(`bench-cost: ${message}\nusage: npx tsx scripts/bench-cost.ts [--setups ${Object.keys(SETUPS).join(',')}] [--rates N,…] [--clients N,…] [--window S] [--reps N] [--settle S]`);
  process.exit(2);
}

interface Setup {
  label: string;
  sessions: boolean;
  autosaveChanges: number;
}
const SETUPS: Record<string, Setup> = {
  time: { label: 'autosave every 10 s (broker.autosave_changes 0)', sessions: false, autosaveChanges: 0 },
  'changes-1': { label: 'broker.autosave_changes 1', sessions: false, autosaveChanges: 1 },
  shadows: { label: 'shadow sessions, autosave every 10 s', sessions: true, autosaveChanges: 0 },
  'shadows-changes-1': { label: 'shadow sessions, broker.autosave_changes 1', sessions: true, autosaveChanges: 1 },
};

const numbers = (list: string, what: string, least: number, most: number) =>
  list.split(',').map((item) => {
    const value = Number(item);
    if (!(Number.isInteger(value) && value >= least && value <= most)) usage(`--${what} takes whole numbers from ${least} to ${most}, not ${item}`);
    return value;
  });
const setupIds = values.setups.split(',');
for (const id of setupIds) if (!(id in SETUPS)) usage(`unknown setup ${id}`);
const rates = numbers(values.rates, 'rates', 1, 5000);
const clientCounts = numbers(values.clients, 'clients', 1, 500);
const windowS = Number(values.window);
if (!(windowS >= 2 && windowS <= 120)) usage(`--window is 2 to 120 seconds, not ${values.window}`);
const reps = numbers(values.reps, 'reps', 1, 20)[0]!;
const settleS = Number(values.settle);
if (!(settleS >= 0 && settleS <= 120)) usage(`--settle is 0 to 120 seconds, not ${values.settle}`);
const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived']);
if (unavailable) {
  console.error(`bench-cost: this machine ${unavailable}`);
  process.exit(1);
}
ensureFreshDist((line) => process.stderr.write(`${line}\n`));
const progress = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const ticks = clockTicks();

interface Window {
  node: string;
  brokerCpu: number;
  daemonCpu: number;
  brokerRssMiB: number;
  daemonRssMiB: number;
  writeKiBs: number;
  syscws: number;
}
interface Measured {
  setup: string;
  rate: number;
  clients: number;
  windows: Window[];
  ackedPerS: number[];
  ackMs: number[];
  ackMaxMs: number[];
  /** Clients with a shadow on node2 (its daemon's "shadow subscriptions changed" lines), with shadow sessions on. */
  shadowed?: number;
}

function onePid(pids: number[], what: string): number {
  if (pids.length !== 1) throw new Error(`expected one ${what}, found ${pids.length}`);
  return pids[0]!;
}

async function measure(setupId: string, setup: Setup): Promise<Measured[]> {
  const results: Measured[] = [];
  progress(`${setup.label}: starting a lab`);
  const lab = await Lab.start({
    nodes: 2,
    daemon: true,
    advertInt: 0.1,
    daemonStart: { logLevel: 'info' },
    ...(setup.sessions ? { sessions: true } : {}),
    configure: (document: LabDocument) => {
      document.broker = { ...document.broker, autosave_changes: setup.autosaveChanges };
    },
  });
  try {
    await lab.waitForVipOn(1, { timeoutMs: 30_000 });
    await lab.waitForBridges(30_000);
    for (const clients of clientCounts) {
      const extra: LabProcess[] = [];
      const { config } = lab.loaded;
      for (let index = 1; index < clients; index++) {
        extra.push(
          spawnIn(
            lab.client,
            ['mosquitto_sub', '-h', config.vip.address, '-p', String(config.broker.client_port), '-u', lab.clientUser.user, '-P', lab.clientUser.password, '-c', '-i', `lab-cost-${index}`, '-q', '1', '-t', `lab/cost/device/${index}/set`],
            join(lab.dir, `cost-client-${index}.log`),
          ),
        );
      }
      try {
        for (const rate of rates) {
          const probe = await Probe.start(lab, { rate, qos: 1, clean: false, drainMs: 5_000, keepaliveSeconds: 10 });
          try {
            await sleep(settleS * 1000);
            const row: Measured = { setup: setupId, rate, clients, windows: [], ackedPerS: [], ackMs: [], ackMaxMs: [] };
            for (let rep = 1; rep <= reps; rep++) {
              const pids = lab.nodes.map((node) => ({ node, broker: onePid(node.pids('mosquitto'), `${node.name} mosquitto`), daemon: onePid(node.daemonPids(), `${node.name} daemon`) }));
              const before = pids.map(({ broker, daemon }) => ({ broker: sample(broker), daemon: sample(daemon), io: io(broker) }));
              const from = performance.timeOrigin + performance.now();
              await sleep(windowS * 1000);
              const to = performance.timeOrigin + performance.now();
              const after = pids.map(({ broker, daemon }) => ({ broker: sample(broker), daemon: sample(daemon), io: io(broker) }));
              pids.forEach(({ node }, index) => {
                const b = before[index]!;
                const a = after[index]!;
                const seconds = (a.broker.at - b.broker.at) / 1000;
                const cpu = (x: Sample, y: Sample) => cpuShare(x, y, ticks);
                row.windows.push({
                  node: node.name,
                  brokerCpu: cpu(b.broker, a.broker),
                  daemonCpu: cpu(b.daemon, a.daemon),
                  brokerRssMiB: a.broker.rssKiB / 1024,
                  daemonRssMiB: a.daemon.rssKiB / 1024,
                  writeKiBs: (a.io.writeBytes - b.io.writeBytes) / 1024 / seconds,
                  syscws: (a.io.syscw - b.io.syscw) / seconds,
                });
              });
              const sends = new Map<number, number>();
              const latencies: number[] = [];
              for (const event of probe.events) {
                if (event.e === 'send') sends.set(event.seq, event.t);
                else if (event.e === 'ack' && event.t >= from && event.t < to) latencies.push(event.t - (sends.get(event.seq) ?? event.t));
              }
              row.ackedPerS.push(latencies.length / ((to - from) / 1000));
              row.ackMs.push(median(latencies) ?? Number.NaN);
              row.ackMaxMs.push(latencies.length === 0 ? Number.NaN : Math.max(...latencies));
              const node1 = row.windows.at(-2)!;
              const node2 = row.windows.at(-1)!;
              progress(
                `${setup.label}, ${rate} msg/s, ${clients} client(s), window ${rep}/${reps}: acked ${row.ackedPerS.at(-1)!.toFixed(0)}/s (ack median ${row.ackMs.at(-1)!.toFixed(1)} ms, max ${row.ackMaxMs.at(-1)!.toFixed(0)} ms); ` +
                  `node1 broker ${node1.brokerCpu.toFixed(1)} % ${node1.brokerRssMiB.toFixed(1)} MiB, daemon ${node1.daemonCpu.toFixed(1)} % ${node1.daemonRssMiB.toFixed(0)} MiB, writes ${node1.writeKiBs.toFixed(0)} KiB/s ${node1.syscws.toFixed(0)} calls/s; ` +
                  `node2 broker ${node2.brokerCpu.toFixed(1)} % ${node2.brokerRssMiB.toFixed(1)} MiB, daemon ${node2.daemonCpu.toFixed(1)} % ${node2.daemonRssMiB.toFixed(0)} MiB, writes ${node2.writeKiBs.toFixed(0)} KiB/s ${node2.syscws.toFixed(0)} calls/s`,
              );
            }
            if (setup.sessions) {
              const backup = lab.nodes[1]!;
              row.shadowed = new Set(backup.daemonLines().filter((line) => line.msg === 'shadow subscriptions changed').map((line) => String(line['client']))).size;
            }
            results.push(row);
          } finally {
            await probe.stop(20_000).catch((error: unknown) => progress(`probe: ${(error as Error).message.split('\n')[0]}`));
          }
        }
      } finally {
        await terminate(extra.map((process) => process.pid));
      }
    }
  } finally {
    lab.stop();
  }
  return results;
}

const all: Measured[] = [];
for (const id of setupIds) all.push(...(await measure(id, SETUPS[id]!)));

const fmt = (values: number[], digits = 1) => {
  const known = values.filter(Number.isFinite);
  return known.length === 0 ? '-' : `${median(known)!.toFixed(digits)} / ${Math.max(...known).toFixed(digits)}`;
};
const header = ['setup', 'rate (msg/s)', 'persistent clients', 'shadowed on node2', 'acked/s', 'ack time median / max (ms)', 'node', 'broker CPU % (median / max)', 'daemon CPU %', 'broker RSS MiB', 'daemon RSS MiB', 'broker disk writes KiB/s', 'broker write calls/s'];
const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
const rows = all.flatMap((row) =>
  ['node1', 'node2'].map((node) => {
    const windows = row.windows.filter((window) => window.node === node);
    return [
      SETUPS[row.setup]!.label,
      String(row.rate),
      String(row.clients),
      row.shadowed === undefined ? '-' : String(row.shadowed),
      `${median(row.ackedPerS)!.toFixed(0)}`,
      `${median(row.ackMs.filter(Number.isFinite))?.toFixed(1) ?? '-'} / ${Math.max(...row.ackMaxMs.filter(Number.isFinite)).toFixed(0)}`,
      node,
      fmt(windows.map((window) => window.brokerCpu)),
      fmt(windows.map((window) => window.daemonCpu)),
      fmt(windows.map((window) => window.brokerRssMiB)),
      fmt(windows.map((window) => window.daemonRssMiB), 0),
      fmt(windows.map((window) => window.writeKiBs), 0),
      fmt(windows.map((window) => window.syscws), 0),
    ];
  }),
);
console.log(`machine: ${availableParallelism()} CPUs (nproc), Linux ${release()}, Node ${process.version}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} at the end
${reps} window(s) of ${windowS} s per row after ${settleS} s to settle; node1 is the master (the publisher and every client on it through the VIP), node2 the backup.

${line(header)}
${line(header.map(() => '---'))}
${rows.map(line).join('\n')}`);
