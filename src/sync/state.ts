/**
 * What this node knows of each synced file (`<state_dir>/sync.json`): the version of its current
 * text, whose edit it is, its hash and its lineage. Without it, a restarted daemon could not tell
 * an edit made while it was down from the version it had.
 */
import { readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { KINDS, type Kind } from './content.js';
import type { FileState } from './decide.js';
import { HISTORY_LENGTH } from './envelope.js';

export type SyncState = Partial<Record<Kind, FileState>>;

const Version = z.strictObject({ wall: z.int().min(0), counter: z.int().min(0), node: z.int().min(1).max(255) });
const File = z.strictObject({ version: Version, origin: z.int().min(1).max(255), sha256: z.string(), history: z.array(Version).max(HISTORY_LENGTH) });
const Stored = z.partialRecord(z.enum(KINDS), File);

export type Loaded = { state: SyncState; problem?: string };

/** The stored state; an unreadable or damaged file is reported and treated as none (the files themselves are the data). */
export async function loadSyncState(file: string): Promise<Loaded> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: {} };
    return { state: {}, problem: (error as Error).message };
  }
  try {
    const parsed = Stored.safeParse(JSON.parse(text));
    if (parsed.success) return { state: parsed.data };
    return { state: {}, problem: parsed.error.issues[0]?.message ?? 'bad shape' };
  } catch (error) {
    return { state: {}, problem: (error as Error).message };
  }
}

export async function saveSyncState(file: string, state: SyncState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state)}\n`, { mode: 0o640 });
}
