/**
 * Rules that span fields. They read the raw document and skip any value that is itself invalid
 * (the schema reports that one), so a wrong address and a duplicate id are reported together.
 */
import ipaddr from 'ipaddr.js';
import cron from 'node-cron';
import { z } from 'zod';
import { quoted, type ConfigProblem } from '../errors.js';
import { Bridge, Broker, Control, Daemon, Failover, Health, HomeAssistant, Metrics, MQTT_STRING_BYTES, Node, Sessions, Sync, Topic, Vip } from './schema.js';
import { SECRET_NAMES, type Env } from './secrets.js';

type Raw = Record<string, unknown>;

function valid<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> | undefined {
  const result = schema.safeParse(value);
  return result.success ? result.data : undefined;
}

function field(raw: unknown, key: string): unknown {
  return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Raw)[key] : undefined;
}

function list(raw: unknown): unknown[] {
  return Array.isArray(raw) ? raw : [];
}

export function ruleProblems(raw: unknown, env: Env): ConfigProblem[] {
  const nodes = list(field(raw, 'nodes')).map(validNodeFields);
  // Non-strict copies: an unknown key (reported by the schema) should not hide these rules.
  const vip = valid(z.object(Vip.shape), field(raw, 'vip'));
  const failover = valid(z.object(Failover.shape).prefault({}), field(raw, 'failover'));
  const broker = valid(z.object(Broker.shape).prefault({}), field(raw, 'broker'));
  const sync = valid(z.object(Sync.shape).prefault({}), field(raw, 'sync'));
  const health = valid(z.object(Health.shape).prefault({}), field(raw, 'health'));
  const metrics = valid(z.object(Metrics.shape).prefault({}), field(raw, 'metrics'));
  const sessions = valid(z.object(Sessions.shape).prefault({}), field(raw, 'sessions'));
  return [
    ...uniqueNodeFields(nodes),
    ...vipProblems(vip, nodes),
    ...failoverProblems(failover),
    ...healthProblems(health, failover, nodes),
    ...brokerProblems(broker),
    ...metricsProblems(metrics, broker),
    ...bridgeProblems(raw, nodes),
    ...serviceUserProblems(raw),
    ...controlProblems(raw),
    ...homeAssistantProblems(raw),
    ...syncProblems(sync, broker),
    ...secretProblems(env, failover, sessions),
    ...sessionsProblems(raw, sessions, broker),
  ];
}

type PartialNode = Partial<z.infer<typeof Node>>;

/** Each field of a node on its own, so that one bad field does not hide the others' duplicates. */
function validNodeFields(node: unknown): PartialNode {
  return {
    id: valid(Node.shape.id, field(node, 'id')),
    name: valid(Node.shape.name, field(node, 'name')),
    address: valid(Node.shape.address, field(node, 'address')),
    priority: valid(Node.shape.priority, field(node, 'priority')),
  };
}

function uniqueNodeFields(nodes: PartialNode[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const key of ['id', 'name', 'address', 'priority'] as const) {
    const seen = new Map<unknown, number>();
    for (const [index, node] of nodes.entries()) {
      const value = node[key];
      if (value === undefined) continue;
      const first = seen.get(value);
      if (first === undefined) {
        seen.set(value, index);
        continue;
      }
      problems.push({
        path: `nodes[${index}].${key}`,
        message: `${quoted(value)} is also the ${key} of nodes[${first}]`,
        hint:
          key === 'priority'
            ? 'give every node its own priority; to keep a master when a higher one returns, set failover.preempt: false'
            : `every node needs its own ${key}`,
      });
    }
  }
  return problems;
}

