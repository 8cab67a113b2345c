/**
 * Sees and ends split brain (split.ts decides): when this node and a peer both hold the VIP by
 * their statuses on the peer channel, for longer than VRRP or a stale VIP takes to sort itself out
 * (`confirmMs`), the node that should not be MASTER sets the `split` fact, and the health monitor,
 * the one writer of the track file, writes SPLIT_WEIGHT (FAULT: keepalived gives up the VIP). Both
 * log one line naming the split. The node state keeps its timings.
 *
 * Healing: in FAULT this node sends no adverts, but the winner still sends its own; the
 * VrrpCounter counts those that reach this node, and the first one since the step-down lifts it.
 * The step-down is also lifted when the winner is no longer reachable on the peer channel (it may
 * be dead: this node must be able to take the VIP), no longer MASTER, or no longer outranks this
 * node, and when the daemon stops. Under ucarp, which has no runtime priority, the split is logged
 * and nobody steps down.
 */
import type { Logger } from 'pino';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import type { Component } from '../context.js';
import type { NodeState, SplitFacts } from '../node-state.js';
import { splitOf, SPLIT_WEIGHT, standingPriority, type SplitNode, type SplitPeer, type SplitVerdict } from './split.js';
import type { VrrpCounter } from './vrrp-counter.js';

export interface SplitWatchOptions {
  config: ClusterConfig;
  self: NodeConfig;
  state: NodeState;
  log: Logger;
  /** Whether the peer channel's connection to `nodeId`'s broker is up now. */
  isConnected: (nodeId: number) => boolean;
  /** One round trip to `node`'s broker now: a status says what was, and a dead host looks connected until MQTT's keepalive notices. */
  reaches: (node: NodeConfig) => Promise<boolean>;
  /** Counts the peers' adverts; undefined under ucarp (nobody steps down there). */
  counter: Pick<VrrpCounter, 'install' | 'read' | 'remove'> | undefined;
  now?: () => number;
}

/**
 * How long both nodes must be seen MASTER before anything is decided: VRRP sorts out a passing
 * overlap (a preempting master) within an advert, and the statuses follow within milliseconds;
 * three adverts and 200 ms leave room for a loaded machine. A MASTER whose keepalived is dead
 * (its status says so) holds a stale VIP that it removes itself (takeover/stale.ts): never a split.
 */
