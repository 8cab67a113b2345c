/**
 * The shape of cluster.yaml, field by field. Cross-field rules (unique ids, the VIP inside the
 * nodes' subnet, advert_int against the VRRP version…) live in rules.ts so that they run even
 * when some field is wrong: the user sees every problem at once.
 */
import { z } from 'zod';
import { quoted } from '../errors.js';
import { peerPrefix } from '../mqtt/topics.js';

export const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
// Linux IFNAMSIZ is 16 including the terminating NUL.
const INTERFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;
const USER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Paths go unquoted into mosquitto.conf, keepalived.conf, systemd units, tmpfiles.d and the
 * ucarp scripts (which ucarp runs as root), and no one quoting covers all of them: keepalived
 * takes # and ! as comments anywhere in a line, { } as blocks and ${...} as its own parameters
 * (keepalived.conf(5)); systemd expands % specifiers and $VARIABLES (systemd.service(5),
 * systemd.unit(5)); a shell runs ; $( ) and backquotes. So one plain set for every path.
 */
const PATH_CHAR = /[A-Za-z0-9._+@/-]/;
const PATH_CHARS_TEXT = 'letters, digits and . _ + @ - /';

// Linux PATH_MAX, NUL included (limits.h).
const PATH_MAX = 4096;

export function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return `${quoted(path)} is not an absolute path`;
  if (path.length >= PATH_MAX) return `${quoted(path)} is longer than a path can be (at most ${PATH_MAX - 1} characters)`;
  const bad = [...new Set([...path].filter((char) => !PATH_CHAR.test(char)))];
  if (bad.length === 0) return undefined;
  const shown = bad.slice(0, 8).map(visible).join(' ');
  return `${quoted(path)} holds characters a path here cannot have (${shown}${bad.length > 8 ? ' …' : ''}): use ${PATH_CHARS_TEXT} only`;
}

/** A character as a message can show it: itself when it is visible, else its name or code point. */
function visible(char: string): string {
  if (char === ' ') return 'space';
  if (/^[\p{L}\p{N}\p{P}\p{S}]$/u.test(char)) return char;
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

const absolutePath = z.string().superRefine((path, ctx) => {
  const problem = pathProblem(path);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, input: path });
});

const port = z.int({ error: 'must be a whole number' }).min(1, { error: 'must be a port from 1 to 65535' }).max(65535, {
  error: 'must be a port from 1 to 65535',
});

export const ipv4 = z.ipv4({ error: (issue) => `${quoted(issue.input)} is not an IPv4 address` });

export const TopicPattern = z.string().superRefine((pattern, ctx) => {
  const problem = topicPatternProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: `${quoted(pattern)} ${problem}`, input: pattern });
});

// The daemons' own topics (src/mqtt/topics.ts): a bridge that carries them would hand one node's
// peer channel to another's broker under the wrong origin.
const OWN_PREFIX = peerPrefix('');

/** An MQTT string is at most 65535 bytes of UTF-8 (MQTT 3.1.1, 1.5.3; MQTT 5, 1.5.4). */
export const MQTT_STRING_BYTES = 65_535;

/** Why an MQTT subscription pattern is unusable in a bridge `topic` line, or undefined if it is fine. */
export function topicPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  const bytes = Buffer.byteLength(pattern, 'utf8');
  if (bytes > MQTT_STRING_BYTES) return `is ${bytes} bytes long; an MQTT topic is at most ${MQTT_STRING_BYTES}`;
  if (pattern.includes('\u0000')) return 'contains a NUL character';
  // MQTT 3.1.1, 1.5.3: control characters U+0001..U+001F and U+007F..U+009F SHOULD NOT appear,
  // and a broker may close the connection of a client that sends them.
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u001f\u007f-\u009f]/.test(pattern)) return 'contains a control character';
  if (/\s/.test(pattern)) return 'contains white space, which a mosquitto.conf topic line cannot hold';
  if (pattern.startsWith('$')) return 'starts with $, and $-topics belong to the broker itself';
  if (`${pattern}/`.startsWith(OWN_PREFIX)) {
    return `is under ${OWN_PREFIX}, the daemons' own topics, which the bridges must not carry`;
  }
  const levels = pattern.split('/');
  for (const [index, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      return 'has # in the wrong place: # must be a whole level and the last one (e.g. home/#)';
    }
    if (level.includes('+') && level !== '+') {
      return 'has + in the wrong place: + must be a whole level (e.g. home/+/state)';
    }
  }
  return undefined;
}

