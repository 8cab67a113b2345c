/**
 * The facts about this node that the components share: role and takeover epoch (takeover loop),
 * the last transition and its step timings, broker health, the priority weight, the synced files'
 * versions and the operator's switchover preference (syncer) and the peers' statuses (peer
 * channel). Each component updates the facts it owns and reads the others'; a change event says
 * which facts changed.
 */
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { NodeStatus } from './peer/status.js';
import type { DriverState, Role } from './role/observe.js';

export type RoleName = Role | 'UNKNOWN';

/** One role change, with the epoch-ms time of each step and its distance from the first sign. */
export interface Transition {
  from: RoleName;
  to: Role;
  reason: string;
  epoch: number;
  at: Record<string, number>;
  ms: Record<string, number>;
}

/** A takeover in short: its epoch, when its first sign came (epoch ms) and how long until its last step (ms). */
export interface TakeoverSummary {
  epoch: number;
  at: number;
  ms: number;
}

/** `transition` summed up, when it was a takeover (to MASTER). */
export function takeoverOf(transition: Transition | undefined): TakeoverSummary | undefined {
  if (transition?.to !== 'MASTER') return undefined;
  return { epoch: transition.epoch, at: Math.min(...Object.values(transition.at)), ms: Math.max(0, ...Object.values(transition.ms)) };
}

export interface FileVersion {
  version: string;
  origin: number;
  sha256: string;
}

export interface BrokerHealth {
  /** The health monitor's verdict (health/hysteresis.ts); undefined until the broker was first probed. */
  healthy: boolean | undefined;
  /** Epoch ms of the probe that decided it. */
  checkedAt: number | undefined;
  /** While sick: the last probe's failure. */
  problem?: string;
  /** The last change of verdict: from what, why, when its deciding run began and ended (epoch ms), and how long that took. */
  change?: { from: 'well' | 'sick'; reason: string; since: number; at: number; ms: number };
}

/** The operator's planned switchover (the synced `leader` file, sync/content/leader.ts): a node name, or nothing. */
export interface Preference {
  promote?: string;
  demote?: string;
}

/** A split brain this node saw (health/split-watch.ts): the current one, or the last one, ended. */
export interface SplitFacts {
  /** The nodes that held the VIP at once, this one included, by name. */
  nodes: string[];
  /** Who keeps the VIP (higher standing priority, then higher id). */
  winner: string;
  /** Whether this node gives up the VIP for it (the track file's SPLIT_WEIGHT: FAULT). */
  stepDown: boolean;
  /**
   * Epoch ms: both seen MASTER on the peer channel, the decision (after the confirmation time),
   * this node's step-down written, its VIP gone, the VRRP path back (the winner's adverts
   * arrive again), the end (this node or the loser no longer MASTER, or the step-down lifted).
   */
  at: { seen: number; decided: number; steppedDown?: number; released?: number; healed?: number; ended?: number };
  /** Why it ended. */
  end?: string;
}

export interface NodeFacts {
  /** When this daemon started (ISO time). */
  readonly startedAt: string;
  role: RoleName;
  /** Whether the VRRP/CARP program runs, by its pid file (takeover/stale.ts): a MASTER whose program is dead holds a stale VIP. */
  driver: DriverState | undefined;
  /** Takeovers this node has made (takeover.json). */
  epoch: number;
  /**
   * The broker restarted ahead of a planned takeover (a promote of this node, takeover/plan.ts),
   * epoch ms, and whether it went well; undefined when none is standing. The health monitor
   * raises a promote's weight only once it is there (or the node is MASTER already).
   */
  prepared: { at: number; ok: boolean } | undefined;
  lastTransition: Transition | undefined;
  broker: BrokerHealth;
  /**
   * What this node adds to its VRRP priority (keepalived's track file), and why; `priority` is the
   * standing priority (configured priority plus the weight without the split term, within 1..254),
   * which the status publishes and split brain is decided by (health/split.ts).
   */
  weight: { value: number; reasons: string[]; priority?: number };
  /** The operator's preference, as the synced `leader` file says now (empty: none). */
  preference: Preference;
  /** The current or last split brain (both this node and a peer MASTER); undefined until one was seen. */
  split: SplitFacts | undefined;
  /** Each synced file's version and hash, by kind. */
  versions: Record<string, FileVersion>;
  /** Each node's last status as read on its own broker, by id (this node's own included). */
  peers: Record<number, NodeStatus>;
}

