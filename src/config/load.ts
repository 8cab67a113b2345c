/** cluster.yaml + env file -> a typed, validated config, or a ConfigError listing every problem. */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, MqfoError, type ConfigProblem } from '../errors.js';
import { ruleProblems } from './rules.js';
import { Bridge, Broker, Cluster, Daemon, Failover, Node, Sync, Tls, Topic, Vip, type ClusterConfig } from './schema.js';
import { secretsFrom, type Env, type Secrets } from './secrets.js';
import type { TlsMaterial } from './tls.js';

export const DEFAULT_CONFIG = '/etc/mosquitto-failover/cluster.yaml';
export const DEFAULT_ENV = '/etc/mosquitto-failover/.env';

export interface LoadedConfig {
  config: ClusterConfig;
  secrets: Secrets;
  env: Env;
  /** The CA of `config.tls`, once read (withTls in tls.ts): `run` and `passwd` need it, `check` and `render` do not. */
  tls?: TlsMaterial;
}

/** The keys each object accepts, by its path with list indexes dropped, for "unknown key" hints. */
const KEYS: Record<string, readonly string[]> = {
  '': Object.keys(Cluster.shape),
  vip: Object.keys(Vip.shape),
  failover: Object.keys(Failover.shape),
  nodes: Object.keys(Node.shape),
  broker: Object.keys(Broker.shape),
  bridge: Object.keys(Bridge.shape),
  'bridge.topics': Object.keys(Topic.shape),
  daemon: Object.keys(Daemon.shape),
  sync: Object.keys(Sync.shape),
  tls: Object.keys(Tls.shape),
};

/** A hint for a key that is missing, by the path of the object that lacks it. */
const MISSING_HINTS: Record<string, string> = {
  tls: 'set all three of tls.cafile, tls.certfile and tls.keyfile, or leave the tls section out',
};

export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `${text ? '.' : ''}${String(key)}`;
  return text || '(top level)';
}

function issueProblems(issue: z.core.$ZodIssue): ConfigProblem[] {
  const path = formatPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = KEYS[issue.path.filter((key) => typeof key !== 'number').join('.')];
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        message: 'unknown key',
        ...(allowed ? { hint: `allowed here: ${allowed.join(', ')}` } : {}),
      }));
    }
    case 'invalid_type':
      if (issue.input === undefined) {
        const hint = MISSING_HINTS[issue.path.slice(0, -1).filter((key) => typeof key !== 'number').join('.')];
        return [{ path, message: 'is missing', ...(hint ? { hint } : {}) }];
      }
      if (issue.message.startsWith('Invalid input')) return [{ path, message: `must be ${issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}, not ${JSON.stringify(issue.input)}` }];
      return [{ path, message: `${issue.message}, not ${JSON.stringify(issue.input)}` }];
    case 'invalid_value':
      return [{ path, message: `${JSON.stringify(issue.input)} is not one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` }];
    default:
      return [{ path, message: issue.message }];
  }
}

/** Validates an already parsed document: schema first, then the cross-field rules, all reported. */
export function validate(raw: unknown, env: Env): { config?: ClusterConfig; problems: ConfigProblem[] } {
  const result = Cluster.safeParse(raw, { reportInput: true });
  const problems = [...(result.success ? [] : result.error.issues.flatMap(issueProblems)), ...ruleProblems(raw, env)];
  return result.success && problems.length === 0 ? { config: result.data, problems } : { problems };
}

/** Parses YAML text and validates it. Problems carry the YAML line where the path can be found. */
export function parseConfig(text: string, env: Env): LoadedConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => ({
        path: `(yaml line ${error.linePos?.[0]?.line ?? '?'})`,
        message: (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, ''),
      })),
    );
  }
  // The line of a path, or of its nearest parent that is in the file (a missing key has none).
  const lineOf = (path: (string | number)[]): number | undefined => {
    for (let length = path.length; length > 0; length--) {
      const node = document.getIn(path.slice(0, length), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const { config, problems } = validate(document.toJS(), env);
  if (!config) {
    const located = problems.map((problem) => {
      const line = lineOf(problemPath(problem.path));
      return line === undefined ? problem : { ...problem, line };
    });
    throw new ConfigError(located.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)));
  }
  return { config, secrets: secretsFrom(env), env };
}

function problemPath(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((match) => (match[2] === undefined ? (match[1] ?? '') : Number(match[2])));
}

export async function loadConfig(file: string, env: Env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new MqfoError('ECONFIGFILE', `cannot read config file ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseConfig(text, env);
}
