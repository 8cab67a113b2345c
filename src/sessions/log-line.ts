/**
 * mosquitto's own log lines, as `log_dest topic` publishes them (mosquitto 2.0 logging.c): the
 * connect line on `$SYS/broker/log/N`, which names the client id, the clean-session flag and the
 * user (handle_connect.c, connect__on_authorised: "New client connected from A:P as ID (p2, c0,
 * k60, u'user')."), and the `log_type subscribe`/`unsubscribe` lines on `$SYS/broker/log/M/...`
 * ("ID QOS FILTER" after the ACL allowed it, handle_subscribe.c; "ID FILTER", handle_unsubscribe.c).
 * Each payload starts with the default timestamp ("1732423000: "). A client id with white space in
 * it cannot be told from the filter that follows, so its subscribe lines are not read. Pure.
 */
export type LogEvent =
  | { type: 'connect'; client: string; clean: boolean; user: string | undefined }
  | { type: 'subscribe'; client: string; qos: 0 | 1 | 2; filter: string }
  | { type: 'unsubscribe'; client: string; filter: string };

const TIMESTAMP = /^\d+: /;
const CONNECT = /^New client connected from \S+ as (\S+) \(p\d+, c([01]), k\d+(?:, u'(.*)')?\)\.$/;
const SUBSCRIBE = /^(\S+) ([0-2]) (\S.*)$/;
const UNSUBSCRIBE = /^(\S+) (\S.*)$/;

/** The event in one log message read on `topic`, or undefined for any other line. */
export function parseLogLine(topic: string, payload: string): LogEvent | undefined {
  const line = payload.replace(TIMESTAMP, '');
  if (topic === '$SYS/broker/log/N') {
    const connect = CONNECT.exec(line);
    if (!connect) return undefined;
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
