/**
 * `mosquitto-failover passwd USER`: creates, updates or (--delete) removes a user in this node's
 * password file through mosquitto_passwd, then waits until every node has the new version. The
 * file is edited as a copy and installed atomically (mosquitto_passwd itself truncates and
 * rewrites in place, which a broker or the sync could read half-written). The daemon on this
 * node sees the change, reloads its broker and publishes it; the peers install it.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from './config/load.js';
import type { NodeConfig } from './config/schema.js';
import { MqfoError, UsageError } from './errors.js';
import type { Runner } from './exec/runner.js';
import { daemonLogin } from './mqtt/client.js';
import { Topics } from './mqtt/topics.js';
import { sealKey } from './peer/seal.js';
import { StatusReader } from './peer/statuses.js';
import { contentProblems } from './sync/content.js';
import { sha256 } from './sync/envelope.js';
import { installFile, readText } from './sync/files.js';

export interface PasswdOptions {
  loaded: LoadedConfig;
  node: NodeConfig;
  user: string;
  /** Undefined with `delete`. */
  password?: string;
  delete?: boolean;
  wait: boolean;
  timeoutMs: number;
  run: Runner;
  say: (line: string) => void;
}

const USER = /^[^\s:#]{1,256}$/;

export function checkUser(loaded: LoadedConfig, user: string): void {
  const { config } = loaded;
  if (!USER.test(user)) throw new UsageError(`${JSON.stringify(user)} is not a user name for a password file (no spaces, ':' or '#')`);
  if (user === config.bridge.user || user === config.daemon.user || (config.sessions.enabled && user === config.sessions.user)) {
    throw new UsageError(`${user} is a service user: its password comes from the env file, and the daemon keeps it in the password file`);
  }
  if (config.broker.auth !== 'files') throw new UsageError('broker.auth is dynsec: manage users with mosquitto_ctrl dynsec, the sync carries the file');
}

/** Runs mosquitto_passwd on a copy of the file; returns the new text, validated. */
async function edit(options: PasswdOptions, path: string): Promise<{ before: string; after: string }> {
  const before = await readText(path);
  if (!before) throw new MqfoError('EPASSWD', `there is no password file at ${path} (render and install the node first)`);
  const scratch = await mkdtemp(join(dirname(path), '.mqfo-passwd-'));
  try {
    const copy = join(scratch, 'passwd');
    await copyFile(path, copy);
    if (options.delete) {
      if (!before.text.split('\n').some((line) => line.startsWith(`${options.user}:`))) throw new UsageError(`there is no user ${options.user} in ${path}`);
      await options.run(['mosquitto_passwd', '-D', copy, options.user], { timeout: 10_000 });
    } else {
      // Twice, as mosquitto_passwd asks for it again; on stdin, never in argv.
      await options.run(['mosquitto_passwd', copy, options.user], { input: `${options.password}\n${options.password}\n`, timeout: 10_000 });
    }
    const after = (await readText(copy))?.text ?? '';
    const problems = contentProblems('passwd', after);
    if (problems.length > 0) throw new MqfoError('EPASSWD', `mosquitto_passwd made a file that is not valid, not installed: ${problems.join('; ')}`);
    return { before: before.text, after };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Returns 0 when every node has the change, 1 when some did not confirm it in time. */
export async function passwd(options: PasswdOptions): Promise<number> {
  const { loaded, node, say } = options;
  const { config } = loaded;
  checkUser(loaded, options.user);
  const path = config.broker.password_file;
  const reader = new StatusReader({ nodes: config.nodes, loginTo: (peer) => daemonLogin(loaded, peer), topics: new Topics(config.cluster), key: sealKey(loaded.secrets.clusterSecret, config.cluster) });
  const waiting = options.wait && config.sync.password_file;
  if (waiting) reader.start();
  try {
    // This node's retained status tells the version before the edit (bounded: 2 s, then none).
    for (let check = 0; waiting && check < 100 && !reader.statuses.has(node.id); check++) await sleep(20);
    const before = reader.statuses.get(node.id)?.versions?.passwd?.version;
    const { before: old, after } = await edit(options, path);
    await installFile(path, after, old);
    say(`${options.delete ? 'deleted' : 'set'} user ${options.user} in ${path} on ${node.name}\n`);
    if (!config.sync.password_file) {
      say('sync.password_file is false: the other nodes keep their own files\n');
      return 0;
    }
    if (!options.wait) return 0;
    return await confirm(options, reader, before, sha256(after));
  } finally {
    await reader.stop();
  }
}

/**
 * Waits for this node's daemon to publish a version of the edited file (its hash is ours, or, if
 * the version before is known, any newer one: the daemon may have put service users back), then
 * for every node to report that version.
 */
async function confirm(options: PasswdOptions, reader: StatusReader, before: string | undefined, installed: string): Promise<number> {
  const { config } = options.loaded;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const confirmed = new Map<number, number>();
  let version: string | undefined;
  while (Date.now() < deadline) {
    const own = reader.statuses.get(options.node.id);
    const ownFile = own?.online ? own.versions?.passwd : undefined;
    if (ownFile && (ownFile.sha256 === installed || (before !== undefined && ownFile.version !== before))) version = ownFile.version;
    if (version !== undefined) {
      for (const peer of config.nodes) {
        if (!confirmed.has(peer.id) && reader.statuses.get(peer.id)?.versions?.passwd?.version === version) confirmed.set(peer.id, Date.now() - started);
      }
      if (confirmed.size === config.nodes.length) break;
    }
    await sleep(50);
  }
  if (version === undefined) {
    options.say(`the daemon on ${options.node.name} has not published the change within ${options.timeoutMs} ms: is it running? (the file is changed here)\n`);
    return 1;
  }
  for (const peer of config.nodes) {
    const ms = confirmed.get(peer.id);
    const status = reader.statuses.get(peer.id);
    const why = !reader.reached.has(peer.id) ? 'its broker cannot be reached' : status?.online ? `it has ${status.versions?.passwd?.version ?? 'no version'}` : 'its daemon is offline';
    options.say(ms === undefined ? `${peer.name}: not yet (${why}); it gets version ${version} when it is back\n` : `${peer.name}: has version ${version} (${ms} ms)\n`);
  }
  return confirmed.size === config.nodes.length ? 0 : 1;
}
