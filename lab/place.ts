/**
 * A node's rendered files with every path of the broker, daemon and scripts moved under one
 * directory instead of /etc and /var (the templates are the same), owned by the mosquitto user,
 * which the broker drops its root privileges to.
 */
import { execFileSync } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LoadedConfig } from '../src/config/load.js';
import type { NodeConfig } from '../src/config/schema.js';
import { nodeView } from '../src/render/model.js';
import { createTemplateEngine, renderNode } from '../src/render/render.js';
import { VERSION } from '../src/version.js';
import { issueCert, type Issued } from './certs.js';

export interface PlacedNode {
  dir: string;
  /** The node's own cluster.yaml and .env (the moved paths, the lab's secrets), for its daemon. */
  clusterFile: string;
  envFile: string;
  /** Rendered file name (`mosquitto.conf`…) to its path under `dir/etc`. */
  files: Map<string, string>;
  /** The config with the moved paths, as the node's daemon would load it. */
  loaded: LoadedConfig;
}

const SUBDIRS = ['', 'etc', 'data', 'run', 'state', 'log'];

let mosquittoIds: { uid: number; gid: number } | undefined;

/** The mosquitto user's ids, looked up once. */
export function mosquittoUser(): { uid: number; gid: number } {
  mosquittoIds ??= { uid: Number(execFileSync('id', ['-u', 'mosquitto']).toString()), gid: Number(execFileSync('id', ['-g', 'mosquitto']).toString()) };
  return mosquittoIds;
}

export function chownToMosquitto(path: string): void {
  const { uid, gid } = mosquittoUser();
  chownSync(path, uid, gid);
}

/** Renders `node` into `dir` (created if missing) with etc/, data/, run/, state/ and log/ below it. */
export function placeNode(loaded: LoadedConfig, node: NodeConfig, dir: string): PlacedNode {
  for (const sub of SUBDIRS) mkdirSync(join(dir, sub), { recursive: true });
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
  // The lab's keepalived writes its pid here (LabNode.startFailover).
  if (config.failover.driver === 'keepalived') config.failover = { ...config.failover, pid_file: `${dir}/run/keepalived.pid` };
  // The same file names on every node, as with a shared cluster.yaml; each node its own files (placeTls).
  if (config.tls) config.tls = { cafile: `${dir}/etc/tls/ca.crt`, certfile: `${dir}/etc/tls/node.crt`, keyfile: `${dir}/etc/tls/node.key` };
  const placed = { ...loaded, config };
  const files = new Map<string, string>();
  // This version, as `mosquitto-failover render` writes them: `doctor` compares them byte for byte.
  for (const file of renderNode(createTemplateEngine(), placed, node, VERSION)) {
    const path = join(dir, 'etc', file.name);
    writeFileSync(path, file.content, { mode: file.mode });
    files.set(file.name, path);
  }
  const clusterFile = join(dir, 'etc', 'cluster.yaml');
  const envFile = join(dir, 'etc', '.env');
  writeFileSync(clusterFile, stringify(config), { mode: 0o644 });
  const secrets = Object.entries(loaded.env).filter(([name, value]) => name.startsWith('MQFO_') && value !== undefined);
  writeFileSync(envFile, secrets.map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 });
  for (const sub of SUBDIRS) chownToMosquitto(join(dir, sub));
  for (const path of files.values()) chownToMosquitto(path);
  return { dir, clusterFile, envFile, files, loaded: placed };
}

/**
 * The node's TLS files where its config names them: the CA's certificate, and a certificate of
 * its own from `ca` with its address as an IP SAN; the key readable by the broker only.
 */
export function placeTls(placed: PlacedNode, node: NodeConfig, ca: Issued): void {
  const { tls } = placed.loaded.config;
  if (!tls) throw new Error(`${node.name}: the config has no tls section`);
  const dir = join(placed.dir, 'etc', 'tls');
  const issued = issueCert(ca, dir, 'node', node.address);
  copyFileSync(ca.cert, tls.cafile);
  if (issued.cert !== tls.certfile || issued.key !== tls.keyfile) throw new Error(`${node.name}: tls paths ${tls.certfile}, ${tls.keyfile} are not where the certificate was made (${dir})`);
  // mosquitto rereads its certificate on a SIGHUP, after it has dropped root for the mosquitto user.
  for (const path of [dir, tls.cafile, tls.certfile, tls.keyfile]) chownToMosquitto(path);
}

