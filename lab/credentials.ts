/**
 * Users and logins in the lab, for the sync tests and bench:sync: edits with the real
 * mosquitto_passwd on a node's password file (as an admin would, in place), and logins with the
 * real mosquitto_pub from the client namespace to a node's own address.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../src/exec/runner.js';
import { MAX_PACKET_BYTES } from '../src/peer/limits.js';
import { open, seal, sealKey } from '../src/peer/seal.js';
import { adminTlsArgs } from './certs.js';
import { Lab, type LabOptions } from './lab.js';
import type { LabDocument } from './topology.js';
import type { LabNode } from './node.js';
import { waitFor } from './wait.js';

export function passwordFile(node: LabNode): string {
  return node.config.broker.password_file;
}

export function readPasswordFile(node: LabNode): string {
  return readFileSync(passwordFile(node), 'utf8');
}

export function usersIn(node: LabNode): string[] {
  return readPasswordFile(node).split('\n').flatMap((line) => (line.includes(':') ? [line.slice(0, line.indexOf(':'))] : [])).sort();
}

/** `mosquitto_passwd -b FILE USER PASSWORD` on the node's file: lab passwords only, so argv is fine here. */
export function setPassword(node: LabNode, user: string, password: string): void {
  execFileSync('mosquitto_passwd', ['-b', passwordFile(node), user, password], { stdio: 'ignore', timeout: 10_000 });
}

export function deleteUser(node: LabNode, user: string): void {
  execFileSync('mosquitto_passwd', ['-D', passwordFile(node), user], { stdio: 'ignore', timeout: 10_000 });
}

/** Whether `user` can log in (CONNECT and a QoS 1 publish) on the node's client listener. */
export async function canLogin(lab: Lab, node: LabNode, user: string, password: string): Promise<boolean> {
  const result = await lab.client.exec(['mosquitto_pub', '-h', node.address, '-p', String(node.config.broker.client_port), '-u', user, '-P', password, '-t', 'lab/login', '-m', 'x', '-q', '1'], {
    reject: false,
    timeout: 5_000,
  });
  return result.exitCode === 0;
}

/** Waits (bounded) until a login of `user` on `node` succeeds (or, with `expected` false, fails); resolves with the ms it took. */
export async function waitForLogin(lab: Lab, node: LabNode, user: string, password: string, expected = true, timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  await waitFor(`${user} ${expected ? 'to log in' : 'to be refused'} on ${node.name}`, async () => (await canLogin(lab, node, user, password)) === expected, { timeoutMs, intervalMs: 10 });
  return Date.now() - started;
}

/** The node's sync state (`state/sync.json`), as its daemon last saved it. */
export function syncState(node: LabNode): Record<string, { version: { wall: number; counter: number; node: number }; sha256: string } | undefined> {
  try {
    return JSON.parse(readFileSync(join(node.config.daemon.state_dir, 'sync.json'), 'utf8')) as ReturnType<typeof syncState>;
  } catch {
    return {};
  }
}

const key = (version: { wall: number; counter: number; node: number } | undefined) => (version ? `${version.wall}.${version.counter}@${version.node}` : undefined);

