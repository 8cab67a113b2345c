/**
 * dotenv ends an unquoted value at the first `#`, wherever it is (dotenv's LINE pattern reads
 * `[^#\r\n]+`): `MQFO_BRIDGE_PASSWORD=bridge#secret-part` reads as `bridge`, and a cluster secret
 * is silently shortened. A `#` after white space is a comment, as in a shell; a `#` glued to the
 * value is almost always part of a secret. Such lines are refused with a hint to quote.
 */
import type { ConfigProblem } from '../errors.js';
import type { Env } from './secrets.js';

const ASSIGNMENT = /^\s*(?:export\s+)?(MQFO_[\w.-]*)(?:\s*=\s*|:\s+)(.*)$/;

/** The line (1-based) of each MQFO_ variable's last assignment, the one dotenv keeps. */
export function assignmentLines(text: string, skip: ReadonlySet<string> = new Set()): Record<string, number> {
  const lines: Record<string, number> = {};
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const name = ASSIGNMENT.exec(line)?.[1];
    if (name !== undefined && !skip.has(name)) lines[name] = index + 1;
  }
  return lines;
}

/**
 * The lines of an env file whose unquoted value dotenv cut at a `#`. `parsed` is what dotenv read
 * from `text`; `skip` names variables the process environment sets (the file's value is unused).
 */
export function truncatedLines(text: string, parsed: Env, file: string, skip: ReadonlySet<string> = new Set()): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const match = ASSIGNMENT.exec(line);
    const [, name, value] = match ?? [];
    if (name === undefined || value === undefined || skip.has(name) || /^["'`]/.test(value)) continue;
    const hash = value.search(/(^|[^\s])#/);
    if (hash === -1) continue;
    const kept = value.slice(0, value.indexOf('#', hash)).trim();
    // Only what dotenv did read this way: a later line of the same name may have won.
    if (parsed[name] !== kept) continue;
    problems.push({
      path: `env.${name}`,
      line: index + 1,
      file,
      message: `dotenv reads this value only up to the # (${kept.length} of ${value.trim().length} characters); the rest would be dropped as a comment`,
      hint: `quote the value: ${name}="…#…"`,
    });
  }
  return problems;
}
