/** Service-user entries checked against files made by the real mosquitto_passwd and mosquitto_ctrl. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { serviceEntriesVerify } from '../../src/sync/service.js';
import { scratchDir } from '../helpers/scratch.js';

const users = { bridge: 'mqfo-bridge', daemon: 'mqfo-daemon' };
const passwords = { bridge: 'bridge-pw', daemon: 'daemon-pw' };

function passwordFile(entries: [string, string][]): string {
  const file = join(scratchDir('service'), 'passwd');
  entries.forEach(([user, password], index) => {
    execFileSync('mosquitto_passwd', [...(index === 0 ? ['-c'] : []), '-b', file, user, password], { stdio: 'ignore', timeout: 10_000 });
  });
  return readFileSync(file, 'utf8');
}

test('a password file whose service users have the right passwords verifies', (t) => {
  const text = passwordFile([[users.bridge, passwords.bridge], ['alice', 'x'], [users.daemon, passwords.daemon]]);
  t.true(serviceEntriesVerify('passwd', text, users, passwords));
});

test('a service user missing, with another password or in another hash form does not verify', (t) => {
  t.false(serviceEntriesVerify('passwd', passwordFile([[users.bridge, passwords.bridge], ['alice', 'x']]), users, passwords));
  t.false(serviceEntriesVerify('passwd', passwordFile([[users.bridge, passwords.bridge], [users.daemon, 'wrong']]), users, passwords));
  const good = passwordFile([[users.bridge, passwords.bridge], [users.daemon, passwords.daemon]]);
  t.false(serviceEntriesVerify('passwd', good.replace(/^mqfo-daemon:\$7\$/m, 'mqfo-daemon:$6$'), users, passwords));
  t.false(serviceEntriesVerify('passwd', `${good}${good.split('\n')[1]}\n`, users, passwords), 'a user twice');
});

test('dynamic-security clients made by mosquitto_ctrl verify with their passwords', (t) => {
  const dir = scratchDir('service');
  const file = join(dir, 'dynsec.json');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', file, users.daemon, passwords.daemon], { stdio: 'ignore', timeout: 10_000 });
  const json = JSON.parse(readFileSync(file, 'utf8')) as { clients: Record<string, unknown>[] };
  const daemon = json.clients[0]!;
  json.clients.push({ ...daemon, username: users.bridge });
  // The bridge entry carries the daemon's hash: it must not verify as the bridge's password.
  t.false(serviceEntriesVerify('dynsec', JSON.stringify(json), users, passwords));
  t.true(serviceEntriesVerify('dynsec', JSON.stringify(json), users, { ...passwords, bridge: passwords.daemon }));
  t.false(serviceEntriesVerify('dynsec', 'not json', users, passwords));
});

test('the ACL has no secrets to check: its service block always comes from this node', (t) => {
  t.false(serviceEntriesVerify('acl', 'user mqfo-bridge\ntopic readwrite #\n', users, passwords));
});

test('with shadow sessions on, the shadow user is a service user too: missing or with another password, the file does not verify', (t) => {
  const withShadow = { ...users, shadow: 'mqfo-shadow' };
  const shadowPasswords = { ...passwords, shadow: 'shadow-pw' };
  const all = passwordFile([[users.bridge, passwords.bridge], [users.daemon, passwords.daemon], ['mqfo-shadow', 'shadow-pw']]);
  const without = passwordFile([[users.bridge, passwords.bridge], [users.daemon, passwords.daemon]]);
  t.true(serviceEntriesVerify('passwd', all, withShadow, shadowPasswords));
  t.false(serviceEntriesVerify('passwd', without, withShadow, shadowPasswords));
  t.false(serviceEntriesVerify('passwd', all, withShadow, { ...shadowPasswords, shadow: 'wrong' }));
  // Sessions off: the shadow user is an ordinary user, which a sync may remove.
  t.true(serviceEntriesVerify('passwd', without, users, passwords));
});
