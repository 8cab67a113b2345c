/**
 * The lab: a switch namespace with a Linux bridge, one namespace per broker node with its address
 * on eth0, and a client namespace, all on LAB_NETWORK. Each node's files come from the project's
 * own renderer; mosquitto and keepalived (or ucarp) run in each node as processes of their own.
 * Teardown removes every namespace, process and file the lab made, also after a failed test or
 * an interrupt (see netns.ts), and the next run removes what a crashed run left.
 */
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { LoadedConfig } from '../src/config/load.js';
import { bridgeOf } from '../src/render/model.js';
import { blockTcp, blockVrrp, unblockTcp, unblockVrrp } from './faults.js';
import { atRunExit, destroySync, isNamedRun, namespacesOf, Netns, removeStaleNamespaces, type RunId } from './netns.js';
import { LabNode, type DaemonStartOptions } from './node.js';
import { makeCa, type Issued } from './certs.js';
import { placeNode, placeTls, writeDynsecFile, writePasswordFile, type DynsecRule } from './place.js';
import { isRunning } from './process.js';
import { LAB_CLIENT_ADDRESS, LAB_INTERFACE, LAB_PREFIX, labCluster, type LabClusterOptions } from './topology.js';
import { waitFor } from './wait.js';
import type { Env } from '../src/config/secrets.js';

export interface LabOptions extends LabClusterOptions {
  /** A name (`up`) for a lab that outlives this process (`npm run lab:up`); this process's pid otherwise. */
  runId?: RunId;
  /** Start mosquitto and keepalived/ucarp on every node (default true). */
  start?: boolean;
  /**
   * Run the daemon on every node. Under `control: supervise` (the lab's default) it starts
   * mosquitto itself; under any other control the lab starts mosquitto first. Likewise ucarp
   * under `failover.control: supervise` (the lab's default with ucarp).
   */
  daemon?: boolean;
  /** The daemons' environment (default this process's). */
  daemonEnv?: NodeJS.ProcessEnv;
  /** How the daemons are started (entry, log level, node's own options). */
  daemonStart?: Omit<DaemonStartOptions, 'env'>;
}

export interface Credentials {
  user: string;
  password: string;
}

/** The lab's user for probes and tests: `lab/#` read-write, `$SYS/#` read (bridge state). */
const CLIENT_ACL = '\n# The lab client.\nuser lab\ntopic readwrite lab/#\ntopic read $SYS/#\n';
/** The same rights under `broker.auth: dynsec`. */
const CLIENT_RULES: DynsecRule[] = [['readwrite', 'lab/#'], ['read', '$SYS/#']];
/** What `mosquitto_ctrl dynsec` needs (the admin role of `mosquitto_ctrl dynsec init`, less its `#` read). */
const ADMIN_RULES: DynsecRule[] = [['readwrite', '$CONTROL/dynamic-security/#'], ['read', '$SYS/#']];

/** Where a named lab (lab:up) keeps its files until lab:down. */
export function namedLabDir(name: string): string {
  return join(tmpdir(), `mqfo${name}-lab`);
}
const DIR_NAME = /^mqfo(\d+)-lab-/;

export class Lab {
  readonly loaded: LoadedConfig;
  readonly env: Env;
  readonly yaml: string;
  readonly dir: string;
  readonly runId: RunId;
  readonly switch: Netns;
  readonly client: Netns;
  readonly nodes: LabNode[];
  readonly clientUser: Credentials;
  /** The dynamic-security admin, for mosquitto_ctrl; a client of the brokers only under `broker.auth: dynsec`. */
  readonly adminUser: Credentials;
  /** The throwaway CA that signed the nodes' certificates (`tls`), in `dir`. */
  readonly ca: Issued | undefined;
  private stopped = false;
  /** Drops the exit-time removal of `dir` once stop() has removed it. */
  private readonly forgetDir: () => void;

  private constructor(fields: Pick<Lab, 'loaded' | 'env' | 'yaml' | 'dir' | 'runId' | 'switch' | 'client' | 'nodes' | 'clientUser' | 'adminUser' | 'ca'> & { forgetDir: () => void }) {
    this.loaded = fields.loaded;
    this.env = fields.env;
    this.yaml = fields.yaml;
    this.dir = fields.dir;
    this.runId = fields.runId;
    this.switch = fields.switch;
    this.client = fields.client;
    this.nodes = fields.nodes;
    this.clientUser = fields.clientUser;
    this.adminUser = fields.adminUser;
    this.ca = fields.ca;
    this.forgetDir = fields.forgetDir;
  }

