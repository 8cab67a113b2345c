/**
 * The lab's cluster: addresses from one range that exists only inside the lab, and a valid
 * cluster.yaml document for 2 or 3 nodes, loaded through the same validation as a user's file.
 *
 * 198.18.0.0/15 is reserved for benchmarking network devices (RFC 2544), so it is never a real
 * network a lab packet could leak to; and every lab address lives only in lab namespaces anyway.
 */
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { parseConfig, type LoadedConfig } from '../src/config/load.js';
import { SECRET_NAMES, type Env } from '../src/config/secrets.js';

export const LAB_NETWORK = '198.18.0.0/24';
export const LAB_PREFIX = 24;
export const LAB_VIP = '198.18.0.10';
export const LAB_CLIENT_ADDRESS = '198.18.0.100';
export const LAB_INTERFACE = 'eth0';

/** Node `id` (1, 2, 3) is 198.18.0.1<id>; the first has the highest priority. */
export function labNodeAddress(id: number): string {
  return `198.18.0.${10 + id}`;
}

/** A cluster.yaml document, loose enough for a test to change any part before it is validated. */
export interface LabDocument {
  cluster: string;
  vip: Record<string, unknown>;
  failover: Record<string, unknown>;
  nodes: Record<string, unknown>[];
  broker: Record<string, unknown>;
  bridge: Record<string, unknown>;
  [section: string]: unknown;
}

export interface LabClusterOptions {
  nodes?: number;
  driver?: 'keepalived' | 'ucarp';
  /** Seconds between adverts (VRRPv3 allows 0.01 steps; ucarp whole seconds). */
  advertInt?: number;
  preempt?: boolean;
  /**
   * TLS on the admin listeners, the bridges and the peer channel. The document names the paths a
   * user would; placeNode moves them under each node's directory, where the lab puts a throwaway
   * CA's certificates (lab/certs.ts).
   */
  tls?: boolean;
  /** Shadow sessions on (sessions.enabled), with these keys besides. */
  sessions?: boolean | Record<string, unknown>;
  /** Last word on the document, for a test that needs something the options do not cover. */
  configure?: (document: LabDocument) => void;
}

export function labDocument(options: LabClusterOptions = {}): LabDocument {
  const count = options.nodes ?? 2;
  if (!Number.isInteger(count) || count < 2 || count > 9) throw new RangeError(`a lab has 2 to 9 nodes, not ${count}`);
  const document: LabDocument = {
    cluster: 'lab',
    vip: { address: LAB_VIP, prefix: LAB_PREFIX, interface: LAB_INTERFACE },
    failover: {
      driver: options.driver ?? 'keepalived',
      router_id: 51,
      advert_int: options.advertInt ?? 1,
      vrrp_version: 3,
      preempt: options.preempt ?? true,
      // Under ucarp the daemon runs it, as it runs mosquitto: its health stops and starts it (src/failover/control.ts).
      ...(options.driver === 'ucarp' ? { control: 'supervise' } : {}),
    },
    nodes: Array.from({ length: count }, (_, index) => ({
      id: index + 1,
      name: `node${index + 1}`,
      address: labNodeAddress(index + 1),
      priority: 200 - index * 20,
    })),
    broker: { client_port: 1883, admin_port: 1885, control: 'supervise' },
    bridge: { topics: [{ pattern: 'lab/#', direction: 'both', qos: 1 }] },
    ...(options.tls ? { tls: { cafile: '/etc/mosquitto-failover/tls/ca.crt', certfile: '/etc/mosquitto-failover/tls/node.crt', keyfile: '/etc/mosquitto-failover/tls/node.key' } } : {}),
  };
  if (options.sessions) document.sessions = { enabled: true, ...(typeof options.sessions === 'object' ? options.sessions : {}) };
  options.configure?.(document);
  return document;
}

/** Fresh random secrets for one lab, within every driver's length limits. */
export function labSecrets(): Env {
  const hex = (bytes: number) => randomBytes(bytes).toString('hex');
  return {
    [SECRET_NAMES.clusterSecret]: hex(24),
    [SECRET_NAMES.bridgePassword]: hex(12),
    [SECRET_NAMES.daemonPassword]: hex(12),
    [SECRET_NAMES.vrrpPassword]: hex(4),
    [SECRET_NAMES.shadowPassword]: hex(12),
  };
}

/** The lab's cluster as the daemon would load it (so a lab config is a valid user config). */
export function labCluster(options: LabClusterOptions = {}, env: Env = labSecrets()): { loaded: LoadedConfig; yaml: string; env: Env } {
  const yaml = stringify(labDocument(options));
  return { loaded: parseConfig(yaml, env), yaml, env };
}
