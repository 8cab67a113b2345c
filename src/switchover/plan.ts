/**
 * What `promote NODE`, `demote NODE` and `promote --clear` may do, from cluster.yaml and every
 * node's status as read now, and when they are done. Pure: the command (switchover/run.ts) reads
 * the statuses, asks here, and acts.
 */
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { Preference } from '../node-state.js';
import type { NodeStatus } from '../peer/status.js';

/** How long `promote`, `demote` and the control API's `setLeader` wait for the VIP to move, unless told. */
export const SWITCHOVER_TIMEOUT_S = 30;

export type Action = { type: 'promote'; node: NodeConfig } | { type: 'demote'; node: NodeConfig } | { type: 'clear' };

/** The node named `name` (or given by id), else a usage error that lists the known ones. */
export function nodeNamed(config: ClusterConfig, name: string): NodeConfig {
  const found = config.nodes.find((node) => node.name === name || String(node.id) === name);
  if (found) return found;
  throw new UsageError(`${JSON.stringify(name)} is not a node of cluster ${config.cluster}: the nodes are ${config.nodes.map((node) => `${node.name} (id ${node.id})`).join(', ')}`);
}

/** What cluster.yaml must allow for a switchover through the weights, else a usage error. */
export function checkDriver(config: ClusterConfig): void {
  if (config.failover.driver !== 'keepalived') {
    throw new UsageError('promote and demote need failover.driver: keepalived (ucarp has no runtime priority to move)');
  }
  if (!config.failover.preempt) {
    throw new UsageError('promote and demote move the VIP through the priorities, which failover.preempt: false (nopreempt) ignores while the master lives');
  }
}

export function preferenceOf(action: Action): Preference {
  if (action.type === 'clear') return {};
  return action.type === 'promote' ? { promote: action.node.name } : { demote: action.node.name };
}

export interface Plan {
  /** The node holding the VIP now, if one does. */
  master: NodeConfig | undefined;
  /** Where the old master's messages must have arrived before the preference is written: none when the VIP does not have to move. */
  drainTo: NodeConfig[];
}

/**
 * Refuses (each reason a line) unless every node's daemon is online: a node that does not hear of
 * the preference would keep its weight and could hold the VIP against it. A promote also needs
 * the target's broker well; a demote another node whose broker is well.
 */
export function planSwitchover(config: ClusterConfig, statuses: ReadonlyMap<number, NodeStatus>, action: Action): { plan: Plan } | { refused: string[] } {
  const refused: string[] = [];
  for (const node of config.nodes) {
    const status = statuses.get(node.id);
    if (!status) refused.push(`${node.name}: no status read from its broker (is it up?)`);
    else if (!status.online) refused.push(`${node.name}: its daemon is offline`);
  }
  const health = (node: NodeConfig) => statuses.get(node.id)?.health;
  if (action.type === 'promote' && health(action.node) === 'sick') refused.push(`${action.node.name}: its broker is sick`);
  const others = action.type === 'clear' ? [] : config.nodes.filter((node) => node.id !== action.node.id);
  if (action.type === 'demote' && !others.some((node) => health(node) === 'well')) {
    refused.push(`no node but ${action.node.name} has a broker known well: there is nowhere to move the VIP`);
  }
  if (refused.length > 0) return { refused };
  const masters = config.nodes.filter((node) => statuses.get(node.id)?.role === 'MASTER');
  const master = masters.length === 1 ? masters[0] : undefined;
  let drainTo: NodeConfig[] = [];
  if (master && action.type === 'promote' && master.id !== action.node.id) drainTo = [action.node];
  if (master && action.type === 'demote' && master.id === action.node.id) drainTo = others.filter((node) => health(node) === 'well');
  return { plan: { master, drainTo } };
}

/**
 * Done when exactly one node says MASTER, the right one (a promote: NODE; a demote: not NODE; a
 * clear: any), and every node has the preference's version `version`.
 */
export function isDone(config: ClusterConfig, statuses: ReadonlyMap<number, NodeStatus>, action: Action, version: string | undefined): boolean {
  if (version === undefined) return false;
  const all = config.nodes.map((node) => statuses.get(node.id));
  if (!all.every((status) => status?.online && status.versions?.leader?.version === version)) return false;
  const masters = config.nodes.filter((node) => statuses.get(node.id)?.role === 'MASTER');
  if (masters.length !== 1) return false;
  if (action.type === 'promote') return masters[0]!.id === action.node.id;
  if (action.type === 'demote') return masters[0]!.id !== action.node.id;
  return true;
}

/** One line per node for a timeout: what it says of itself. */
export function describeNodes(config: ClusterConfig, statuses: ReadonlyMap<number, NodeStatus>, reached: ReadonlySet<number>): string[] {
  return config.nodes.map((node) => {
    const status = statuses.get(node.id);
    if (!status) return `${node.name}: ${reached.has(node.id) ? 'no status' : 'its broker cannot be reached'}`;
    const parts = [
      `role ${status.role ?? 'unknown'}`,
      status.online ? 'online' : 'offline',
      `broker ${status.health ?? 'not probed'}`,
      `weight ${status.weight?.value ?? 'unknown'}`,
      `preference version ${status.versions?.leader?.version ?? 'none'}`,
    ];
    return `${node.name}: ${parts.join(', ')}`;
  });
}
