/**
 * What a bridge's waiting sessions hold and what a drain may drop (mesh/waiting.ts). Pure.
 *
 * The bridge subscribes on its remote to every topic that comes `in` to its node (a `both` or
 * `in` topic line) and to the drain markers; a waiting session has the same subscriptions, so
 * that what it queues is what the bridge would have got there.
 *
 * A drain drops a message only when a marker published after it on the target has reached this
 * node: the marker went along the bridges' tree from the target to here, and every message the
 * target had before it went the same way ahead of it (one session per bridge, each delivered in
 * order: switchover/drain.ts). That holds for a topic that every bridge carries both ways, as it
 * carries the markers; a one-way topic (`direction: in` or `out`) is carried only from lower ranks
 * to higher ones or back, and the tree's path from the target here may go the other way on one
 * of its bridges, so those messages are kept (the bridge takes them when it comes).
 */
import type { ClusterConfig } from '../config/schema.js';
import type { BridgeView } from '../render/model.js';
import type { Subscription } from './visit.js';

// As in render/model.ts: a topic's direction is seen from the hub, the bridge is on the other side.
const INCOMING = new Set(['both', 'out']);

/** The subscriptions of a bridge's session on its remote: its incoming topics and the drain markers. */
export function sessionSubscriptions(config: Pick<ClusterConfig, 'bridge'>, drainFilter: string): Subscription[] {
  return [
    ...config.bridge.topics.filter((topic) => INCOMING.has(topic.direction)).map((topic) => ({ topic: topic.pattern, qos: topic.qos })),
    { topic: drainFilter, qos: 1 },
  ];
}

/** Whether `topic` (a topic name) matches `filter` (MQTT 3.1.1 section 4.7; `$` topics only by a filter that names the `$` level). */
export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  if (topic.startsWith('$') && (filterLevels[0] === '#' || filterLevels[0] === '+')) return false;
  for (let index = 0; index < filterLevels.length; index++) {
    const level = filterLevels[index];
    if (level === '#') return true;
    if (index >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[index]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** Whether a drain may drop a message on `topic` before its marker: one that every bridge carries both ways. */
export function droppableTopic(config: Pick<ClusterConfig, 'bridge'>, drainFilter: string): (topic: string) => boolean {
  const both = [drainFilter, ...config.bridge.topics.filter((topic) => topic.direction === 'both').map((topic) => topic.pattern)];
  return (topic) => both.some((filter) => topicMatches(filter, topic));
}

/**
 * The targets whose waiting session may be visited now: every target of the bridge but those it
 * is (or may be about to be) connected to. None when the bridge has one target (its own session
 * there is all there is: a two-node cluster, or node 2), when where it is cannot be read, nor when
 * it is seen on none: then it is connecting, or the socket table cannot see the broker's sockets (a
 * broker in another network namespace), and a visit might take the bridge's own connection over.
 */
export function drainable(bridge: Pick<BridgeView, 'targets'>, bridgeOn: ReadonlySet<number> | undefined): number[] {
  if (bridge.targets.length < 2 || !bridgeOn || bridgeOn.size === 0) return [];
  return bridge.targets.filter((target) => !bridgeOn.has(target.id)).map((target) => target.id);
}
