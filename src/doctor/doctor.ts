/**
 * `mosquitto-failover doctor`: every check of one node, each bounded by its own timeout, all at
 * once; a check that throws or times out is a failure of that check only. The results come back
 * in a fixed order for the report (report.ts).
 */
import { lstat } from 'node:fs/promises';
import { connect } from 'node:net';
import { posix } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { NodeConfig } from '../config/schema.js';
import { probeOnce } from '../broker/health.js';
import type { Runner } from '../exec/runner.js';
import { connectOnce, daemonLogin, shadowLogin, type Login } from '../mqtt/client.js';
import { Topics } from '../mqtt/topics.js';
import { runtimePaths } from '../paths.js';
import { createTemplateEngine, renderNode } from '../render/render.js';
import { hasAddress } from '../role/truth.js';
import type { DnatTarget } from '../takeover/nat.js';
import { ask } from '../control/client.js';
import { chainCheck, preparedAt } from './chain.js';
import { loadState } from '../takeover/state.js';
import { CLOCK_FIX, clockCheck, skewOf, type Measured } from './clock.js';
import { driverCheck } from './driver.js';
import { readInstalled, renderedCheck, secretsCheck, statOf, type Secret } from './files.js';
import type { CheckResult } from './report.js';

export interface DoctorOptions {
  loaded: LoadedConfig;
  node: NodeConfig;
  run: Runner;
  version: string;
  /** Each check's bound, ms. */
  timeoutMs: number;
  /** Compare the rendered files with `<compareDir>/<name>` (a `render --out` directory) instead of their targets. */
  compareDir?: string;
  /** The env file that was read (its path), if any. */
  envFile?: string;
  /** The command line that renders this node, for the fix (`mosquitto-failover render --config … --node …`). */
  renderCommand: string;
}

/** `fix` is for a check that throws or times out; one that returns says its own. */
type Check = { name: string; fix?: string; run: () => Promise<CheckResult> };

const IPTABLES_FIX = 'run doctor as root (as the daemon runs), with iptables installed and its nat table usable (modprobe iptable_nat, or the nf_tables kernel modules)';

function serviceUserFix(user: string, secret: string): string {
  return `the password file (or dynamic-security) must have ${user} with the password ${secret} of the env file (mosquitto_passwd FILE ${user}), and the ACL the rendered service-users.acl block; then reload the broker`;
}

const elapsed = (since: number): string => `${Math.round(performance.now() - since)} ms`;

/** A TCP connection to host:port, or a rejection (refused, or no answer within `timeoutMs`). */
async function tcpReach(host: string, port: number, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    });
    socket.once('error', (error) => reject(error));
  });
}

async function login(user: Login, timeoutMs: number): Promise<void> {
  const client = await connectOnce(user, { purpose: 'doctor', timeoutMs });
  await client.endAsync(true).catch(() => undefined);
}

const where = (user: Login): string => `${user.host}:${user.port}`;