export const Node = z.strictObject({
  id: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be from 1 to 255' }).max(255, {
    error: 'must be from 1 to 255',
  }),
  name: z.string().regex(NAME, {
    error: (issue) => `${quoted(issue.input)} is not a valid name: lower-case letters, digits and -, up to 32`,
  }),
  address: ipv4,
  // 255 means "address owner" to VRRP and cannot be lowered by a track_file (keepalived.conf(5)).
  priority: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be from 1 to 254' }).max(254, {
    error: 'must be from 1 to 254 (255 is reserved for the address owner)',
  }),
});

export const Topic = z.strictObject({
  pattern: TopicPattern,
  direction: z.enum(['both', 'in', 'out']).default('both'),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'must be 0, 1 or 2' }).default(1),
});

export const Vip = z.strictObject({
  address: ipv4,
  prefix: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be from 1 to 32' }).max(32, {
    error: 'must be from 1 to 32',
  }).default(24),
  interface: z.string().regex(INTERFACE, {
    error: (issue) => `${quoted(issue.input)} is not a network interface name (up to 15 characters)`,
  }),
});

// The command runs without a shell (src/exec/runner.ts): "systemctl reload mosquitto" as one
// element is a program of that name, which does not exist, found only at the first takeover.
const argv = z
  .array(z.string().min(1), { error: 'must be a list of arguments, e.g. [/usr/bin/systemctl, restart, mosquitto]' })
  .min(1, { error: 'must name a program, e.g. [/usr/bin/systemctl, restart, mosquitto]' })
  .superRefine((args, ctx) => {
    const [program] = args;
    if (program !== undefined && /\s/.test(program)) {
      const split = program.trim().split(/\s+/).slice(0, 6).map((arg) => arg.slice(0, 40));
      ctx.addIssue({
        code: 'custom',
        path: [0],
        input: program,
        message: `${quoted(program)} is a program name with spaces: the command runs without a shell, so write one argument per element, e.g. [${split.join(', ')}]`,
      });
    }
  });

export const Failover = z.strictObject({
  driver: z.enum(['keepalived', 'ucarp']).default('keepalived'),
  router_id: z.int({ error: 'must be a whole number' }).min(1, { error: 'must be from 1 to 255' }).max(255, {
    error: 'must be from 1 to 255',
  }).default(51),
  advert_int: z.number({ error: 'must be a number of seconds' }).positive({ error: 'must be more than 0 seconds' }).max(
    40.95,
    { error: 'must be at most 40.95 seconds' },
  ).default(1),
  vrrp_version: z.union([z.literal(2), z.literal(3)], { error: 'must be 2 or 3' }).default(3),
  preempt: z.boolean({ error: 'must be true or false' }).default(true),
  preempt_delay: z.number({ error: 'must be a number of seconds' }).min(0, { error: 'must be from 0 to 1000' }).max(1000, {
    error: 'must be from 0 to 1000',
  }).default(0),
  // false: a takeover opens the DNAT rule without restarting the broker (faster by the restart:
  // 0.1 to 0.35 s measured, README "Faster on a pulled cable"); the clients that came through the
  // VIP reconnect anyway, since the new master resets their old connections. true is the seed
  // recipe's way: every client reconnects.
  restart_on_takeover: z.boolean({ error: 'must be true or false' }).default(true),
  // Where the daemon finds the VRRP/CARP program's pid, to tell a stale VIP (left by a killed
  // keepalived) from a live one. Default for keepalived: /run/keepalived.pid (keepalived(8)).
  pid_file: absolutePath.optional(),
  // How the daemon stops and starts ucarp when the broker's health moves the VIP (ucarp has no
  // runtime priority: a sick node stops advertising; src/failover/control.ts). Not used with
  // keepalived, whose priority moves through the track file.
  control: z.enum(['systemd', 'supervise', 'command']).default('systemd'),
  unit: z.string().regex(/^[A-Za-z0-9@._:-]+$/, { error: 'is not a systemd unit name' }).default('mosquitto-failover-ucarp.service'),
  start_command: argv.optional(),
  stop_command: argv.optional(),
  binary: absolutePath.default('/usr/sbin/ucarp'),
});