  static async start(options: LabOptions = {}): Promise<Lab> {
    const runId = options.runId ?? process.pid;
    if (runId === process.pid) {
      await removeStaleLabs();
    } else if ((await namespacesOf(runId)).length > 0) {
      throw new Error(`a lab of run "${runId}" is already up; remove it first (npm run lab:down)`);
    }
    const { loaded, yaml, env } = labCluster(options);
    const dir = runId === process.pid ? mkdtempSync(join(tmpdir(), `mqfo${runId}-lab-`)) : namedLabDir(String(runId));
    mkdirSync(dir, { recursive: true });
    // The brokers run as the mosquitto user and must reach their files below.
    chmodSync(dir, 0o711);
    const forget = runId === process.pid ? atRunExit(() => rmSync(dir, { recursive: true, force: true })) : () => undefined;
    const made: Netns[] = [];
    const create = async (tag: string) => {
      const ns = await Netns.create(tag, runId);
      made.push(ns);
      return ns;
    };
    try {
      const switchNs = await create('switch');
      await switchNs.ip(['link', 'add', 'br0', 'type', 'bridge']);
      await switchNs.ip(['link', 'set', 'br0', 'up']);
      /** A host on the switch: eth0 in `ns`, its port `port` on br0. */
      const plug = async (ns: Netns, port: string, address: string) => {
        await switchNs.connect(port, ns, LAB_INTERFACE);
        await switchNs.ip(['link', 'set', port, 'master', 'br0']);
        await switchNs.ip(['link', 'set', port, 'up']);
        await ns.ip(['address', 'add', `${address}/${LAB_PREFIX}`, 'dev', LAB_INTERFACE]);
        await ns.ip(['link', 'set', LAB_INTERFACE, 'up']);
      };
      const client = await create('client');
      await plug(client, 'client', LAB_CLIENT_ADDRESS);
      const clientUser = { user: 'lab', password: randomBytes(9).toString('hex') };
      const adminUser = { user: 'lab-admin', password: randomBytes(9).toString('hex') };
      const nodes: LabNode[] = [];
      // A throwaway CA: its key lives in the lab's directory, removed with it.
      const ca = loaded.config.tls ? makeCa(join(dir, 'ca'), 'lab-ca') : undefined;
      for (const node of loaded.config.nodes) {
        const ns = await create(`n${node.id}`);
        await plug(ns, `n${node.id}`, node.address);
        const placed = placeNode(loaded, node, join(dir, node.name));
        if (ca) placeTls(placed, node, ca);
        if (loaded.config.broker.auth === 'dynsec') {
          writeDynsecFile(placed, [{ ...clientUser, rules: CLIENT_RULES }, { ...adminUser, rules: ADMIN_RULES }]);
        } else {
          writePasswordFile(placed, [clientUser]);
          appendFileSync(placed.loaded.config.broker.acl_file, CLIENT_ACL);
        }
        nodes.push(new LabNode(node, ns, placed, switchNs, `n${node.id}`));
      }
      const lab = new Lab({ loaded, env, yaml, dir, runId, switch: switchNs, client, nodes, clientUser, adminUser, ca, forgetDir: forget });
      writeFileSync(join(dir, 'cluster.yaml'), yaml);
      if (options.start ?? true) {
        const supervised = options.daemon && loaded.config.broker.control === 'supervise';
        if (!supervised) await Promise.all(nodes.map((node) => node.startBroker()));
        if (options.daemon) await Promise.all(nodes.map((node) => node.startDaemon({ ...options.daemonStart, ...(options.daemonEnv ? { env: options.daemonEnv } : {}) })));
        // ucarp under `failover.control: supervise` is the daemon's to start.
        const driverSupervised = options.daemon && loaded.config.failover.driver === 'ucarp' && loaded.config.failover.control === 'supervise';
        if (!driverSupervised) for (const node of nodes) node.startFailover();
      }
      return lab;
    } catch (error) {
      for (const ns of made.reverse()) ns.destroy();
      rmSync(dir, { recursive: true, force: true });
      forget();
      throw error;
    }
  }

  node(id: number): LabNode {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (!node) throw new RangeError(`the lab has no node ${id}`);
    return node;
  }

  /** The ids of the nodes whose eth0 holds the VIP right now (more than one is split brain). */
  async vipHolders(): Promise<number[]> {
    const holds = await Promise.all(this.nodes.map((node) => node.hasVip()));
    return this.nodes.filter((_, index) => holds[index]).map((node) => node.id);
  }

