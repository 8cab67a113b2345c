/**
 * The bridge's session waits on every node it may move to (issue 15, "replication that survives
 * any one node"). A bridge with more than one target (node 3 and up) connects to one of them at a
 * time; on a target it has never been connected to it has no session, so what that target had
 * before the bridge's subscription there never reaches this node (the "new-target gap"). So this
 * daemon keeps, on every target, a session with the bridge's client id and subscriptions (made at
 * start, mesh/visit.ts), and what is published there waits for the bridge whenever it comes.
 *
 * To bound what waits (duplicates, and old messages replayed when the bridge comes back after
 * long), each session on a target the bridge is not connected to is drained every interval, and
 * only with proof that what it drops has reached this node: a marker published on the target
 * (switchover/drain.ts) has arrived on this node's own broker, so everything the target had
 * before it has too; then the session is visited and only what came before that marker is
 * acknowledged (mesh/plan.ts says which topics the proof covers). A marker that does not come back
 * in time drops nothing. The bridge's own connection is never taken over on purpose: a target is
 * visited only while this node's broker has no connection to it (mesh/sockets.ts); the bridge
 * connecting there during a visit ends the visit, which is harmless.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/schema.js';
import type { Component } from '../context.js';
import type { Login } from '../mqtt/client.js';
import type { Topics } from '../mqtt/topics.js';
import type { BridgeView } from '../render/model.js';
import { drain } from '../switchover/drain.js';
import { drainable } from './plan.js';
import { bridgeConnections } from './sockets.js';
import { visitSession, type Subscription, type VisitResult } from './visit.js';

/** How long a marker may take to come back from a target (a bridge's reconnect is 1 to 10 s: restart_timeout 1 10). */
export const MARKER_MS = 5_000;
/** How soon a pass comes again while a target has no waiting session yet. */
const MAKE_RETRY_MS = 1_000;
/** How long one visit may take. */
const VISIT_MS = 3_000;

export interface WaitingOptions {
  self: NodeConfig;
  bridge: BridgeView;
  subscriptions: Subscription[];
  droppable: (topic: string) => boolean;
  bridgeLogin: (node: NodeConfig) => Login;
  daemonLogin: (node: NodeConfig) => Login;
  topics: Topics;
  intervalMs: number;
  log: Logger;
  /** The targets the bridge is (or may be about to be) connected to now; default the socket table's word (mesh/sockets.ts). */
  bridgeOn: () => Promise<Set<number>>;
}

export class WaitingSessions implements Component {
  private readonly options: WaitingOptions;
  /** Targets where the session is known to exist with its subscriptions, since this daemon started. */
  private readonly made = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private stopped = true;
  /** Ends the wait for a marker when the daemon stops. */
  private abort = new AbortController();
  /** Since the start: drains that dropped (and what), what the last drain left, markers that did not come back, visits skipped because the bridge was there. */
  readonly counts = { drains: 0, dropped: 0, kept: 0, noMarker: 0, skipped: 0 };

  constructor(options: WaitingOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    if (this.options.bridge.targets.length < 2) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort(new Error('stopping'));
    await this.pass;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass = this.runPass().catch((error: unknown) => this.options.log.warn({ err: error }, 'a pass over the bridge\'s waiting sessions failed'));
      void this.pass.finally(() => {
        this.pass = undefined;
        // Until the session waits on every target, the gap is open there: try again soon.
        const waiting = this.options.bridge.targets.every((target) => this.made.has(target.id));
        this.schedule(waiting ? this.options.intervalMs : Math.min(MAKE_RETRY_MS, this.options.intervalMs));
      });
    }, ms);
  }

  private async where(): Promise<Set<number> | undefined> {
    return this.options.bridgeOn().catch((error: unknown) => {
      this.options.log.warn({ err: error }, 'cannot tell where the bridge is connected: no session is visited');
      return undefined;
    });
  }

  private async runPass(): Promise<void> {
    const { bridge } = this.options;
    for (const target of bridge.targets) {
      if (this.stopped) return;
      const on = await this.where();
      if (!on) return;
      // The bridge is there: its own session is, with its subscriptions.
      if (on.has(target.id)) {
        this.made.add(target.id);
        continue;
      }
      if (!drainable(bridge, on).includes(target.id)) continue;
      try {
        if (this.made.has(target.id)) await this.drainOne(target);
        else await this.make(target);
      } catch (error) {
        this.options.log.debug({ err: error, target: target.name }, 'a visit to the bridge\'s waiting session failed');
      }
    }
  }

  private visit(target: NodeConfig, until?: { topic: string; payload: string }): Promise<VisitResult> {
    const { bridge, subscriptions, droppable } = this.options;
    return visitSession({ login: this.options.bridgeLogin(target), clientId: bridge.clientId, subscribe: subscriptions, ...(until ? { until, droppable } : {}), timeoutMs: VISIT_MS });
  }

  /** Makes (or finds) the session on `target`, with its subscriptions; takes nothing. */
  private async make(target: NodeConfig): Promise<void> {
    const result = await this.visit(target);
    this.made.add(target.id);
    this.options.log.info({ target: target.name, present: result.sessionPresent }, `the bridge's session waits on ${target.name}`);
  }

  /** Drops from the session on `target` what a marker proves has reached this node. */
  private async drainOne(target: NodeConfig): Promise<void> {
    const { self, topics, log } = this.options;
    const nonce = randomBytes(12).toString('hex');
    try {
      await drain({ from: target, to: [self], loginTo: this.options.daemonLogin, topics, timeoutMs: MARKER_MS, nonce, signal: this.abort.signal });
    } catch (error) {
      if (this.stopped) return;
      this.counts.noMarker++;
      log.debug({ err: error, target: target.name }, `no marker from ${target.name} came back within ${MARKER_MS} ms: its waiting session keeps everything`);
      return;
    }
    if (this.stopped) return;
    // The bridge may have gone there while the marker travelled: then leave its session alone.
    const on = await this.where();
    if (!on || on.has(target.id)) {
      this.counts.skipped++;
      return;
    }
    const result = await this.visit(target, { topic: topics.drain(nonce), payload: nonce });
    if (!result.sessionPresent) log.warn({ target: target.name }, `the bridge's session on ${target.name} was gone (its broker lost it): made again`);
    if (result.marker) {
      this.counts.drains++;
      this.counts.dropped += result.dropped;
    }
    this.counts.kept = result.kept;
    log.debug({ target: target.name, ...result }, 'drained the bridge\'s waiting session');
  }
}

/** The socket table's word on where `bridge` is connected (mesh/sockets.ts). */
export function socketTable(bridge: BridgeView, adminPort: number): () => Promise<Set<number>> {
  return () => bridgeConnections(bridge.targets, adminPort);
}
