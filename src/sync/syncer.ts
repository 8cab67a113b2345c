/**
 * Credential sync (DESIGN.md): the password file, the ACL file and the dynamic-security JSON. The
 * syncer acts; plan.ts decides. A local change (watch or sweep) becomes a new version, published
 * signed and retained on this node's broker; a peer's envelope is verified, ordered against what
 * this node has, validated, installed with the service users kept, and applied by a reload (a
 * restart for the dynamic-security JSON, which the 2.0 plugin reads only at start) and a health
 * check, else rolled back (apply.ts). Everything for the files runs one step at a time, in order.
 */
import type { Logger } from 'pino';
import type { BrokerControl } from '../broker/control.js';
import type { SyncEvent } from '../node-state.js';
import type { NodeConfig } from '../config/schema.js';
import type { Kind, ServiceUsers } from './content.js';
import type { FileState } from './decide.js';
import { parseEnvelope, type Envelope } from './envelope.js';
import { Applier } from './apply.js';
import { installFile, keepBeside, readText } from './files.js';
import { advanceClock, formatVersion, type Version } from './hlc.js';
import { localState, planEnvelope, planLocal, type EnvelopePlan } from './plan.js';
import type { ServicePasswords } from './service.js';
import { StepQueue } from './queue.js';
import { Throttle } from '../peer/limits.js';
import { loadSyncState, saveSyncState, type SyncState } from './state.js';
import { LABEL, type SyncedFile } from './synced.js';
import { FileWatch } from './watch.js';

export { syncedFiles, type SyncedFile } from './synced.js';

export interface SyncerOptions {
  cluster: string;
  self: NodeConfig;
  nodes: readonly NodeConfig[];
  files: readonly SyncedFile[];
  users: ServiceUsers;
  passwords: ServicePasswords;
  stateFile: string;
  sweep: string;
  log: Logger;
  broker: Pick<BrokerControl, 'reload' | 'restart'>;
  /** Resolves when the broker is healthy, rejects (bounded) when it is not. */
  healthy: () => Promise<void>;
  /** Publishes `kind`'s envelope, sealed and retained, on this node's broker (Topics.sync). */
  publish: (kind: Kind, envelope: Envelope) => Promise<void>;
  /** Publishes this node's last envelope of `kind` again, at most once a second (peer/channel.ts). */
  repair: (kind: Kind) => void;
  /** Called when a file's version changed (for the node status). */
  onVersion?: () => void;
  /** Called when a peer's version was installed or rejected (the node state's events: metrics, the control API). */
  onOutcome?: (outcome: Omit<SyncEvent, 'type' | 'at'>) => void;
  now?: () => number;
  debounceMs?: number;
}

export class Syncer {
  private readonly options: SyncerOptions;
  private readonly log: Logger;
  private readonly applier: Applier;
  private state: SyncState = {};
  /** The text whose hash is in `state`, per kind: what this node publishes. */
  private readonly texts = new Map<Kind, string>();
  /** Hash of a local text already reported invalid, so the sweep does not report it again. */
  private readonly reportedInvalid = new Map<Kind, string>();
  /** Versions that failed validation or the health check here: not tried again. */
  private readonly refused = new Set<string>();
  private clock: Version | undefined;
  private readonly queue: StepQueue;
  /** The latest envelope from each broker and kind not yet taken. */
  private readonly received = new Map<string, unknown>();
  /** One log line a minute for each kind of rejection from each peer, however many there are. */
  private readonly rejections = new Throttle(60_000);
  private watch: FileWatch | undefined;

  constructor(options: SyncerOptions) {
    this.options = options;
    this.log = options.log;
    this.applier = new Applier({ broker: options.broker, healthy: options.healthy, log: options.log, now: () => this.now() });
    this.queue = new StepQueue((error) => this.log.error({ err: error }, 'sync step failed'));
  }

  get kinds(): Kind[] {
    return this.options.files.map((file) => file.kind);
  }

  /** Each file's version and hash, for the node status. */
  versions(): Record<string, { version: string; origin: number; sha256: string }> {
    return Object.fromEntries(this.fileStates().map(([kind, file]) => [kind, { version: formatVersion(file.version), origin: file.origin, sha256: file.sha256 }]));
  }

  /** The text of this node's version of `kind` (what it publishes), if it has one. */
  text(kind: Kind): string | undefined {
    return this.texts.get(kind);
  }

  private fileStates(): [Kind, FileState][] {
    return this.kinds.flatMap((kind): [Kind, FileState][] => (this.state[kind] ? [[kind, this.state[kind]]] : []));
  }

