/** What is missing here for the lab (the table of programs and packages: machine.mjs). */
import { existsSync } from 'node:fs';
import { NFQUEUE_HEADER, onPath, PROGRAMS } from './machine.mjs';

/**
 * What is missing for `programs` (default: all the lab's): "root", program names, headers. With
 * the Debian packages that provide them, for the message.
 */
export function missingForLab(programs: readonly string[] = Object.keys(PROGRAMS)): { missing: string[]; packages: string[] } {
  const missing: string[] = [];
  const packages = new Set<string>();
  if (process.getuid?.() !== 0) missing.push('root');
  for (const program of programs) {
    if (onPath(program)) continue;
    missing.push(program);
    packages.add((PROGRAMS as Readonly<Record<string, string>>)[program] ?? program);
  }
  if (programs.includes('cc') && !existsSync(NFQUEUE_HEADER)) {
    missing.push('libnetfilter_queue.h');
    packages.add('libnetfilter-queue-dev');
  }
  return { missing, packages: [...packages] };
}

/** One line saying why the lab cannot run here, or undefined when it can. */
export function labUnavailable(programs?: readonly string[]): string | undefined {
  const { missing, packages } = missingForLab(programs);
  if (missing.length === 0) return undefined;
  const install = packages.length > 0 ? `; apt-get install ${packages.join(' ')}` : '';
  return `needs ${missing.join(', ')}${missing.includes('root') ? ' (run as root)' : ''}${install}`;
}