  /**
   * Waits (bounded) until node `id` holds the VIP, alone unless `alone` is false (a keepalived
   * killed with -9 leaves its copy behind); resolves with the milliseconds it took.
   */
  async waitForVipOn(id: number, options: { timeoutMs?: number; alone?: boolean } = {}): Promise<number> {
    const { timeoutMs = 15_000, alone = true } = options;
    const started = performance.now();
    let holders: number[] = [];
    await waitFor(
      `the VIP on node ${id}${alone ? ' alone' : ''}`,
      async () => {
        holders = await this.vipHolders();
        return holders.includes(id) && (!alone || holders.length === 1);
      },
      { timeoutMs, intervalMs: 10 },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; held by [${holders.join(', ')}]`, { cause: error });
    });
    return performance.now() - started;
  }

  /** Drops VRRP/CARP between nodes `a` and `b` (split brain); the bridge's TCP stays up. */
  async partitionVrrp(a: number, b: number): Promise<void> {
    await blockVrrp(this.node(a).ns, LAB_INTERFACE, this.node(b).address);
    await blockVrrp(this.node(b).ns, LAB_INTERFACE, this.node(a).address);
  }

  async healVrrp(): Promise<void> {
    for (const node of this.nodes) await unblockVrrp(node.ns);
  }

  /** Drops TCP between nodes `a` and `b` (the bridge and the peer channel); clients still reach both. */
  async partitionTcp(a: number, b: number): Promise<void> {
    await blockTcp(this.node(a).ns, LAB_INTERFACE, this.node(b).address);
    await blockTcp(this.node(b).ns, LAB_INTERFACE, this.node(a).address);
  }

  async healTcp(): Promise<void> {
    for (const node of this.nodes) await unblockTcp(node.ns);
  }

  /**
   * Each bridge's state as the broker of the node that holds it reports it
   * ($SYS/broker/connection/NAME/state, retained, "1" when connected), read by mosquitto_sub from
   * the client namespace: every node but the hub holds one (src/render/model.ts bridgeOf). A node
   * whose broker does not answer is missing from the map.
   */
  async bridgeStates(): Promise<Map<string, string>> {
    const { config, secrets } = this.loaded;
    const held = config.nodes.flatMap((node) => {
      const bridge = bridgeOf(config, secrets, node);
      return bridge ? [{ node: this.node(node.id), name: bridge.name }] : [];
    });
    const read = await Promise.all(held.map(async ({ node, name }) => {
      const result = await this.client.exec(
        ['mosquitto_sub', '-h', node.address, '-p', String(config.broker.client_port), '-u', this.clientUser.user, '-P', this.clientUser.password, '-t', `$SYS/broker/connection/${name}/state`, '-C', '1', '-W', '3'],
        { reject: false, timeout: 10_000 },
      );
      return [name, result.stdout.trim()] as const;
    }));
    return new Map(read.filter(([, state]) => state !== ''));
  }

  /**
   * Which node each node's bridge is connected to right now (undefined: none), from the
   * established TCP connections of the node's mosquitto to a peer's admin port (`ss -p`: the
   * daemon's peer channel goes to the same port, from another process).
   */
  async bridgeTargets(): Promise<Map<number, number | undefined>> {
    const port = this.loaded.config.broker.admin_port;
    const entries = await Promise.all(this.nodes.map(async (node) => {
      const { stdout } = await node.ns.exec(['ss', '-Htnp', 'state', 'established', 'dport', '=', `:${port}`], { timeout: 10_000 });
      const peer = stdout.split('\n').filter((line) => line.includes('"mosquitto"')).map((line) => /\s(\d+\.\d+\.\d+\.\d+):\d+\s+users:/.exec(line)?.[1]).find(Boolean);
      return [node.id, this.nodes.find((other) => other.address === peer)?.id] as const;
    }));
    return new Map(entries);
  }

  /**
   * What a subscriber on `to`'s client listener receives when the lab's client user publishes
   * `message` (QoS 1) on `topic` at `from`'s: `message` when the bridge carried it, '' when nothing
   * came within 10 s.
   */
  async carry(from: LabNode, to: LabNode, topic: string, message: string): Promise<string> {
    const { user, password } = this.clientUser;
    const login = (node: LabNode) => ['-h', node.address, '-p', String(this.loaded.config.broker.client_port), '-u', user, '-P', password];
    const sub = this.client.exec(['mosquitto_sub', ...login(to), '-t', topic, '-C', '1', '-W', '10'], { timeout: 15_000, reject: false });
    // mosquitto_sub has no "subscribed" signal: give it a moment to be there before the publish.
    await sleep(500);
    await this.client.exec(['mosquitto_pub', ...login(from), '-t', topic, '-m', message, '-q', '1'], { timeout: 10_000 });
    return (await sub).stdout.trim();
  }

  /** Waits (bounded) until every node's bridge reports itself connected. */
  async waitForBridges(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      'every bridge connected',
      async () => {
        const states = await this.bridgeStates();
        return states.size === this.nodes.length - 1 && [...states.values()].every((state) => state === '1');
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  /** Removes every namespace (and so every process in it) and the lab's files. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const ns of [this.client, ...this.nodes.map((node) => node.ns).reverse(), this.switch]) ns.destroy();
    rmSync(this.dir, { recursive: true, force: true });
    this.forgetDir();
  }

  /** Removes the named lab that `npm run lab:up` left running; returns the namespaces it removed. */
  static async down(name = 'up'): Promise<string[]> {
    if (!isNamedRun(name)) throw new Error(`bad lab name ${JSON.stringify(name)}`);
    const names = await namespacesOf(name);
    for (const ns of names) destroySync(ns);
    rmSync(namedLabDir(name), { recursive: true, force: true });
    return names;
  }
}

/**
 * Removes what earlier runs whose process is dead left behind: their namespaces (and every
 * process still in them) and their files. Returns the namespaces removed.
 */
export async function removeStaleLabs(): Promise<string[]> {
  const removed = await removeStaleNamespaces();
  for (const entry of readdirSync(tmpdir())) {
    const match = DIR_NAME.exec(entry);
    if (match && Number(match[1]) !== process.pid && !isRunning(Number(match[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
  return removed;
}
