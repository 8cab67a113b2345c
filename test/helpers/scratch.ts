/** Scratch directories for tests, removed when the test process exits (pass or fail). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export function scratchDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mqfo-${label}-`));
  made.push(dir);
  return dir;
}