function vipProblems(vip: z.infer<typeof Vip> | undefined, nodes: PartialNode[]): ConfigProblem[] {
  if (!vip) return [];
  const address = ipaddr.IPv4.parse(vip.address);
  const problems: ConfigProblem[] = [];
  const located = nodes.flatMap((node, index) => (node.address ? [{ index, address: ipaddr.IPv4.parse(node.address) }] : []));
  for (const node of located) {
    if (node.address.toString() === address.toString()) {
      problems.push({ path: 'vip.address', message: `${vip.address} is also the address of nodes[${node.index}]`, hint: 'the VIP must be an address no host owns' });
    }
  }
  if (vip.prefix <= 30) {
    const network = ipaddr.IPv4.networkAddressFromCIDR(`${vip.address}/${vip.prefix}`).toString();
    const broadcast = ipaddr.IPv4.broadcastAddressFromCIDR(`${vip.address}/${vip.prefix}`).toString();
    if (vip.address === network || vip.address === broadcast) {
      problems.push({ path: 'vip.address', message: `${vip.address} is the ${vip.address === network ? 'network' : 'broadcast'} address of /${vip.prefix}` });
    }
  }
  // A host cannot hold its subnet's network or broadcast address (RFC 919, 922); /31 and /32 have neither (RFC 3021).
  for (const node of vip.prefix <= 30 ? located : []) {
    const cidr = `${node.address.toString()}/${vip.prefix}`;
    const network = ipaddr.IPv4.networkAddressFromCIDR(cidr).toString();
    const broadcast = ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString();
    if (node.address.toString() === network || node.address.toString() === broadcast) {
      problems.push({
        path: `nodes[${node.index}].address`,
        message: `${node.address.toString()} is the ${node.address.toString() === network ? 'network' : 'broadcast'} address of ${network}/${vip.prefix}`,
        hint: "use the node's own address, one between the subnet's first and last",
      });
    }
  }
  const outside = located.filter((node) => !node.address.match(address, vip.prefix));
  if (located.length > 0 && outside.length === located.length) {
    const subnets = [...new Set(located.map((node) => `${ipaddr.IPv4.networkAddressFromCIDR(`${node.address.toString()}/${vip.prefix}`).toString()}/${vip.prefix}`))];
    problems.push({
      path: 'vip.address',
      message: `${vip.address} is in no node's subnet (${subnets.join(', ')})`,
      hint: 'the VIP must be a free address on the private network the nodes share',
    });
  } else {
    const subnet = `${ipaddr.IPv4.networkAddressFromCIDR(`${vip.address}/${vip.prefix}`).toString()}/${vip.prefix}`;
    for (const node of outside) {
      problems.push({
        path: `nodes[${node.index}].address`,
        message: `${node.address.toString()} is not in the VIP's subnet ${subnet}`,
        hint: 'all nodes must share one L2 network with the VIP',
      });
    }
  }
  return problems;
}

function healthProblems(health: z.infer<typeof Health> | undefined, failover: z.infer<typeof Failover> | undefined, nodes: PartialNode[]): ConfigProblem[] {
  if (!health) return [];
  const problems: ConfigProblem[] = [];
  if (health.timeout > health.interval) {
    problems.push({
      path: 'health.timeout',
      message: `${health.timeout} s is longer than health.interval (${health.interval} s): probes would overlap`,
      hint: 'a probe must end before the next one starts; make health.timeout at most health.interval',
    });
  }
  // A sick node's priority drops to 1, keepalived's floor (src/health/weight.ts): a healthy
  // peer at 1 would tie with it, and a tie goes to the higher address (RFC 5798 6.4.3), not
  // to the healthy node.
  if (health.enabled && (failover?.driver ?? 'keepalived') === 'keepalived') {
    for (const [index, node] of nodes.entries()) {
      if (node.priority !== 1) continue;
      problems.push({
        path: `nodes[${index}].priority`,
        message: '1 leaves no room below this node: a node whose broker is sick drops to priority 1, and would tie with it',
        hint: 'use priorities from 2 to 254, or set health.enabled: false',
      });
    }
  }
  return problems;
}

function failoverProblems(failover: z.infer<typeof Failover> | undefined): ConfigProblem[] {
  if (!failover) return [];
  return [...advertProblems(failover), ...driverControlProblems(failover)];
}

