/**
 * The failover benchmark's baseline: the recipe users build by hand without mosquitto-failover.
 * keepalived at its default advert (1 s) runs notify scripts as root: on MASTER, a DNAT rule
 * VIP:1883 -> node:1883 in PREROUTING and a broker restart; on BACKUP and FAULT, the rule's
 * deletion. The lab has no systemd, so "systemctl restart mosquitto" is SIGTERM to this node's
 * broker and a new one. Each script stamps its steps into a file, where the round reads the times
 * that the daemon would log. The round itself is failoverRound's, step for step: same probe, same
 * faults, same waits and metrics; only the takeovers are read from the stamps.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTextSync } from '../src/exec/pids.js';
import { failoverRound, type RoundOptions, type RoundResult, type TakeoverSource } from './failover.js';
import { Lab } from './lab.js';
import type { LabNode } from './node.js';
import { waitFor } from './wait.js';

/** keepalived's default advert_int, which the recipe keeps. */
export const BASELINE_ADVERT_INT = 1;

export interface NotifyScriptOptions {
  vip: string;
  port: number;
  address: string;
  /** This node's mosquitto.conf: also how its broker is told from the other nodes' (one pid namespace). */
  brokerConf: string;
  brokerLog: string;
  /** Where the script appends `<epoch ms> <pid> <step>` lines. */
  stamps: string;
  /** A user and topic for the readiness check (measurement only, not part of the recipe). */
  ready: { user: string; password: string; topic: string };
}

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/** The notify script; keepalived runs it with the state as its argument (MASTER, BACKUP, FAULT). */
export function notifyScript(options: NotifyScriptOptions): string {
  const { vip, port, address, ready } = options;
  const mqtt = ['-h', address, '-p', String(port), '-u', ready.user, '-P', ready.password, '-t', ready.topic].map(quote).join(' ');
  return `#!/bin/sh
# keepalived's notify_master/_backup/_fault on this node, run as root with the new state as $1:
# the hand-built recipe without mosquitto-failover (the benchmark's baseline, lab/baseline.ts).
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin
state=$1
conf=${quote(options.brokerConf)}
stamps=${quote(options.stamps)}
rule="-d ${vip} -p tcp --dport ${port} -j DNAT --to-destination ${address}:${port}"
stamp() { echo "$(date +%s%3N) $$ $1" >> "$stamps"; }

# This node's mosquitto: the lab's nodes share one pid namespace, so not pkill or pidof.
broker_pids() {
    for dir in /proc/[0-9]*; do
        comm=
        read -r comm 2>/dev/null < "$dir/comm" || continue
        [ "$comm" = mosquitto ] || continue
        tr '\\0' '\\n' 2>/dev/null < "$dir/cmdline" | grep -qxF -- "$conf" && echo "\${dir#/proc/}"
    done
}

stamp "$state"
case $state in
MASTER)
    iptables -w 5 -t nat -A PREROUTING $rule
    stamp dnat
    # systemctl restart mosquitto: SIGTERM, SIGKILL after 5 s, then start it again.
    pids=$(broker_pids)
    if [ -n "$pids" ]; then
        kill -TERM $pids 2>/dev/null
        tries=0
        while [ -n "$(broker_pids)" ] && [ $tries -lt 250 ]; do sleep 0.02; tries=$((tries + 1)); done
        pids=$(broker_pids)
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
    fi
    setsid mosquitto -c "$conf" >> ${quote(options.brokerLog)} 2>&1 < /dev/null &
    stamp restarted
    # Measurement only: when the new broker accepts a client (bounded, about 10 s).
    tries=0
    while [ $tries -lt 400 ]; do
        if timeout 2 mosquitto_pub ${mqtt} -n 2>/dev/null; then
            stamp accepting
            break
        fi
        sleep 0.02
        tries=$((tries + 1))
    done
    ;;
BACKUP|FAULT)
    iptables -w 5 -t nat -D PREROUTING $rule 2>/dev/null && stamp dnat-removed
    ;;
esac
exit 0
`;
}

function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) throw new Error(`the rendered keepalived.conf has no ${what} (has the template changed?)`);
  return text.replace(pattern, replacement);
}

/**
 * The recipe's keepalived.conf from the rendered one: the same VRRP instance with notify scripts
 * instead of the daemon's FIFO and track file. keepalived runs scripts as root only with
 * `script_user root` (there is no keepalived_script user) and, with enable_script_security, only
 * if no part of their path is writable by another user (keepalived.conf(5), SCRIPTS).
 */
export function baselineKeepalivedConf(rendered: string, script: string): string {
  let conf = replaceOnce(rendered, /^global_defs \{\n[^}]*?([ \t]*router_id \S+\n)[^}]*\}\n/m, 'global_defs {\n$1    script_user root\n    enable_script_security\n}\n', 'global_defs with a router_id');
  conf = replaceOnce(conf, /(?:^#.*\n)*^track_file \S+ \{[^}]*\}\n\n?/m, '', 'track_file block');
  conf = replaceOnce(conf, /^[ \t]+track_file \{[^}]*\}\n/m, '', "vrrp_instance's track_file");
  const end = conf.lastIndexOf('\n}');
  if (end < conf.indexOf('vrrp_instance ')) throw new Error('the rendered keepalived.conf does not end with its vrrp_instance block');
  const notify = ['MASTER', 'BACKUP', 'FAULT'].map((state) => `    notify_${state.toLowerCase()} "${script} ${state}"\n`).join('');
  return `# The failover benchmark's baseline: notify scripts, no mosquitto-failover.\n${conf.slice(0, end + 1)}${notify}${conf.slice(end + 1)}`;
}

