/**
 * One visit to a bridge's session on a broker it is not connected to (mesh/waiting.ts), as that
 * bridge's client id: make the session (clean start off, its subscriptions), or take what queued
 * in it up to and including a drain marker, and leave.
 *
 * Why not mqtt.js: it hands an incoming QoS 1/2 PUBLISH on and acknowledges it before it reads the
 * next packet (handlers/publish.js: the PUBACK is sent in handleMessage's callback, and the next
 * packet waits for it), so a client of it cannot hold its acks until it has seen whether the
 * marker comes at all; without the marker (a broker restarted since, a queue that was full) what
 * it would ack has no proof of having reached this node. So the packets are mqtt-packet's (the
 * library mqtt.js writes and parses them with), over one socket: every PUBLISH is read and held,
 * and the acks of those before the marker are written only once the marker is there. What is
 * never acked stays in the session (MQTT 3.1.2-4: a QoS 1/2 message unacknowledged is sent again
 * at the next connect), in its order.
 */
import net from 'node:net';
import tls from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MqfoError } from '../errors.js';
import type { Login } from '../mqtt/client.js';

export interface Subscription {
  topic: string;
  qos: 0 | 1 | 2;
}

export interface VisitOptions {
  login: Login;
  clientId: string;
  /**
   * Subscriptions to make, as the bridge makes them on its remote (mosquitto's handle_subscribe
   * gives a bridge's subscriptions no-local and retain-as-published), and no retained messages
   * sent for them (retain handling 2): the bridge gets those itself when it connects.
   */
  subscribe?: readonly Subscription[];
  /** Take what queued up to and including this message (the drain marker), acknowledging it; nothing after it. */
  until?: { topic: string; payload: string };
  /** Which messages before the marker may be dropped (acknowledged); the others stay in the session. */
  droppable?: (topic: string) => boolean;
  timeoutMs: number;
}

export interface VisitResult {
  /** Whether the broker had the session (CONNACK session present). */
  sessionPresent: boolean;
  /** Whether the marker came. */
  marker: boolean;
  /** Messages before the marker acknowledged (dropped from the session), the marker aside. */
  dropped: number;
  /** Messages received and left in the session (after the marker, or not droppable). */
  kept: number;
}

/** How long the PUBRELs of the QoS 2 messages taken may take once their PUBRECs are out. */
const RELEASE_MS = 1_000;

function dial(login: Login): net.Socket {
  // No SNI for an address (as mqtt.js), and node:tls checks the certificate's IP SANs against host.
  return login.tls ? tls.connect({ host: login.host, port: login.port, ca: login.tls.ca, rejectUnauthorized: true }) : net.connect({ host: login.host, port: login.port });
}