/** ucarp under `failover.control: command` needs both commands (src/failover/control.ts). */
function driverControlProblems(failover: z.infer<typeof Failover>): ConfigProblem[] {
  if (failover.driver !== 'ucarp' || failover.control !== 'command') return [];
  return (['start_command', 'stop_command'] as const)
    .filter((key) => !failover[key])
    .map((key) => ({ path: `failover.${key}`, message: 'is required when failover.control is command (with driver ucarp)', hint: `an argument list, e.g. [/usr/bin/systemctl, ${key === 'start_command' ? 'start' : 'stop'}, mosquitto-failover-ucarp.service]` }));
}

function advertProblems(failover: z.infer<typeof Failover>): ConfigProblem[] {
  const advert = failover.advert_int;
  if (failover.driver === 'ucarp' && !Number.isInteger(advert)) {
    return [{ path: 'failover.advert_int', message: `${advert} is not a whole number of seconds`, hint: 'ucarp advertises in whole seconds (ucarp(8) --advbase); use keepalived with vrrp_version 3 for sub-second adverts' }];
  }
  if (failover.driver === 'keepalived' && failover.vrrp_version === 2 && !Number.isInteger(advert)) {
    return [{ path: 'failover.advert_int', message: `${advert} s needs VRRPv3: VRRPv2 adverts are whole seconds`, hint: 'set failover.vrrp_version: 3, or a whole number of seconds' }];
  }
  if (failover.driver === 'keepalived' && Math.abs(advert * 100 - Math.round(advert * 100)) > 1e-9) {
    return [{ path: 'failover.advert_int', message: `${advert} s is finer than VRRPv3's centiseconds`, hint: 'use at most two decimals, e.g. 0.1' }];
  }
  return [];
}

function brokerProblems(broker: z.infer<typeof Broker> | undefined): ConfigProblem[] {
  if (!broker) return [];
  const problems: ConfigProblem[] = [];
  if (broker.admin_port === broker.client_port) {
    problems.push({ path: 'broker.admin_port', message: `${broker.admin_port} is also broker.client_port`, hint: 'the admin listener needs its own port, e.g. 1885' });
  }
  if (broker.control === 'command') {
    for (const key of ['restart_command', 'reload_command'] as const) {
      if (!broker[key]) {
        problems.push({ path: `broker.${key}`, message: 'is required when broker.control is command', hint: 'an argument list, e.g. [/usr/bin/docker, restart, mosquitto]' });
      }
    }
  }
  return problems;
}

function metricsProblems(metrics: z.infer<typeof Metrics> | undefined, broker: z.infer<typeof Broker> | undefined): ConfigProblem[] {
  if (!metrics?.enabled || !broker) return [];
  const taken = Object.entries({ 'broker.client_port': broker.client_port, 'broker.admin_port': broker.admin_port }).find(([, port]) => port === metrics.port);
  return taken ? [{ path: 'metrics.port', message: `${metrics.port} is also ${taken[0]}`, hint: 'the metrics endpoint needs a port of its own, e.g. 9641' }] : [];
}

function bridgeProblems(raw: unknown, nodes: PartialNode[]): ConfigProblem[] {
  const bridge = field(raw, 'bridge');
  const problems: ConfigProblem[] = [];
  const hub = valid(Bridge.shape.hub, field(bridge, 'hub'));
  const ids = nodes.flatMap((node) => (node.id === undefined ? [] : [node.id]));
  if (hub !== undefined && ids.length > 0 && !ids.includes(hub)) {
    problems.push({ path: 'bridge.hub', message: `${hub} is not the id of any node`, hint: `one of ${ids.join(', ')}` });
  }
  const seen = new Map<string, number>();
  for (const [index, topic] of list(field(bridge, 'topics')).entries()) {
    const pattern = valid(Topic, topic)?.pattern;
    if (pattern === undefined) continue;
    const first = seen.get(pattern);
    if (first === undefined) seen.set(pattern, index);
    else problems.push({ path: `bridge.topics[${index}].pattern`, message: `${quoted(pattern)} is also bridge.topics[${first}]`, hint: 'list each pattern once' });
  }
  return problems;
}

