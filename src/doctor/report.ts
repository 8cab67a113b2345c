/**
 * What `doctor` found, one line per check, and the exit code. Pure: the checks (checks.ts) only
 * return values; this decides how they read.
 */

export interface CheckResult {
  name: string;
  /** `skipped` needs a reason in `detail`: a check that cannot run here is not a pass. `warn`: works, but wants a look (does not fail). */
  ok: true | false | 'skipped' | 'warn';
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

const MARK = { true: 'ok  ', false: 'FAIL', skipped: 'skip', warn: 'warn' } as const;

/** The exit code: 0 when no check failed (skipped and warning ones do not fail), 1 otherwise. */
export function exitCodeOf(results: readonly CheckResult[]): 0 | 1 {
  return results.some((result) => result.ok === false) ? 1 : 0;
}

export function formatReport(results: readonly CheckResult[]): string {
  const width = Math.max(0, ...results.map((result) => result.name.length));
  const lines = results.map((result) => {
    const fix = (result.ok === false || result.ok === 'warn') && result.fix ? `; fix: ${result.fix}` : '';
    return `${MARK[String(result.ok) as keyof typeof MARK]} ${result.name.padEnd(width)}  ${result.detail}${fix}`;
  });
  const count = (ok: CheckResult['ok']) => results.filter((result) => result.ok === ok).length;
  const failed = count(false);
  const warned = count('warn');
  lines.push(`${results.length} check${results.length === 1 ? '' : 's'}: ${count(true)} ok, ${warned > 0 ? `${warned} warned, ` : ''}${failed} failed, ${count('skipped')} skipped`);
  return `${lines.join('\n')}\n`;
}
