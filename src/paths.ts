/**
 * Where things live on a node, derived from cluster.yaml alone: the runtime files the daemon,
 * keepalived and ucarp share (FIFO, track file, pid file), the daemon's state files and its own
 * config files. The renderer and the daemon both read them from here.
 */
import { posix } from 'node:path';
import type { ClusterConfig } from './config/schema.js';

export interface RuntimePaths {
  /** keepalived's `vrrp_notify_fifo`; ucarp's scripts write the same lines into it. */
  fifo: string;
  /** keepalived's `track_file`: a number added to this node's priority. */
  trackFile: string;
  /** The supervised broker's pid, so a restarted daemon adopts it. */
  brokerPidFile: string;
  /** ucarp's pid under `failover.control: supervise`, so a restarted daemon adopts it. */
  ucarpPidFile: string;
  /** The takeover epoch (takeover/state.ts). */
  takeoverState: string;
  /** The version of each synced file (sync/state.ts). */
  syncState: string;
  /** The operator's switchover preference, synced (sync/content/leader.ts). */
  leader: string;
  /** The daemon's run number, which orders its statuses across restarts (peer/run.ts). */
  runState: string;
  /** The list of persistent sessions the backups shadow, as this node last held it (sessions/service.ts). */
  sessions: string;
  clusterFile: string;
  envFile: string;
  ucarpArgs: string;
  ucarpPass: string;
  vipUp: string;
  vipDown: string;
}

export function runtimePaths(config: ClusterConfig): RuntimePaths {
  const { config_dir: dir, run_dir: run, state_dir: state } = config.daemon;
  return {
    fifo: posix.join(run, 'vrrp.fifo'),
    trackFile: posix.join(run, 'priority.track'),
    brokerPidFile: posix.join(run, 'mosquitto.pid'),
    ucarpPidFile: posix.join(run, 'ucarp.pid'),
    takeoverState: posix.join(state, 'takeover.json'),
    syncState: posix.join(state, 'sync.json'),
    runState: posix.join(state, 'run.json'),
    sessions: posix.join(state, 'sessions.json'),
    leader: posix.join(state, 'leader.json'),
    clusterFile: posix.join(dir, 'cluster.yaml'),
    envFile: posix.join(dir, '.env'),
    ucarpArgs: posix.join(dir, 'ucarp.args'),
    ucarpPass: posix.join(dir, 'ucarp.pass'),
    vipUp: posix.join(dir, 'vip-up.sh'),
    vipDown: posix.join(dir, 'vip-down.sh'),
  };
}

/** The VRRP instance name: keepalived writes it into the FIFO lines, the ucarp scripts copy it. */
export function vrrpInstance(config: ClusterConfig): string {
  return `mqfo_${config.cluster.replaceAll('-', '_')}`;
}
