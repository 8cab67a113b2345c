/**
 * npm run bench:save-storm -- [--clients 100] [--filters 2] [--storms 3] [--window S]
 *
 * What broker.save_on_session_change costs in a subscribe storm (issue 15, "a broker that keeps
 * what it acknowledged"): for each setting (false, then true) a fresh two-node lab (advert 0.1 s,
 * the daemon at log level debug), and on it `--storms` storms, each `--clients` new persistent
 * clients (clean session off, ids of their own) started at once through the VIP, each subscribing
 * `--filters` filters at QoS 1 and leaving (mosquitto_sub -E), then one more storm of the last
 * storm's clients again (their sessions resumed, the same filters: nothing new to save). Per storm,
 * from its start over `--window` seconds (the storm and the coalesced saves after it), on node1
 * (the master: the clients' broker): the saves the daemon asked for (its "asked the broker to save
 * its database" lines), the broker's CPU time ((utime + stime), proc(5)) and its disk writes
 * (/proc/PID/io: write_bytes, what reached the block layer; and syscw, its write calls, sockets
 * included: the log lines it publishes to the daemon count there), and the
 * storm's length (first client started to last one done). Progress goes to stderr; stdout gets a
 * markdown table.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { clockTicks, io, sample } from '../lab/footprint.js';
import { Lab } from '../lab/lab.js';
import { ensureFreshDist } from '../lab/entry.js';
import { spawnIn, terminate } from '../lab/process.js';
import { labUnavailable } from '../lab/requirements.js';
import type { LabDocument } from '../lab/topology.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    filters: { type: 'string', default: '2' },
    storms: { type: 'string', default: '3' },
    window: { type: 'string', default: '8' },
  },
});

function whole(value: string, what: string, least: number, most: number): number {
  const number = Number(value);
  if (!(Number.isInteger(number) && number >= least && number <= most)) {
    console.error(`bench-save-storm: --${what} takes a whole number from ${least} to ${most}, not ${value}`);
    process.exit(2);
  }
  return number;
}
const clients = whole(values.clients, 'clients', 1, 500);
const filters = whole(values.filters, 'filters', 1, 20);
const storms = whole(values.storms, 'storms', 1, 20);
const windowS = whole(values.window, 'window', 2, 60);
const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived']);
if (unavailable) {
  console.error(`bench-save-storm: this machine ${unavailable}`);
  process.exit(1);
}
ensureFreshDist((line) => process.stderr.write(`${line}\n`));
const progress = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const ticks = clockTicks();

interface Storm {
  setting: boolean;
  storm: string;
  stormMs: number;
  saves: number;
  brokerCpuMs: number;
  writeKiB: number;
  writeCalls: number;
}

async function measure(setting: boolean): Promise<Storm[]> {
  const rows: Storm[] = [];
  progress(`save_on_session_change ${setting}: starting a lab`);
  const lab = await Lab.start({
    nodes: 2,
    daemon: true,
    advertInt: 0.1,
    configure: (document: LabDocument) => {
      document.broker = { ...document.broker, save_on_session_change: setting };
    },
  });
  try {
    await lab.waitForVipOn(1, { timeoutMs: 30_000 });
    await lab.waitForBridges(30_000);
    // The bridges' own sessions and the start's saves out of the way.
    await sleep(3_000);
    const { config } = lab.loaded;
    const master = lab.node(1);
    const login = ['-h', config.vip.address, '-p', String(config.broker.client_port), '-u', lab.clientUser.user, '-P', lab.clientUser.password];
    const runs = [...Array.from({ length: storms }, (_, index) => ({ label: `new sessions ${index + 1}`, prefix: `storm${index + 1}` })), { label: 'the last storm\'s clients again', prefix: `storm${storms}` }];
    for (const { label, prefix } of runs) {
      const [broker] = master.pids('mosquitto');
      if (broker === undefined || master.pids('mosquitto').length !== 1) throw new Error('expected one mosquitto on node1');
      const before = { cpu: sample(broker), io: io(broker) };
      const from = Date.now();
      const started = Array.from({ length: clients }, (_, index) => {
        const topics = Array.from({ length: filters }, (_, filter) => ['-t', `lab/storm/${index}/${filter}/#`]).flat();
        return spawnIn(lab.client, ['mosquitto_sub', ...login, '-c', '-i', `${prefix}-${index}`, '-q', '1', ...topics, '-E'], join(lab.dir, `storm-${prefix}-${index}.log`));
      });
      const bound = sleep(windowS * 1000, 'timeout' as const);
      const codes = await Promise.race([Promise.all(started.map((process) => process.exited)), bound]);
      if (codes === 'timeout') {
        await terminate(started.map((process) => process.pid));
        throw new Error(`the storm's clients were not done within ${windowS} s`);
      }
      const failed = codes.filter((code) => code !== 0).length;
      if (failed > 0) throw new Error(`${failed} of the storm's clients failed (their logs: ${lab.dir}/storm-${prefix}-*.log)`);
      const stormMs = Date.now() - from;
      await sleep(Math.max(0, from + windowS * 1000 - Date.now()));
      const after = { cpu: sample(broker), io: io(broker) };
      const row: Storm = {
        setting,
        storm: label,
        stormMs,
        saves: master.linesSince('asked the broker to save its database', from).length,
        brokerCpuMs: ((after.cpu.cpuTicks - before.cpu.cpuTicks) / ticks) * 1000,
        writeKiB: (after.io.writeBytes - before.io.writeBytes) / 1024,
        writeCalls: after.io.syscw - before.io.syscw,
      };
      progress(`save_on_session_change ${setting}, ${label}: ${row.stormMs} ms, ${row.saves} saves, broker CPU ${row.brokerCpuMs.toFixed(0)} ms, ${row.writeKiB.toFixed(0)} KiB written in ${row.writeCalls} calls`);
      rows.push(row);
    }
  } finally {
    lab.stop();
  }
  return rows;
}

const rows = [...(await measure(false)), ...(await measure(true))];
console.log(`\n${clients} persistent clients a storm, ${filters} filters each, all started at once; node1's broker over ${windowS} s from each storm's start:\n`);
console.log('| save_on_session_change | storm | storm length | saves asked | broker CPU | disk writes (write_bytes) | write calls (sockets too) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
  console.log(`| ${row.setting} | ${row.storm} | ${row.stormMs} ms | ${row.saves} | ${row.brokerCpuMs.toFixed(0)} ms | ${row.writeKiB.toFixed(0)} KiB | ${row.writeCalls} |`);
}
