/**
 * Installing synced files, on real files in a scratch directory. As root: the owner a replaced
 * file keeps is the mosquitto user's, which only root can give it.
 */
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import test from 'ava';
import { COPIES_KEPT, copiesToRemove, installFile, keepBeside, readText, rollBack } from '../../src/sync/files.js';
import { missingRequirements } from '../helpers/real.js';
import { scratchDir } from '../helpers/scratch.js';

// The mosquitto package brings the mosquitto user.
const missing = missingRequirements(['mosquitto']);
const real = missing ? test.skip : test;
if (missing) console.log(`file installation tests skipped: this machine ${missing}`);

const mosquitto = missing ? { uid: -1, gid: -1 } : { uid: Number(id('-u')), gid: Number(id('-g')) };

function id(flag: string): string {
  return execFileSync('id', [flag, 'mosquitto'], { encoding: 'utf8' }).trim();
}

/** A broker file owned by mosquitto with mode 0600: neither is what a new file gets. */
function brokerFile(text: string): string {
  const path = join(scratchDir('files'), 'passwd');
  writeFileSync(path, text);
  chownSync(path, mosquitto.uid, mosquitto.gid);
  chmodSync(path, 0o600);
  return path;
}

function ownerAndMode(path: string): { uid: number; gid: number; mode: number } {
  const info = statSync(path);
  return { uid: info.uid, gid: info.gid, mode: info.mode & 0o7777 };
}

const brokerOwned = { uid: mosquitto.uid, gid: mosquitto.gid, mode: 0o600 };

real('installFile renames the new text over the file, keeps the previous text as .bak, both with the owner and mode of the file', async (t) => {
  const path = brokerFile('old\n');
  const before = statSync(path).ino;
  const reader = openSync(path, 'r');
  t.teardown(() => closeSync(reader));
  await installFile(path, 'new\n', 'old\n');
  t.is(readFileSync(path, 'utf8'), 'new\n');
  t.not(statSync(path).ino, before, 'a new inode: renamed over the old file, not written into it');
  const buffer = Buffer.alloc(16);
  t.is(buffer.toString('utf8', 0, readSync(reader, buffer, 0, buffer.length, 0)), 'old\n', 'a reader of the old file still reads it whole');
  t.is(readFileSync(`${path}.bak`, 'utf8'), 'old\n');
  t.deepEqual(ownerAndMode(path), brokerOwned);
  t.deepEqual(ownerAndMode(`${path}.bak`), brokerOwned);
  t.deepEqual(readdirSync(dirname(path)).sort(), ['passwd', 'passwd.bak'], 'no temp file left behind');
});

real('installFile keeps the text it replaces as .bak, not an older one', async (t) => {
  const path = brokerFile('one\n');
  await installFile(path, 'two\n', 'one\n');
  await installFile(path, 'three\n', 'two\n');
  t.is(readFileSync(path, 'utf8'), 'three\n');
  t.is(readFileSync(`${path}.bak`, 'utf8'), 'two\n');
  t.deepEqual(ownerAndMode(`${path}.bak`), brokerOwned);
});

real('a file that did not exist gets mode 0640, this process as owner and the directory\'s group, and no .bak', async (t) => {
  const dir = scratchDir('files');
  chownSync(dir, 0, mosquitto.gid);
  const path = join(dir, 'acl');
  await installFile(path, 'topic read #\n', undefined);
  t.is(readFileSync(path, 'utf8'), 'topic read #\n');
  t.deepEqual(ownerAndMode(path), { uid: 0, gid: mosquitto.gid, mode: 0o640 });
  t.false(existsSync(`${path}.bak`));
});

real('rollBack puts .bak back, with the owner and mode of the file', async (t) => {
  const path = brokerFile('good\n');
  await installFile(path, 'bad\n', 'good\n');
  t.true(await rollBack(path));
  t.is(readFileSync(path, 'utf8'), 'good\n');
  t.deepEqual(ownerAndMode(path), brokerOwned);
});

real('rollBack onto a file removed since gives it what a new file gets, not 0644 root:root', async (t) => {
  const dir = scratchDir('files');
  chownSync(dir, 0, mosquitto.gid);
  const path = join(dir, 'passwd');
  writeFileSync(`${path}.bak`, 'good\n');
  t.true(await rollBack(path));
  t.is(readFileSync(path, 'utf8'), 'good\n');
  t.deepEqual(ownerAndMode(path), { uid: 0, gid: mosquitto.gid, mode: 0o640 });
});

real('rollBack without a .bak changes nothing and says so', async (t) => {
  const path = brokerFile('only\n');
  t.false(await rollBack(path));
  t.is(readFileSync(path, 'utf8'), 'only\n');
  t.deepEqual(ownerAndMode(path), brokerOwned);
});

real('keepBeside writes FILE.SUFFIX once, with the owner and mode of the file', async (t) => {
  const path = brokerFile('current\n');
  const kept = await keepBeside(path, 'conflict-b-1', 'theirs\n');
  t.is(kept, `${path}.conflict-b-1`);
  t.is(readFileSync(kept, 'utf8'), 'theirs\n');
  t.deepEqual(ownerAndMode(kept), brokerOwned);
  t.is(await keepBeside(path, 'conflict-b-1', 'other\n'), kept);
  t.is(readFileSync(kept, 'utf8'), 'theirs\n', 'the first text kept stays');
  t.is(readFileSync(path, 'utf8'), 'current\n', 'the file itself is not touched');
});

real('keepBeside keeps the newest five copies of each sort and removes older ones, and nothing else beside the file', async (t) => {
  const path = brokerFile('current\n');
  const directory = dirname(path);
  writeFileSync(`${path}.bak`, 'previous\n');
  writeFileSync(join(directory, 'passwd-other.conflict-x'), 'not this file\'s\n');
  for (let index = 0; index < 7; index++) {
    await keepBeside(path, `conflict-node2-${index}`, `theirs ${index}\n`);
    await keepBeside(path, `rejected-${index}`, `refused ${index}\n`);
  }
  const names = readdirSync(directory).sort();
  t.deepEqual(names, [
    'passwd',
    'passwd-other.conflict-x',
    'passwd.bak',
    ...[2, 3, 4, 5, 6].map((index) => `passwd.conflict-node2-${index}`),
    ...[2, 3, 4, 5, 6].map((index) => `passwd.rejected-${index}`),
  ]);
  t.is(COPIES_KEPT, 5);
});

test('copiesToRemove picks the oldest of each sort beyond the number kept', (t) => {
  const entries = [
    { name: 'acl.conflict-a', mtimeMs: 1 },
    { name: 'acl.conflict-b', mtimeMs: 3 },
    { name: 'acl.conflict-c', mtimeMs: 2 },
    { name: 'acl.rejected-1', mtimeMs: 1 },
    { name: 'acl.bak', mtimeMs: 0 },
    { name: 'acl', mtimeMs: 0 },
  ];
  t.deepEqual(copiesToRemove('acl', entries, 2), ['acl.conflict-a']);
  t.deepEqual(copiesToRemove('acl', entries, 0), ['acl.conflict-b', 'acl.conflict-c', 'acl.conflict-a', 'acl.rejected-1']);
});

real('readText gives the text and mtime of a file, undefined for a missing one', async (t) => {
  const path = brokerFile('text\n');
  t.deepEqual(await readText(path), { text: 'text\n', mtimeMs: statSync(path).mtimeMs });
  t.is(await readText(join(path, '..', 'missing')), undefined);
  await t.throwsAsync(readText(dirname(path)), { code: 'EISDIR' }, 'other errors are not taken for a missing file');
});