/** A control user is a person's or a tool's login: not a service user (its ACL lines would merge with theirs), and listed once. */
function controlProblems(raw: unknown): ConfigProblem[] {
  const users = valid(Control.shape.users, field(field(raw, 'control'), 'users')) ?? [];
  const service = new Map([
    [valid(Bridge.shape.user, field(field(raw, 'bridge'), 'user')), 'bridge.user'],
    [valid(Daemon.shape.user, field(field(raw, 'daemon'), 'user')), 'daemon.user'],
  ]);
  return users.flatMap((user, index): ConfigProblem[] => {
    const path = `control.users[${index}]`;
    const taken = service.get(user);
    if (taken) return [{ path, message: `${quoted(user)} is ${taken}`, hint: 'the control API is for people and tools; give them a user of their own' }];
    const first = users.indexOf(user);
    return first < index ? [{ path, message: `${quoted(user)} is also control.users[${first}]`, hint: 'list each user once' }] : [];
  });
}

/**
 * Home Assistant's user presses the promote buttons, which are control API requests on its own
 * request topic: without it in control.users the daemons would not answer them.
 */
function homeAssistantProblems(raw: unknown): ConfigProblem[] {
  const section = field(raw, 'homeassistant');
  const user = valid(HomeAssistant.shape.user, field(section, 'user'));
  if (user === undefined) return [];
  const users = valid(Control.shape.users, field(field(raw, 'control'), 'users')) ?? [];
  if (users.includes(user)) return [];
  return [{
    path: 'homeassistant.user',
    message: `${quoted(user)} is not in control.users`,
    hint: `the promote buttons are control API requests from Home Assistant's user: add ${user} to control.users, or leave homeassistant.user out (no buttons; the other entities stay)`,
  }];
}

/** The two service users get different ACLs (service-users.acl): one name would merge them. */
function serviceUserProblems(raw: unknown): ConfigProblem[] {
  const bridgeUser = valid(Bridge.shape.user, field(field(raw, 'bridge'), 'user'));
  const daemonUser = valid(Daemon.shape.user, field(field(raw, 'daemon'), 'user'));
  if (bridgeUser === undefined || bridgeUser !== daemonUser) return [];
  return [{
    path: 'bridge.user',
    message: `${quoted(bridgeUser)} is also daemon.user`,
    hint: "the bridges and the daemons need users of their own: the bridge user is denied the daemons' topics",
  }];
}

function syncProblems(sync: z.infer<typeof Sync> | undefined, broker: z.infer<typeof Broker> | undefined): ConfigProblem[] {
  if (!sync) return [];
  const problems: ConfigProblem[] = [];
  if (!cron.validate(sync.sweep)) {
    problems.push({ path: 'sync.sweep', message: `${quoted(sync.sweep)} is not a cron expression`, hint: 'e.g. "*/5 * * * *" for every five minutes' });
  }
  if (broker && sync.dynsec && broker.auth !== 'dynsec') {
    problems.push({ path: 'sync.dynsec', message: 'needs broker.auth: dynsec', hint: 'set broker.auth: dynsec or sync.dynsec: false' });
  }
  return problems;
}