  async start(): Promise<void> {
    const loaded = await loadSyncState(this.options.stateFile);
    if (loaded.problem) this.log.warn({ file: this.options.stateFile, problem: loaded.problem }, 'sync state unreadable; starting without it (peers\' synced versions will win)');
    this.state = loaded.state;
    for (const [, file] of this.fileStates()) this.clock = advanceClock(this.clock, file.version);
    for (const file of this.options.files) await this.scan(file, 'start');
    this.watch = new FileWatch({
      paths: this.options.files.map((file) => file.path),
      sweep: this.options.sweep,
      log: this.log,
      ...(this.options.debounceMs === undefined ? {} : { debounceMs: this.options.debounceMs }),
      onChange: (path, why) => {
        const file = this.options.files.find((candidate) => candidate.path === path);
        if (file) this.queue.addOnce(file.kind, () => this.scan(file, why));
      },
    });
    this.watch.start();
    // The versions this node starts with, whether or not a scan changed one.
    this.options.onVersion?.();
    this.log.info({ files: this.options.files.map(({ kind, path }) => ({ kind, path })), sweep: this.options.sweep }, 'credential sync started');
  }

  async stop(): Promise<void> {
    this.watch?.stop();
    await this.queue.close();
  }

  /** The sweep, now (the control API's syncNow): every file looked at again, and every envelope published again for the peers. */
  sweepNow(): void {
    for (const file of this.options.files) this.queue.addOnce(file.kind, () => this.scan(file, 'sweep'));
    this.publishAll();
  }

  /** Publishes every file this node has (after the own broker's connection is made or remade). */
  publishAll(): void {
    for (const kind of this.kinds) this.queue.add(() => this.publish(kind));
  }

