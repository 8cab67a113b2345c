/**
 * Installing a synced file the way DESIGN.md asks: the previous file kept as `.bak`, the new one
 * written to a temp file in the same directory, fsynced and renamed over the old one with its
 * owner and mode (write-file-atomic copies both from the file it replaces), then the directory
 * fsynced so the rename survives a power cut.
 */
import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

export interface FileText {
  text: string;
  mtimeMs: number;
}

/** The file's text, or undefined if there is none. */
export async function readText(path: string): Promise<FileText | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(dirname(path), 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A file that did not exist gets 0640 and the directory's group: the broker reads it through its
 * group (/etc/mosquitto is root:mosquitto on Debian), nobody else does (hashes are secrets too).
 */
async function newFileOptions(path: string): Promise<{ mode: number; chown: { uid: number; gid: number } }> {
  const directory = await stat(dirname(path));
  return { mode: 0o640, chown: { uid: process.getuid?.() ?? 0, gid: directory.gid } };
}

/** A file beside `path` (`.bak`, a conflict copy) with the owner and mode of `path`. */
async function writeBeside(path: string, beside: string, content: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  const options = info ? { mode: info.mode & 0o7777, chown: { uid: info.uid, gid: info.gid } } : await newFileOptions(path);
  await writeFileAtomic(beside, content, options);
}

/** None for a file that exists (write-file-atomic keeps its owner and mode), else those of a new file. */
async function replacingOptions(path: string): Promise<writeFileAtomic.Options> {
  return (await stat(path).catch(() => undefined)) ? {} : newFileOptions(path);
}

export function backupPath(path: string): string {
  return `${path}.bak`;
}

/** Replaces `path` with `content`, the old text kept as `.bak` (when there was one). */
export async function installFile(path: string, content: string, previous: string | undefined): Promise<void> {
  // With no previous text, an old .bak is not this file's past: a rollback must not bring it back.
  if (previous !== undefined) await writeBeside(path, backupPath(path), previous);
  else await rm(backupPath(path), { force: true });
  await writeFileAtomic(path, content, await replacingOptions(path));
  await fsyncDirectory(path);
}

/** Puts `.bak` back; false if there is none. */
export async function rollBack(path: string): Promise<boolean> {
  const backup = await readText(backupPath(path));
  if (!backup) return false;
  await writeFileAtomic(path, backup.text, await replacingOptions(path));
  await fsyncDirectory(path);
  return true;
}

/**
 * How many copies of each sort (`.conflict-…`, `.rejected-…`) are kept beside a file. They hold
 * password hashes (of deleted users too), so they do not pile up: the oldest go.
 */
export const COPIES_KEPT = 5;

/** The copies beside `file` (names in its directory, with their times) that go so that COPIES_KEPT of each sort stay. Pure. */
export function copiesToRemove(file: string, entries: readonly { name: string; mtimeMs: number }[], keep = COPIES_KEPT): string[] {
  return ['conflict-', 'rejected-'].flatMap((sort) =>
    entries
      .filter((entry) => entry.name.startsWith(`${file}.${sort}`))
      .sort((a, b) => b.mtimeMs - a.mtimeMs || b.name.localeCompare(a.name))
      .slice(keep)
      .map((entry) => entry.name),
  );
}

/** Keeps a losing version's text beside the file, once, and the newest COPIES_KEPT of its sort; returns its path. */
export async function keepBeside(path: string, suffix: string, content: string): Promise<string> {
  const beside = `${path}.${suffix}`;
  if (!(await readText(beside))) await writeBeside(path, beside, content);
  const directory = dirname(path);
  const names = (await readdir(directory)).filter((name) => name.startsWith(`${basename(path)}.`));
  const entries = await Promise.all(names.map(async (name) => ({ name, mtimeMs: (await stat(join(directory, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
  await Promise.all(copiesToRemove(basename(path), entries).map((name) => rm(join(directory, name), { force: true })));
  return beside;
}
