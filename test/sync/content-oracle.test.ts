/**
 * The validator checked against the real mosquitto 2.0.11: every ACL file it accepts, mosquitto
 * starts with, and every one mosquitto refuses, it rejects; password files made by the real
 * mosquitto_passwd are accepted and every user in them can log in; broken ones are rejected,
 * with what mosquitto does instead (it never refuses a password file: it drops or trims lines);
 * dynamic-security files written by the real plugin are accepted, and a merged one still lets
 * the service users in. Brokers listen on 127.0.0.1 only, one at a time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { contentProblems, keepServiceUsers, missingServiceUsers } from '../../src/sync/content.js';
import { scratch, startBroker, write, type Broker } from '../helpers/broker.js';
import { missingRequirements } from '../helpers/real.js';

const missing = missingRequirements(['mosquitto', 'mosquitto_passwd', 'mosquitto_pub', 'mosquitto_ctrl']);
const real = missing ? test.serial.skip : test.serial;
if (missing) console.log(`mosquitto cross-checks skipped: this machine ${missing}`);

const PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
// The plugin saves by writing FILE.new beside its file and renaming it: as root, it may.
const dynsec = (file: string): string[] => ['user root', `plugin ${PLUGIN}`, `plugin_opt_config_file ${file}`];
const USERS = { bridge: 'mqfo-bridge', daemon: 'mqfo-daemon' };
const PASSWORDS: Record<string, string> = { 'mqfo-bridge': 'bridge-pw', 'mqfo-daemon': 'daemon-pw', sensor: 'sensor-pw', legacy: 'legacy-pw' };

/** True when `user` can publish with `password` (mosquitto_pub exits 5 when refused). */
async function logsIn(broker: Broker, user: string, password: string): Promise<boolean> {
  const result = await execa('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-u', user, '-P', password, '-t', 'probe', '-m', 'x'], { reject: false, timeout: 5_000 });
  return result.exitCode === 0;
}

// ------------------------------------------------------------------ acl

interface AclCase {
  acl: string;
  /** What mosquitto 2.0.11 does with it, as observed. */
  starts: boolean;
  /** What we decide: stricter than mosquitto where it would start but misread the file. */
  valid: boolean;
}

const ACLS: Record<string, AclCase> = {
  'the rendered service-user block': {
    acl: '# BEGIN mosquitto-failover service users (cluster "home")\nuser mqfo-bridge\ntopic deny mosquitto-failover/home/#\ntopic readwrite home/#\ntopic write $SYS/broker/connection/+/state\n\nuser mqfo-daemon\ntopic readwrite mosquitto-failover/home/#\ntopic read $SYS/#\n# END mosquitto-failover service users\n',
    starts: true,
    valid: true,
  },
  'anonymous topics, patterns with %u and %c': { acl: 'topic read public/#\npattern write %u/out/#\npattern deny %c/secret\n', starts: true, valid: true },
  'leading and repeated spaces, trailing white space, CRLF': { acl: '   user  sensor \t\r\n  topic   read   home/#  \r\n', starts: true, valid: true },
  'no access word (readwrite)': { acl: 'user sensor\ntopic home/#\n', starts: true, valid: true },
  'a topic with spaces after an access word': { acl: 'user sensor\ntopic read home/living room/temperature\n', starts: true, valid: true },
  'a user name with spaces': { acl: 'user two words\ntopic read a\n', starts: true, valid: true },
  'blank lines of spaces and tabs': { acl: '\n \t \n\t\nuser a\n', starts: true, valid: true },
  'an empty file': { acl: '', starts: true, valid: true },
  'exactly 200 levels': { acl: `topic read ${'a/'.repeat(200)}a\n`, starts: true, valid: true },
  'an unknown keyword': { acl: 'user a\ntopik read a\n', starts: false, valid: false },
  'a keyword in capitals': { acl: 'Topic read a\n', starts: false, valid: false },
  'an indented comment': { acl: '  # a comment\n', starts: false, valid: false },
  'a tab before the keyword': { acl: '\ttopic read a\n', starts: false, valid: false },
  'a tab after the keyword': { acl: 'topic\tread a\n', starts: false, valid: false },
  'topic without a topic': { acl: 'topic\n', starts: false, valid: false },
  'pattern without a topic': { acl: 'pattern   \n', starts: false, valid: false },
  'user without a name': { acl: 'user   \n', starts: false, valid: false },
  'a bad access word': { acl: 'topic readonly a/b\n', starts: false, valid: false },
  'a topic with spaces and no access word': { acl: 'topic living room\n', starts: false, valid: false },
  '# not the last level': { acl: 'topic read a/#/b\n', starts: false, valid: false },
  '# inside a level': { acl: 'topic read a/b#\n', starts: false, valid: false },
  '+ inside a level': { acl: 'pattern write a/+b/c\n', starts: false, valid: false },
  'a comment after the topic': { acl: 'topic read a/# # everything\n', starts: false, valid: false },
  '201 levels': { acl: `topic read ${'a/'.repeat(201)}a\n`, starts: false, valid: false },
  'a topic over 65535 bytes': { acl: `topic read ${'a'.repeat(65_536)}\n`, starts: false, valid: false },
  // Stricter than mosquitto: it starts, but not with what the line seems to say.
  'an access word alone (mosquitto: readwrite on the topic "read")': { acl: 'user a\ntopic read\n', starts: true, valid: false },
  'a tab inside the topic (mosquitto: the topic "read\\ta")': { acl: 'topic read\ta\n', starts: true, valid: false },
  'a control character in a user name (no client can have it)': { acl: 'user a\u0001b\ntopic read a\n', starts: true, valid: false },
};