/** Connects as `clientId` (MQTT 5, clean start off, the session never expiring), does what `options` say, and leaves with a DISCONNECT. */
export async function visitSession(options: VisitOptions): Promise<VisitResult> {
  const { login, clientId, until } = options;
  const socket = dial(login);
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const send = (packet: Packet) => socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
  const result: VisitResult = { sessionPresent: false, marker: false, dropped: 0, kept: 0 };
  /** The acks withheld until the marker comes: each message's (or PUBREL's) own, in the order received. */
  const held: { ack: Packet; droppable: boolean }[] = [];
  /** QoS 2 messages taken whose PUBREL has not come yet. */
  const releasing = new Set<number>();
  let connected = false;
  let subscribed = options.subscribe === undefined || options.subscribe.length === 0;
  let timer: NodeJS.Timeout | undefined;
  let releaseTimer: NodeJS.Timeout | undefined;

  return new Promise<VisitResult>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(releaseTimer);
      if (!socket.destroyed && connected && !error) {
        send({ cmd: 'disconnect', reasonCode: 0 });
        socket.end();
      } else socket.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    // Done: subscribed (when asked) and, with a marker, it came and what was taken is released.
    const maybeDone = () => {
      if (!connected || !subscribed) return;
      // A session the broker did not have cannot hold the marker.
      if (until && !result.marker && result.sessionPresent) return;
      if (releasing.size > 0) {
        releaseTimer ??= setTimeout(() => finish(), RELEASE_MS);
        return;
      }
      finish();
    };
    timer = setTimeout(() => {
      if (!connected) finish(new MqfoError('EMESH', `${login.host}:${login.port} did not accept ${clientId} within ${options.timeoutMs} ms`));
      // Without the marker nothing was acked: what came stays in the session.
      else finish();
    }, options.timeoutMs);

    socket.on('error', (error) => finish(connected ? undefined : new MqfoError('EMESH', `cannot reach ${login.host}:${login.port}: ${error.message}`, { cause: error })));
    // The broker closes it when the bridge itself connects with the id (MQTT 3.1.4-3): harmless,
    // since nothing after the marker was acked, and nothing at all before it came.
    socket.on('close', () => finish(connected ? undefined : new MqfoError('EMESH', `${login.host}:${login.port} closed the connection before its CONNACK`)));
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    parser.on('error', (error: Error) => finish(new MqfoError('EMESH', `a bad packet from ${login.host}:${login.port}: ${error.message}`, { cause: error })));
    parser.on('packet', (packet: Packet) => {
      switch (packet.cmd) {
        case 'connack': {
          const code = packet.reasonCode ?? packet.returnCode ?? 0;
          if (code !== 0) {
            finish(new MqfoError('EMESH', `${login.host}:${login.port} refused ${login.username} as ${clientId} (reason ${code})`));
            return;
          }
          connected = true;
          result.sessionPresent = packet.sessionPresent;
          if (!subscribed) {
            send({
              cmd: 'subscribe',
              messageId: 1,
              subscriptions: options.subscribe!.map(({ topic, qos }) => ({ topic, qos, nl: true, rap: true, rh: 2 })),
            });
          }
          maybeDone();
          return;
        }
        case 'suback': {
          const refused = (packet.granted as number[]).findIndex((code) => typeof code === 'number' && code >= 0x80);
          if (refused >= 0) {
            finish(new MqfoError('EMESH', `${login.host}:${login.port} refused the subscription to ${options.subscribe![refused]?.topic} (does the ACL give ${login.username} the bridged topics?)`));
            return;
          }
          subscribed = true;
          maybeDone();
          return;
        }
        case 'publish': {
          const { qos, messageId, topic } = packet;
          if (qos === 0 || messageId === undefined) return;
          if (!until || result.marker) {
            result.kept++;
            return;
          }
          const isMarker = topic === until.topic && packet.payload.toString() === until.payload;
          const ack: Packet = qos === 1 ? { cmd: 'puback', messageId, reasonCode: 0 } : { cmd: 'pubrec', messageId, reasonCode: 0 };
          held.push({ ack, droppable: isMarker || (options.droppable?.(topic) ?? true) });
          if (isMarker) {
            result.marker = true;
            for (const { ack: withheld, droppable } of held) {
              if (!droppable) {
                result.kept++;
                continue;
              }
              send(withheld);
              if (withheld.cmd === 'pubrec') releasing.add(withheld.messageId!);
            }
            result.dropped = held.filter(({ ack: withheld, droppable }) => droppable && withheld.cmd !== 'pubcomp').length - 1;
            maybeDone();
          }
          return;
        }
        case 'pubrel': {
          const messageId = packet.messageId!;
          // Ours: a QoS 2 message taken in this visit. Else one received (PUBREC sent) before this
          // visit, by a drain or by the bridge: released only with the marker, like a message.
          if (releasing.delete(messageId)) {
            send({ cmd: 'pubcomp', messageId, reasonCode: 0 });
            maybeDone();
          } else if (until && !result.marker) held.push({ ack: { cmd: 'pubcomp', messageId, reasonCode: 0 }, droppable: true });
          return;
        }
        case 'disconnect':
          finish();
          return;
        default:
      }
    });
    socket.once(login.tls ? 'secureConnect' : 'connect', () => {
      send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clean: false,
        clientId,
        keepalive: Math.ceil(options.timeoutMs / 1000) + 5,
        username: login.username,
        password: Buffer.from(login.password),
        // Receive maximum: every queued message is sent at once, not max_inflight_messages of them
        // (mosquitto.conf(5)), so the marker comes however much waits before it.
        properties: { sessionExpiryInterval: 0xffff_ffff, receiveMaximum: 0xffff },
      });
    });
  });
}