export const Broker = z.strictObject({
  client_port: port.default(1883),
  client_bind: z.enum(['node', 'all']).default('node'),
  admin_port: port.default(1885),
  control: z.enum(['systemd', 'supervise', 'command']).default('systemd'),
  unit: z.string().regex(/^[A-Za-z0-9@._:-]+$/, { error: 'is not a systemd unit name' }).default('mosquitto.service'),
  restart_command: argv.optional(),
  reload_command: argv.optional(),
  // Under `control: command`, how to make the broker save its database now (SIGUSR1 to it, e.g.
  // [/usr/bin/docker, kill, --signal=USR1, mosquitto]); without it there is no save_on_session_change.
  save_command: argv.optional(),
  binary: absolutePath.default('/usr/sbin/mosquitto'),
  config_file: absolutePath.default('/etc/mosquitto/mosquitto.conf'),
  persistence_location: absolutePath.default('/var/lib/mosquitto/'),
  autosave_interval: z.int({ error: 'must be a whole number of seconds' }).min(1, { error: 'must be at least 1 second' }).max(
    3600,
    { error: 'must be at most 3600 seconds: a short interval loses less on a crash' },
  ).default(10),
  // Save the in-memory database after this many changes instead of every autosave_interval
  // seconds (mosquitto.conf(5) autosave_on_changes); 0 saves by time. What mosquitto 2.0.11 counts
  // as a change (src/database.c, handle_*.c): each QoS 1/2 delivery a client acknowledged (each
  // subscriber's, the bridge's), each message queued for a client, a subscribe, an unsubscribe, a
  // retained message, a new persistent session. Each save writes the whole database (retained
  // messages included) and fsyncs it: the cost is about the message rate times the database's size.
  autosave_changes: z.int({ error: 'must be a whole number of changes' }).min(0, { error: 'must be 0 (save by time) or more' }).max(
    1_000_000,
    { error: 'must be at most 1000000 changes' },
  ).default(0),
  // Ask the broker to save its database (SIGUSR1) whenever its log shows a new persistent session,
  // a persistent client's subscribe or unsubscribe, or a clean connect that ends a persistent
  // session (src/broker/save-on-change.ts; at most one save per SAVE_GAP_MS): what a broker killed
  // with -9 would otherwise forget until the next autosave (README "A broker killed with -9").
  save_on_session_change: z.boolean({ error: 'must be true or false' }).default(true),
  // Messages a broker keeps for each offline persistent client. mosquitto's default, 1000, is
  // about 5 s of a busy home at 200 msg/s: a failover and a failback must fit, or acked
  // messages are dropped (mosquitto.conf(5) max_queued_messages).
  max_queued_messages: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 (no limit) or more' }).default(100_000),
  // QoS 1 and 2 messages in flight per client, both ways (0: no limit). mosquitto 2.0 holds at
  // most this many of a client's incoming QoS 2 messages unreleased (PUBREC sent, PUBREL awaited;
  // context.c: msgs_in.inflight_maximum) and drops any more with a PUBREC that an MQTT 3.1.1
  // client cannot read as a refusal (reason 151, handle_publish.c): its PUBREL is then answered
  // PUBCOMP, and the publisher believes the message delivered. mosquitto's default, 20, is what
  // a QoS 2 publisher that reconnects after a failover sends at once from its offline queue
  // (issue 15: 57 to 148 acknowledged messages lost per takeover at 200 msg/s).
  max_inflight_messages: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 (no limit) or more' }).max(65_535, { error: 'must be at most 65535 (mosquitto.conf(5))' }).default(0),
  auth: z.enum(['files', 'dynsec']).default('files'),
  password_file: absolutePath.default('/etc/mosquitto/passwd'),
  acl_file: absolutePath.default('/etc/mosquitto/acl'),
  dynsec_file: absolutePath.default('/var/lib/mosquitto/dynamic-security.json'),
  dynsec_plugin: absolutePath.default('/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so'),
  include_dir: absolutePath.optional(),
  log_dest: z.enum(['stderr', 'stdout', 'syslog']).default('stderr'),
});

