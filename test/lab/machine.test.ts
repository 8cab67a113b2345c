import test from 'ava';
import { NEEDS, NFQUEUE_HEADER, NPM_INSTALL, planDependencies, planMachine, PROGRAMS, type Machine } from '../../lab/machine.mjs';

const ALL_PROGRAMS = Object.keys(PROGRAMS);
const DEBIAN_ROOT: Machine = { purpose: 'test', found: () => true, headerFound: true, uid: 0, debian: true, nodeVersion: 'v20.20.2' };
const without = (...programs: string[]) => (program: string) => !programs.includes(program);

test('a machine with everything, as root: nothing to do', (t) => {
  t.deepEqual(planMachine(DEBIAN_ROOT), { type: 'ready' });
  t.deepEqual(planMachine({ ...DEBIAN_ROOT, purpose: 'lab', found: without('ucarp', 'cc', 'ping'), headerFound: false }), { type: 'ready' }, 'the demo needs neither ucarp nor the C compiler');
});

test('root on Debian: one package per missing program, once, then the header; the message has the exact commands', (t) => {
  const plan = planMachine({ ...DEBIAN_ROOT, found: without('mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'keepalived', 'ucarp'), headerFound: false });
  t.deepEqual(plan, {
    type: 'install',
    message:
      'setup: installing the Debian packages mosquitto mosquitto-clients keepalived ucarp libnetfilter-queue-dev ' +
      `(for mosquitto, mosquitto_pub, mosquitto_sub, keepalived, ucarp, ${NFQUEUE_HEADER}): ` +
      'apt-get update && apt-get install -y --no-install-recommends mosquitto mosquitto-clients keepalived ucarp libnetfilter-queue-dev',
    packages: ['mosquitto', 'mosquitto-clients', 'keepalived', 'ucarp', 'libnetfilter-queue-dev'],
    commands: [
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'mosquitto', 'mosquitto-clients', 'keepalived', 'ucarp', 'libnetfilter-queue-dev'],
    ],
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
});

test('the demo installs only what the demo runs', (t) => {
  const plan = planMachine({ ...DEBIAN_ROOT, purpose: 'lab', found: without('mosquitto', 'mosquitto_pub', 'keepalived', 'ucarp', 'cc'), headerFound: false });
  t.like(plan, { type: 'install', packages: ['mosquitto', 'mosquitto-clients', 'keepalived'] });
});

test('the tests need every program, the demo a subset of them', (t) => {
  t.deepEqual([...NEEDS.test.programs], ALL_PROGRAMS);
  t.true(NEEDS.test.header);
  for (const program of NEEDS.lab.programs) t.true(ALL_PROGRAMS.includes(program), program);
});

test('not root on Debian, with packages missing: refused, with sudo and the apt-get command', (t) => {
  const plan = planMachine({ ...DEBIAN_ROOT, uid: 1000, found: without('keepalived', 'mosquitto_ctrl') });
  t.deepEqual(plan, {
    type: 'refuse',
    message: [
      'setup: npm test needs root: it runs mosquitto, keepalived and iptables in network namespaces. Run it as root: sudo npm test',
      'setup: as root it first installs the Debian packages this machine lacks, mosquitto-clients keepalived (for mosquitto_ctrl, keepalived): apt-get update && apt-get install -y --no-install-recommends mosquitto-clients keepalived',
      'setup: (as this user, npm run check runs the tests that need no root and skips the others)',
    ].join('\n'),
  });
});

test('not root with everything installed: still refused, since the programs need root', (t) => {
  const plan = planMachine({ ...DEBIAN_ROOT, purpose: 'lab', uid: 1000 });
  t.deepEqual(plan, { type: 'refuse', message: 'setup: npm run lab needs root: it runs mosquitto, keepalived and iptables in network namespaces. Run it as root: sudo npm run lab' });
});

test('a uid-less platform is not root', (t) => {
  t.is(planMachine({ ...DEBIAN_ROOT, uid: undefined }).type, 'refuse');
});

test('not Debian: refused only when something is missing, with the Debian command for reference', (t) => {
  t.deepEqual(planMachine({ ...DEBIAN_ROOT, debian: false }), { type: 'ready' });
  const plan = planMachine({ ...DEBIAN_ROOT, purpose: 'lab', debian: false, found: without('keepalived') });
  t.deepEqual(plan, {
    type: 'refuse',
    message:
      'setup: this machine lacks keepalived and is not Debian (no /etc/debian_version), so npm run lab cannot install them: ' +
      'install them with your package manager (on Debian: apt-get install -y --no-install-recommends keepalived), then run npm run lab again',
  });
});

test('not root and not Debian: both reasons, and no apt-get to run as root', (t) => {
  const plan = planMachine({ ...DEBIAN_ROOT, purpose: 'lab', uid: 1000, debian: false, found: without('ip') });
  if (plan.type !== 'refuse') return t.fail(plan.type);
  const lines = plan.message.split('\n');
  t.is(lines.length, 2);
  t.regex(lines[0] ?? '', /needs root.*sudo npm run lab$/);
  t.regex(lines[1] ?? '', /lacks ip and is not Debian.*apt-get install -y --no-install-recommends iproute2\)/);
});

test('Node.js older than 20.9 is refused, whatever else is true', (t) => {
  for (const nodeVersion of ['v18.19.0', 'v20.8.1']) {
    t.deepEqual(planMachine({ ...DEBIAN_ROOT, nodeVersion }), {
      type: 'refuse',
      message: `setup: npm test needs Node.js 20.9 or newer, and this is ${nodeVersion}: install Node.js 20 (https://nodejs.org/en/download), then run npm test again`,
    });
  }
  for (const nodeVersion of ['v20.9.0', 'v22.1.0']) t.is(planMachine({ ...DEBIAN_ROOT, nodeVersion }).type, 'ready', nodeVersion);
});

test('npm dependencies: installed when node_modules is missing or older than package.json or package-lock.json', (t) => {
  const command = NPM_INSTALL.join(' ');
  t.is(command, 'npm install --no-audit --no-fund');
  t.deepEqual(planDependencies({ installed: undefined, lock: 1, manifest: 1 }), {
    type: 'install',
    message: `setup: installing the npm dependencies (no node_modules yet): ${command}`,
    argv: NPM_INSTALL,
  });
  t.deepEqual(planDependencies({ installed: 10, lock: 11, manifest: 1 }), {
    type: 'install',
    message: `setup: installing the npm dependencies (package-lock.json changed since the last install): ${command}`,
    argv: NPM_INSTALL,
  });
  t.like(planDependencies({ installed: 10, lock: 9, manifest: 12 }), { message: `setup: installing the npm dependencies (package.json changed since the last install): ${command}` });
  t.deepEqual(planDependencies({ installed: 10, lock: 10, manifest: 9 }), { type: 'ready' });
  t.deepEqual(planDependencies({ installed: 10, lock: undefined, manifest: 9 }), { type: 'ready' });
});
