/** Argument parsing into commands. Everything the commands touch comes in through `CliIo`. */
import { stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { destination, pino, type DestinationStream, type Level } from 'pino';
import { resolveNode } from './config/identity.js';
import { DEFAULT_CONFIG, DEFAULT_ENV, loadConfig, type LoadedConfig } from './config/load.js';
import { NODE_ENV, readableEnvProblem, readEnvFile, type Env } from './config/secrets.js';
import { withTls } from './config/tls.js';
import { ConfigError, ERROR_CODES, formatProblem, MqfoError, UsageError } from './errors.js';
import { Controller } from './controller.js';
import { SWITCHOVER_TIMEOUT_S } from './switchover/plan.js';
import { SystemdNotify } from './systemd/notify.js';
import { run } from './exec/runner.js';
import { VERSION } from './version.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Env;
  localAddresses: () => string[];
  /** Resolves with the signal's name when the process is asked to stop (SIGTERM, SIGINT). */
  stopSignal?: () => Promise<string>;
  /** Where the daemon's JSON log lines go (default stdout, which journald reads). */
  logDestination?: DestinationStream;
  /** A password from the terminal (no echo) or stdin: never from argv. */
  readPassword?: () => Promise<string>;
  /** Whether stdout is a terminal (status --watch clears it before each redraw). */
  isTTY?: boolean;
}

export function localIPv4Addresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((address) => (address && address.family === 'IPv4' ? [address.address] : []));
}

interface ConfigOptions {
  config: string;
  env?: string;
}

interface Loaded {
  loaded: LoadedConfig;
  /** The env file and its mode, when one was read. */
  envRead?: { file: string; mode: number };
}

async function load(options: ConfigOptions, io: CliIo): Promise<Loaded> {
  const envFile = await readEnvFile(options.env ?? DEFAULT_ENV, { required: options.env !== undefined, processEnv: io.env });
  const loaded = await loadConfig(options.config, envFile.env, envFile.source);
  return { loaded, ...(envFile.read ? { envRead: envFile.read } : {}) };
}

/** Everything but the daemon only warns about a readable env file: they run once, by hand. */
function warnReadableEnv({ envRead }: Loaded, io: CliIo): void {
  const problem = envRead && readableEnvProblem(envRead);
  if (problem) io.stderr(`warning: ${problem}\n`);
}

/** A directory the user named for reading (--templates): missing is a usage error, not "use the built-in ones". */
async function existingDir(flag: string, dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (error) {
    throw new UsageError(`${flag} ${dir}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (error as Error).message}`, { cause: error });
  }
  if (!isDir) throw new UsageError(`${flag} ${dir}: not a directory`);
}

