/**
 * `mosquitto-failover promote NODE`, `demote NODE` and `promote --clear`: checks that every node's
 * daemon is online and the target fit (plan.ts), drains the old master's bridge to where the VIP
 * goes (drain.ts), writes the preference into this node's synced `leader.json` (the daemon here
 * publishes it, every node installs it, and each weighs again: health/weight.ts), then waits until
 * every node has that version, the right node is the one MASTER and the VIP answers MQTT. A
 * promoted node's daemon prepares its takeover before its weight rises (takeover/plan.ts): this
 * command waits through that too (a broker restart and the bridge's reconnect, about a second).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load.js';
import type { NodeConfig } from '../config/schema.js';
import { probeOnce } from '../broker/health.js';
import { MqfoError } from '../errors.js';
import { daemonLogin, type Login } from '../mqtt/client.js';
import { Topics } from '../mqtt/topics.js';
import { runtimePaths } from '../paths.js';
import { sealKey } from '../peer/seal.js';
import { StatusReader } from '../peer/statuses.js';
import { leaderText } from '../sync/content/leader.js';
import { sha256 } from '../sync/envelope.js';
import { installFile, readText } from '../sync/files.js';
import { drain } from './drain.js';
import { describeNodes, isDone, planSwitchover, preferenceOf, type Action } from './plan.js';

export interface SwitchoverOptions {
  loaded: LoadedConfig;
  /** The node this runs on: its daemon publishes the preference. */
  node: NodeConfig;
  action: Action;
  timeoutMs: number;
  /** Progress, a line at a time (the CLI prints it; the daemon's control API logs it). */
  say: (line: string) => void;
}

/** Done: the one MASTER and the ms from the start; or not within the timeout, with what each node says. */
export type SwitchoverResult = { done: true; master: string; ms: number } | { done: false; nodes: string[] };

/** How long the statuses of all nodes may take to be read, before the checks. */
const READ_STATUSES_MS = 3_000;
const POLL_MS = 50;
/** One MQTT round trip through the VIP. */
const VIP_PROBE_MS = 1_000;

/**
 * Done, or not in time (each node's state also said); throws (ESWITCHOVER, nothing changed) when
 * refused. The CLI (`promote`, `demote`) and the control API's `setLeader` both run it.
 */
export async function switchover(options: SwitchoverOptions): Promise<SwitchoverResult> {
  const { loaded, node, action, say } = options;
  const { config, secrets } = loaded;
  const topics = new Topics(config.cluster);
  const loginTo = (peer: NodeConfig) => daemonLogin(loaded, peer);
  const reader = new StatusReader({ nodes: config.nodes, loginTo, topics, key: sealKey(secrets.clusterSecret, config.cluster) });
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  reader.start();
  try {
    const readBy = Math.min(deadline, started + READ_STATUSES_MS);
    while (Date.now() < readBy && !config.nodes.every((peer) => reader.statuses.get(peer.id)?.online)) await sleep(POLL_MS);
    const planned = planSwitchover(config, reader.statuses, action);
    if ('refused' in planned) throw new MqfoError('ESWITCHOVER', `not now, nothing changed:\n  ${planned.refused.join('\n  ')}`);
    const { plan } = planned;
    if (plan.master && plan.drainTo.length > 0) {
      const arrived = await drain({ from: plan.master, to: plan.drainTo, loginTo, topics, timeoutMs: Math.max(1, deadline - Date.now()) });
      say(`bridge drained: a marker from ${plan.master.name} reached ${[...arrived].map(([id, ms]) => `${config.nodes.find((peer) => peer.id === id)?.name} in ${ms} ms`).join(', ')}`);
    }
    const path = runtimePaths(config).leader;
    const text = leaderText(preferenceOf(action));
    const before = await readText(path);
    if (before?.text !== text) await installFile(path, text, before?.text);
    say(`${action.type === 'clear' ? 'cleared the preference' : `${action.type}d ${action.node.name}`} in ${path} on ${node.name}`);
    const vip: Login = { ...loginTo(node), host: config.vip.address, port: config.broker.client_port };
    delete vip.tls;
    while (Date.now() < deadline) {
      const own = reader.statuses.get(node.id)?.versions?.leader;
      const version = own?.sha256 === sha256(text) ? own.version : undefined;
      if (isDone(config, reader.statuses, action, version)) {
        const answered = await probeOnce(vip, topics.health(node.id), Math.min(VIP_PROBE_MS, Math.max(1, deadline - Date.now()))).then(
          () => true,
          () => false,
        );
        if (answered) {
          const master = config.nodes.find((peer) => reader.statuses.get(peer.id)?.role === 'MASTER')!;
          const ms = Date.now() - started;
          say(`${master.name} is MASTER and the VIP ${config.vip.address} answers MQTT (${ms} ms)`);
          return { done: true, master: master.name, ms };
        }
      }
      await sleep(POLL_MS);
    }
    const nodes = describeNodes(config, reader.statuses, reader.reached);
    say(`not done within ${options.timeoutMs} ms (the preference stays written; promote --clear takes it back):`);
    for (const line of nodes) say(`  ${line}`);
    return { done: false, nodes };
  } finally {
    await reader.stop();
  }
}
