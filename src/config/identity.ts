/** Which node of the cluster is this machine: --node, else MQFO_NODE, else the local addresses. */
import { MqfoError } from '../errors.js';
import type { ClusterConfig, NodeConfig } from './schema.js';

export interface IdentityHints {
  /** `--node ID|NAME` */
  flag?: string | undefined;
  /** MQFO_NODE from the environment or the env file. */
  env?: string | undefined;
  /** IPv4 addresses on this machine's interfaces. */
  localAddresses: readonly string[];
}

function describe(nodes: readonly NodeConfig[]): string {
  return nodes.map((node) => `${node.id} (${node.name}, ${node.address})`).join(', ');
}

function byIdOrName(config: ClusterConfig, wanted: string, source: string): NodeConfig {
  const node = /^\d+$/.test(wanted)
    ? config.nodes.find((candidate) => candidate.id === Number(wanted))
    : config.nodes.find((candidate) => candidate.name === wanted);
  if (!node) throw new MqfoError('ENODE', `${source} ${JSON.stringify(wanted)} is no node of cluster "${config.cluster}"; its nodes are ${describe(config.nodes)}`);
  return node;
}

export function resolveNode(config: ClusterConfig, hints: IdentityHints): NodeConfig {
  if (hints.flag) return byIdOrName(config, hints.flag, '--node');
  if (hints.env) return byIdOrName(config, hints.env, 'MQFO_NODE');
  const local = config.nodes.filter((node) => hints.localAddresses.includes(node.address));
  const [only] = local;
  if (only && local.length === 1) return only;
  if (local.length > 1) {
    throw new MqfoError('ENODE', `this machine has the addresses of several nodes (${describe(local)}); say which one it is with --node ID or MQFO_NODE`);
  }
  throw new MqfoError(
    'ENODE',
    `no node's address is on this machine (it has ${hints.localAddresses.join(', ') || 'no IPv4 address'}; the nodes are ${describe(config.nodes)}); say which one it is with --node ID or MQFO_NODE`,
  );
}
