/**
 * What `npm run lab` and `npm test` need from the machine, and the decision of what to do about
 * what is missing. Plain JavaScript with only node: imports: scripts/setup-machine.mjs runs it
 * before `npm install`, when node_modules may not exist yet. lab/requirements.ts checks the same table.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Programs the lab and the tests run, with the Debian package that has each. */
export const PROGRAMS = Object.freeze({
  ip: 'iproute2',
  iptables: 'iptables',
  mosquitto: 'mosquitto',
  mosquitto_pub: 'mosquitto-clients',
  mosquitto_sub: 'mosquitto-clients',
  mosquitto_passwd: 'mosquitto',
  mosquitto_ctrl: 'mosquitto-clients',
  keepalived: 'keepalived',
  ucarp: 'ucarp',
  ping: 'iputils-ping',
  cc: 'gcc',
  // The TLS tests make a throwaway CA and certificates.
  openssl: 'openssl',
  // The daemon tells systemd it is ready through systemd-notify; the test's stand-in for
  // systemd's socket is a python script (test/fixtures/notify-socket.py).
  'systemd-notify': 'systemd',
  python3: 'python3',
});

/**
 * Where root finds programs that a user's PATH on Debian lacks (keepalived, iptables): a check run
 * as a user must say what root would find.
 */
export const ROOT_PATH_DIRS = Object.freeze(['/usr/local/sbin', '/usr/sbin', '/sbin']);

/**
 * Whether `program` is on PATH or in root's directories (ROOT_PATH_DIRS).
 * @param {string} program
 */
export function onPath(program) {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...ROOT_PATH_DIRS];
  return dirs.some((dir) => dir !== '' && existsSync(join(dir, program)));
}

/** The delay fault builds lab/native/nfq-delay.c against this header. */
export const NFQUEUE_HEADER = '/usr/include/libnetfilter_queue/libnetfilter_queue.h';
const NFQUEUE_PACKAGE = 'libnetfilter-queue-dev';

/**
 * @typedef {'lab' | 'test'} Purpose
 * @typedef {{ command: string, programs: readonly string[], header: boolean }} Need
 */

/**
 * What each command needs. The demo runs two nodes with keepalived; the tests run everything,
 * ucarp and the delay fault's C program included.
 * @type {Readonly<Record<Purpose, Need>>}
 */
export const NEEDS = Object.freeze({
  lab: { command: 'npm run lab', programs: ['ip', 'iptables', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'mosquitto_passwd', 'keepalived'], header: false },
  test: { command: 'npm test', programs: Object.keys(PROGRAMS), header: true },
});

/** package.json's engines.node. */
const NODE_MIN = { major: 20, minor: 9 };

/**
 * @typedef {object} Machine
 * @property {Purpose} purpose
 * @property {(program: string) => boolean} found whether the program is on PATH
 * @property {boolean} headerFound whether NFQUEUE_HEADER exists
 * @property {number | undefined} uid undefined where the platform has none (Windows)
 * @property {boolean} debian whether /etc/debian_version exists
 * @property {string} nodeVersion process.version
 */

/**
 * @typedef {{ type: 'ready' }
 *   | { type: 'install', message: string, packages: string[], commands: string[][], env: Record<string, string> }
 *   | { type: 'refuse', message: string }} MachinePlan
 */

/**
 * What to do before `purpose` can run: nothing, install Debian packages (root on Debian), or
 * stop with a message that has the exact command to run.
 * @param {Machine} machine
 * @returns {MachinePlan}
 */
export function planMachine(machine) {
  const need = NEEDS[machine.purpose];
  const missing = need.programs.filter((program) => !machine.found(program));
  /** @type {string[]} */
  const packages = [...new Set(missing.map((program) => PROGRAMS[/** @type {keyof typeof PROGRAMS} */ (program)] ?? program))];
  if (need.header && !machine.headerFound) {
    missing.push(NFQUEUE_HEADER);
    packages.push(NFQUEUE_PACKAGE);
  }
  const install = `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  const what = `${packages.join(' ')} (for ${missing.join(', ')})`;

  const problems = [];
  const [, major = 0, minor = 0] = (/^v?(\d+)\.(\d+)/.exec(machine.nodeVersion) ?? []).map(Number);
  if (major < NODE_MIN.major || (major === NODE_MIN.major && minor < NODE_MIN.minor)) {
    problems.push(`setup: ${need.command} needs Node.js ${NODE_MIN.major}.${NODE_MIN.minor} or newer, and this is ${machine.nodeVersion}: install Node.js 20 (https://nodejs.org/en/download), then run ${need.command} again`);
  }
  if (machine.uid !== 0) {
    problems.push(`setup: ${need.command} needs root: it runs mosquitto, keepalived and iptables in network namespaces. Run it as root: sudo ${need.command}`);
    if (packages.length > 0 && machine.debian) {
      problems.push(`setup: as root it first installs the Debian packages this machine lacks, ${what}: apt-get update && ${install}`);
    }
    if (machine.purpose === 'test') problems.push('setup: (as this user, npm run check runs the tests that need no root and skips the others)');
  }
  if (packages.length > 0 && !machine.debian) {
    problems.push(`setup: this machine lacks ${missing.join(', ')} and is not Debian (no /etc/debian_version), so ${need.command} cannot install them: install them with your package manager (on Debian: ${install}), then run ${need.command} again`);
  }
  if (problems.length > 0) return { type: 'refuse', message: problems.join('\n') };
  if (packages.length === 0) return { type: 'ready' };
  return {
    type: 'install',
    message: `setup: installing the Debian packages ${what}: apt-get update && ${install}`,
    packages,
    commands: [
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages],
    ],
    // No debconf questions on a terminal that nobody watches.
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  };
}

/**
 * @typedef {object} Dependencies modification times in ms, undefined for a missing file
 * @property {number | undefined} installed node_modules/.package-lock.json, which npm writes last
 * @property {number | undefined} lock package-lock.json
 * @property {number | undefined} manifest package.json
 */

/** The npm command that installs the dependencies (and, through `prepare`, builds dist/). */
export const NPM_INSTALL = Object.freeze(['npm', 'install', '--no-audit', '--no-fund']);

/**
 * Whether node_modules must be (re)installed: npm writes node_modules/.package-lock.json at the
 * end of every install, after package-lock.json, so an older one means an edit since.
 * @param {Dependencies} times
 * @returns {{ type: 'ready' } | { type: 'install', message: string, argv: readonly string[] }}
 */
export function planDependencies(times) {
  const command = NPM_INSTALL.join(' ');
  if (times.installed === undefined) {
    return { type: 'install', message: `setup: installing the npm dependencies (no node_modules yet): ${command}`, argv: NPM_INSTALL };
  }
  const newer = [
    ['package-lock.json', times.lock],
    ['package.json', times.manifest],
  ].find(([, time]) => time !== undefined && Number(time) > Number(times.installed));
  if (newer) {
    return { type: 'install', message: `setup: installing the npm dependencies (${String(newer[0])} changed since the last install): ${command}`, argv: NPM_INSTALL };
  }
  return { type: 'ready' };
}