/** The baseline's files of `node`, in a directory only root can write (script security). */
function baselineDir(lab: Lab, node: LabNode): string {
  return join(lab.dir, 'baseline', node.name);
}

function stampsFile(lab: Lab, node: LabNode): string {
  return join(baselineDir(lab, node), 'stamps');
}

/** Writes the notify script and replaces the node's keepalived.conf with the recipe's. */
function installRecipe(lab: Lab, node: LabNode): void {
  const dir = baselineDir(lab, node);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const { config, secrets } = node.placed.loaded;
  const script = join(dir, 'notify.sh');
  const text = notifyScript({
    vip: config.vip.address,
    port: config.broker.client_port,
    address: node.address,
    brokerConf: node.placed.files.get('mosquitto.conf')!,
    brokerLog: join(node.logDir, 'mosquitto.log'),
    stamps: stampsFile(lab, node),
    ready: { user: config.daemon.user, password: secrets.daemonPassword, topic: `mosquitto-failover/${config.cluster}/lab/ready` },
  });
  writeFileSync(script, text, { mode: 0o700 });
  writeFileSync(stampsFile(lab, node), '', { mode: 0o644 });
  // In place, so that the lab's own startFailover (and the fault repair) starts the recipe's keepalived.
  const conf = node.placed.files.get('keepalived.conf')!;
  writeFileSync(conf, baselineKeepalivedConf(readFileSync(conf, 'utf8'), script));
}

/**
 * A lab of plain mosquitto and keepalived with the recipe's scripts, no daemon. Resolves once
 * node 1 holds the VIP, its script has restarted its broker, and the bridges are up.
 */
export async function startBaselineLab(options: { nodes?: number } = {}): Promise<Lab> {
  const lab = await Lab.start({ nodes: options.nodes ?? 2, daemon: false, start: false, advertInt: BASELINE_ADVERT_INT });
  try {
    const started = Date.now();
    for (const node of lab.nodes) installRecipe(lab, node);
    await Promise.all(lab.nodes.map((node) => node.startBroker()));
    for (const node of lab.nodes) node.startFailover();
    const first = lab.nodes[0]!;
    await lab.waitForVipOn(first.id, { timeoutMs: 30_000 });
    await baselineTakeovers(lab).waitForTakeover(first, started);
    await lab.waitForBridges(30_000);
    return lab;
  } catch (error) {
    lab.stop();
    throw error;
  }
}

export interface Stamp {
  t: number;
  pid: number;
  step: string;
}

export function parseStamps(text: string): Stamp[] {
  return text.split('\n').flatMap((line) => {
    const match = /^(\d+) (\d+) (\S+)$/.exec(line);
    return match ? [{ t: Number(match[1]), pid: Number(match[2]), step: match[3]! }] : [];
  });
}

/** The first takeover (notify_master) since `after`, once its broker accepts; undefined before. Epoch ms. */
export function takeoverSince(stamps: readonly Stamp[], after: number): { hint: number; dnat?: number; restarted?: number; accepting: number } | undefined {
  const index = stamps.findIndex((stamp) => stamp.step === 'MASTER' && stamp.t >= after);
  if (index < 0) return undefined;
  const start = stamps[index]!;
  const own = stamps.slice(index + 1).filter((stamp) => stamp.pid === start.pid);
  const at = (step: string) => own.find((stamp) => stamp.step === step)?.t;
  const accepting = at('accepting');
  return accepting === undefined ? undefined : { hint: start.t, dnat: at('dnat'), restarted: at('restarted'), accepting };
}

function stampsOf(lab: Lab, node: LabNode): Stamp[] {
  return parseStamps(readTextSync(stampsFile(lab, node)));
}

/** The baseline's takeovers, read from the notify scripts' stamps. */
export function baselineTakeovers(lab: Lab): TakeoverSource {
  return {
    hintLabel: 'keepalived runs notify_master',
    waitForTakeover: (node, since) =>
      waitFor(`${node.name}'s notify_master to restart its broker`, () => takeoverSince(stampsOf(lab, node), since), { timeoutMs: 30_000, intervalMs: 20 }),
    restartsSince: (node, since) => stampsOf(lab, node).filter((stamp) => stamp.step === 'restarted' && stamp.t >= since).length,
  };
}

/** failoverRound (failover.ts) on a baseline lab: the same probe, fault, waits and verdict. */
export async function baselineRound(lab: Lab, options: RoundOptions): Promise<RoundResult> {
  return failoverRound(lab, { ...options, takeovers: baselineTakeovers(lab) });
}