/** What happened to a synced file on this node: a peer's version installed or rejected, and why. */
export interface SyncEvent {
  type: 'sync';
  /** Epoch ms. */
  at: number;
  kind: string;
  result: 'installed' | 'rejected';
  /** Why a version was rejected: the envelope itself, an older version, content the broker would refuse, a concurrent edit that lost, or a broker unhealthy with it. */
  reason?: 'envelope' | 'stale' | 'invalid' | 'conflict' | 'broker';
  /** The node whose broker carried it. */
  from: string;
}

/** A role change (the takeover loop's transition). */
export interface RoleEvent {
  type: 'role';
  at: number;
  from: RoleName;
  to: Role;
  reason: string;
  epoch: number;
  /** Each step's distance from the first sign. */
  ms: Record<string, number>;
}

/** A change of the broker's health verdict (the health monitor's hysteresis). */
export interface HealthEvent {
  type: 'health';
  at: number;
  from: 'well' | 'sick';
  to: 'well' | 'sick';
  reason: string;
  /** How long the deciding run of probes took. */
  ms: number;
}

export type NodeEvent = SyncEvent | RoleEvent | HealthEvent;

/** How many events the node state keeps (the oldest go first). */
export const EVENTS_KEPT = 200;

export type Fact = Exclude<keyof NodeFacts, 'startedAt'>;
export type ChangeListener = (changed: readonly Fact[], facts: Readonly<NodeFacts>) => void;

export function initialFacts(now = new Date()): NodeFacts {
  return {
    startedAt: now.toISOString(),
    role: 'UNKNOWN',
    driver: undefined,
    epoch: 0,
    prepared: undefined,
    lastTransition: undefined,
    broker: { healthy: undefined, checkedAt: undefined },
    weight: { value: 0, reasons: [] },
    preference: {},
    split: undefined,
    versions: {},
    peers: {},
  };
}

export class NodeState {
  private facts: NodeFacts;
  private readonly emitter = new EventEmitter();
  private journal: NodeEvent[] = [];
  private readonly log: Logger;

  constructor(log: Logger, facts: NodeFacts = initialFacts()) {
    this.log = log;
    this.facts = facts;
  }

  get current(): Readonly<NodeFacts> {
    return this.facts;
  }

  /** Sets the facts in `patch`; listeners hear of those whose value changed. */
  update(patch: Partial<Pick<NodeFacts, Fact>>): void {
    const changed = (Object.keys(patch) as Fact[]).filter((fact) => !isDeepStrictEqual(patch[fact], this.facts[fact]));
    if (changed.length === 0) return;
    const before = this.facts;
    this.facts = { ...this.facts, ...patch };
    this.emitter.emit('change', changed, this.facts);
    // Role and health changes are events too (the control API's listEvents), recorded where they are set.
    const transition = this.facts.lastTransition;
    if (changed.includes('lastTransition') && transition) {
      this.record({ type: 'role', at: Math.min(...Object.values(transition.at)), from: transition.from, to: transition.to, reason: transition.reason, epoch: transition.epoch, ms: transition.ms });
    }
    const change = this.facts.broker.change;
    if (changed.includes('broker') && change && !isDeepStrictEqual(change, before.broker.change)) {
      this.record({ type: 'health', at: change.at, from: change.from, to: change.from === 'well' ? 'sick' : 'well', reason: change.reason, ms: change.ms });
    }
  }

  /** The last EVENTS_KEPT events, oldest first. */
  get events(): readonly NodeEvent[] {
    return this.journal;
  }

  /** Keeps `event` (the last EVENTS_KEPT) and tells the event listeners. */
  record(event: NodeEvent): void {
    this.journal = [...this.journal.slice(-(EVENTS_KEPT - 1)), event];
    this.emitter.emit('event', event);
  }

  /** Calls `listener` after each recorded event; returns what stops it. A listener that throws is logged, not propagated. */
  onEvent(listener: (event: NodeEvent) => void): () => void {
    const guarded = (event: NodeEvent) => {
      try {
        listener(event);
      } catch (error) {
        this.log.error({ err: error, event: event.type }, 'a node-state event listener failed');
      }
    };
    this.emitter.on('event', guarded);
    return () => this.emitter.off('event', guarded);
  }

  /** Calls `listener` after each change; returns what stops it. A listener that throws is logged, not propagated. */
  onChange(listener: ChangeListener): () => void {
    const guarded: ChangeListener = (changed, facts) => {
      try {
        listener(changed, facts);
      } catch (error) {
        this.log.error({ err: error, changed }, 'a node-state listener failed');
      }
    };
    this.emitter.on('change', guarded);
    return () => this.emitter.off('change', guarded);
  }
}
