/**
 * Which `mosquitto-failover` the lab and the tests run: the compiled `dist/bin.js`, what
 * `npm run build` makes and `npm pack` ships, as users run it. It also starts in a third of the
 * CPU time of the sources under tsx (0.85 s against 2.4 s here), which on a 2-CPU machine is the
 * difference between a suite that keeps its pace under load and one whose CLI calls time out.
 *
 * `npm test` builds before the tests run (package.json `check`); the demo and the benches build
 * when the sources are newer (ensureFreshDist). A test process never builds: several run at once,
 * and two tsc writing one dist would race. It refuses a stale dist instead (requireFreshDist).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The daemon and CLI as shipped. */
export const DIST_ENTRY = join(ROOT, 'dist/bin.js');
/** The sources, run under tsx (bench:footprint --tsx compares the two). */
export const SOURCE_ENTRY = join(ROOT, 'src/bin.ts');

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The newest modification time (ms) of the files under `dir`. */
function newest(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { withFileTypes: true, recursive: true }).filter((entry) => entry.isFile()).map((entry) => mtime(join(entry.parentPath, entry.name))));
}

/** Why dist/ cannot be run as the sources are now, or undefined. tsc rewrites every output on each build. */
export function distStaleness(): string | undefined {
  const built = mtime(DIST_ENTRY);
  if (built === 0) return `${DIST_ENTRY} does not exist`;
  const sources = Math.max(newest(join(ROOT, 'src')), ...['tsconfig.json', 'tsconfig.build.json'].map((file) => mtime(join(ROOT, file))));
  return built >= sources ? undefined : `${DIST_ENTRY} is older than the sources in src/`;
}

let checked = false;

/** Throws, saying what to run, when dist/ is missing or older than src/ (checked once per process). */
export function requireFreshDist(): void {
  if (checked) return;
  const stale = distStaleness();
  if (stale) throw new Error(`${stale}: run \`npm run build\` first (npm test does)`);
  checked = true;
}

/** Builds dist/ when it is missing or stale (for the demo and the benches, one process each); tsc's output goes to stderr. */
export function ensureFreshDist(progress: (line: string) => void): void {
  const stale = distStaleness();
  if (!stale) return;
  progress(`${stale}: npm run build`);
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2], timeout: 300_000 });
  checked = true;
}

/** The argv that runs `mosquitto-failover ARGS` as shipped (after requireFreshDist). */
export function cliArgv(args: readonly string[]): string[] {
  requireFreshDist();
  return [process.execPath, DIST_ENTRY, ...args];
}
