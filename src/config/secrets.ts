/** The secrets, from the env file (dotenv) and the process environment. */
import { readFile, stat } from 'node:fs/promises';
import { parse } from 'dotenv';
import { MqfoError, type ConfigProblem } from '../errors.js';
import { assignmentLines, truncatedLines } from './dotenv-lines.js';

export const SECRET_NAMES = {
  clusterSecret: 'MQFO_CLUSTER_SECRET',
  bridgePassword: 'MQFO_BRIDGE_PASSWORD',
  daemonPassword: 'MQFO_DAEMON_PASSWORD',
  vrrpPassword: 'MQFO_VRRP_PASSWORD',
  shadowPassword: 'MQFO_SHADOW_PASSWORD',
} as const;

/** Which node this is, when --node is not given. */
export const NODE_ENV = 'MQFO_NODE';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Secrets {
  clusterSecret: string;
  bridgePassword: string;
  daemonPassword: string;
  vrrpPassword?: string;
  /** The shadow sessions' user (sessions.user); required when sessions.enabled. */
  shadowPassword?: string;
}

/** An env file as config problems point into it. */
export interface EnvSource {
  file: string;
  /** The line of each variable the file set (and the process environment did not). */
  lines: Readonly<Record<string, number>>;
  /** Lines dotenv read wrong: config problems of their own. */
  problems: readonly ConfigProblem[];
}

export interface EnvFile {
  /** The env file's variables, with those of the process environment over them. */
  env: Env;
  /** Where the env file's problems are: its name, the line of each variable read from it, and the lines dotenv read wrong (a value cut at #). */
  source?: EnvSource;
  /** The file and its permission bits, when it was read. */
  read?: { file: string; mode: number };
}

/**
 * Reads the env file. A missing file is an error only when the user named it; values already in
 * the process environment win, as dotenv does.
 */
export async function readEnvFile(file: string, options: { required: boolean; processEnv: Env }): Promise<EnvFile> {
  let text: string;
  let mode: number;
  try {
    text = await readFile(file, 'utf8');
    mode = (await stat(file)).mode & 0o7777;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    if (options.required || !missing) {
      throw new MqfoError('EENVFILE', `cannot read env file ${file}: ${(error as Error).message}`, { cause: error });
    }
    return { env: fromProcess(options.processEnv) };
  }
  const fromEnv = fromProcess(options.processEnv);
  const parsed = parse(text);
  const overridden = new Set(Object.keys(fromEnv));
  return {
    env: { ...parsed, ...fromEnv },
    source: { file, lines: assignmentLines(text, overridden), problems: truncatedLines(text, parsed, file, overridden) },
    read: { file, mode },
  };
}

function fromProcess(processEnv: Env): Env {
  return Object.fromEntries(Object.entries(processEnv).filter(([name]) => name.startsWith('MQFO_')));
}

/**
 * Why an env file's mode exposes its secrets, or undefined. The cluster secret signs every
 * envelope of the peer channel: whoever reads it can hand every node a password file.
 */
export function readableEnvProblem(read: { file: string; mode: number }): string | undefined {
  if ((read.mode & 0o044) === 0) return undefined;
  const who = [(read.mode & 0o040) !== 0 ? 'its group' : '', (read.mode & 0o004) !== 0 ? 'every user' : ''].filter(Boolean).join(' and ');
  return `env file ${read.file} is readable by ${who} (mode ${read.mode.toString(8).padStart(4, '0')}), and it holds the cluster's secrets: run chmod 600 ${read.file}`;
}

/** Only called once rules.ts has checked that the required ones are there. */
export function secretsFrom(env: Env): Secrets {
  const secrets: Secrets = {
    clusterSecret: env[SECRET_NAMES.clusterSecret] ?? '',
    bridgePassword: env[SECRET_NAMES.bridgePassword] ?? '',
    daemonPassword: env[SECRET_NAMES.daemonPassword] ?? '',
  };
  const vrrp = env[SECRET_NAMES.vrrpPassword];
  if (vrrp) secrets.vrrpPassword = vrrp;
  const shadow = env[SECRET_NAMES.shadowPassword];
  if (shadow) secrets.shadowPassword = shadow;
  return secrets;
}
