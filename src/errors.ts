/** Errors carry a stable `code`, the offending value in the message and the original as `cause`. */

/**
 * Every code an error of ours can carry, with the exit code the CLI ends with for it: 2 for what
 * the user can fix in the command line or the config (usage), 1 for everything else.
 */
export const ERROR_CODES = {
  ECONFIG: 2,
  ECONFIGFILE: 2,
  EENVFILE: 2,
  ETLSFILE: 2,
  ENODE: 2,
  EUSAGE: 2,
  ECOMMAND: 1,
  ETEMPLATE: 1,
  EWRITE: 1,
  ESTATE: 1,
  EFIFO: 1,
  EPASSWD: 1,
  ENOTSYNCED: 1,
  EBROKER: 1,
  EDRIVER: 1,
  ENOTREADY: 1,
  EUNHEALTHY: 1,
  ENOTCONNECTED: 1,
  EMETRICS: 1,
  ESWITCHOVER: 1,
  EDOCTOR: 1,
  ESTATUS: 1,
  EMESH: 1,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class MqfoError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One validation problem: where it is (`nodes[1].address`) and what is wrong with it. */
export interface ConfigProblem {
  path: string;
  message: string;
  hint?: string;
  /** The line the path points at, when it is there: of cluster.yaml, unless `file` says otherwise. */
  line?: number;
  /** The file the line is in when it is not cluster.yaml (the env file). */
  file?: string;
}

// A message is one line of a terminal, not a copy of the input: an echoed 10 MB value would bury
// every other problem.
const MAX_MESSAGE = 300;

export function formatProblem(problem: ConfigProblem): string {
  const where =
    problem.line === undefined ? problem.path : `${problem.path} (${problem.file ? `line ${problem.line} of ${problem.file}` : `line ${problem.line}`})`;
  return `${where}: ${cut(problem.message, MAX_MESSAGE)}${problem.hint ? ` (hint: ${problem.hint})` : ''}`;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * A value as a message quotes it: JSON, cut to about `max` characters (a whole 10 MB value on
 * stderr hides everything else), with the full length said when it was cut.
 */
export function quoted(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Nested too deeply for JSON.stringify's recursion: say what it is instead.
    text = Array.isArray(value) ? '[a deeply nested list]' : '{a deeply nested mapping}';
  }
  if (text.length <= max) return text;
  const length = typeof value === 'string' ? ` (${value.length} characters)` : '';
  return `${text.slice(0, max - 1)}…${length}`;
}

/** Every problem of a config at once; the CLI prints them one per line and exits 2. */
export class ConfigError extends MqfoError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options?: ErrorOptions) {
    super('ECONFIG', `invalid configuration:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, options);
    this.problems = problems;
  }
}

/** A command line the user got wrong (unknown flag, missing argument). */
export class UsageError extends MqfoError {
  constructor(message: string, options?: ErrorOptions) {
    super('EUSAGE', message, options);
  }
}

/** The message of anything thrown, for a log line or a wrapping error. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