/** The password file with the service users and `extra` users, made by the real mosquitto_passwd. */
export function writePasswordFile(placed: PlacedNode, extra: readonly { user: string; password: string }[] = []): void {
  const { config, secrets } = placed.loaded;
  const file = config.broker.password_file;
  const shadow = config.sessions.enabled ? [{ user: config.sessions.user, password: secrets.shadowPassword ?? '' }] : [];
  const users = [{ user: config.bridge.user, password: secrets.bridgePassword }, { user: config.daemon.user, password: secrets.daemonPassword }, ...shadow, ...extra];
  users.forEach(({ user, password }, index) => {
    execFileSync('mosquitto_passwd', [...(index === 0 ? ['-c'] : []), '-b', file, user, password], { stdio: 'ignore', timeout: 10_000 });
  });
  chownToMosquitto(file);
  // mosquitto_passwd -c leaves it as the umask says (0644): every local user could read the
  // hashes, and mosquitto 2 warns about it. The broker owns it and alone reads it.
  chmodSync(file, 0o600);
}

/** An ACL-file style rule (`topic ACCESS TOPIC`) for a dynamic-security role. */
export type DynsecRule = readonly ['read' | 'write' | 'readwrite' | 'deny', string];

export interface DynsecUser {
  user: string;
  password: string;
  /** What the client may do, as in an ACL file: its role (named after it) gets these rules. */
  rules: readonly DynsecRule[];
}

const SEND = ['publishClientSend'];
const RECEIVE = ['publishClientReceive', 'subscribePattern'];
const ACL_TYPES = { read: RECEIVE, write: SEND, readwrite: [...SEND, ...RECEIVE], deny: [...SEND, ...RECEIVE] } as const;

/**
 * The dynamic-security plugin's JSON with the service users and `extra` clients, each with a role
 * of its own name that grants what the files-auth ACL would (service-users.acl.liquid). Hashes as
 * `mosquitto_ctrl dynsec init` writes them: PBKDF2-SHA512, 64-byte key, 12-byte salt, 101
 * iterations, base64; tab-indented like the plugin's own cJSON_Print.
 */
export function writeDynsecFile(placed: PlacedNode, extra: readonly DynsecUser[] = []): void {
  const { config, secrets } = placed.loaded;
  // The service users' rights are the same on every node.
  const { topics, peerPrefix } = nodeView(config, secrets, config.nodes[0]!, 'lab');
  const users: DynsecUser[] = [
    {
      user: config.bridge.user,
      password: secrets.bridgePassword,
      rules: [['deny', `${peerPrefix}/#`], ...topics.map((topic): DynsecRule => [topic.access, topic.pattern]), ['write', '$SYS/broker/connection/+/state']],
    },
    { user: config.daemon.user, password: secrets.daemonPassword, rules: [['readwrite', `${peerPrefix}/#`], ['read', '$SYS/#']] },
    ...extra,
  ];
  const client = ({ user, password }: DynsecUser) => {
    const salt = randomBytes(12);
    const hash = pbkdf2Sync(password, salt, 101, 64, 'sha512');
    return { username: user, password: hash.toString('base64'), salt: salt.toString('base64'), iterations: 101, roles: [{ rolename: user }] };
  };
  // The plugin checks a client's ACLs highest priority first: a deny goes before the allows.
  const role = ({ user, rules }: DynsecUser) => ({
    rolename: user,
    acls: rules.flatMap(([access, topic]) => ACL_TYPES[access].map((acltype) => ({ acltype, topic, priority: access === 'deny' ? 1 : 0, allow: access !== 'deny' }))),
  });
  const document = {
    clients: users.map(client),
    groups: [],
    roles: users.map(role),
    // `mosquitto_ctrl dynsec init`'s defaults.
    defaultACLAccess: { publishClientSend: false, publishClientReceive: true, subscribe: false, unsubscribe: true },
  };
  const file = config.broker.dynsec_file;
  // Read and rewritten by the plugin, which runs as the mosquitto user.
  writeFileSync(file, `${JSON.stringify(document, null, '\t')}\n`, { mode: 0o600 });
  chownToMosquitto(file);
}