/** Waits (bounded) until every node has the same version of `kind`; resolves with it. */
export async function waitForSameVersion(lab: Lab, kind: string, timeoutMs = 20_000): Promise<string> {
  return waitFor(
    `every node to have the same version of ${kind}`,
    () => {
      const versions = lab.nodes.map((node) => key(syncState(node)[kind]?.version));
      return versions.every((version) => version !== undefined && version === versions[0]) ? versions[0] : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/**
 * A lab with the daemon on every node and its files synced: node1 has taken the VIP (which
 * restarts its broker) and every node has the same version of each of `kinds` (at the first
 * start their files differ, other salts: one wins everywhere).
 */
export async function startSyncedLab(options: Omit<LabOptions, 'daemon'> = {}, kinds: readonly string[] = ['passwd', 'acl']): Promise<Lab> {
  // Health off: these tests lock the daemon user out of a broker on purpose (the sync rolls that
  // back within its 5 s check), which the health monitor rightly takes for a sick broker and
  // moves the VIP, in the middle of tests that share one lab and are about files. Health has its
  // own lab tests (test/lab/health.test.ts).
  const configure = (document: LabDocument) => {
    options.configure?.(document);
    document.health = { enabled: false };
  };
  const lab = await Lab.start({ ...options, daemon: true, configure });
  await lab.waitForVipOn(1);
  await lab.node(1).waitForRole('MASTER', 0);
  for (const kind of kinds) await waitForSameVersion(lab, kind);
  return lab;
}

/** The node's dynamic-security JSON (`broker.auth: dynsec`), as its plugin or daemon last wrote it. */
export function readDynsecFile(node: LabNode): string {
  return readFileSync(node.config.broker.dynsec_file, 'utf8');
}

/** The usernames of the clients in the node's dynamic-security file, sorted. */
export function dynsecClients(node: LabNode): string[] {
  const { clients } = JSON.parse(readDynsecFile(node)) as { clients?: { username?: unknown }[] };
  return (clients ?? []).flatMap((client) => (typeof client.username === 'string' ? [client.username] : [])).sort();
}

/** `mosquitto_ctrl dynsec ARGS` as the lab's admin against `node`'s admin listener, from the client namespace (lab passwords only, so argv is fine). */
export async function dynsecCtrl(lab: Lab, node: LabNode, args: readonly string[]): Promise<RunResult> {
  const { user, password } = lab.adminUser;
  return lab.client.exec(['mosquitto_ctrl', '-h', node.address, '-p', String(node.config.broker.admin_port), ...adminTlsArgs(node.config), '-u', user, '-P', password, 'dynsec', ...args], { reject: false, timeout: 15_000 });
}

/** The peer channel's `topic` (relative to `mosquitto-failover/<cluster>/`) on `node`'s admin listener. */
export function channelTopic(node: LabNode, topic: string): string {
  return `mosquitto-failover/${node.config.cluster}/${topic}`;
}

/** The daemon user's mosquitto_pub/_sub arguments for `node`'s admin listener (with the CA under tls). */
export function daemonArgs(node: LabNode): string[] {
  const { config, secrets } = node.placed.loaded;
  return ['-h', node.address, '-p', String(config.broker.admin_port), ...adminTlsArgs(config), '-u', config.daemon.user, '-P', secrets.daemonPassword];
}

/** Publishes `payload` (bytes) retained on `topic` of `node`'s broker with `login` (mosquitto_pub -f: binary-safe). */
export async function publishRaw(lab: Lab, login: readonly string[], topic: string, payload: Buffer | string): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'mqfo-payload-'));
  try {
    const file = join(directory, 'payload');
    writeFileSync(file, payload);
    await lab.client.exec(['mosquitto_pub', ...login, '-t', topic, '-q', '1', '-r', '-f', file], { timeout: 10_000 });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Publishes `payload` retained on the peer channel's `topic` of `node`'s broker, as the daemon user (as a forger with its password would). */
export async function publishAsDaemon(lab: Lab, node: LabNode, topic: string, payload: Buffer | string): Promise<void> {
  await publishRaw(lab, daemonArgs(node), channelTopic(node, topic), payload);
}

/** Seals `value` for the peer channel's `topic` with the cluster secret and publishes it there, as a holder of the secret could. */
export async function publishSealed(lab: Lab, node: LabNode, topic: string, value: unknown): Promise<void> {
  const { config, secrets } = node.placed.loaded;
  await publishAsDaemon(lab, node, topic, seal(sealKey(secrets.clusterSecret, config.cluster), channelTopic(node, topic), value));
}

/** The retained message on `topic` of `node`'s broker read with `login`, as bytes (mosquitto_sub -F %x), or undefined when there is none within 5 s. */
export async function retainedRaw(lab: Lab, login: readonly string[], topic: string): Promise<Buffer | undefined> {
  const result = await lab.client.exec(['mosquitto_sub', ...login, '-t', topic, '-C', '1', '-W', '5', '-F', '%x'], { reject: false, timeout: 10_000 });
  return result.exitCode === 0 ? Buffer.from(result.stdout.trim(), 'hex') : undefined;
}

/** The retained message on the peer channel's `topic` of `node`'s broker, opened with the cluster secret; undefined when there is none or it does not open. */
export async function retainedOn(lab: Lab, node: LabNode, topic: string): Promise<unknown> {
  const payload = await retainedRaw(lab, daemonArgs(node), channelTopic(node, topic));
  if (!payload) return undefined;
  const { config, secrets } = node.placed.loaded;
  const opened = open(sealKey(secrets.clusterSecret, config.cluster), channelTopic(node, topic), payload, MAX_PACKET_BYTES);
  return opened.ok ? opened.value : undefined;
}
