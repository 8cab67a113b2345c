/**
 * npx tsx scripts/bench-sync.ts [--runs N] [--nodes N]
 *
 * The credential-sync benchmark: in a lab of N nodes (default 3) running the daemon, each run adds
 * a new user on node1 with the real mosquitto_passwd and measures the time until that user can
 * log in on every other node (mosquitto_pub from the client namespace, polled back to back).
 * The daemons' logs split it: node1 noticing the edit (fs watch and its debounce), and on each
 * peer, installing the file, reloading the broker and checking its health.
 *
 * Progress goes to stderr; stdout gets the machine line and a markdown table for the README.
 */
import { availableParallelism, release } from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { canLogin, setPassword, waitForLogin, waitForSameVersion } from '../lab/credentials.js';
import { Lab } from '../lab/lab.js';
import type { LabNode } from '../lab/node.js';
import { ensureFreshDist } from '../lab/entry.js';
import { labUnavailable } from '../lab/requirements.js';
import { ms, spread } from '../lab/stats.js';
import { run } from '../src/exec/runner.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, nodes: { type: 'string', default: '3' } } });

function usage(message: string): never {
  console.error(`bench-sync: ${message}\nusage: npx tsx scripts/bench-sync.ts [--runs N] [--nodes N]`);
  process.exit(2);
}

const runs = Number(values.runs);
if (!(Number.isInteger(runs) && runs >= 1 && runs <= 200)) usage(`--runs is 1 to 200, not ${values.runs}`);
const nodeCount = Number(values.nodes);
if (!(Number.isInteger(nodeCount) && nodeCount >= 2 && nodeCount <= 5)) usage(`--nodes is 2 to 5, not ${values.nodes}`);
const unavailable = labUnavailable(['ip', 'iptables', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived', 'setsid', 'timeout']);
if (unavailable) {
  console.error(`bench-sync: this machine ${unavailable}`);
  process.exit(1);
}
// The lab runs the daemon as shipped: build it when the sources are newer.
ensureFreshDist((line) => process.stderr.write(`${line}\n`));

const progress = (text: string) => process.stderr.write(`${text}\n`);

interface Run {
  /** ms from the edit until the user logs in, per peer id. */
  login: Map<number, number>;
  /** ms from the edit until node1's daemon published it. */
  published?: number;
  /** Per peer: the daemon's own install + reload + health check, in ms. */
  applied: Map<number, number>;
}

/** The first line of `node`'s daemon log since `since` whose message starts with `msg`. */
const lineSince = (node: LabNode, msg: string, since: number) => node.daemonLines().find((line) => line.time >= since && line.msg.startsWith(msg));

async function measure(lab: Lab, index: number): Promise<Run> {
  const [origin, ...peers] = lab.nodes as [LabNode, ...LabNode[]];
  const user = `bench${index}`;
  const password = `${user}-pw`;
  const edited = Date.now();
  setPassword(origin, user, password);
  const login = new Map<number, number>();
  await Promise.all(
    peers.map(async (peer) => {
      await waitForLogin(lab, peer, user, password, true, 30_000);
      login.set(peer.id, Date.now() - edited);
    }),
  );
  await waitForSameVersion(lab, 'passwd');
  const published = lineSince(origin, 'local password file changed', edited);
  const applied = new Map(peers.flatMap((peer) => {
    const line = lineSince(peer, "installed a peer's version of the password file", edited);
    return typeof line?.ms === 'number' ? [[peer.id, line.ms] as [number, number]] : [];
  }));
  return { login, published: published ? published.time - edited : undefined, applied };
}

async function versionOf(argv: string[], pattern: RegExp): Promise<string> {
  const result = await run(argv, { reject: false, timeout: 10_000 }).catch(() => undefined);
  return pattern.exec(`${result?.stdout ?? ''}${result?.stderr ?? ''}`)?.[1] ?? '?';
}

const started = Date.now();
progress(`a ${nodeCount}-node lab with the daemon, ${runs} run(s)`);
const lab = await Lab.start({ nodes: nodeCount, daemon: true });
const results: Run[] = [];
const pollMs: number[] = [];
try {
  await waitForSameVersion(lab, 'passwd');
  // How long one login attempt takes: the resolution of the measurement.
  for (let probe = 0; probe < 10; probe++) {
    const at = Date.now();
    await canLogin(lab, lab.nodes[1]!, lab.clientUser.user, lab.clientUser.password);
    pollMs.push(Date.now() - at);
  }
  for (let index = 1; index <= runs; index++) {
    const result = await measure(lab, index);
    results.push(result);
    progress(`run ${index}: every peer ${ms(Math.max(...result.login.values()))} (${[...result.login].map(([id, time]) => `node${id} ${ms(time)}`).join(', ')}), published ${ms(result.published)}`);
    // Let the reloads settle before the next edit.
    await sleep(300);
  }
} finally {
  lab.stop();
}

const mosquitto = await versionOf(['mosquitto', '-h'], /mosquitto version (\S+)/);
const peers = lab.nodes.slice(1).map((node) => node.id);
const header = ['measure', 'median / max'];
const rows: [string, string][] = [
  ['change on node1 -> login works on every other node', spread(results.map((result) => Math.max(...result.login.values())))],
  ...peers.map((id): [string, string] => [`change on node1 -> login works on node${id}`, spread(results.map((result) => result.login.get(id)))]),
  ['node1 notices the edit (150 ms quiet), reloads and checks its own broker, publishes', spread(results.map((result) => result.published))],
  ['a peer installs, reloads and checks its broker', spread(results.flatMap((result) => [...result.applied.values()]))],
  ['one login attempt (the resolution)', spread(pollMs)],
];
const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
console.log(`machine: ${availableParallelism()} CPUs (nproc), Linux ${release()}, mosquitto ${mosquitto}, Node ${process.version}
${results.length} run(s) in a ${nodeCount}-node lab: a new user added on node1 with mosquitto_passwd, then logins polled on every other node.

${line(header)}
${line(header.map(() => '---'))}
${rows.map(line).join('\n')}`);
progress(`bench-sync: done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);