export const Bridge = z.strictObject({
  hub: z.int({ error: 'must be a node id' }).optional(),
  user: z.string().regex(USER, { error: 'is not a user name' }).default('mqfo-bridge'),
  keepalive: z.int({ error: 'must be a whole number of seconds' }).min(5, { error: 'must be at least 5 seconds (mosquitto.conf(5))' })
    .max(65535, { error: 'must be at most 65535 seconds' }).default(5),
  // How often a bridge's waiting sessions on the nodes it is not connected to are emptied of what
  // has reached its node (src/mesh/waiting.ts): a bridge that moves delivers about this much again.
  drain_interval: z.number({ error: 'must be a number of seconds' }).min(1, { error: 'must be from 1 to 3600 seconds' }).max(3600, { error: 'must be from 1 to 3600 seconds' }).default(5),
  topics: z.array(Topic).min(1, { error: 'needs at least one topic to replicate, e.g. - pattern: home/#' }),
});

export const Daemon = z.strictObject({
  user: z.string().regex(USER, { error: 'is not a user name' }).default('mqfo-daemon'),
  bin: absolutePath.default('/usr/local/bin/mosquitto-failover'),
  config_dir: absolutePath.default('/etc/mosquitto-failover'),
  run_dir: absolutePath.default('/run/mosquitto-failover'),
  state_dir: absolutePath.default('/var/lib/mosquitto-failover'),
});

export const Sync = z.strictObject({
  password_file: z.boolean({ error: 'must be true or false' }).default(true),
  acl_file: z.boolean({ error: 'must be true or false' }).default(true),
  dynsec: z.boolean({ error: 'must be true or false' }).default(false),
  sweep: z.string().min(1).default('*/5 * * * *'),
});

// All three or none: the section is optional, its keys are not (load.ts hints at that).
export const Tls = z.strictObject({
  // The CA that signed every node's certificate: the brokers' bridges and the daemons trust it.
  cafile: absolutePath,
  // This node's own certificate and key (the same paths on every node, each with its own files).
  certfile: absolutePath,
  keyfile: absolutePath,
});

const seconds = (least: number, most: number) =>
  z.number({ error: 'must be a number of seconds' }).min(least, { error: `must be from ${least} to ${most} seconds` }).max(most, {
    error: `must be from ${least} to ${most} seconds`,
  });
const count = (most: number) =>
  z.int({ error: 'must be a whole number' }).min(1, { error: `must be from 1 to ${most}` }).max(most, { error: `must be from 1 to ${most}` });

/**
 * The broker's own health (src/health/): a probe every `interval`, `fall` failures in a row make
 * the broker sick (this node steps down), `hang_fall` unanswered ones (a hang) too, `rise`
 * successes in a row well again. The defaults (0.25 s, 5, 2, 8) ride out a crash that the
 * supervise adapter restarts in place (0.5 s respawn and mosquitto's start: under 1 s of refused
 * connections, while 5 failures take at least 1 s), and find a hung broker in 0.5 s of silence;
 * a broker must answer for 2 s before this node competes for the VIP again.
 */
