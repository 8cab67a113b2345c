/**
 * Puts rendered files in place so that a failure leaves nothing half-written: every node's files
 * are written first into a staging directory beside the output (same file system, so a rename
 * moves them), and only when all of them are there are they moved into place, one rename per
 * node directory (per file where the directory already exists and may hold other files).
 */
import { lstat, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { messageOf, MqfoError, UsageError } from '../errors.js';
import type { RenderedFile } from './render.js';

export interface Output {
  /** The directory the files go into. */
  dir: string;
  files: readonly RenderedFile[];
}

export type WriteFile = (path: string, content: string, mode: number) => Promise<void>;

const writeWithMode: WriteFile = (path, content, mode) => writeFileAtomic(path, content, { mode });

async function kindOf(path: string): Promise<'missing' | 'dir' | 'other'> {
  try {
    return (await lstat(path)).isDirectory() ? 'dir' : 'other';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}

/** Refuses, before anything is written, an output that cannot take the files. */
async function checkPlaces(out: string, outputs: readonly Output[]): Promise<void> {
  for (const place of [out, ...outputs.map((output) => output.dir)]) {
    if ((await kindOf(place)) === 'other') throw new UsageError(`--out ${out}: ${place} is a file, not a directory`);
  }
  for (const output of outputs) {
    for (const file of output.files) {
      const path = join(output.dir, file.name);
      if ((await kindOf(path)) === 'dir') throw new UsageError(`--out ${out}: ${path} is a directory, where the rendered ${file.name} goes`);
    }
  }
}

/** Writes every output, or none: returns the paths written, in order. */
export async function writeOutputs(out: string, outputs: readonly Output[], write: WriteFile = writeWithMode): Promise<string[]> {
  await checkPlaces(out, outputs);
  const parent = dirname(resolve(out));
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.${basename(resolve(out))}.staging-`));
  try {
    // A directory of its own per output, made with the usual mode (mkdtemp's is 0700).
    const staged = outputs.map((output, index) => ({ ...output, from: join(staging, String(index)) }));
    try {
      for (const output of staged) {
        await mkdir(output.from);
        for (const file of output.files) await write(join(output.from, file.name), file.content, file.mode);
      }
    } catch (error) {
      throw new MqfoError('EWRITE', `cannot write the rendered files (nothing was put into ${out}): ${messageOf(error)}`, { cause: error });
    }
    const written: string[] = [];
    try {
      for (const output of staged) {
        if ((await kindOf(output.dir)) === 'missing') {
          await mkdir(dirname(resolve(output.dir)), { recursive: true });
          await rename(output.from, output.dir);
        } else {
          for (const file of output.files) await rename(join(output.from, file.name), join(output.dir, file.name));
        }
        written.push(...output.files.map((file) => join(output.dir, file.name)));
      }
    } catch (error) {
      // A rename within one file system fails only when something else changed the output meanwhile.
      throw new MqfoError('EWRITE', `cannot move the rendered files into ${out} (${written.length} were moved): ${messageOf(error)}`, { cause: error });
    }
    return written;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