// Secrets go into mosquitto.conf and keepalived.conf lines, which neither quote nor escape.
// mosquitto 2.0 (conf.c, conf__parse_string) takes the rest of the line after `remote_password`
// with leading and trailing white space dropped and # kept (checked with the real broker in
// test/render/real-programs.test.ts): printable ASCII without spaces survives it whole.
const SECRET_CHARS = /^[\x21-\x7e]+$/;
// keepalived.conf(5): # and ! start a comment anywhere in a line, { } open and close blocks, and
// $NAME / ${NAME} are its parameters (${_PWD} is predefined): any of them in auth_pass changes it.
const KEEPALIVED_SPECIAL = /[#!{}$]/g;

/** The shadows log in as a user of their own (its ACL reads the bridged topics): not a service user's, not a control user's. */
function sessionsProblems(raw: unknown, sessions: z.infer<typeof Sessions> | undefined, broker: z.infer<typeof Broker> | undefined): ConfigProblem[] {
  if (!sessions?.enabled) return [];
  const problems: ConfigProblem[] = [];
  const taken = new Map([
    [valid(Bridge.shape.user, field(field(raw, 'bridge'), 'user')), 'bridge.user'],
    [valid(Daemon.shape.user, field(field(raw, 'daemon'), 'user')), 'daemon.user'],
  ]);
  const other = taken.get(sessions.user);
  if (other) problems.push({ path: 'sessions.user', message: `${quoted(sessions.user)} is also ${other}`, hint: 'the shadows need a user of their own, which reads only the bridged topics' });
  const users = valid(Control.shape.users, field(field(raw, 'control'), 'users')) ?? [];
  if (users.includes(sessions.user)) problems.push({ path: 'sessions.user', message: `${quoted(sessions.user)} is also a control user`, hint: 'give the shadows a user of their own' });
  if (broker && broker.auth !== 'files') {
    problems.push({ path: 'sessions.enabled', message: 'needs broker.auth: files (the shadow user\'s ACL is rendered into the ACL file)', hint: 'set broker.auth: files, or sessions.enabled: false' });
  }
  return problems;
}

function secretProblems(env: Env, failover: z.infer<typeof Failover> | undefined, sessions?: z.infer<typeof Sessions>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const required: string[] = [SECRET_NAMES.clusterSecret, SECRET_NAMES.bridgePassword, SECRET_NAMES.daemonPassword];
  if (failover?.driver === 'ucarp') required.push(SECRET_NAMES.vrrpPassword);
  if (sessions?.enabled) required.push(SECRET_NAMES.shadowPassword);
  for (const name of Object.values(SECRET_NAMES)) {
    const value = env[name];
    const path = `env.${name}`;
    if (value === undefined || value === '') {
      if (required.includes(name)) problems.push({ path, message: 'is missing', hint: `set ${name}=... in the env file (see examples/cluster.env)` });
      continue;
    }
    if (!SECRET_CHARS.test(value) || /["'\\]/.test(value)) {
      problems.push({ path, message: 'holds spaces, quotes, backslashes or non-ASCII characters', hint: 'use letters, digits and punctuation such as -_.:+=' });
    }
  }
  for (const name of [SECRET_NAMES.bridgePassword, SECRET_NAMES.daemonPassword, SECRET_NAMES.shadowPassword]) {
    const bytes = Buffer.byteLength(env[name] ?? '', 'utf8');
    if (bytes > MQTT_STRING_BYTES) {
      problems.push({ path: `env.${name}`, message: `is ${bytes} bytes long; an MQTT password is at most ${MQTT_STRING_BYTES}`, hint: 'use 16 to 64 random characters, e.g. openssl rand -hex 24' });
    }
  }
  const secret = env[SECRET_NAMES.clusterSecret];
  if (secret && secret.length < 16) {
    problems.push({ path: `env.${SECRET_NAMES.clusterSecret}`, message: `is ${secret.length} characters long, too short to sign with`, hint: 'use at least 16 random characters, e.g. openssl rand -hex 32' });
  }
  const vrrp = env[SECRET_NAMES.vrrpPassword];
  if (vrrp && failover?.driver === 'ucarp' && vrrp.length > 20) {
    problems.push({ path: `env.${SECRET_NAMES.vrrpPassword}`, message: `is ${vrrp.length} characters long; ucarp takes at most 20`, hint: 'ucarp(8): "Maximum length of the password used must be 20 characters"' });
  }
  const special = vrrp && failover?.driver === 'keepalived' && failover.vrrp_version === 2 ? [...new Set(vrrp.match(KEEPALIVED_SPECIAL))] : [];
  if (special.length > 0) {
    problems.push({
      path: `env.${SECRET_NAMES.vrrpPassword}`,
      message: `holds ${special.join(' ')}, which keepalived.conf reads as a comment, a block or a parameter, not as part of auth_pass`,
      hint: 'use letters, digits and - _ . : + = (keepalived.conf(5))',
    });
  }
  if (vrrp && failover?.driver === 'keepalived' && failover.vrrp_version === 2 && vrrp.length > 8) {
    problems.push({ path: `env.${SECRET_NAMES.vrrpPassword}`, message: `is ${vrrp.length} characters long; VRRPv2 PASS authentication uses only the first 8`, hint: 'use at most 8 characters' });
  }
  return problems;
}
