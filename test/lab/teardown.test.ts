/**
 * The lab leaves nothing behind: after a failing test (with or without its teardown), after an
 * interrupt (SIGINT), and after a crash (SIGKILL: the next run removes the leftovers). And
 * `npm run lab:up` / `lab:down` start and remove a lab that outlives the command.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { namedLabDir, removeStaleLabs } from '../../lab/lab.js';
import { listNamespaces, namespacesOf } from '../../lab/netns.js';
import { isRunning } from '../../lab/process.js';
import { ROOT } from '../helpers/config.js';
import { missingRequirements } from '../helpers/real.js';
import { scratchDir } from '../helpers/scratch.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`lab teardown tests skipped: this machine ${unavailable}`);

interface Started {
  pid: number;
  namespaces: string[];
  pids: number[];
  dir: string;
}

/** What a run had started is all gone: namespaces, processes, files. */
async function assertGone(t: ExecutionContext, started: Started): Promise<void> {
  const left = new Set(await listNamespaces());
  t.deepEqual(started.namespaces.filter((name) => left.has(name)), [], 'no namespace left');
  t.deepEqual(await namespacesOf(started.pid), [], `no namespace of run ${started.pid}`);
  t.deepEqual(started.pids.filter(isRunning), [], 'no process left');
  t.false(existsSync(started.dir), 'no directory left');
}

/** Runs the hold-lab fixture; resolves once it has described its lab. */
async function holdLab() {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/lab/fixtures/hold-lab.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const line = await Promise.race([
    new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    exited.then((code) => Promise.reject(new Error(`hold-lab exited with ${code} before its lab was up`))),
  ]);
  return { child, exited, started: JSON.parse(line) as Started };
}

lab('after failing tests, with or without a teardown, nothing of their labs is left', async (t) => {
  const out = `${scratchDir('fixture')}/started.jsonl`;
  const result = await execa('npx', ['ava', '--config', 'test/lab/fixtures/ava.config.js'], { cwd: ROOT, reject: false, all: true, timeout: 120_000, env: { MQFO_FIXTURE_OUT: out } });
  t.is(result.exitCode, 1, result.all);
  t.regex(result.all, /2 tests failed/);
  const runs = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Started);
  t.is(runs.length, 2, 'both fixture tests had started a lab');
  for (const started of runs) {
    t.is(started.namespaces.length, 4);
    t.true(started.pids.length >= 4);
    await assertGone(t, started);
  }
});

lab('an interrupted run (SIGINT) removes its lab on the way out', async (t) => {
  const { child, exited, started } = await holdLab();
  t.true(started.pids.every(isRunning), 'the lab was running');
  child.kill('SIGINT');
  t.is(await exited, 130);
  await assertGone(t, started);
});

lab('a crashed run (SIGKILL) leaves its lab, and the next run removes it', async (t) => {
  const { child, exited, started } = await holdLab();
  child.kill('SIGKILL');
  t.is(await exited, 'SIGKILL');
  const left = new Set(await listNamespaces());
  t.true(started.namespaces.every((name) => left.has(name)), 'nothing could clean up after SIGKILL');
  t.true(started.pids.every(isRunning), 'its brokers and keepalived still run');
  const removed = await removeStaleLabs();
  t.deepEqual(removed.sort(), [...started.namespaces].sort());
  await assertGone(t, started);
});

lab('npm run lab:up starts a lab that outlives it and prints its map; lab:down removes it', async (t) => {
  const name = `t${process.pid}`;
  t.teardown(() => execa('npx', ['tsx', 'scripts/lab-down.ts', '--name', name], { cwd: ROOT, reject: false, timeout: 30_000 }));
  const up = await execa('npm', ['run', '-s', 'lab:up', '--', '--nodes', '3', '--name', name], { cwd: ROOT, reject: false, all: true, timeout: 90_000 });
  t.is(up.exitCode, 0, up.all);
  for (const expected of [/node1 +mqfot\d+-n1 +198\.18\.0\.11 +daemon \d+, mosquitto \d+, keepalived \d+/, /VIP +198\.18\.0\.10:1883, now on node1/, /ip netns exec mqfot\d+-n1 bash/, /npm run lab:down -- --name t\d+/]) {
    t.regex(up.stdout, expected);
  }
  const namespaces = await namespacesOf(name);
  t.is(namespaces.length, 5);
  const again = await execa('npm', ['run', '-s', 'lab:up', '--', '--name', name], { cwd: ROOT, reject: false, all: true, timeout: 30_000 });
  t.is(again.exitCode, 1);
  t.regex(again.all, /already up/);

  const inLab = (await Promise.all(namespaces.map((ns) => execa('ip', ['netns', 'pids', ns])))).flatMap((result) => result.stdout.split('\n').filter(Boolean).map(Number));
  t.true(inLab.length >= 12, 'three daemons, three brokers and three keepalived (parent and VRRP child)');
  const down = await execa('npm', ['run', '-s', 'lab:down', '--', '--name', name], { cwd: ROOT, all: true, timeout: 30_000 });
  t.regex(down.stdout, /removed/);
  await assertGone(t, { pid: -1, namespaces, pids: inLab, dir: namedLabDir(name) });
  const twice = await execa('npm', ['run', '-s', 'lab:down', '--', '--name', name], { cwd: ROOT, timeout: 30_000 });
  t.regex(twice.stdout, /no lab/);
});