function buildProgram(io: CliIo): Command {
  const program = new Command('mosquitto-failover')
    .description('High availability for Mosquitto brokers behind a floating IP')
    .version(VERSION, '-V, --version')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  const configOption = new Option('-c, --config <file>', 'cluster file').default(DEFAULT_CONFIG);
  const envOption = new Option('-e, --env <file>', `secrets env file (default ${DEFAULT_ENV}, if present)`);

  program
    .command('check')
    .description('validate cluster.yaml and the secrets; print every problem and exit 2 if there is one')
    .addOption(configOption)
    .addOption(envOption)
    .action(async (options: ConfigOptions) => {
      const loaded = await load(options, io);
      warnReadableEnv(loaded, io);
      const { config } = loaded.loaded;
      const { failover, vip } = config;
      const driver = failover.driver === 'keepalived' ? `keepalived VRRPv${failover.vrrp_version}` : 'ucarp';
      io.stdout(
        `ok: cluster ${config.cluster}, ${config.nodes.length} nodes (${config.nodes.map((n) => n.name).join(', ')}), ` +
          `${driver}, VIP ${vip.address}/${vip.prefix} on ${vip.interface}\n`,
      );
    });

  program
    .command('render')
    .description("write one node's mosquitto.conf, keepalived.conf or ucarp files, and systemd units into a directory")
    .addOption(configOption)
    .addOption(envOption)
    .option('-n, --node <id|name>', `the node to render (default: ${NODE_ENV}, else the node with a local address)`)
    .option('--all', 'render every node, each into <out>/<node name>/')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('-t, --templates <dir>', 'templates that override the built-in ones, by file name')
    .action(async (options: ConfigOptions & { node?: string; all?: boolean; out: string; templates?: string }) => {
      if (options.templates !== undefined) await existingDir('--templates', options.templates);
      const found = await load(options, io);
      warnReadableEnv(found, io);
      const { loaded } = found;
      // Imported here, not above: the daemon never renders, and the template engine (liquidjs) is
      // memory it would hold for as long as it runs (see README, The footprint benchmark).
      const { createTemplateEngine, renderNode } = await import('./render/render.js');
      const { writeOutputs } = await import('./render/write.js');
      const engine = createTemplateEngine(options.templates);
      const nodes = options.all
        ? loaded.config.nodes
        : [resolveNode(loaded.config, { flag: options.node, env: loaded.env[NODE_ENV], localAddresses: io.localAddresses() })];
      // Render everything before writing anything: a template error leaves no half-written set.
      const outputs = nodes.map((node) => ({
        dir: options.all ? join(options.out, node.name) : options.out,
        files: renderNode(engine, loaded, node, VERSION),
      }));
      await writeOutputs(options.out, outputs);
      for (const output of outputs) {
        for (const file of output.files) io.stdout(`${join(output.dir, file.name)} (${file.mode.toString(8).padStart(4, '0')}) -> ${file.target}\n`);
      }
    });

  program
    .command('run')
    .description("run this node's daemon: watch VRRP/CARP, add the DNAT rule and restart the broker on takeover, remove it on release")
    .addOption(configOption)
    .addOption(envOption)
    .option('-n, --node <id|name>', `this node (default: ${NODE_ENV}, else the node with a local address)`)
    .addOption(new Option('--log-level <level>', 'least severe level logged').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
    .option('--allow-readable-env', 'start even when the env file is readable by its group or others')
    .action(async (options: ConfigOptions & { node?: string; logLevel: Level; allowReadableEnv?: boolean }) => {
      // Listen before starting, so that a SIGTERM during start still ends in a graceful stop.
      const stop = (io.stopSignal ?? (() => new Promise<string>(() => undefined)))();
      const found = await load(options, io);
      const loaded = await withTls(found.loaded);
      const node = resolveNode(loaded.config, { flag: options.node, env: loaded.env[NODE_ENV], localAddresses: io.localAddresses() });
      // The daemon runs for good, as root: a readable secret is refused, not just warned about.
      const readable = found.envRead && readableEnvProblem(found.envRead);
      if (readable && !options.allowReadableEnv) throw new MqfoError('EENVFILE', `${readable} (or start with --allow-readable-env)`);
      if (readable) io.stderr(`warning: ${readable}\n`);
      const log = pino(
        {
          name: 'mosquitto-failover',
          level: options.logLevel,
          base: { pid: process.pid, node: node.name },
          // Nothing logs a secret on purpose; this catches an accident.
          redact: { paths: ['password', '*.password', 'secrets', '*.secrets', 'env'], censor: '[secret]' },
        },
        io.logDestination ?? destination({ dest: 1, sync: true }),
      );
      const notify = SystemdNotify.fromEnvironment({ env: process.env, run, log });
      const controller = new Controller({ loaded, node, log, run, ...(notify ? { onAlive: () => notify.alive() } : {}) });
      try {
        await controller.start();
      } catch (error) {
        log.fatal({ err: error }, 'cannot start');
        throw error;
      }
      try {
        await notify?.ready(`${controller.state.current.role} (node ${node.name}, cluster ${loaded.config.cluster})`);
      } catch (error) {
        // Never ready, systemd would kill the daemon when its start times out: stop now and say why.
        log.fatal({ err: error }, 'cannot tell systemd that the daemon is ready');
        await controller.stop();
        throw error;
      }
      const signal = await stop;
      log.info({ signal }, 'stopping');
      await notify?.stopping().catch((error: unknown) => log.warn({ err: error }, 'cannot tell systemd that the daemon stops'));
      await controller.stop();
    });

  program
    .command('passwd')
    .description("create or update USER in this node's password file (mosquitto_passwd), then wait until every node has it; the password comes from a prompt or the first line of stdin, never from the command line")
    .argument('<user>', 'the user name')
    .addOption(configOption)
    .addOption(envOption)
    .option('-n, --node <id|name>', `this node (default: ${NODE_ENV}, else the node with a local address)`)
    .option('-D, --delete', 'delete USER instead')
    .option('--no-wait', 'do not wait for the other nodes')
    .option('--timeout <seconds>', 'how long to wait for the other nodes', '30')
    .action(async (user: string, options: ConfigOptions & { node?: string; delete?: boolean; wait: boolean; timeout: string }) => {
      const found = await load(options, io);
      warnReadableEnv(found, io);
      const loaded = await withTls(found.loaded);
      // Imported here for the same reason as the renderer: the daemon never needs it.
      const { checkUser, passwd } = await import('./passwd.js');
      const node = resolveNode(loaded.config, { flag: options.node, env: loaded.env[NODE_ENV], localAddresses: io.localAddresses() });
      const timeout = Number(options.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) throw new UsageError(`--timeout ${JSON.stringify(options.timeout)} is not a number of seconds from 1 to 3600`);
      // Refuse a service user before asking for a password.
      checkUser(loaded, user);
      let password: string | undefined;
      if (!options.delete) {
        if (!io.readPassword) throw new UsageError('no way to read a password here');
        password = await io.readPassword();
      }
      const code = await passwd({
        loaded,
        node,
        user,
        ...(password === undefined ? {} : { password }),
        delete: options.delete ?? false,
        wait: options.wait,
        timeoutMs: timeout * 1000,
        run,
        say: io.stdout,
      });
      if (code !== 0) throw new MqfoError('ENOTSYNCED', 'not every node confirmed the change in time');
    });

  const switchoverCommand = (name: 'promote' | 'demote', description: string) =>
    program
      .command(name)
      .description(description)
      .addOption(configOption)
      .addOption(envOption)
      .option('-n, --node <id|name>', `the node this runs on, whose daemon publishes the change (default: ${NODE_ENV}, else the node with a local address)`)
      .option('--timeout <seconds>', 'how long to wait for the VIP to move', String(SWITCHOVER_TIMEOUT_S));

  type SwitchoverFlags = ConfigOptions & { node?: string; timeout: string; clear?: boolean };
  const runSwitchover = async (name: 'promote' | 'demote', target: string | undefined, options: SwitchoverFlags) => {
    // Imported here for the same reason as the renderer: the daemon never needs it.
    const { checkDriver, nodeNamed } = await import('./switchover/plan.js');
    const { switchover } = await import('./switchover/run.js');
    if (options.clear && target !== undefined) throw new UsageError(`promote --clear takes no node (${target})`);
    if (!options.clear && target === undefined) throw new UsageError(`${name} needs a node (or promote --clear)`);
    const timeout = Number(options.timeout);
    if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) throw new UsageError(`--timeout ${JSON.stringify(options.timeout)} is not a number of seconds from 1 to 3600`);
    const found = await load(options, io);
    warnReadableEnv(found, io);
    const loaded = await withTls(found.loaded);
    const { config } = loaded;
    const action = target === undefined ? { type: 'clear' as const } : { type: name, node: nodeNamed(config, target) };
    checkDriver(config);
    const node = resolveNode(config, { flag: options.node, env: loaded.env[NODE_ENV], localAddresses: io.localAddresses() });
    const result = await switchover({ loaded, node, action, timeoutMs: timeout * 1000, say: (line) => io.stdout(`${line}\n`) });
    if (!result.done) throw new MqfoError('ESWITCHOVER', 'the switchover did not complete in time');
  };

  switchoverCommand('promote', 'move the VIP to NODE and keep it there (synced to every node, across restarts) until promote --clear; waits until NODE is MASTER and the VIP answers')
    .argument('[node]', 'the node to promote (name or id)')
    .option('--clear', 'remove the preference: every node back to its configured priority and health')
    .action((target: string | undefined, options: SwitchoverFlags) => runSwitchover('promote', target, options));

  switchoverCommand('demote', 'move the VIP off NODE to the best other healthy node, and keep it off until promote --clear')
    .argument('<node>', 'the node to demote (name or id)')
    .action((target: string, options: SwitchoverFlags) => runSwitchover('demote', target, options));

  program
    .command('status')
    .description('a table of the nodes (role, online, broker health, weight, VIP, synced files, last takeover) from their retained statuses; exit 0 when exactly one node is MASTER and every node is online with a healthy broker, 1 otherwise')
    .addOption(configOption)
    .addOption(envOption)
    .option('--json', "print getCluster's answer (the control API's shape) instead of the table")
    .option('--watch', 'redraw on every change (at most 4 times a second) until Ctrl-C; the exit code is that of the last state')
    .option('--timeout <seconds>', "how long to wait for every node's status", '3')
    .action(async (options: ConfigOptions & { json?: boolean; watch?: boolean; timeout: string }) => {
      const timeout = Number(options.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 600) throw new UsageError(`--timeout ${JSON.stringify(options.timeout)} is not a number of seconds from 1 to 600`);
      const found = await load(options, io);
      warnReadableEnv(found, io);
      const loaded = await withTls(found.loaded);
      // Imported here for the same reason as the renderer: the daemon never needs it.
      const { status } = await import('./status/run.js');
      const verdict = await status({
        loaded,
        json: options.json ?? false,
        watch: options.watch ?? false,
        timeoutMs: timeout * 1000,
        say: io.stdout,
        clear: io.isTTY ?? false,
        ...(options.watch ? { stop: (io.stopSignal ?? (() => new Promise<string>(() => undefined)))() } : {}),
      });
      if (verdict.code !== 0) throw new MqfoError('ESTATUS', verdict.problems.join('; '));
    });

  program
    .command('doctor')
    .description("check what breaks an installation on this node, one line per check with a fix; exit 1 if a check failed")
    .addOption(configOption)
    .addOption(envOption)
    .option('-n, --node <id|name>', `this node (default: ${NODE_ENV}, else the node with a local address)`)
    .option('--rendered-dir <dir>', 'compare the rendered files with DIR/<file> (as render --out DIR wrote them) instead of where they are installed')
    .option('--timeout <seconds>', "each check's bound", '5')
    .action(async (options: ConfigOptions & { node?: string; renderedDir?: string; timeout: string }) => {
      const timeout = Number(options.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 600) throw new UsageError(`--timeout ${JSON.stringify(options.timeout)} is not a number of seconds from 1 to 600`);
      if (options.renderedDir !== undefined) await existingDir('--rendered-dir', options.renderedDir);
      // No warning about a readable env file: that is one of the checks.
      const found = await load(options, io);
      const loaded = await withTls(found.loaded);
      const node = resolveNode(loaded.config, { flag: options.node, env: loaded.env[NODE_ENV], localAddresses: io.localAddresses() });
      // Imported here for the same reason as the renderer: the daemon never needs it.
      const { runDoctor } = await import('./doctor/doctor.js');
      const { exitCodeOf, formatReport } = await import('./doctor/report.js');
      const renderCommand = ['mosquitto-failover render', `--config ${options.config}`, ...(options.env ? [`--env ${options.env}`] : []), `--node ${node.name}`].join(' ');
      const results = await runDoctor({
        loaded,
        node,
        run,
        version: VERSION,
        timeoutMs: timeout * 1000,
        renderCommand,
        ...(options.renderedDir === undefined ? {} : { compareDir: options.renderedDir }),
        ...(found.envRead ? { envFile: found.envRead.file } : {}),
      });
      io.stdout(formatReport(results));
      if (exitCodeOf(results) !== 0) throw new MqfoError('EDOCTOR', `${results.filter((result) => result.ok === false).length} of ${results.length} checks failed`);
    });

  return program;
}

/** Runs one command line; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else commander rejects is usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigError) {
      io.stderr(`invalid configuration (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}):\n`);
      for (const problem of error.problems) io.stderr(`  ${formatProblem(problem)}\n`);
      return EXIT.usage;
    }
    if (error instanceof MqfoError) {
      io.stderr(`error: ${error.message}\n`);
      return ERROR_CODES[error.code];
    }
    io.stderr(`error: ${(error as Error).message ?? String(error)}\n`);
    return EXIT.failure;
  }
}
