/**
 * Is the VRRP/CARP program running, and does it tell our FIFO? It is found by the pid file the
 * config names (failover.pid_file, else keepalived's /run/keepalived.pid), never by its name:
 * several keepalived can run on one machine (the lab runs one per node, all in one PID
 * namespace), and a name says nothing about which cluster one serves. Its configuration is
 * read from its own command line (keepalived -f/--use-file, ucarp --upscript/--downscript).
 */
import { readFile } from 'node:fs/promises';
import type { ClusterConfig } from '../config/schema.js';
import { commandLine, readPidFile } from '../exec/pids.js';
import type { RuntimePaths } from '../paths.js';
import { shellQuote } from '../render/render.js';
import { driverState } from '../role/truth.js';
import { DEFAULT_KEEPALIVED_PID_FILE } from '../takeover/stale.js';
import type { CheckResult } from './report.js';

/** keepalived(8): `-f, --use-file=FILE`, default /etc/keepalived/keepalived.conf. */
export function keepalivedConfigOf(argv: readonly string[]): string {
  for (const [index, arg] of argv.entries()) {
    if ((arg === '-f' || arg === '--use-file') && argv[index + 1] !== undefined) return argv[index + 1]!;
    if (arg.startsWith('--use-file=')) return arg.slice('--use-file='.length);
    if (arg.startsWith('-f') && arg.length > 2 && !arg.startsWith('--')) return arg.slice(2);
  }
  return '/etc/keepalived/keepalived.conf';
}

/** The `vrrp_notify_fifo` of a keepalived.conf (keepalived.conf(5), global_defs), if it has one. */
export function notifyFifoOf(conf: string): string | undefined {
  for (const raw of conf.split('\n')) {
    const line = raw.replace(/[#!].*$/, '').trim();
    const match = /^vrrp_notify_fifo\s+"?([^\s"]+)"?/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

export async function driverCheck(config: ClusterConfig, paths: RuntimePaths): Promise<CheckResult> {
  const program = config.failover.driver;
  const name = program;
  const pidFile = config.failover.pid_file ?? (program === 'keepalived' ? DEFAULT_KEEPALIVED_PID_FILE : undefined);
  const unit = program === 'keepalived' ? 'keepalived' : 'mosquitto-failover-ucarp';
  if (!pidFile) {
    return { name, ok: 'skipped', detail: `no failover.pid_file in cluster.yaml, and doctor never looks a program up by its name (several may run here); see systemctl status ${unit}` };
  }
  const state = await driverState(pidFile, program);
  const pid = await readPidFile(pidFile);
  if (state !== 'alive') {
    const why = state === 'unknown' ? `no pid in ${pidFile}` : `pid ${pid ?? '?'} from ${pidFile} is not ${program}`;
    return { name, ok: false, detail: `not running (${why})`, fix: `systemctl restart ${unit}${config.failover.pid_file ? '' : ` (if it writes its pid elsewhere, set failover.pid_file)`}` };
  }
  const argv = commandLine(pid!) ?? [];
  if (program === 'keepalived') {
    const file = keepalivedConfigOf(argv);
    const conf = await readFile(file, 'utf8').catch((error: unknown) => {
      throw new Error(`keepalived (pid ${pid}) runs on ${file}, which cannot be read: ${(error as Error).message}`, { cause: error });
    });
    const fifo = notifyFifoOf(conf);
    if (fifo !== paths.fifo) {
      return {
        name,
        ok: false,
        detail: `keepalived (pid ${pid}) runs on ${file}, whose vrrp_notify_fifo is ${fifo ?? 'not set'}, not ${paths.fifo}`,
        fix: `install the rendered keepalived.conf as ${file}, then systemctl reload keepalived`,
      };
    }
    return { name, ok: true, detail: `pid ${pid} (from ${pidFile}), ${file} notifies ${fifo}` };
  }
  const scripts = [paths.vipUp, paths.vipDown];
  const missing = scripts.filter((script) => !argv.some((arg) => arg === script || arg.endsWith(`=${script}`)));
  if (missing.length > 0) {
    return { name, ok: false, detail: `ucarp (pid ${pid}) does not run ${missing.join(' and ')}`, fix: `install the rendered ucarp.args and systemctl restart ${unit}` };
  }
  const line = `fifo=${shellQuote(paths.fifo)}`;
  const texts = await Promise.all(scripts.map((script) => readFile(script, 'utf8').catch(() => '')));
  const silent = scripts.filter((_script, index) => !texts[index]!.split('\n').includes(line));
  if (silent.length > 0) return { name, ok: false, detail: `${silent.join(' and ')} do not write into ${paths.fifo}`, fix: 'install the rendered vip-up.sh and vip-down.sh' };
  return { name, ok: true, detail: `pid ${pid} (from ${pidFile}), its scripts write into ${paths.fifo}` };
}