export const Health = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
  interval: seconds(0.05, 60).default(0.25),
  // A probe that has not answered within this long failed; at most `interval` (rules.ts), so
  // that probes never overlap and a hung broker is counted at the same pace as a dead one.
  timeout: seconds(0.05, 60).default(0.25),
  fall: count(100).default(5),
  // Probes in a row that got no answer within `timeout` (a hung broker: the kernel accepts the
  // connection, nothing answers) that make the broker sick. Unanswered probes are failures too, so
  // a value above `fall` is `fall` (a config with `fall: 1` stays valid). A crash restarted in
  // place refuses connections instead, and still needs `fall`.
  hang_fall: count(100).default(2),
  rise: count(100).default(8),
  // Probe the client listener too (the same round trip as the daemon user, on broker.client_port).
  client_port: z.boolean({ error: 'must be true or false' }).default(false),
});

/**
 * Prometheus metrics (src/metrics/): off by default. Each node listens on `address` (default its
 * own nodes[].address, the private network) and `port`.
 */
export const Metrics = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(false),
  address: ipv4.optional(),
  port: port.default(9641),
});

/**
 * Shadow sessions (src/sessions/): the master's daemon learns its clients' persistent sessions
 * from the broker's log, and every backup keeps a copy of each on its own broker, so that what
 * the bridges carry waits there too when the master never comes back. Off by default.
 */
export const Sessions = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(false),
  // The shadows' login: a service user of its own, whose ACL reads exactly the bridged topics.
  user: z.string().regex(USER, { error: 'is not a user name' }).default('mqfo-shadow'),
  // How often each shadow is emptied: the duplicates a takeover delivers are about this many seconds of traffic.
  drain_interval: seconds(0.2, 60).default(1),
  // Bounds on what the list holds (and so on what a peer can make a backup do).
  max_clients: count(5000).default(500),
  max_filters: count(256).default(32),
});

/** The control API (src/control/): the users who may call it; none, and it is off. */
export const Control = z.strictObject({
  users: z.array(z.string().regex(USER, { error: 'is not a user name' }), { error: 'must be a list of user names' }).max(32, { error: 'at most 32 users' }).default([]),
});

/**
 * Home Assistant MQTT discovery (src/homeassistant/): off by default. Each daemon publishes its
 * node's device under `discovery_prefix` (Home Assistant's, default `homeassistant`); `user` is
 * Home Assistant's MQTT user: the rendered ACL lets it read those topics, and, since it must also
 * be in control.users (rules.ts), each node gets a "promote" button that sends it a setLeader.
 */
export const HomeAssistant = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(false),
  // Whole topic levels of letters, digits, _ and -: it goes into ACL lines and topic filters.
  discovery_prefix: z.string().regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+){0,3}$/, {
    error: (issue) => `${quoted(issue.input)} is not a discovery prefix: up to 4 topic levels of letters, digits, _ and -, no wildcards, e.g. homeassistant`,
  }).max(128, { error: 'must be at most 128 characters' }).default('homeassistant'),
  user: z.string().regex(USER, { error: 'is not a user name' }).optional(),
});

export const Cluster = z.strictObject({
  cluster: z.string().regex(NAME, {
    error: (issue) => `${quoted(issue.input)} is not a valid cluster name: lower-case letters, digits and -, up to 32`,
  }),
  vip: Vip,
  failover: Failover.prefault({}),
  nodes: z.array(Node, { error: 'must be a list of nodes' }).min(2, { error: 'needs at least two nodes' }),
  broker: Broker.prefault({}),
  bridge: Bridge,
  daemon: Daemon.prefault({}),
  sync: Sync.prefault({}),
  tls: Tls.optional(),
  health: Health.prefault({}),
  metrics: Metrics.prefault({}),
  control: Control.prefault({}),
  homeassistant: HomeAssistant.prefault({}),
  sessions: Sessions.prefault({}),
});

export type ClusterConfig = z.infer<typeof Cluster>;
export type NodeConfig = z.infer<typeof Node>;
export type TopicConfig = z.infer<typeof Topic>;
export type TlsConfig = z.infer<typeof Tls>;
export type HealthConfig = z.infer<typeof Health>;
export type MetricsConfig = z.infer<typeof Metrics>;
export type HomeAssistantConfig = z.infer<typeof HomeAssistant>;
export type SessionsConfig = z.infer<typeof Sessions>;
