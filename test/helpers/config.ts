/** Small builders for tests: the examples, and variations of a valid config as plain objects. */
import { readFileSync } from 'node:fs';
import { parse } from 'dotenv';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import type { Env } from '../../src/config/secrets.js';
import { stringify } from 'yaml';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const EXAMPLE_ENV: Env = parse(readFileSync(`${ROOT}examples/cluster.env`, 'utf8'));

export function example(name: 'two-node' | 'three-node', env: Env = EXAMPLE_ENV): LoadedConfig {
  return parseConfig(readFileSync(`${ROOT}examples/${name}.yaml`, 'utf8'), env);
}

/** A minimal valid two-node config as a plain object, to be changed by a test. */
export function baseDocument(): Record<string, any> {
  return {
    cluster: 'home',
    vip: { address: '192.168.1.50', prefix: 24, interface: 'eth0' },
    nodes: [
      { id: 1, name: 'mqtt-a', address: '192.168.1.11', priority: 150 },
      { id: 2, name: 'mqtt-b', address: '192.168.1.12', priority: 100 },
    ],
    bridge: { topics: [{ pattern: 'home/#' }] },
  };
}

export function yamlOf(document: unknown): string {
  return stringify(document);
}
