/**
 * The one seam through which the daemon and the CLI make MQTT clients (mqtt.js): every login,
 * client id and retry policy is decided here. Two shapes:
 * - `connectLasting`: a connection kept for the daemon's life (the peer channel), reconnecting
 *   with a growing delay, whatever ended the last one; MQTT v5, so that it can tell the broker
 *   the largest packet it takes;
 * - `connectOnce`: one short connection for a probe (readiness, health), no reconnect.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { LoadedConfig } from '../config/load.js';
import type { NodeConfig } from '../config/schema.js';
import { MqfoError } from '../errors.js';
import { backoffDelay, type Backoff } from '../retry.js';

export type { MqttClient } from 'mqtt';

/** Where and as whom to log in. */
export interface Login {
  host: string;
  port: number;
  username: string;
  password: string;
  /** TLS, trusting only `ca` (PEM); the broker's certificate must name `host` (an IP SAN for an address). */
  tls?: { ca: Buffer };
}

/**
 * The daemon user on `node`'s admin listener: how daemons, probes and the CLI reach a broker.
 * With `tls` in the config, over TLS only: a config whose CA was not read is an error, never a
 * quiet fall back to plain MQTT.
 */
export function daemonLogin(loaded: LoadedConfig, node: Pick<NodeConfig, 'address'>): Login {
  const { config, secrets } = loaded;
  const login = { host: node.address, port: config.broker.admin_port, username: config.daemon.user, password: secrets.daemonPassword };
  if (!config.tls) return login;
  if (!loaded.tls) throw new MqfoError('ETLSFILE', `tls is set but its CA (${config.tls.cafile}) was not read: cannot log in to ${node.address} over TLS`);
  return { ...login, tls: { ca: loaded.tls.ca } };
}

/** The shadow sessions' user on `node`'s admin listener (sessions/shadows.ts), over TLS like the daemon user. */
export function shadowLogin(loaded: LoadedConfig, node: Pick<NodeConfig, 'address'>): Login {
  const { config, secrets } = loaded;
  return { ...daemonLogin(loaded, node), username: config.sessions.user, password: secrets.shadowPassword ?? '' };
}

/** The bridge user on `node`'s admin listener, as this node's bridge logs in there (mesh/waiting.ts visits its sessions). */
export function bridgeLogin(loaded: LoadedConfig, node: Pick<NodeConfig, 'address'>): Login {
  const { config, secrets } = loaded;
  return { ...daemonLogin(loaded, node), username: config.bridge.user, password: secrets.bridgePassword };
}

/** The URL of a login and its TLS options: `mqtts://` verified against its CA, or `mqtt://`. */
export function endpoint(login: Login): { url: string; tls: Pick<IClientOptions, 'ca' | 'rejectUnauthorized'> } {
  const where = `${login.host}:${login.port}`;
  // mqtt.js sets no SNI for an address, and node:tls checks the certificate's IP SANs against it.
  return login.tls ? { url: `mqtts://${where}`, tls: { ca: login.tls.ca, rejectUnauthorized: true } } : { url: `mqtt://${where}`, tls: {} };
}

/**
 * A client id no one can guess: `mqfo-<purpose>-<64 random bits>`. A client that connects with the
 * id of a connected one takes its place (MQTT 3.1.4-3), and mosquitto cannot reserve an id for a
 * user; a logged-in user who could guess the daemons' ids could keep kicking them off.
 */
export function uniqueClientId(purpose: string): string {
  return `mqfo-${purpose}-${randomBytes(8).toString('hex')}`;
}

const PEER_BACKOFF: Backoff = { minMs: 500, maxMs: 10_000 };

export interface Will {
  topic: string;
  payload: Buffer;
}

export interface LastingOptions {
  clientId: string;
  /** The retained last-will, made again before each connection attempt. */
  will?: () => Will;
  backoff?: Backoff;
  /** The largest packet the broker may send this client (larger ones it drops for it). */
  maxPacketBytes?: number;
}

/**
 * A connection that always comes back: after a close, the next attempt waits `backoff` (0.5 s,
 * doubling to 10 s), and a connection that succeeds starts the delay from the minimum again.
 * mqtt.js stops reconnecting for good after a refused CONNACK (a broker restarting with its
 * password file or dynamic-security plugin not yet loaded answers "not authorized") unless
 * `reconnectOnConnackError` is set (mqtt.js handlers/connack.js): a peer channel must not stay
 * down because of one refusal.
 */
export function connectLasting(login: Login, options: LastingOptions): MqttClient {
  const backoff = options.backoff ?? PEER_BACKOFF;
  const clientOptions: IClientOptions = {
    username: login.username,
    password: login.password,
    clientId: options.clientId,
    // The retained messages are the state; nothing queued while away is worth replaying.
    clean: true,
    reconnectPeriod: backoff.minMs,
    reconnectOnConnackError: true,
    connectTimeout: 5_000,
    keepalive: 15,
    protocolVersion: 5,
    ...(options.maxPacketBytes === undefined ? {} : { properties: { maximumPacketSize: options.maxPacketBytes } }),
  };
  const will = options.will;
  const nextWill = (): IClientOptions['will'] => (will ? { ...will(), qos: 1, retain: true } : undefined);
  if (will) clientOptions.will = nextWill();
  const { url, tls } = endpoint(login);
  const client = mqtt.connect(url, { ...clientOptions, ...tls });
  let failures = 0;
  client.on('connect', () => {
    failures = 0;
    client.options.reconnectPeriod = backoff.minMs;
  });
  // mqtt.js reads reconnectPeriod and will from its options at each attempt (client.js, connect packet).
  client.on('close', () => {
    client.options.reconnectPeriod = backoffDelay(failures++, backoff);
    if (will) client.options.will = nextWill();
  });
  return client;
}

/** One connection for a probe, or a rejection after `timeoutMs`; the caller ends it. */
export async function connectOnce(login: Login, options: { purpose: string; timeoutMs: number }): Promise<MqttClient> {
  const { url, tls } = endpoint(login);
  return mqtt.connectAsync(url, {
    ...tls,
    username: login.username,
    password: login.password,
    clientId: uniqueClientId(options.purpose),
    reconnectPeriod: 0,
    connectTimeout: Math.max(200, options.timeoutMs),
  });
}

/**
 * A shadow session's connection (sessions/shadows.ts): the client id of the session it copies, as
 * MQTT v5 (so that its subscriptions can ask for no retained messages): `fresh` starts a new
 * session in place of any (Clean Start), `end` makes it end at the disconnect (expiry 0), else it
 * never expires. No reconnect: a client that takes the id over ends it, and it must stay ended.
 */
export function connectShadow(login: Login, options: { clientId: string; fresh: boolean; end?: boolean; timeoutMs: number; customHandleAcks?: IClientOptions['customHandleAcks'] }): MqttClient {
  const { url, tls } = endpoint(login);
  return mqtt.connect(url, {
    ...(options.customHandleAcks ? { customHandleAcks: options.customHandleAcks } : {}),
    ...tls,
    username: login.username,
    password: login.password,
    clientId: options.clientId,
    clean: options.fresh,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: options.end ? 0 : 0xffff_ffff },
    reconnectPeriod: 0,
    resubscribe: false,
    connectTimeout: options.timeoutMs,
    keepalive: 30,
  });
}
