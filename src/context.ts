/** What every component of the daemon is built from: the config, this node, the shared node state and the seams. */
import type { Logger } from 'pino';
import type { BrokerControl } from './broker/control.js';
import type { LoadedConfig } from './config/load.js';
import type { NodeConfig } from './config/schema.js';
import type { Runner } from './exec/runner.js';
import type { Topics } from './mqtt/topics.js';
import type { NodeState } from './node-state.js';
import type { RuntimePaths } from './paths.js';

export interface DaemonContext {
  loaded: LoadedConfig;
  node: NodeConfig;
  log: Logger;
  run: Runner;
  state: NodeState;
  paths: RuntimePaths;
  topics: Topics;
  broker: BrokerControl;
}

/** A part of the daemon: started in order, stopped in reverse; stop is idempotent. */
export interface Component {
  start(): Promise<void>;
  stop(): Promise<void>;
}
