/** Builds the takeover loop of a node: executor, stale-VIP watch, DNAT target. */
import type { DaemonContext } from '../context.js';
import { waitAccepting } from '../broker/ready.js';
import { daemonLogin } from '../mqtt/client.js';
import { vrrpInstance } from '../paths.js';
import { MqfoError } from '../errors.js';
import { hasAddress } from '../role/truth.js';
import { drain } from '../switchover/drain.js';
import { Executor } from './execute.js';
import { TakeoverLoop } from './loop.js';
import { DriverWatch } from './stale.js';

/** How long a preparation waits for the master's bridge to carry a marker (its restart_timeout is 1 s at first, then longer). */
const BRIDGED_TIMEOUT_MS = 15_000;
const VIP_POLL_MS = 50;

export function createTakeover(context: DaemonContext, options: { onAlive?: () => void; waitLearner?: (since: number) => Promise<void> } = {}): TakeoverLoop {
  const { loaded, node, log, run, broker, paths, state, topics } = context;
  const { config } = loaded;
  const target = { vip: config.vip.address, port: config.broker.client_port, address: node.address, addressPort: config.broker.client_port };
  const driver = new DriverWatch(config, log);
  const login = daemonLogin(loaded, node);
  // A VIP that comes here meanwhile (the master gone) ends the wait: the takeover must not wait for a bridge.
  const waitBridged = async () => {
    const master = config.nodes.find((peer) => peer.id !== node.id && state.current.peers[peer.id]?.role === 'MASTER');
    if (!master) return undefined;
    const vipHere = new AbortController();
    const poll = setInterval(() => {
      if (hasAddress(config.vip.interface, config.vip.address)) vipHere.abort(new MqfoError('ESWITCHOVER', 'the VIP came to this node before the bridge was back: not waiting for it'));
    }, VIP_POLL_MS);
    try {
      const arrived = await drain({ from: master, to: [node], loginTo: (peer) => daemonLogin(loaded, peer), topics, timeoutMs: BRIDGED_TIMEOUT_MS, signal: vipHere.signal });
      return { from: master.name, ms: arrived.get(node.id) ?? 0 };
    } finally {
      clearInterval(poll);
    }
  };
  const executor = new Executor({
    run,
    broker,
    waitAccepting: () => waitAccepting(login),
    waitBridged,
    ...(options.waitLearner ? { waitLearner: options.waitLearner } : {}),
    driverStillDead: () => driver.stillDead(),
    stateFile: paths.takeoverState,
    target,
    vip: config.vip,
    log,
  });
  const { onAlive } = options;
  return new TakeoverLoop({ config, paths, self: node, instance: vrrpInstance(config), target, state, broker, executor, driver, run, log, ...(onAlive ? { onAlive } : {}), waitForLearner: options.waitLearner !== undefined });
}
