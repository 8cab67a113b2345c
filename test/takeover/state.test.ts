import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { INITIAL_STATE } from '../../src/takeover/plan.js';
import { loadState, saveState } from '../../src/takeover/state.js';
import { scratchDir } from '../helpers/scratch.js';

test('a saved takeover state loads back; a missing file is the initial state', async (t) => {
  const file = join(scratchDir('state'), 'takeover.json');
  t.deepEqual(await loadState(file), INITIAL_STATE);
  const state = { role: 'MASTER' as const, epoch: 3, restartedEpoch: 3, since: '2026-11-23T10:00:00.000Z' };
  await saveState(file, state);
  t.deepEqual(await loadState(file), state);
  t.deepEqual(JSON.parse(readFileSync(file, 'utf8')), state);
  // When MASTER was given up (the planner's hold-down) survives a daemon restart.
  const released = { ...state, role: 'BACKUP' as const, releasedAt: '2026-11-23T10:00:05.000Z' };
  await saveState(file, released);
  t.deepEqual(await loadState(file), released);
  // So does a preparation for a planned takeover: the takeover after a daemon restart still skips its restart.
  const prepared = { ...released, prepared: { at: '2026-11-23T10:00:06.000Z', ok: true } };
  await saveState(file, prepared);
  t.deepEqual(await loadState(file), prepared);
});

test('a state file that is not ours is an error that says what to do', async (t) => {
  const file = join(scratchDir('state'), 'takeover.json');
  writeFileSync(file, '{"role": "MASTER"');
  const error = await t.throwsAsync(loadState(file), { message: /is not a takeover state file.*remove it/ });
  t.is((error as Error & { code: string }).code, 'ESTATE');
});
