/** cluster.yaml + env file -> a typed, validated config, or a ConfigError listing every problem. */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, parseDocument, type Document, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { ConfigError, MqfoError, quoted, type ConfigProblem } from '../errors.js';
import { ruleProblems } from './rules.js';
import { Bridge, Broker, Cluster, Control, Daemon, Failover, Health, HomeAssistant, Metrics, Node, Sync, Tls, Topic, Vip, type ClusterConfig } from './schema.js';
import { secretsFrom, type Env, type EnvSource, type Secrets } from './secrets.js';
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
  health: Object.keys(Health.shape),
  metrics: Object.keys(Metrics.shape),
  control: Object.keys(Control.shape),
  homeassistant: Object.keys(HomeAssistant.shape),
};

/** A hint for a key that is missing, by the path of the object that lacks it. */
const MISSING_HINTS: Record<string, string> = {
  tls: 'set all three of tls.cafile, tls.certfile and tls.keyfile, or leave the tls section out',
};

export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  // An unknown key is the user's text: a huge one is shown cut, like any quoted value.
  const name = (key: PropertyKey) => (String(key).length > 64 ? quoted(String(key), 64) : String(key));
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `${text ? '.' : ''}${name(key)}`;
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
      if (issue.message.startsWith('Invalid input')) return [{ path, message: `must be ${issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}, not ${quoted(issue.input)}` }];
      return [{ path, message: `${issue.message}, not ${quoted(issue.input)}` }];
    case 'invalid_value':
      return [{ path, message: `${quoted(issue.input)} is not one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` }];
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

// yaml's own guard against an alias bomb (a few lines that expand to gigabytes): its default.
const MAX_ALIAS_COUNT = 100;
const EXAMPLE = 'see examples/two-node.yaml';

/** The YAML document of a config file, or the one problem that keeps it from being read. */
function parseYaml(text: string, lineCounter: LineCounter): { document?: Document.Parsed; problems: ConfigProblem[] } {
  let document: Document.Parsed;
  try {
    document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    return { problems: [yamlFailure(error)] };
  }
  const lineOfError = (error: YAMLError) => error.linePos?.[0]?.line;
  const multiple = document.errors.find((error) => error.code === 'MULTIPLE_DOCS');
  if (multiple) {
    const count = parseAllDocuments(text).length;
    return { problems: [{ path: `(yaml line ${lineOfError(multiple) ?? '?'})`, message: `the file holds ${count} YAML documents; it must be one, the cluster mapping`, hint: 'remove the --- line and what follows, or merge the documents' }] };
  }
  if (document.errors.length > 0) {
    return {
      problems: document.errors.map((error) => ({
        path: `(yaml line ${lineOfError(error) ?? '?'})`,
        message: /call stack/i.test(error.message) ? TOO_DEEP : (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, ''),
      })),
    };
  }
  return { document, problems: [] };
}

const TOO_DEEP = 'nests lists or mappings too deeply to be read (the cluster file needs only a few levels)';

/** A failure of the YAML library itself (deep nesting, an alias bomb) as a config problem, not a crash. */
function yamlFailure(error: unknown): ConfigProblem {
  if (error instanceof RangeError) return { path: '(top level)', message: TOO_DEEP };
  if (error instanceof ReferenceError && /alias/i.test(error.message)) {
    return { path: '(top level)', message: `expands its aliases (*name) more than ${MAX_ALIAS_COUNT} times`, hint: 'the cluster file needs no aliases; write the values out' };
  }
  throw error;
}

/**
 * Parses YAML text and validates it. Problems carry the YAML line where the path can be found,
 * and an env variable's problem the env file's line (from `envSource`, when the file set it);
 * the env file's own problems (values dotenv cut short) are reported with the rest.
 */
export function parseConfig(text: string, env: Env, envSource?: EnvSource): LoadedConfig {
  const envProblems = envSource?.problems ?? [];
  const lineCounter = new LineCounter();
  const { document, problems: yamlProblems } = parseYaml(text, lineCounter);
  if (!document) throw new ConfigError([...yamlProblems, ...envProblems]);
  if (document.contents === null) {
    throw new ConfigError([{ path: '(top level)', message: `is empty: expected the cluster mapping (${EXAMPLE})` }, ...envProblems]);
  }
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw new ConfigError([yamlFailure(error), ...envProblems]);
  }
  if (raw === null || raw === undefined) {
    throw new ConfigError([{ path: '(top level)', message: `is empty: expected the cluster mapping (${EXAMPLE})` }, ...envProblems]);
  }
  // The line of a path, or of its nearest parent that is in the file (a missing key has none).
  const lineOf = (path: (string | number)[]): number | undefined => {
    for (let length = path.length; length > 0; length--) {
      const node = document.getIn(path.slice(0, length), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const { config, problems } = validate(raw, env);
  // A value dotenv cut short is reported once, as cut, not again as (say) too short.
  const envPaths = new Set(envProblems.map((problem) => problem.path));
  if (!config || envProblems.length > 0) {
    const located = problems
      .filter((problem) => !envPaths.has(problem.path))
      .map((problem) => {
        if (problem.path.startsWith('env.')) {
          const line = envSource?.lines[problem.path.slice('env.'.length)];
          return line === undefined || !envSource ? problem : { ...problem, line, file: envSource.file };
        }
        const line = lineOf(problemPath(problem.path));
        return line === undefined ? problem : { ...problem, line };
      });
    throw new ConfigError([...located, ...envProblems].sort((a, b) => order(a) - order(b)));
  }
  return { config, secrets: secretsFrom(env), env };
}

/** cluster.yaml's problems by line, then those without one, then the env file's by line. */
function order(problem: ConfigProblem): number {
  if (problem.file !== undefined) return 2e9 + (problem.line ?? 0);
  return problem.line ?? 1e9;
}

function problemPath(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((match) => (match[2] === undefined ? (match[1] ?? '') : Number(match[2])));
}

export async function loadConfig(file: string, env: Env, envSource?: EnvSource): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new MqfoError('ECONFIGFILE', `cannot read config file ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseConfig(text, env, envSource);
}
