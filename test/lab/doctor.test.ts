/**
 * `mosquitto-failover doctor` on a running two-node lab (keepalived, the daemon and its broker on
 * each node), run in node1's namespace as an admin on node1 would. Healthy, every check passes
 * (or is skipped, with its reason); then one fault at a time, the check that sees it fails with
 * a fix, exit 1, and the fault is undone before the next.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import test from 'ava';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { CHAIN, dnatArgs } from '../../src/takeover/nat.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`doctor lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;

test.before(async () => {
  if (unavailable) return;
  // Shadow sessions on: their user is one more login the doctor checks.
  current = await Lab.start({ daemon: true, sessions: true });
  await current.waitForVipOn(1);
  await current.node(1).waitForRole('MASTER', 0);
});

test.after.always(async () => {
  current?.stop();
});

const the = (id: number): LabNode => current!.node(id);

/** `mosquitto-failover doctor` in `node`'s namespace; the lab's files are in one directory, as `render --out` writes them. */
async function doctor(node: LabNode) {
  const result = await node.cli(['doctor', '--rendered-dir', `${node.placed.dir}/etc`]);
  const lines = result.stdout.split('\n').filter(Boolean);
  const line = (name: string) => lines.find((candidate) => new RegExp(`^(ok  |FAIL|skip|warn) ${name} `).test(candidate)) ?? `(no line for ${name} in:\n${result.stdout}${result.stderr})`;
  const failed = lines.filter((candidate) => candidate.startsWith('FAIL'));
  return { ...result, lines, line, failed };
}

lab('on a healthy master every check passes or says why it was skipped; exit 0', async (t) => {
  const run = await doctor(the(1));
  t.log(run.stdout);
  t.is(run.exitCode, 0, run.stdout + run.stderr);
  t.deepEqual(run.failed, []);
  for (const name of ['keepalived', 'FIFO', 'iptables', 'nat chain', 'client listener', 'admin listener', 'daemon user', 'bridge user', 'shadow user', 'peer node2', 'clock skew', 'secret file modes', 'rendered files']) {
    t.regex(run.line(name), /^ok {3}/, name);
  }
  t.regex(run.line('nat chain'), /VIP here, DNAT/);
  // The lab's namespaces share the machine's clock: the skew is 0 within the bound (a non-zero one: test/doctor/clock.test.ts).
  const clock = /^ok {3}clock skew +node2 ([+-]\d+) ms \(±(\d+) ms\); peer clock minus this one$/.exec(run.line('clock skew'));
  t.truthy(clock, run.line('clock skew'));
  t.true(Math.abs(Number(clock?.[1])) <= Number(clock?.[2]), 'the same clock: within the bound');
  t.regex(run.lines.at(-1)!, /^13 checks: 13 ok, 0 failed, 0 skipped$/);
});

/** The one check that failed, with its fix; exit 1. */
function failedOnly(t: import('ava').ExecutionContext, run: Awaited<ReturnType<typeof doctor>>, name: string): string {
  t.log(run.line(name));
  t.is(run.exitCode, 1, run.stdout + run.stderr);
  t.is(run.failed.length, 1, run.stdout);
  t.true(run.failed[0]?.startsWith(`FAIL ${name} `), run.stdout);
  t.regex(run.line(name), /; fix: \S/);
  t.regex(run.stderr, /error: 1 of 13 checks failed/);
  return run.line(name);
}

lab('an env file others can read fails the secret file modes check, with the chmod that fixes it', async (t) => {
  const one = the(1);
  chmodSync(one.placed.envFile, 0o644);
  try {
    const line = failedOnly(t, await doctor(one), 'secret file modes');
    t.true(line.includes(`env file ${one.placed.envFile}: mode 0644 gives more than 0600`), line);
    t.true(line.includes(`fix: chmod 0600 ${one.placed.envFile}`), line);
  } finally {
    chmodSync(one.placed.envFile, 0o600);
  }
  t.is((await doctor(one)).exitCode, 0);
});

