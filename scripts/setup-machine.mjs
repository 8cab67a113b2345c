/**
 * node scripts/setup-machine.mjs lab|test
 *
 * npm's `prelab` and `pretest` hooks: makes this machine able to run `npm run lab` or `npm test`.
 * Installs the Debian packages it lacks (as root on Debian), then the npm dependencies when
 * node_modules is missing or older than package.json or package-lock.json, saying what it
 * installs; where it cannot, it prints the exact command to run and exits 1. Prints nothing when
 * there is nothing to do. Plain JavaScript with only node: imports, since node_modules may not
 * exist yet; the decisions are in lab/machine.mjs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NEEDS, NFQUEUE_HEADER, onPath, planDependencies, planMachine } from '../lab/machine.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** @param {string} file */
function mtime(file) {
  try {
    return statSync(join(ROOT, file)).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Runs argv with the terminal attached (apt-get output is captured and shown only on failure);
 * exits 1 on failure, naming the command.
 * @param {readonly string[]} argv
 * @param {{ env?: Record<string, string>, quiet?: boolean }} [options]
 */
function run(argv, options = {}) {
  const [file = '', ...args] = argv;
  const result = spawnSync(file, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: options.quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
  });
  if (result.status === 0) return;
  if (options.quiet) process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  const why = result.error ? result.error.message : result.signal ? `killed by ${result.signal}` : `exit code ${result.status}`;
  console.error(`setup: ${argv.join(' ')} failed (${why})`);
  process.exit(1);
}

const purpose = process.argv[2];
if (purpose !== 'lab' && purpose !== 'test') {
  console.error(`usage: node scripts/setup-machine.mjs ${Object.keys(NEEDS).join('|')}`);
  process.exit(2);
}

/** @param {'lab' | 'test'} purpose */
const planHere = (purpose) =>
  planMachine({
    purpose,
    found: onPath,
    headerFound: existsSync(NFQUEUE_HEADER),
    uid: process.getuid?.(),
    debian: existsSync('/etc/debian_version'),
    nodeVersion: process.version,
  });

const machine = planHere(purpose);
if (machine.type === 'refuse') {
  console.error(machine.message);
  process.exit(1);
}
if (machine.type === 'install') {
  console.log(machine.message);
  for (const argv of machine.commands) run(argv, { env: machine.env, quiet: true });
  const after = planHere(purpose);
  if (after.type !== 'ready') {
    console.error(`setup: apt-get succeeded, but this machine still lacks what ${after.type === 'install' ? after.packages.join(' ') : 'it needs'} should provide`);
    process.exit(1);
  }
}

const dependencies = planDependencies({
  installed: mtime('node_modules/.package-lock.json'),
  lock: mtime('package-lock.json'),
  manifest: mtime('package.json'),
});
if (dependencies.type === 'install') {
  console.log(dependencies.message);
  // Inside an npm script, the npm that runs it (npm_execpath), not whichever npm is first on PATH.
  const npm = process.env['npm_execpath'];
  const [, ...args] = dependencies.argv;
  run(npm ? [process.execPath, npm, ...args] : dependencies.argv);
}
