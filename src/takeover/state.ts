/** The takeover state file (`<state_dir>/takeover.json`): small, written atomically, read once at start. */
import { readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { MqfoError } from '../errors.js';
import { INITIAL_STATE, type TakeoverState } from './plan.js';

const Stored = z.object({
  role: z.enum(['MASTER', 'BACKUP', 'FAULT', 'STOP', 'UNKNOWN']),
  epoch: z.int().min(0),
  restartedEpoch: z.int().min(0),
  since: z.string(),
  releasedAt: z.string().optional(),
  prepared: z.object({ at: z.string(), ok: z.boolean() }).optional(),
});

export async function loadState(file: string): Promise<TakeoverState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return INITIAL_STATE;
    throw new MqfoError('ESTATE', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = Stored.safeParse(json);
  if (!parsed.success) throw new MqfoError('ESTATE', `${file} is not a takeover state file (${parsed.error.issues[0]?.message ?? 'bad shape'}); remove it to start from scratch`);
  return parsed.data;
}

export async function saveState(file: string, state: TakeoverState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state)}\n`, { mode: 0o644 });
}
