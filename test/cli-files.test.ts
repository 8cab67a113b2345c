/** The files the CLI is pointed at: --templates, --out, and the env file's permissions. */
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { main } from '../src/cli.js';
import { DEFAULT_ENV } from '../src/config/load.js';
import { ROOT } from './helpers/config.js';
import { scratchDir } from './helpers/scratch.js';

const two = join(ROOT, 'examples/two-node.yaml');

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env: {}, localAddresses: () => [] });
  return { code, stdout, stderr };
}

/** A scratch directory with a copy of the example env file at `mode`. */
function withEnv(mode: number): { dir: string; env: string } {
  const dir = scratchDir('files');
  const env = join(dir, '.env');
  copyFileSync(join(ROOT, 'examples/cluster.env'), env);
  chmodSync(env, mode);
  return { dir, env };
}

test('render --templates naming a missing directory is a usage error, and nothing is written', async (t) => {
  const { dir, env } = withEnv(0o600);
  const run = await cli(['render', '--config', two, '--env', env, '--all', '--out', join(dir, 'out'), '--templates', join(dir, 'no-such-dir')]);
  t.is(run.code, 2);
  t.regex(run.stderr, /^error: --templates .*no-such-dir: no such directory$/m);
  t.deepEqual(readdirSync(dir), ['.env']);
});

test('render --out pointing at a file is a usage error, and the file is untouched', async (t) => {
  const { dir, env } = withEnv(0o600);
  const out = join(dir, 'out');
  writeFileSync(out, 'not a directory');
  const run = await cli(['render', '--config', two, '--env', env, '--all', '--out', out]);
  t.is(run.code, 2);
  t.regex(run.stderr, /^error: --out .*out: .*out is a file, not a directory$/m);
  t.is(readFileSync(out, 'utf8'), 'not a directory');
  t.deepEqual(readdirSync(dir).sort(), ['.env', 'out']);
});

test('check warns about an env file its group or others can read, and still exits 0', async (t) => {
  const { env } = withEnv(0o644);
  const run = await cli(['check', '--config', two, '--env', env]);
  t.is(run.code, 0, run.stderr);
  t.is(run.stderr, `warning: env file ${env} is readable by its group and every user (mode 0644), and it holds the cluster's secrets: run chmod 600 ${env}\n`);
  const group = withEnv(0o640);
  t.regex((await cli(['check', '--config', two, '--env', group.env])).stderr, /readable by its group \(mode 0640\)/);
  const closed = withEnv(0o600);
  t.is((await cli(['check', '--config', two, '--env', closed.env])).stderr, '');
});

test('run refuses an env file its group or others can read (exit 2, before anything starts), unless told to allow it', async (t) => {
  const { env } = withEnv(0o604);
  const run = await cli(['run', '--config', two, '--env', env, '--node', '1']);
  t.is(run.code, 2);
  t.regex(run.stderr, /^error: env file .* is readable by every user \(mode 0604\), and it holds the cluster's secrets: run chmod 600 .*\.env \(or start with --allow-readable-env\)$/m);
  t.is(run.stdout, '', 'no daemon log: nothing started');
  const help = await cli(['run', '--help']);
  t.regex(help.stdout, /--allow-readable-env/);
});

// Only meaningful where the default env file is absent, as on the test machines.
(existsSync(DEFAULT_ENV) ? test.skip : test)('no env file at the default place: nothing to check, no warning', async (t) => {
  const secrets = readFileSync(join(ROOT, 'examples/cluster.env'), 'utf8');
  const processEnv = Object.fromEntries(secrets.split('\n').filter((line) => line.startsWith('MQFO_')).map((line) => line.split('=') as [string, string]));
  let stderr = '';
  const code = await main(['check', '--config', two], { stdout: () => undefined, stderr: (text) => (stderr += text), env: processEnv, localAddresses: () => [] });
  t.is(code, 0, stderr);
  t.is(stderr, '');
});
