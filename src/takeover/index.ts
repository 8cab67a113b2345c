/** Builds the takeover loop of a node: executor, stale-VIP watch, DNAT target. */
import type { DaemonContext } from '../context.js';
import { waitAccepting } from '../broker/ready.js';
import { daemonLogin } from '../mqtt/client.js';
import { vrrpInstance } from '../paths.js';
import { Executor } from './execute.js';
import { TakeoverLoop } from './loop.js';
import { DriverWatch } from './stale.js';

export function createTakeover(context: DaemonContext, options: { onAlive?: () => void } = {}): TakeoverLoop {
  const { loaded, node, log, run, broker, paths, state } = context;
  const { config } = loaded;
  const target = { vip: config.vip.address, port: config.broker.client_port, address: node.address, addressPort: config.broker.client_port };
  const driver = new DriverWatch(config, log);
  const login = daemonLogin(loaded, node);
  const executor = new Executor({
    run,
    broker,
    waitAccepting: () => waitAccepting(login),
    driverStillDead: () => driver.stillDead(),
    stateFile: paths.takeoverState,
    target,
    vip: config.vip,
    log,
  });
  return new TakeoverLoop({ config, paths, instance: vrrpInstance(config), target, state, broker, executor, driver, run, log, ...options });
}
