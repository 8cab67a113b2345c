/** The one seam through which external programs run: argv arrays (never a shell string), via execa. */
import { execa, ExecaError } from 'execa';
import { MqfoError } from '../errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Milliseconds before the program is killed; every call is bounded. */
  timeout?: number;
  input?: string;
  /** Resolve with a non-zero exit code instead of throwing. */
  reject?: boolean;
  /** Variables added to the daemon's environment for this program. */
  env?: Record<string, string>;
}

export class CommandError extends MqfoError {
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number | undefined, stderr: string, options?: ErrorOptions) {
    super('ECOMMAND', `${argv.join(' ')} failed${exitCode === undefined ? '' : ` with exit code ${exitCode}`}${stderr ? `: ${stderr.trim()}` : ''}`, options);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export type Runner = (argv: readonly string[], options?: RunOptions) => Promise<RunResult>;

export const run: Runner = async (argv, options = {}) => {
  const [file, ...args] = argv;
  if (!file) throw new MqfoError('ECOMMAND', 'empty command');
  try {
    const result = await execa(file, args, {
      timeout: options.timeout ?? 30_000,
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.env === undefined ? {} : { env: options.env }),
      reject: options.reject ?? true,
      stripFinalNewline: false,
    });
    return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 };
  } catch (error) {
    if (error instanceof ExecaError) {
      throw new CommandError(argv, error.exitCode, typeof error.stderr === 'string' ? error.stderr : '', { cause: error });
    }
    throw error;
  }
};
