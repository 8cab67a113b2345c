/** The secrets, from the env file (dotenv) and the process environment. */
import { readFile } from 'node:fs/promises';
import { parse } from 'dotenv';
import { MqfoError } from '../errors.js';

export const SECRET_NAMES = {
  clusterSecret: 'MQFO_CLUSTER_SECRET',
  bridgePassword: 'MQFO_BRIDGE_PASSWORD',
  daemonPassword: 'MQFO_DAEMON_PASSWORD',
  vrrpPassword: 'MQFO_VRRP_PASSWORD',
} as const;

/** Which node this is, when --node is not given. */
export const NODE_ENV = 'MQFO_NODE';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Secrets {
  clusterSecret: string;
  bridgePassword: string;
  daemonPassword: string;
  vrrpPassword?: string;
}

/**
 * Reads the env file. A missing file is an error only when the user named it; values already in
 * the process environment win, as dotenv does.
 */
export async function loadEnv(file: string, options: { required: boolean; processEnv: Env }): Promise<Env> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    if (options.required || !missing) {
      throw new MqfoError('EENVFILE', `cannot read env file ${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  const fromProcess = Object.fromEntries(Object.entries(options.processEnv).filter(([name]) => name.startsWith('MQFO_')));
  return { ...parse(text), ...fromProcess };
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
  return secrets;
}