real('every ACL file the validator accepts, mosquitto starts with; every one it refuses, the validator rejects', async (t) => {
  const dir = scratch(t);
  const passwd = write(join(dir, 'passwd'), '');
  await execa('mosquitto_passwd', ['-b', passwd, 'a', 'a-pw'], { timeout: 10_000 });
  for (const [label, { acl, starts, valid }] of Object.entries(ACLS)) {
    const file = write(join(dir, 'acl'), acl);
    const broker = await startBroker(t, dir, [`password_file ${passwd}`, `acl_file ${file}`]);
    const started = !('refused' in broker);
    if (!('refused' in broker)) await broker.stop();
    const problems = contentProblems('acl', acl);
    t.is(started, starts, `${label}: mosquitto ${started ? 'started' : 'refused'}${'refused' in broker ? `: ${broker.refused}` : ''}`);
    t.is(problems.length === 0, valid, `${label}: ${problems.join('; ') || 'no problems'}`);
    if (problems.length === 0) t.true(started, `${label}: accepted by us, refused by mosquitto`);
    if (!started) t.not(problems.length, 0, `${label}: refused by mosquitto, accepted by us`);
  }
});

// ------------------------------------------------------------------ passwd

/** The password file for PASSWORDS, made by the real mosquitto_passwd (legacy with the 1.x sha512 hash). */
async function realPasswordFile(dir: string): Promise<string> {
  const file = write(join(dir, 'passwd.made'), '');
  for (const [user, password] of Object.entries(PASSWORDS)) {
    await execa('mosquitto_passwd', [...(user === 'legacy' ? ['-H', 'sha512'] : []), '-b', file, user, password], { timeout: 10_000 });
  }
  return readFileSync(file, 'utf8');
}

real('a password file made by mosquitto_passwd is valid, and mosquitto lets each of its users in', async (t) => {
  const dir = scratch(t);
  const text = await realPasswordFile(dir);
  t.deepEqual(contentProblems('passwd', text), []);
  t.deepEqual(missingServiceUsers('passwd', text, USERS), []);
  const broker = await startBroker(t, dir, [`password_file ${write(join(dir, 'passwd'), text)}`]);
  if ('refused' in broker) return t.fail(broker.refused);
  for (const [user, password] of Object.entries(PASSWORDS)) t.true(await logsIn(broker, user, password), user);
  t.false(await logsIn(broker, 'sensor', 'wrong'), 'a wrong password is refused: the check means something');
  await broker.stop();
  t.notRegex(await broker.output(), /Invalid|Error/);
});

