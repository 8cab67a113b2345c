/**
 * `mosquitto-failover status [--json] [--watch]`: the cluster's table, from each node's retained,
 * sealed status read on that node's own broker (peer/statuses.ts, as promote and passwd read
 * them), not from the control API's getCluster.
 *
 * Why the statuses: they are first-hand (each node's status comes from its own broker, not from
 * one daemon's picture of its peers), they need no daemon to answer (a stopped daemon's last-will
 * says offline; with every daemon down the table still shows who is down), and they need only
 * what `promote` needs on a node: cluster.yaml and the env file (the daemon user, the cluster
 * secret), not a control user and its password, and not the control API turned on. getCluster
 * would answer with one daemon's view, need `control.users` and a password for one of them, and a
 * fallback from node to node when the asked daemon is down. The JSON is getCluster's shape
 * (control/commands.ts clusterOf), built from the same statuses with the same code the daemons
 * use for their peers; `answeredBy` says `retained statuses`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load.js';
import type { NodeStatus } from '../peer/status.js';
import { MqfoError } from '../errors.js';
import { daemonLogin } from '../mqtt/client.js';
import { Topics } from '../mqtt/topics.js';
import { sealKey } from '../peer/seal.js';
import { StatusReader } from '../peer/statuses.js';
import { formatStatus, verdictOf, viewFromStatuses, type Verdict } from './view.js';

/** How often --watch looks for a change: at most this many redraws a second is 1000 / WATCH_MS. */
export const WATCH_MS = 250;
const POLL_MS = 50;

export interface StatusOptions {
  loaded: LoadedConfig;
  json: boolean;
  /** Redraw on every change until `stop` resolves. */
  watch: boolean;
  /** How long to wait for every node's status before deciding (nodes not read by then are offline). */
  timeoutMs: number;
  say: (text: string) => void;
  /** Clear the terminal before each redraw (stdout is a terminal). */
  clear?: boolean;
  stop?: Promise<unknown>;
}

export async function status(options: StatusOptions): Promise<Verdict> {
  const { loaded, say } = options;
  const { config, secrets } = loaded;
  const reader = new StatusReader({ nodes: config.nodes, loginTo: (node) => daemonLogin(loaded, node), topics: new Topics(config.cluster), key: sealKey(secrets.clusterSecret, config.cluster) });
  // A status read before its broker's connection closed may be stale: only the connected ones count.
  const live = () => new Map([...reader.statuses].filter(([id]) => reader.connected.has(id))) as ReadonlyMap<number, NodeStatus>;
  const snapshot = () => {
    const now = Date.now();
    const view = viewFromStatuses(config, live(), now);
    const reached = new Set(reader.connected);
    return { view, verdict: verdictOf(view, reached), text: options.json ? JSON.stringify({ ...view, time: undefined }) : formatStatus(view, { now, reached }) };
  };
  reader.start();
  try {
    const deadline = Date.now() + options.timeoutMs;
    while (Date.now() < deadline && !config.nodes.every((node) => reader.connected.has(node.id) && reader.statuses.has(node.id))) await sleep(POLL_MS);
    if (reader.connected.size === 0) {
      const where = config.nodes.map((node) => `${node.name} ${node.address}:${config.broker.admin_port}`).join(', ');
      throw new MqfoError('ESTATUS', `no node reachable: no admin listener (${where}) let ${config.daemon.user} in within ${options.timeoutMs} ms`);
    }
    let shown = snapshot();
    const print = (current: typeof shown) => {
      if (options.json) say(`${JSON.stringify(current.view)}\n`);
      else say(`${options.watch && options.clear ? '\x1b[H\x1b[2J' : ''}${options.watch ? `${new Date().toISOString()}\n` : ''}${current.text}${options.watch && !options.clear ? '\n' : ''}`);
    };
    print(shown);
    if (!options.watch) return shown.verdict;
    let stopped = false;
    void options.stop?.then(() => (stopped = true));
    while (!stopped) {
      await Promise.race([sleep(WATCH_MS), options.stop]);
      if (stopped) break;
      const next = snapshot();
      if (next.text !== shown.text) print(next);
      shown = next;
    }
    return shown.verdict;
  } finally {
    await reader.stop();
  }
}
