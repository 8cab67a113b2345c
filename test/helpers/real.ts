/**
 * Running the real programs: what a test needs (root, binaries), and rendering a node with its
 * files placed in a scratch directory instead of /etc and /var (the template is the same).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedConfig } from '../../src/config/load.js';
import type { NodeConfig } from '../../src/config/schema.js';
import { createTemplateEngine, renderNode } from '../../src/render/render.js';

/** Why the real programs cannot run here, or undefined when they can. Under CI a reason is fatal. */
export function missingRequirements(programs: readonly string[]): string | undefined {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const program of programs) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', '_', program], { stdio: 'ignore' });
    } catch {
      missing.push(program);
    }
  }
  if (missing.length === 0) return undefined;
  const reason = `needs ${missing.join(', ')} (run as root after: apt-get install mosquitto mosquitto-clients keepalived iptables iproute2 ucarp)`;
  if (process.env['CI']) throw new Error(`CI must run the real-program tests, but this machine ${reason}`);
  return reason;
}

export interface PlacedNode {
  dir: string;
  files: Map<string, string>;
  loaded: LoadedConfig;
}

let mosquittoIds: { uid: number; gid: number } | undefined;

/** The broker drops root privileges to this user; looked up once. */
function mosquittoUser(): { uid: number; gid: number } {
  mosquittoIds ??= { uid: Number(execFileSync('id', ['-u', 'mosquitto']).toString()), gid: Number(execFileSync('id', ['-g', 'mosquitto']).toString()) };
  return mosquittoIds;
}

/**
 * Renders `node` with every path of the broker, daemon and scripts moved under a new scratch
 * directory, writes the files there, and hands the directory to the mosquitto user (the broker
 * drops root privileges to it).
 */
export function placeNode(loaded: LoadedConfig, node: NodeConfig, label: string): PlacedNode {
  const dir = mkdtempSync(join(tmpdir(), `mqfo-${label}-`));
  for (const sub of ['etc', 'data', 'run', 'state']) mkdirSync(join(dir, sub));
  const config = structuredClone(loaded.config);
  config.broker = {
    ...config.broker,
    persistence_location: `${dir}/data/`,
    password_file: `${dir}/etc/passwd`,
    acl_file: `${dir}/etc/service-users.acl`,
    dynsec_file: `${dir}/data/dynamic-security.json`,
    config_file: `${dir}/etc/mosquitto.conf`,
  };
  config.daemon = { ...config.daemon, config_dir: `${dir}/etc`, run_dir: `${dir}/run`, state_dir: `${dir}/state` };
  const placed = { ...loaded, config };
  const files = new Map<string, string>();
  for (const file of renderNode(createTemplateEngine(), placed, node, 'test')) {
    const path = join(dir, 'etc', file.name);
    writeFileSync(path, file.content, { mode: file.mode });
    files.set(file.name, path);
  }
  const { uid, gid } = mosquittoUser();
  for (const sub of ['', 'etc', 'data', 'run', 'state']) chownSync(join(dir, sub), uid, gid);
  for (const path of files.values()) chownSync(path, uid, gid);
  return { dir, files, loaded: placed };
}

/** The service users in the password file, made by the real mosquitto_passwd. */
export function writeServiceUsers(placed: PlacedNode): void {
  const { config, secrets } = placed.loaded;
  const file = config.broker.password_file;
  execFileSync('mosquitto_passwd', ['-c', '-b', file, config.bridge.user, secrets.bridgePassword], { stdio: 'ignore' });
  execFileSync('mosquitto_passwd', ['-b', file, config.daemon.user, secrets.daemonPassword], { stdio: 'ignore' });
  const { uid, gid } = mosquittoUser();
  chownSync(file, uid, gid);
}
