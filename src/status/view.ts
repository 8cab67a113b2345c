/**
 * What `mosquitto-failover status` shows and how it ends. Pure: the cluster's view (getCluster's
 * shape, control/commands.ts) in, the table and the exit decision out.
 */
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import { clusterOf, peerView, type ClusterView, type NodeView } from '../control/commands.js';
import type { NodeStatus } from '../peer/status.js';

/** `answeredBy` of the status command's view: no daemon answered, each node's own retained status did. */
export const FROM_STATUSES = 'retained statuses';

/**
 * The cluster as the nodes' retained statuses say, in getCluster's shape. A node whose broker
 * did not answer, or that has no status there, is offline; `reached` tells the two apart in the
 * table (unreachable).
 */
export function viewFromStatuses(config: ClusterConfig, statuses: ReadonlyMap<number, NodeStatus>, now: number): ClusterView {
  return clusterOf(
    config,
    config.nodes.map((node: NodeConfig) => peerView(node, statuses.get(node.id))),
    FROM_STATUSES,
    now,
  );
}

export interface Verdict {
  code: 0 | 1;
  /** Why not 0, one line each. */
  problems: string[];
}

/** 0 when exactly one node is MASTER and every node is online with a healthy broker; 1 otherwise. */
export function verdictOf(view: Pick<ClusterView, 'nodes'>, reached?: ReadonlySet<number>): Verdict {
  const problems: string[] = [];
  const masters = view.nodes.filter((node) => node.online && node.role === 'MASTER');
  if (masters.length === 0) problems.push('no node is MASTER');
  if (masters.length > 1) problems.push(`${masters.length} nodes are MASTER: ${masters.map((node) => node.name).join(', ')}`);
  for (const node of view.nodes) {
    if (!node.online) problems.push(`${node.name} is offline (${reached && !reached.has(node.id) ? 'its broker did not answer' : 'its daemon does not run'})`);
    else if (node.health === 'sick') problems.push(`${node.name}'s broker is sick`);
    else if (node.health === undefined) problems.push(`${node.name}'s broker is not probed yet`);
  }
  return { code: problems.length === 0 ? 0 : 1, problems };
}

/** `04:40:12Z` today, `2026-11-23 04:40:12Z` another day (UTC, as every node logs). */
function when(iso: string, now: number): string {
  const [day, time] = iso.split('T') as [string, string];
  const clock = `${time.slice(0, 8)}Z`;
  return day === new Date(now).toISOString().slice(0, 10) ? clock : `${day} ${clock}`;
}

function online(node: NodeView, reached: ReadonlySet<number> | undefined): string {
  if (node.online) return 'yes';
  return reached && !reached.has(node.id) ? 'no (unreachable)' : 'no';
}

function weight(node: NodeView): string {
  if (!node.weight) return '-';
  const value = node.weight.value > 0 ? `+${node.weight.value}` : String(node.weight.value);
  return node.weight.reasons.length > 0 ? `${value} (${node.weight.reasons.join('; ')})` : value;
}

/** Each synced file as the first 7 hex digits of its sha256: the same on every node when in step. */
function versions(node: NodeView): string {
  const kinds = Object.keys(node.versions).sort();
  return kinds.length === 0 ? '-' : kinds.map((kind) => `${kind}=${node.versions[kind]!.sha256.slice(0, 7)}`).join(' ');
}

function takeover(node: NodeView, now: number): string {
  const last = node.lastTakeover;
  return last ? `${when(last.at, now)} in ${Math.round(last.ms)} ms (#${last.epoch})` : '-';
}

const HEADER = ['NODE', 'ROLE', 'ONLINE', 'BROKER', 'WEIGHT', 'VIP', 'FILES', 'LAST TAKEOVER'];

/** The table: a header, one row per node, and the VIP's line. */
export function formatTable(view: ClusterView, options: { now: number; reached?: ReadonlySet<number> }): string {
  const holders = new Set(view.vip.holders);
  const rows = view.nodes.map((node) => [
    `${node.id} ${node.name}`,
    node.role,
    online(node, options.reached),
    node.online ? (node.health ?? 'unknown') : '-',
    weight(node),
    holders.has(node.name) ? 'yes' : '-',
    versions(node),
    takeover(node, options.now),
  ]);
  const widths = HEADER.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  const vip = view.vip.holders.length === 0 ? 'held by no node' : `held by ${view.vip.holders.join(' and ')}`;
  return `${[`cluster ${view.name}, VIP ${view.vip.address} ${vip}`, line(HEADER), ...rows.map(line)].join('\n')}\n`;
}

/** The table and, when not 0, why; what `status` prints. */
export function formatStatus(view: ClusterView, options: { now: number; reached?: ReadonlySet<number> }): string {
  const verdict = verdictOf(view, options.reached);
  const problems = verdict.problems.map((problem) => `  ${problem}\n`).join('');
  return `${formatTable(view, options)}${verdict.code === 0 ? 'ok: one MASTER, every node online and its broker well\n' : `not ok:\n${problems}`}`;
}