export function doctorChecks(options: DoctorOptions): Check[] {
  const { loaded, node, run, timeoutMs } = options;
  const { config, secrets } = loaded;
  const paths = runtimePaths(config);
  const admin = daemonLogin(loaded, node);
  const client: Login = { host: node.address, port: config.broker.client_port, username: config.daemon.user, password: secrets.daemonPassword };
  const bridge: Login = { ...admin, username: config.bridge.user, password: secrets.bridgePassword };
  const target: DnatTarget = { vip: config.vip.address, port: config.broker.client_port, address: node.address, addressPort: config.broker.client_port };
  const iptables = () => run(['iptables', '-w', '5', '-t', 'nat', '-S'], { timeout: timeoutMs });
  const rendered = () => renderNode(createTemplateEngine(), loaded, node, options.version);
  const topics = new Topics(config.cluster);
  const placeOf = (file: { name: string; target: string }) => (options.compareDir ? posix.join(options.compareDir, file.name) : file.target);

  const checks: Check[] = [
    { name: config.failover.driver, fix: `systemctl status ${config.failover.driver === 'keepalived' ? 'keepalived' : 'mosquitto-failover-ucarp'}`, run: () => driverCheck(config, paths) },
    {
      name: 'FIFO',
      run: async () => {
        const info = await lstat(paths.fifo).catch(() => undefined);
        if (info?.isFIFO()) return { name: 'FIFO', ok: true, detail: paths.fifo };
        const detail = info ? `${paths.fifo} is not a FIFO` : `no ${paths.fifo}`;
        return { name: 'FIFO', ok: false, detail, fix: 'the daemon makes it when it starts: systemctl restart mosquitto-failover' };
      },
    },
    {
      name: 'iptables',
      fix: IPTABLES_FIX,
      run: async () => {
        const since = performance.now();
        await iptables();
        return { name: 'iptables', ok: true, detail: `iptables -t nat -S answered in ${elapsed(since)}` };
      },
    },
    {
      name: 'nat chain',
      fix: IPTABLES_FIX,
      run: async () => {
        const { stdout } = await iptables();
        // A missing or unreadable takeover.json is no preparation: the check then wants no rule without the VIP.
        const prepared = await loadState(paths.takeoverState).then((state) => preparedAt(state, new Date()), () => undefined);
        return chainCheck(stdout, hasAddress(config.vip.interface, config.vip.address), target, prepared);
      },
    },
    ...[
      { name: 'client listener', user: client },
      { name: 'admin listener', user: admin },
    ].map(({ name, user }) => ({
      name,
      fix: `start the broker (systemctl restart ${config.broker.unit}, or under broker.control supervise the daemon) and read its log; ${config.broker.config_file} must have this listener`,
      run: async (): Promise<CheckResult> => {
        const since = performance.now();
        await tcpReach(user.host, user.port, timeoutMs);
        return { name, ok: true, detail: `${where(user)} accepts connections (${elapsed(since)})` };
      },
    })),
    {
      name: 'daemon user',
      fix: serviceUserFix(config.daemon.user, 'MQFO_DAEMON_PASSWORD'),
      run: async () => {
        const since = performance.now();
        // A round trip, as the health monitor makes: the login, and the ACL that gives it the peer channel.
        await probeOnce(admin, `${new Topics(config.cluster).prefix}/doctor/${node.id}`, timeoutMs);
        const admin_ = elapsed(since);
        const again = performance.now();
        await login(client, timeoutMs);
        return { name: 'daemon user', ok: true, detail: `${config.daemon.user}: round trip on the admin listener (${admin_}), login on the client listener (${elapsed(again)})` };
      },
    },
    {
      name: 'bridge user',
      fix: serviceUserFix(config.bridge.user, 'MQFO_BRIDGE_PASSWORD'),
      run: async () => {
        const since = performance.now();
        await login(bridge, timeoutMs);
        return { name: 'bridge user', ok: true, detail: `${config.bridge.user}: login on the admin listener (${elapsed(since)})` };
      },
    },
    // The shadows log in as their own service user (sessions/shadows.ts): only while sessions are on.
    ...(config.sessions.enabled
      ? [
          {
            name: 'shadow user',
            fix: serviceUserFix(config.sessions.user, 'MQFO_SHADOW_PASSWORD'),
            run: async () => {
              const since = performance.now();
              await login(shadowLogin(loaded, node), timeoutMs);
              return { name: 'shadow user', ok: true, detail: `${config.sessions.user}: login on the admin listener (${elapsed(since)})` };
            },
          },
        ]
      : []),
    ...config.nodes
      .filter((peer) => peer.id !== node.id)
      .map((peer) => ({
        name: `peer ${peer.name}`,
        fix: `make sure ${peer.name}'s broker runs and that ${peer.address}:${config.broker.admin_port} can be reached from here (firewall, cable); then run doctor on ${peer.name}`,
        run: async (): Promise<CheckResult> => {
          const user = daemonLogin(loaded, peer);
          const since = performance.now();
          await login(user, timeoutMs);
          return { name: `peer ${peer.name}`, ok: true, detail: `${config.daemon.user} logged in on ${where(user)} in ${elapsed(since)}` };
        },
      })),
    {
      name: 'clock skew',
      fix: CLOCK_FIX,
      // Each peer's daemon tells its clock (getCluster's time) to the daemon user; one round trip each, at once.
      run: async () =>
        clockCheck(
          await Promise.all(
            config.nodes
              .filter((peer) => peer.id !== node.id)
              .map(async (peer): Promise<Measured> => {
                try {
                  const { response, sentAt, receivedAt } = await ask(daemonLogin(loaded, peer), topics, [{ command: 'getCluster' }], timeoutMs);
                  const answer = response.responses[0];
                  if (answer?.error !== undefined || typeof (answer?.data as { time?: unknown } | undefined)?.time !== 'string') throw new Error(`its daemon answered ${answer?.error ?? 'without a time'}`);
                  return { peer: peer.name, skew: skewOf((answer!.data as { time: string }).time, sentAt, receivedAt) };
                } catch (error) {
                  return { peer: peer.name, error: (error as Error).message };
                }
              }),
          ),
        ),
    },
    {
      name: 'secret file modes',
      run: async () => {
        const files = rendered();
        const secretFiles: Secret[] = [];
        if (options.envFile) secretFiles.push({ what: 'env file', path: options.envFile, mode: 0o600, root: true });
        const auth = config.broker.auth === 'files' ? { what: 'password file', path: config.broker.password_file } : { what: 'dynamic-security file', path: config.broker.dynsec_file };
        // mosquitto 2 warns about a world-readable password file; the broker's group may read it.
        secretFiles.push({ ...auth, mode: 0o640 });
        for (const name of ['mosquitto.conf', 'keepalived.conf', 'ucarp.pass']) {
          const file = files.find((candidate) => candidate.name === name);
          if (file) secretFiles.push({ what: name, path: placeOf(file), mode: file.mode });
        }
        return secretsCheck(await Promise.all(secretFiles.map(async (secret) => ({ secret, found: await statOf(secret.path) }))));
      },
    },
    {
      name: 'rendered files',
      run: async () => {
        const placed = await Promise.all(
          rendered().map(async (file) => {
            const path = placeOf(file);
            return { file, path, installed: await readInstalled(path), within: file.name === 'service-users.acl' && path === config.broker.acl_file };
          }),
        );
        return renderedCheck(placed, { command: options.renderCommand, out: '/tmp/mqfo-render' });
      },
    },
  ];
  return checks;
}

/** Runs `check` bounded by `timeoutMs`; whatever it throws becomes its failure. */
export async function bounded(check: Check, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ name: check.name, ok: false, detail: `no answer within ${timeoutMs} ms`, ...(check.fix ? { fix: check.fix } : {}) }), timeoutMs);
  });
  try {
    return await Promise.race([
      check.run().catch((error: unknown): CheckResult => ({ name: check.name, ok: false, detail: (error as Error).message ?? String(error), ...(check.fix ? { fix: check.fix } : {}) })),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  // Each check has its own bound, and the slack lets a check's own timeout speak first.
  return Promise.all(doctorChecks(options).map((check) => bounded(check, options.timeoutMs + 1_000)));
}