/** A broken `sensor` line, and whether mosquitto 2.0.11 still lets sensor in with it (it starts in every case). */
const BROKEN_SENSOR: Record<string, { line: (entry: string, hash: string) => string; sensorLogsIn: boolean }> = {
  // "Error: Invalid password hash type for user sensor, removing entry."
  'a plain-text password': { line: () => 'sensor:sensor-pw', sensorLogsIn: false },
  // Skipped without a word: no ":".
  'no colon': { line: () => 'sensor', sensorLogsIn: false },
  // "Warning: Invalid line in password file": strtok skips the empty user name.
  'an empty user name': { line: (_, hash) => `:${hash}`, sensorLogsIn: false },
  // "Error: Unable to decode password salt for user sensor, removing entry."
  'a short salt': { line: (_, hash) => `sensor:${hash.replace(/^(\$7\$101\$)..../, '$1')}`, sensorLogsIn: false },
  // "Error: Unable to decode password for user sensor, removing entry."
  'a short hash': { line: (entry) => entry.slice(0, -8), sensorLogsIn: false },
  // "Error: Invalid hash iterations for user sensor, removing entry."
  'zero iterations': { line: (_, hash) => `sensor:${hash.replace('$101$', '$0$')}`, sensorLogsIn: false },
  // Accepted by mosquitto, which trims: we refuse what mosquitto_passwd never writes.
  'spaces around the user name': { line: (entry) => ` ${entry.replace(':', ' :')}`, sensorLogsIn: true },
  'white space after the hash': { line: (entry) => `${entry} \t`, sensorLogsIn: true },
  // Accepted by mosquitto, which reads up to the second ":".
  'a third field': { line: (entry) => `${entry}:extra`, sensorLogsIn: true },
  // Accepted by mosquitto, which uses the last of the two (uthash finds the newest first).
  'the user twice': { line: (entry) => `${entry}\nsensor:$7$101$Q96n4S58NzrjRklZ$zDr4osq7IxYrmT2asP+k/dfiapil9SFWV9SiELDIJXCUJDmO727am51GV4LaTUhqLVJnpV78y5OMN0wEz7cY9Q==`, sensorLogsIn: false },
};

real('broken password files are rejected, whatever mosquitto makes of them', async (t) => {
  const dir = scratch(t);
  const made = await realPasswordFile(dir);
  const entry = made.split('\n').find((line) => line.startsWith('sensor:'))!;
  for (const [label, { line, sensorLogsIn }] of Object.entries(BROKEN_SENSOR)) {
    const text = made.replace(entry, line(entry, entry.slice('sensor:'.length)));
    t.not(contentProblems('passwd', text).length, 0, `${label}: accepted by us`);
    const broker = await startBroker(t, dir, [`password_file ${write(join(dir, 'passwd'), text)}`]);
    if ('refused' in broker) return t.fail(`${label}: mosquitto refused a password file, which 2.0.11 never does: ${broker.refused}`);
    t.is(await logsIn(broker, 'sensor', PASSWORDS['sensor']!), sensorLogsIn, `${label}: sensor ${sensorLogsIn ? 'could not' : 'could'} log in`);
    t.true(await logsIn(broker, 'mqfo-daemon', PASSWORDS['mqfo-daemon']!), `${label}: the other users are untouched`);
    await broker.stop();
  }
});

// ------------------------------------------------------------------ dynsec

