/**
 * Config in, file texts out. The templates are plain Liquid files in templates/; a user can
 * override any of them by putting a file of the same name in their own templates directory.
 */
import { fileURLToPath } from 'node:url';
import { posix } from 'node:path';
import { Liquid } from 'liquidjs';
import type { LoadedConfig } from '../config/load.js';
import type { NodeConfig } from '../config/schema.js';
import { MqfoError } from '../errors.js';
import { nodeView, type NodeView } from './model.js';

export const BUILTIN_TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface RenderedFile {
  /** File name in the render output directory. */
  name: string;
  /** Where it belongs on the node. */
  target: string;
  mode: number;
  content: string;
}

/**
 * A value as one word of a POSIX shell: single quotes, in which nothing is special, and a single
 * quote itself as '\''. The config already refuses anything odd in what the scripts use; this is
 * the second wall, for a template or a field that changes later.
 */
export function shellQuote(value: unknown): string {
  return `'${String(value).replaceAll("'", "'\\''")}'`;
}

export function createTemplateEngine(overrideDir?: string): Liquid {
  const engine = new Liquid({
    root: overrideDir ? [overrideDir, BUILTIN_TEMPLATES] : [BUILTIN_TEMPLATES],
    // A typo in a template must fail the render, not produce an empty value in a config file.
    strictVariables: true,
    strictFilters: true,
    // …but an optional setting may be tested with {% if %}.
    lenientIf: true,
    // Drop the newline after a tag, as Jinja's trim_blocks does, so templates read like the output.
    trimTagRight: true,
    greedy: false,
  });
  engine.registerFilter('shell_quote', shellQuote);
  return engine;
}

interface FileSpec {
  template: string;
  name: string;
  target: (view: NodeView) => string;
  mode: number;
  when?: (view: NodeView) => boolean;
}

const SYSTEMD = '/etc/systemd/system';
const keepalived = (view: NodeView): boolean => view.config.failover.driver === 'keepalived';
const ucarp = (view: NodeView): boolean => view.config.failover.driver === 'ucarp';

const FILES: readonly FileSpec[] = [
  // Holds the bridge password (on every node but the hub): readable by the broker's group only.
  { template: 'mosquitto.conf', name: 'mosquitto.conf', target: (v) => v.config.broker.config_file, mode: 0o640 },
  {
    template: 'service-users.acl',
    name: 'service-users.acl',
    target: (v) => posix.join(v.config.daemon.config_dir, 'service-users.acl'),
    mode: 0o640,
    when: (v) => v.config.broker.auth === 'files',
  },
  { template: 'keepalived.conf', name: 'keepalived.conf', target: () => '/etc/keepalived/keepalived.conf', mode: 0o600, when: keepalived },
  { template: 'ucarp.args', name: 'ucarp.args', target: (v) => v.paths.ucarpArgs, mode: 0o644, when: ucarp },
  { template: 'ucarp.pass', name: 'ucarp.pass', target: (v) => v.paths.ucarpPass, mode: 0o600, when: ucarp },
  { template: 'vip-up.sh', name: 'vip-up.sh', target: (v) => v.paths.vipUp, mode: 0o750, when: ucarp },
  { template: 'vip-down.sh', name: 'vip-down.sh', target: (v) => v.paths.vipDown, mode: 0o750, when: ucarp },
  {
    template: 'mosquitto-failover-ucarp.service',
    name: 'mosquitto-failover-ucarp.service',
    target: () => posix.join(SYSTEMD, 'mosquitto-failover-ucarp.service'),
    mode: 0o644,
    when: ucarp,
  },
  {
    template: 'mosquitto-failover.service',
    name: 'mosquitto-failover.service',
    target: () => posix.join(SYSTEMD, 'mosquitto-failover.service'),
    mode: 0o644,
  },
  { template: 'tmpfiles.conf', name: 'mosquitto-failover.tmpfiles.conf', target: () => '/etc/tmpfiles.d/mosquitto-failover.conf', mode: 0o644 },
];

/** Every file one node needs, in memory; nothing is written here. */
export function renderNode(engine: Liquid, loaded: LoadedConfig, node: NodeConfig, version: string): RenderedFile[] {
  const view = nodeView(loaded.config, loaded.secrets, node, version);
  return FILES.filter((spec) => spec.when?.(view) ?? true).map((spec) => {
    let content: string;
    try {
      content = engine.renderFileSync(`${spec.template}.liquid`, view) as string;
    } catch (error) {
      throw new MqfoError('ETEMPLATE', `cannot render template ${spec.template}.liquid: ${(error as Error).message}`, { cause: error });
    }
    return { name: spec.name, target: spec.target(view), mode: spec.mode, content };
  });
}
