/**
 * mosquitto's own log lines, as `log_dest topic` publishes them (mosquitto 2.0 logging.c): the
 * connect line on `$SYS/broker/log/N`, which names the client id, the clean-session flag and the
 * user (handle_connect.c, connect__on_authorised: "New client connected from A:P as ID (p2, c0,
 * k60, u'user')."), and the `log_type subscribe`/`unsubscribe` lines on `$SYS/broker/log/M/...`
 * ("ID QOS FILTER" after the ACL allowed it, handle_subscribe.c; "ID FILTER", handle_unsubscribe.c),
 * and the end of a connection, also on `$SYS/broker/log/N` (loop.c, do_disconnect: "Client ID
 * closed its connection.", "Client ID disconnected.", "Client ID has exceeded timeout,
 * disconnecting.", "Client ID disconnected due to …", "Client ID disconnected, not authorised.",
 * "Client ID disconnected: STRERROR.", "Client ID been disconnected by administrative action.",
 * "Bad socket read/write on client ID: …"). A connection that another one with the same id takes
 * over ends with no such line (mosquitto logs "Client ID already connected, closing old
 * connection." at error level, then the new one's connect line), nor do connections that end as
 * the broker stops (it restarts, and its clients' connects come again).
 * Each payload starts with the default timestamp ("1732423000: "). A client id with white space in
 * it cannot be told from the filter that follows, so its subscribe lines are not read. Pure.
 */
export type LogEvent =
  | { type: 'connect'; client: string; clean: boolean; user: string | undefined }
  | { type: 'subscribe'; client: string; qos: 0 | 1 | 2; filter: string }
  | { type: 'unsubscribe'; client: string; filter: string }
  | { type: 'disconnect'; client: string };

const TIMESTAMP = /^\d+: /;
const CONNECT = /^New client connected from \S+ as (\S+) \(p\d+, c([01]), k\d+(?:, u'(.*)')?\)\.$/;
const DISCONNECT = [
  /^Client (\S+) (?:closed its connection|disconnected|has exceeded timeout, disconnecting|disconnected due to [^.]+|disconnected, not authorised|been disconnected by administrative action)\.$/,
  /^Client (\S+) disconnected: .*\.$/,
  /^Bad socket read\/write on client (\S+): /,
];
const SUBSCRIBE = /^(\S+) ([0-2]) (\S.*)$/;
const UNSUBSCRIBE = /^(\S+) (\S.*)$/;

/** The event in one log message read on `topic`, or undefined for any other line. */
export function parseLogLine(topic: string, payload: string): LogEvent | undefined {
  const line = payload.replace(TIMESTAMP, '');
  if (topic === '$SYS/broker/log/N') {
    const connect = CONNECT.exec(line);
    if (!connect) {
      const client = DISCONNECT.map((pattern) => pattern.exec(line)?.[1]).find((id) => id !== undefined);
      return client === undefined ? undefined : { type: 'disconnect', client };
    }
    return { type: 'connect', client: connect[1]!, clean: connect[2] === '1', user: connect[3] };
  }
  if (topic === '$SYS/broker/log/M/subscribe') {
    const subscribe = SUBSCRIBE.exec(line);
    if (!subscribe) return undefined;
    return { type: 'subscribe', client: subscribe[1]!, qos: Number(subscribe[2]) as 0 | 1 | 2, filter: subscribe[3]! };
  }
  if (topic === '$SYS/broker/log/M/unsubscribe') {
    const unsubscribe = UNSUBSCRIBE.exec(line);
    if (!unsubscribe) return undefined;
    return { type: 'unsubscribe', client: unsubscribe[1]!, filter: unsubscribe[2]! };
  }
  return undefined;
}