/** mosquitto_ctrl dynsec against `broker` as admin. */
async function ctrl(broker: Broker, ...command: string[]): Promise<void> {
  await execa('mosquitto_ctrl', ['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'admin', '-P', 'admin-pw', 'dynsec', ...command], { timeout: 10_000 });
}

/** A dynamic-security file made by `mosquitto_ctrl dynsec init` and then the real plugin, with the service users, a sensor and a group. */
async function realDynsec(t: ExecutionContext, dir: string): Promise<{ init: string; made: string }> {
  const file = join(dir, 'dynsec.json');
  await execa('mosquitto_ctrl', ['dynsec', 'init', file, 'admin', 'admin-pw'], { timeout: 10_000 });
  const init = readFileSync(file, 'utf8');
  const broker = await startBroker(t, dir, dynsec(file));
  if ('refused' in broker) throw new Error(`mosquitto did not start with the dynsec plugin: ${broker.refused}`);
  for (const user of ['mqfo-bridge', 'mqfo-daemon', 'sensor']) await ctrl(broker, 'createClient', user, '-p', PASSWORDS[user]!);
  await ctrl(broker, 'createRole', 'bridge');
  await ctrl(broker, 'addRoleACL', 'bridge', 'publishClientSend', 'home/#', 'allow', '5');
  await ctrl(broker, 'addRoleACL', 'bridge', 'subscribePattern', 'home/#', 'allow');
  await ctrl(broker, 'addClientRole', 'mqfo-bridge', 'bridge', '3');
  await ctrl(broker, 'createGroup', 'sensors');
  await ctrl(broker, 'addGroupClient', 'sensors', 'sensor');
  await ctrl(broker, 'addGroupRole', 'sensors', 'bridge');
  await broker.stop();
  return { init, made: readFileSync(file, 'utf8') };
}

real('dynsec files written by mosquitto_ctrl and the real plugin are valid; a merged one lets the service users in', async (t) => {
  const dir = scratch(t);
  const { init, made } = await realDynsec(t, dir);
  t.deepEqual(contentProblems('dynsec', init), []);
  t.deepEqual(contentProblems('dynsec', made), []);
  t.deepEqual(missingServiceUsers('dynsec', made, USERS), []);

  // A peer's file where the bridge user is gone and the daemon has the sensor's password.
  const incoming = JSON.parse(made);
  const sensor = incoming.clients.find((client: any) => client.username === 'sensor');
  incoming.clients = incoming.clients.filter((client: any) => client.username !== 'mqfo-bridge');
  Object.assign(incoming.clients.find((client: any) => client.username === 'mqfo-daemon'), { password: sensor.password, salt: sensor.salt });
  const merged = keepServiceUsers('dynsec', JSON.stringify(incoming), made, USERS);
  t.deepEqual(merged.kept, ['mqfo-bridge', 'mqfo-daemon']);
  t.deepEqual(contentProblems('dynsec', merged.content), []);

  const file = write(join(dir, 'merged.json'), merged.content);
  const broker = await startBroker(t, dir, dynsec(file));
  if ('refused' in broker) return t.fail(broker.refused);
  for (const user of ['mqfo-bridge', 'mqfo-daemon', 'sensor']) t.true(await logsIn(broker, user, PASSWORDS[user]!), user);
  await broker.stop();
});

real('dynsec files the plugin mishandles are rejected: a rolename that is no string crashes mosquitto 2.0.11', async (t) => {
  const dir = scratch(t);
  const { made } = await realDynsec(t, dir);
  const crashing = JSON.parse(made);
  crashing.roles.find((role: any) => role.rolename === 'bridge').rolename = 7;
  const text = JSON.stringify(crashing);
  t.deepEqual(contentProblems('dynsec', text), ['roles[1].rolename: must be a string, not 7', 'clients[1].roles[0].rolename: "bridge" does not exist', 'groups[0].roles[0].rolename: "bridge" does not exist']);
  const broker = await startBroker(t, dir, dynsec(write(join(dir, 'crash.json'), text)));
  t.true('refused' in broker && broker.signal === 'SIGSEGV', 'mosquitto 2.0.11 dies of a segmentation fault on it');

  // A dangling role reference: mosquitto starts and silently drops it.
  const dangling = JSON.parse(made);
  dangling.clients.find((client: any) => client.username === 'mqfo-bridge').roles[0].rolename = 'no-such-role';
  t.deepEqual(contentProblems('dynsec', JSON.stringify(dangling)), ['clients[1].roles[0].rolename: "no-such-role" does not exist']);
  const started = await startBroker(t, dir, dynsec(write(join(dir, 'dangling.json'), JSON.stringify(dangling))));
  t.false('refused' in started, 'mosquitto starts with a dangling role reference');
  if (!('refused' in started)) await started.stop();
});