  /**
   * An envelope read (opened) on `from`'s broker at `sync/<kind>`. Only the latest one from each
   * broker and kind waits to be taken: a burst of them makes one step, not a queue without end.
   */
  receive(from: NodeConfig, kind: string, value: unknown): void {
    const file = this.options.files.find((candidate) => candidate.kind === kind);
    if (!file) return;
    const key = `${from.id} ${kind}`;
    this.received.set(key, value);
    this.queue.addOnce(`receive ${key}`, async () => {
      const latest = this.received.get(key);
      this.received.delete(key);
      await this.take(file, from, latest);
    });
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Looks at the local file; a new text becomes a new version, published (and applied, unless at start). */
  private async scan(file: SyncedFile, why: 'start' | 'watch' | 'sweep'): Promise<void> {
    const { kind, path } = file;
    const found = await readText(path);
    if (!found) {
      // No preference is the usual state: nothing to warn about.
      if (why === 'start' && kind !== 'leader') this.log.warn({ kind, path }, `no ${LABEL[kind]} yet: nothing to sync until a peer sends one`);
      return;
    }
    const previous = this.texts.get(kind);
    const { users, passwords } = this.options;
    const plan = planLocal({ kind, text: found.text, current: this.state[kind], previous, reported: this.reportedInvalid.get(kind), start: why === 'start', users, passwords });
    if (plan.type === 'unchanged') this.texts.set(kind, found.text);
    if (plan.type === 'invalid') {
      this.reportedInvalid.set(kind, plan.sha256);
      this.log.error({ kind, path, problems: plan.problems }, `the local ${LABEL[kind]} is not valid: not synced, the broker not reloaded (fix it, and it will be)`);
    }
    if (plan.type !== 'publish') return;
    const { text } = plan;
    if (plan.restored.length > 0) {
      await installFile(path, text, found.text);
      this.log.warn({ kind, path, users: plan.restored }, `put the service users back into the ${LABEL[kind]}: neither an edit nor a sync may remove them`);
    }
    this.warnMissing(kind, plan.missing);
    // An edit goes to the peers only once this node's broker is healthy with it (at start, the
    // broker has just read it): a file that breaks a broker is never spread.
    if (plan.apply && !(await this.applier.localEdit(file, text, previous, plan.rewritten))) return;
    const state = localState(this.state[kind], text, this.clock, this.now(), this.options.self.id);
    this.clock = advanceClock(this.clock, state.version);
    await this.adopt(kind, state, text);
    this.log.info({ kind, path, why, version: formatVersion(state.version), sha256: state.sha256 }, `local ${LABEL[kind]} changed: published`);
  }

  /** A peer's envelope (or this node's own, read back from its broker). */
  private async take(file: SyncedFile, from: NodeConfig, value: unknown): Promise<void> {
    const { kind, path } = file;
    const { cluster, self, users, passwords, nodes } = this.options;
    const verified = parseEnvelope(value, { cluster, kind });
    const current = this.state[kind];
    const text = this.texts.get(kind);
    // Only a node that has no text of its own for the file (missing or invalid at start) reads it here.
    const onDisk = verified.ok && text === undefined ? (await readText(path))?.text : undefined;
    const plan = planEnvelope({ kind, own: from.id === self.id, verified, current, text, onDisk, refused: this.refused, users, passwords, nodes, now: this.now() });
    if (plan.republish) this.options.repair(kind);
    if (plan.type === 'reject') {
      this.options.onOutcome?.({ kind, result: 'rejected', reason: 'envelope', from: from.name });
      const suppressed = this.rejections.pass(`${from.id} ${kind} ${plan.reason.slice(0, 20)}`);
      if (suppressed !== undefined) this.log.warn({ kind, from: from.name, reason: plan.reason, suppressed }, 'rejected an envelope');
    }
    if (!verified.ok || plan.type === 'reject') return;
    const { envelope } = verified;
    this.clock = advanceClock(this.clock, envelope.version);
    const facts = { kind, from: from.name, origin: envelope.origin, version: formatVersion(envelope.version), current: current ? formatVersion(current.version) : undefined };
    if ((plan.type === 'install' || plan.type === 'invalid') && plan.restored.length > 0) {
      this.log.warn({ ...facts, users: plan.restored }, 'kept this node\'s service users: a sync may not remove or change them');
    }
    switch (plan.type) {
      case 'stale': {
        this.options.onOutcome?.({ kind, result: 'rejected', reason: 'stale', from: from.name });
        const suppressed = this.rejections.pass(`${from.id} ${kind} stale`);
        if (suppressed !== undefined) this.log.info({ ...facts, suppressed }, 'rejected an older version (a replay or a late copy)');
        return;
      }
      case 'conflict': {
        const kept = await keepBeside(path, plan.keep.suffix, plan.keep.text);
        this.options.onOutcome?.({ kind, result: 'rejected', reason: 'conflict', from: from.name });
        this.log.warn({ ...facts, kept }, `a concurrent edit of the ${LABEL[kind]} lost to this node's: kept its text beside the file`);
        return;
      }
      case 'adopt':
        await this.adopt(kind, plan.state, plan.text);
        return;
      case 'invalid':
        this.refused.add(plan.key);
        this.options.onOutcome?.({ kind, result: 'rejected', reason: 'invalid', from: from.name });
        this.log.error({ ...facts, problems: plan.problems }, `rejected a version of the ${LABEL[kind]} that is not valid; nothing installed`);
        return;
      case 'install':
        await this.install(file, plan, facts, from.name);
    }
  }

  private async install(file: SyncedFile, plan: Extract<EnvelopePlan, { type: 'install' }>, facts: Record<string, unknown>, from: string): Promise<void> {
    const { kind, path } = file;
    this.warnMissing(kind, plan.missing);
    if (plan.keepCurrent) {
      const kept = await keepBeside(path, plan.keepCurrent.suffix, plan.keepCurrent.text);
      this.log.warn({ ...facts, kept }, `this node's edit of the ${LABEL[kind]} lost to a concurrent one: kept its text beside the file`);
    }
    const started = this.now();
    if (!(await this.applier.install(file, plan.text, plan.previous, facts))) {
      this.refused.add(plan.key);
      this.options.onOutcome?.({ kind, result: 'rejected', reason: 'broker', from });
      return;
    }
    await this.adopt(kind, plan.state, plan.text);
    this.options.onOutcome?.({ kind, result: 'installed', from });
    this.log.info({ ...facts, path, ms: this.now() - started }, `installed a peer's version of the ${LABEL[kind]}`);
  }

  /** Makes `state` this node's version of `kind` (its text `text`), saves it and publishes it. */
  private async adopt(kind: Kind, state: FileState, text: string): Promise<void> {
    this.state = { ...this.state, [kind]: state };
    this.texts.set(kind, text);
    await saveSyncState(this.options.stateFile, this.state);
    this.options.onVersion?.();
    await this.publish(kind);
  }

  private async publish(kind: Kind): Promise<void> {
    const state = this.state[kind];
    const content = this.texts.get(kind);
    if (!state || content === undefined) return;
    const envelope = { cluster: this.options.cluster, kind, origin: state.origin, version: state.version, history: state.history, sha256: state.sha256, content };
    await this.options.publish(kind, envelope).catch((error: unknown) =>
      this.log.debug({ err: error, kind }, 'not published now; published again when the own broker is back'),
    );
  }

  private warnMissing(kind: Kind, missing: readonly string[]): void {
    if (missing.length > 0) this.log.error({ kind, users: missing }, `the ${LABEL[kind]} lacks service users: they cannot log in until they are added`);
  }
}
