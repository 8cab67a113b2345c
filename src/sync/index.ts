/** Builds a node's sync: the broker files cluster.yaml asks for, and the switchover preference always. */
import { setTimeout as sleep } from 'node:timers/promises';
import { checkHealth } from '../broker/health.js';
import type { DaemonContext } from '../context.js';
import type { Logger } from 'pino';
import { daemonLogin } from '../mqtt/client.js';
import type { Preference } from '../node-state.js';
import { parseLeader } from './content/leader.js';
import { Syncer, syncedFiles } from './syncer.js';

/** After a SIGHUP, a moment for mosquitto's main loop to reread its files before the health check. */
const RELOAD_SETTLE_MS = 50;

/** How the syncer reaches the peer channel: sealed, retained on this node's broker. */
export interface SyncChannel {
  publish: (topic: string, value: unknown) => Promise<void>;
  /** Publishes this node's last message on `topic` again (throttled). */
  repair: (topic: string) => void;
}

/** The preference in the synced text; none without one (the syncer never adopts an invalid one). */
function preferenceOf(text: string | undefined, log: Logger): Preference {
  if (text === undefined) return {};
  const parsed = parseLeader(text);
  if ('problems' in parsed) {
    log.error({ problems: parsed.problems }, 'the switchover preference is not valid: taken as none');
    return {};
  }
  return parsed.preference;
}

export function createSyncer(context: DaemonContext, channel: SyncChannel): Syncer {
  const { loaded, node, log, broker, paths, topics, state } = context;
  const { config, secrets } = loaded;
  const files = syncedFiles(config);
  const login = daemonLogin(loaded, node);
  const syncer: Syncer = new Syncer({
    cluster: config.cluster,
    self: node,
    nodes: config.nodes,
    files,
    users: { bridge: config.bridge.user, daemon: config.daemon.user, ...(config.sessions.enabled ? { shadow: config.sessions.user } : {}) },
    passwords: { bridge: secrets.bridgePassword, daemon: secrets.daemonPassword, ...(secrets.shadowPassword === undefined ? {} : { shadow: secrets.shadowPassword }) },
    stateFile: paths.syncState,
    sweep: config.sync.sweep,
    log: log.child({ component: 'sync' }),
    broker,
    healthy: async () => {
      await sleep(RELOAD_SETTLE_MS);
      // The health monitor owns the broker's verdict (health/monitor.ts); this check only decides the install.
      await checkHealth(login, topics.health(node.id));
    },
    publish: (kind, envelope) => channel.publish(topics.sync(kind), envelope),
    repair: (kind) => channel.repair(topics.sync(kind)),
    onVersion: () => state.update({ versions: syncer.versions(), preference: preferenceOf(syncer.text('leader'), log) }),
    onOutcome: (outcome) => state.record({ type: 'sync', at: Date.now(), ...outcome }),
  });
  return syncer;
}
