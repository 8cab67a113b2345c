/**
 * The control API's commands, answered from this node's state: what it knows of itself and what
 * the peers' statuses say of them (peer/status.ts). `syncNow` also asks every other daemon, over
 * the peer channel, to run its sweep; `setLeader` runs a switchover (set-leader.ts).
 */
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import { EVENTS_KEPT, takeoverOf, type NodeFacts, type NodeState } from '../node-state.js';
import type { NodeStatus } from '../peer/status.js';
import type { CommandRequest, Handler } from './api.js';

export interface NodeView {
  id: number;
  name: string;
  address: string;
  priority: number;
  role: string;
  online: boolean;
  /** The broker's health as the node says (absent until its first probe). */
  health: 'well' | 'sick' | undefined;
  weight: { value: number; reasons: string[] } | undefined;
  versions: Record<string, { version: string; origin: number; sha256: string }>;
  lastTakeover: { epoch: number; at: string; ms: number } | undefined;
}

/** This node as its own state says. */
function selfView(node: NodeConfig, facts: Readonly<NodeFacts>, ownStatus: NodeStatus | undefined): NodeView {
  const takeover = takeoverOf(facts.lastTransition) ?? ownStatus?.takeover;
  return {
    id: node.id,
    name: node.name,
    address: node.address,
    priority: node.priority,
    role: facts.role,
    online: true,
    health: facts.broker.healthy === undefined ? undefined : facts.broker.healthy ? 'well' : 'sick',
    weight: facts.weight,
    versions: facts.versions,
    lastTakeover: takeover ? { ...takeover, at: new Date(takeover.at).toISOString() } : undefined,
  };
}

/** A peer as its last status says; one never read is offline with its role unknown. */
export function peerView(node: NodeConfig, status: NodeStatus | undefined): NodeView {
  return {
    id: node.id,
    name: node.name,
    address: node.address,
    priority: node.priority,
    role: status?.online ? (status.role ?? 'UNKNOWN') : 'UNKNOWN',
    online: status?.online ?? false,
    health: status?.online ? status.health : undefined,
    weight: status?.online ? status.weight : undefined,
    versions: status?.versions ?? {},
    lastTakeover: status?.takeover ? { ...status.takeover, at: new Date(status.takeover.at).toISOString() } : undefined,
  };
}

export interface CommandContext {
  config: ClusterConfig;
  self: NodeConfig;
  state: NodeState;
  /** Runs the sync sweep here and asks every other daemon to; the nodes asked. Undefined when nothing is synced. */
  syncNow: (() => Promise<string[]>) | undefined;
  /** `setLeader` (set-leader.ts): a switchover run by this daemon. */
  setLeader: Handler;
  now?: () => number;
}

function nodeOf(config: ClusterConfig, wanted: unknown): NodeConfig {
  const node = config.nodes.find((candidate) => candidate.name === wanted || candidate.id === wanted || String(candidate.id) === wanted);
  if (!node) throw new Error(`no node ${JSON.stringify(wanted)}; the nodes are ${config.nodes.map((candidate) => `${candidate.name} (${candidate.id})`).join(', ')}`);
  return node;
}

/** getCluster's answer. */
export interface ClusterView {
  name: string;
  vip: { address: string; holders: string[] };
  nodes: NodeView[];
  /** The node whose daemon answered (the status command: `retained statuses`). */
  answeredBy: string;
  /** The answerer's clock when it answered (ISO): doctor's clock skew check reads it. */
  time: string;
}

/** The cluster's view from the nodes' views (also the status command's, from the retained statuses). */
export function clusterOf(config: ClusterConfig, nodes: NodeView[], answeredBy: string, now: number): ClusterView {
  return {
    name: config.cluster,
    vip: { address: config.vip.address, holders: nodes.filter((node) => node.online && node.role === 'MASTER').map((node) => node.name) },
    nodes,
    answeredBy,
    time: new Date(now).toISOString(),
  };
}

export function clusterView(context: CommandContext): ClusterView {
  const { config, self, state } = context;
  const facts = state.current;
  const nodes = config.nodes.map((node) => (node.id === self.id ? selfView(node, facts, facts.peers[node.id]) : peerView(node, facts.peers[node.id])));
  return clusterOf(config, nodes, self.name, (context.now ?? Date.now)());
}

/** The handlers by command name. */
export function controlCommands(context: CommandContext): Record<string, Handler> {
  const { config, self, state } = context;
  return {
    getCluster: () => clusterView(context),
    getNode: (command: CommandRequest) => {
      const node = command['node'] === undefined ? self : nodeOf(config, command['node']);
      return clusterView(context).nodes.find((view) => view.id === node.id);
    },
    listEvents: (command: CommandRequest) => {
      const count = command['count'] ?? 50;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > EVENTS_KEPT) throw new Error(`count must be a whole number from 1 to ${EVENTS_KEPT}`);
      return { node: self.name, events: state.events.slice(-count).map((event) => ({ ...event, at: new Date(event.at).toISOString() })) };
    },
    syncNow: async () => {
      if (!context.syncNow) throw new Error('cluster.yaml syncs no file (sync.password_file, sync.acl_file and sync.dynsec are all off)');
      return { asked: await context.syncNow() };
    },
    setLeader: context.setLeader,
  };
}