lab("a shadow password the broker does not know fails the shadow user check, with the user's fix", async (t) => {
  const one = the(1);
  const env = readFileSync(one.placed.envFile, 'utf8');
  // The running daemon read the file at its start; only this doctor run sees the change.
  writeFileSync(one.placed.envFile, env.replace(/^MQFO_SHADOW_PASSWORD=.*$/m, 'MQFO_SHADOW_PASSWORD=not-the-password'), { mode: 0o600 });
  try {
    const line = failedOnly(t, await doctor(one), 'shadow user');
    t.true(line.includes(`fix: the password file (or dynamic-security) must have ${one.config.sessions.user} with the password MQFO_SHADOW_PASSWORD`), line);
  } finally {
    writeFileSync(one.placed.envFile, env, { mode: 0o600 });
  }
  t.is((await doctor(one)).exitCode, 0);
});

lab('a missing DNAT rule on the master, and a second jump to our chain, fail the nat chain check', async (t) => {
  const one = the(1);
  const { config } = one;
  const target = { vip: config.vip.address, port: config.broker.client_port, address: one.address, addressPort: config.broker.client_port };
  const iptables = (args: string[]) => one.ns.exec(['iptables', '-w', '5', '-t', 'nat', ...args], { timeout: 10_000 });
  // The daemon repairs its chain every 10 s: held still, it cannot undo the fault before doctor looks.
  t.true(one.pause('node').length > 0);
  try {
    await iptables(['-D', CHAIN, ...dnatArgs(target)]);
    const missing = failedOnly(t, await doctor(one), 'nat chain');
    t.regex(missing, /this node holds the VIP but the DNAT rule is missing/);
    await iptables(['-A', CHAIN, ...dnatArgs(target)]);
    await iptables(['-A', 'PREROUTING', '-j', CHAIN]);
    const twice = failedOnly(t, await doctor(one), 'nat chain');
    t.regex(twice, /PREROUTING jumps to MOSQUITTO-FAILOVER 2 times, not once/);
    await iptables(['-D', 'PREROUTING', '-j', CHAIN]);
  } finally {
    one.resume('node');
  }
  t.is((await doctor(one)).exitCode, 0);
});

lab("node2's broker stopped: the peer check fails; the rest still pass", async (t) => {
  const [one, two] = [the(1), the(2)];
  await two.stopDaemon();
  t.deepEqual(two.pids('mosquitto'), [], 'the daemon stopped its supervised broker');
  try {
    const run = await doctor(one);
    const line = failedOnly(t, run, 'peer node2');
    t.regex(line, new RegExp(`198\\.18\\.0\\.12:${one.config.broker.admin_port}|ECONNREFUSED`));
    t.regex(run.line('clock skew'), /^skip clock skew +no peer's daemon answered: node2 not measured: /);
  } finally {
    await two.startDaemon();
  }
  t.is((await doctor(one)).exitCode, 0);
});

lab('an edited mosquitto.conf is out of date, and the fix renders and installs it', async (t) => {
  const one = the(1);
  const file = one.placed.files.get('mosquitto.conf')!;
  const before = readFileSync(file);
  writeFileSync(file, `${before.toString()}\n# a local edit\n`);
  try {
    const line = failedOnly(t, await doctor(one), 'rendered files');
    t.true(line.includes(`${file}: differs from what cluster.yaml renders`), line);
    t.true(line.includes(`fix: mosquitto-failover render --config ${one.placed.clusterFile} --env ${one.placed.envFile} --node node1 --out /tmp/mqfo-render && install -m 0640 /tmp/mqfo-render/mosquitto.conf ${file}`), line);
  } finally {
    writeFileSync(file, before);
  }
  t.is((await doctor(one)).exitCode, 0);
});

// Last: the lab does not start keepalived again.
lab("node1's keepalived killed: the keepalived check fails", async (t) => {
  const one = the(1);
  t.true(one.kill('keepalived').length > 0);
  const run = await doctor(one);
  t.is(run.exitCode, 1, run.stdout);
  t.regex(run.line('keepalived'), /^FAIL keepalived +not running \(pid \d+ from \S+keepalived\.pid is not keepalived\); fix: systemctl restart keepalived/);
});