export function confirmMs(advertIntSeconds: number): number {
  return Math.round(3 * advertIntSeconds * 1000 + 200);
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

export class SplitWatch implements Component {
  private readonly options: SplitWatchOptions;
  private readonly confirmMs: number;
  private readonly pollMs: number;
  /** Both seen MASTER since, not yet confirmed: the masters' ids, and whether the winner's broker failed a round trip meanwhile. */
  private candidate: { since: number; key: string; unanswered?: boolean; reconfirmed?: boolean } | undefined;
  /** The split decided and not ended: its masters' ids. */
  private decidedKey: string | undefined;
  private steppedDownFor: NodeConfig | undefined;
  /** The winner's adverts counted when this node stepped down. */
  private baseline = 0;
  private undecidedKey: string | undefined;
  /** Peers' step-downs for this node already named (`id@since`). */
  private readonly yieldedSeen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private evaluating: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;

  constructor(options: SplitWatchOptions) {
    this.options = options;
    const advertMs = options.config.failover.advert_int * 1000;
    this.confirmMs = confirmMs(options.config.failover.advert_int);
    this.pollMs = Math.min(1_000, Math.max(100, advertMs));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  async start(): Promise<void> {
    const { state, counter, log } = this.options;
    await counter?.install().catch((error: unknown) => log.error({ err: error }, 'cannot install the VRRP advert counter: a split-brain step-down will only end when the winner goes'));
    this.unsubscribe = state.onChange((changed, facts) => {
      this.noteSteps(changed, facts.split);
      if (changed.some((fact) => fact === 'role' || fact === 'peers' || fact === 'weight')) this.evaluate();
    });
    this.timer = setInterval(() => {
      if (this.candidate || this.steppedDownFor) this.evaluate();
    }, this.pollMs);
    this.evaluate();
  }

  /** Lifts a step-down (nobody would lift it later), removes the counter. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.timer);
    await this.evaluating.catch(() => undefined);
    if (this.steppedDownFor) this.end('the daemon stops', {});
    await this.options.counter?.remove().catch((error: unknown) => this.options.log.warn({ err: error }, 'cannot remove the VRRP advert counter'));
  }

  /** Runs one evaluation after the one in progress; asked again meanwhile, runs once more. */
  private evaluate(): void {
    if (this.stopped) return;
    this.again = true;
    this.evaluating = this.evaluating
      .then(async () => {
        if (!this.again || this.stopped) return;
        this.again = false;
        await this.decide();
      })
      .catch((error: unknown) => this.options.log.error({ err: error }, 'split-brain decision failed; trying again at the next change'));
  }

  /** The step-down's write and the VIP's release, as the node state shows them. */
  private noteSteps(changed: readonly string[], split: SplitFacts | undefined): void {
    if (!split?.stepDown || split.at.ended !== undefined) return;
    const { state } = this.options;
    const at = { ...split.at };
    if (changed.includes('weight') && at.steppedDown === undefined && state.current.weight.value === SPLIT_WEIGHT) at.steppedDown = this.now();
    if (changed.includes('role') && at.released === undefined && state.current.role !== 'MASTER') at.released = this.now();
    if (at.steppedDown !== split.at.steppedDown || at.released !== split.at.released) state.update({ split: { ...split, at } });
  }

  private peersView(): SplitPeer[] {
    const { config, self, state, isConnected } = this.options;
    return config.nodes
      .filter((node) => node.id !== self.id)
      .map((node) => {
        const status = state.current.peers[node.id];
        const online = status?.online === true;
        return { id: node.id, name: node.name, priority: status?.priority ?? node.priority, master: online && status?.role === 'MASTER' && status.driver !== 'dead', reachable: online && isConnected(node.id) };
      });
  }

  private async decide(): Promise<void> {
    const { config, self, state, counter, log } = this.options;
    const facts = state.current;
    const me = { id: self.id, name: self.name, priority: facts.weight.priority ?? standingPriority(self.priority, 0), master: facts.role === 'MASTER' && facts.driver !== 'dead' };
    const peers = this.peersView();
    let healed = false;
    const winnerNode = this.steppedDownFor;
    if (winnerNode && counter) {
      healed = ((await counter.read())[winnerNode.address] ?? 0) > this.baseline;
    }
    const verdict = splitOf({ self: me, peers, steppedDownFor: winnerNode?.id, healed });
    const now = this.now();

    if (winnerNode) {
      if (verdict.lifted) this.end(verdict.lifted === 'healed' ? `the VRRP path is back (${winnerNode.name}'s adverts arrive)` : liftText(verdict.lifted, winnerNode.name), healed ? { healed: now } : {});
      return;
    }

    this.noteUndecided(verdict, me.master);
    this.noteYielded(me);
    const current = state.current.split;
    if (verdict.masters.length === 0) {
      this.candidate = undefined;
      if (this.decidedKey !== undefined && current && current.at.ended === undefined) {
        this.end(me.master ? `${current.nodes.filter((name) => name !== self.name).join(', ')} gave up the VIP` : 'this node no longer holds the VIP', {});
      }
      return;
    }
    const key = [self.id, ...verdict.masters.map((peer) => peer.id)].sort((a, b) => a - b).join(',');
    if (this.decidedKey === key) return;
    if (this.candidate?.key !== key) {
      this.candidate = { since: now, key };
      log.debug({ masters: verdict.masters.map((peer) => peer.name) }, 'another node holds the VIP too: confirming');
      return;
    }
    if (now - this.candidate.since < this.confirmMs) return;
    const winner = verdict.winner!;
    const winnerConfig = config.nodes.find((node) => node.id === winner.id)!;
    const stepDown = verdict.stepDown && counter !== undefined;
    if (verdict.stepDown) {
      const asked = this.now();
      if (!(await this.options.reaches(winnerConfig))) {
        this.logUndecided(`${winner.name}'s broker does not answer now`, [winner.name]);
        // Confirmed afresh from now: what a hung broker says of its node is from before the hang
        // (MASTER at its old priority), and its newer statuses arrive only once it resumes.
        this.candidate = { ...this.candidate, since: now, unanswered: true };
        return;
      }
      // The first answer after none, or one slower than the confirmation (a broker that resumed
      // during the round trip): the statuses it held back are only now on their way, through
      // another connection, and may come after the answer. Confirmed afresh from the answer (a
      // broker-hang round's repair made node2 step down for the still-sick node1 this way).
      const answeredAt = this.now();
      if (this.candidate?.key !== key) return;
      // (Once for a slow answer: on a machine loaded enough that every round trip is that slow, the split is still decided.)
      if (this.candidate.unanswered || (answeredAt - asked > this.confirmMs && !this.candidate.reconfirmed)) {
        this.candidate = { key, since: answeredAt, reconfirmed: true };
        log.debug({ winner: winner.name }, `${winner.name}'s broker answers again: confirming afresh`);
        return;
      }
      // What the peers say may have changed during the round trip: decide on what is true now.
      const again = splitOf({ self: me, peers: this.peersView(), steppedDownFor: undefined, healed: false });
      if (!again.stepDown || again.winner?.id !== winner.id) return;
    }
    const seen = this.candidate.since;
    this.candidate = undefined;
    if (stepDown) this.baseline = (await counter.read())[winnerConfig.address] ?? 0;
    this.announce(key, me, verdict.masters, winner, stepDown, seen);
    if (stepDown) this.steppedDownFor = winnerConfig;
  }

  /**
   * The one line naming the split on this node, and the `split` fact. `stepDown` false: this node
   * keeps the VIP, or cannot give it up (ucarp).
   */
  private announce(key: string, me: SplitNode, masters: readonly SplitNode[], winner: SplitNode, stepDown: boolean, seen: number): void {
    const { self, state, counter, log } = this.options;
    const now = this.now();
    this.decidedKey = key;
    const names = [self.name, ...masters.map((peer) => peer.name)];
    const losers = [me, ...masters].filter((node) => node.id !== winner.id);
    const why = losers.map((loser) => `${loser.name} ${loser.priority === winner.priority ? `(priority ${loser.priority}, lower id)` : `(priority ${loser.priority} < ${winner.priority})`}`).join(', ');
    const outcome = counter === undefined ? `ucarp has no runtime priority: nobody steps down (${why} should)` : stepDown ? `${self.name} gives up the VIP to ${winner.name}: ${why}` : `${losers.map((loser) => loser.name).join(', ')} should give it up: ${why}`;
    log.warn({ split: names, winner: winner.name, stepDown, since: seen, at: { seen, decided: now }, priorities: Object.fromEntries([me, ...masters].map((node) => [node.name, node.priority])) }, `split brain: ${names.join(' and ')} both hold the VIP since ${clock(seen)}; ${outcome}`);
    state.update({ split: { nodes: names, winner: winner.name, stepDown, at: { seen, decided: now } } });
  }

  /**
   * A peer that gave up the VIP to this node for a split (its status says so) may have decided
   * before this node confirmed the split itself: this node then names the split too, once.
   */
  private noteYielded(me: SplitNode & { master: boolean }): void {
    const { config, self, state } = this.options;
    const yielded = config.nodes.flatMap((node) => {
      const status = state.current.peers[node.id];
      return status?.online && status.split?.winner === self.name ? [{ node, status, split: status.split }] : [];
    });
    const keys = new Set(yielded.map(({ node, split }) => `${node.id}@${split.since}`));
    for (const key of this.yieldedSeen) if (!keys.has(key)) this.yieldedSeen.delete(key);
    const fresh = yielded.filter(({ node, split }) => !this.yieldedSeen.has(`${node.id}@${split.since}`));
    for (const key of keys) this.yieldedSeen.add(key);
    if (fresh.length === 0 || !me.master || this.decidedKey !== undefined) return;
    const losers = fresh.map(({ node, status }) => ({ id: node.id, name: node.name, priority: status.priority ?? node.priority }));
    const key = [self.id, ...losers.map((loser) => loser.id)].sort((a, b) => a - b).join(',');
    this.candidate = undefined;
    this.announce(key, me, losers, me, false, Math.min(...fresh.map(({ split }) => split.since)));
  }

  private noteUndecided(verdict: SplitVerdict, master: boolean): void {
    if (!master || verdict.undecided.length === 0) {
      this.undecidedKey = undefined;
      return;
    }
    this.logUndecided('the peer channel to it is down', verdict.undecided.map((peer) => peer.name));
  }

  /** Once per set of peers: a split this node may be in, and cannot decide. */
  private logUndecided(why: string, names: string[]): void {
    const key = names.join(',');
    if (this.undecidedKey === key) return;
    this.undecidedKey = key;
    this.options.log.warn({ peers: names }, `split brain cannot be decided: ${names.join(', ')} held the VIP too by ${names.length === 1 ? 'its' : 'their'} last status, but ${why}: nothing is decided from it`);
  }

  private end(reason: string, extra: { healed?: number }): void {
    const { state, log } = this.options;
    const split = state.current.split;
    const now = this.now();
    this.steppedDownFor = undefined;
    this.decidedKey = undefined;
    this.candidate = undefined;
    if (!split || split.at.ended !== undefined) return;
    const at = { ...split.at, ...extra, ended: now };
    const ms = Object.fromEntries(Object.entries(at).map(([step, time]) => [step, time - at.seen]));
    log.info({ split: split.nodes, winner: split.winner, stepDown: false, reason, at, ms }, `split brain over: ${reason}`);
    state.update({ split: { ...split, stepDown: false, at, end: reason } });
  }
}

function liftText(reason: Exclude<NonNullable<SplitVerdict['lifted']>, 'healed'>, winner: string): string {
  switch (reason) {
    case 'winner unreachable':
      return `${winner} is not reachable on the peer channel (it may be gone): this node may take the VIP again`;
    case 'winner not MASTER':
      return `${winner} no longer holds the VIP`;
    case 'winner outranked':
      return `${winner} no longer outranks this node`;
  }
}

