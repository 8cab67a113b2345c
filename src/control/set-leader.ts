/**
 * The control API's `setLeader`: `{"command":"setLeader","node":"node2"}` is `mosquitto-failover
 * promote node2` run by the answering daemon (switchover/run.ts, the same checks, drain and
 * preference), `{"command":"setLeader","clear":true}` is `promote --clear`. It answers when the
 * switchover is done, with an error when refused or not done in time. One switchover at a time on
 * a daemon: a second request while one runs is refused at once, nothing changed.
 */
import type { ClusterConfig } from '../config/schema.js';
import { checkDriver, nodeNamed, SWITCHOVER_TIMEOUT_S, type Action } from '../switchover/plan.js';
import type { SwitchoverResult } from '../switchover/run.js';
import type { CommandRequest } from './api.js';

/** The bounds of `timeout` in seconds: a control request holds one of the server's few slots while it waits. */
export const SET_LEADER_TIMEOUT_S = { min: 1, max: 300 } as const;

/** The switchover (switchover/run.ts) as the daemon runs it. */
export type RunSwitchover = (action: Action, timeoutMs: number) => Promise<SwitchoverResult>;

/** The action and timeout a `setLeader` command asks for, or an Error that says what is wrong with it. Pure. */
export function setLeaderRequest(config: ClusterConfig, command: CommandRequest): { action: Action; timeoutMs: number } {
  const { node, clear, timeout } = command;
  const unknown = Object.keys(command).filter((key) => !['command', 'node', 'clear', 'timeout'].includes(key));
  if (unknown.length > 0) throw new Error(`setLeader takes node, clear and timeout, not ${unknown.join(', ')}`);
  if (clear !== undefined && clear !== true) throw new Error('clear must be true (or left out)');
  if (clear === true && node !== undefined) throw new Error('setLeader takes a node or clear: true, not both');
  if (clear === undefined && (typeof node !== 'string' && typeof node !== 'number')) throw new Error('setLeader needs "node" (a name or id) or "clear": true');
  const seconds = timeout ?? SWITCHOVER_TIMEOUT_S;
  const { min, max } = SET_LEADER_TIMEOUT_S;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < min || seconds > max) throw new Error(`timeout must be a number of seconds from ${min} to ${max}`);
  checkDriver(config);
  const action: Action = clear === true ? { type: 'clear' } : { type: 'promote', node: nodeNamed(config, String(node)) };
  return { action, timeoutMs: Math.round(seconds * 1000) };
}

export class SetLeader {
  private readonly config: ClusterConfig;
  private readonly run: RunSwitchover;
  private running: string | undefined;

  constructor(config: ClusterConfig, run: RunSwitchover) {
    this.config = config;
    this.run = run;
  }

  /**
   * The control API handler: `{leader, ms}` when done; throws (the answer's error) when refused,
   * busy or late. A clear is done (as `promote --clear`) when every node has the cleared
   * preference: `leader` is the MASTER then, before preempt may move the VIP by the priorities.
   */
  readonly handle = async (command: CommandRequest): Promise<{ leader: string; ms: number } | { cleared: true; leader: string; ms: number }> => {
    const { action, timeoutMs } = setLeaderRequest(this.config, command);
    const what = action.type === 'clear' ? 'clear the preference' : `promote ${action.node.name}`;
    if (this.running !== undefined) throw new Error(`a switchover (${this.running}) is running on this node; try again when it is done`);
    this.running = what;
    try {
      const result = await this.run(action, timeoutMs);
      if (!result.done) throw new Error(`not done within ${timeoutMs} ms (the preference stays written; setLeader with clear: true takes it back): ${result.nodes.join('; ')}`);
      return action.type === 'clear' ? { cleared: true, leader: result.master, ms: result.ms } : { leader: result.master, ms: result.ms };
    } finally {
      this.running = undefined;
    }
  };
}
