/**
 * Credential sync (DESIGN.md): the password file, the ACL file and the dynamic-security JSON. A
 * local change (watch or sweep) becomes a new version, published signed and retained on this
 * node's broker; a peer's envelope is verified, ordered against what this node has (decide.ts),
 * validated, installed with the service users kept, and applied by a reload (a restart for the
 * dynamic-security JSON, which the 2.0 plugin reads only at start) and a health check, else rolled
 * back. Everything for the files runs one step at a time, in order.
 */
import type { Logger } from 'pino';
import type { BrokerControl } from '../broker/control.js';
import type { ClusterConfig, NodeConfig } from '../config/schema.js';
import { contentProblems, keepServiceUsers, missingServiceUsers, type Kind, type ServiceUsers } from './content.js';
import { decide, type FileState } from './decide.js';
import { HISTORY_LENGTH, sha256, sign, verify, type Envelope } from './envelope.js';
import { Applier, LABEL, type SyncedFile } from './apply.js';
import { installFile, keepBeside, readText } from './files.js';
import { formatVersion, laterClock, nextVersion, type Version } from './hlc.js';
import { serviceEntriesVerify, type ServicePasswords } from './service.js';
import { loadSyncState, saveSyncState, type SyncState } from './state.js';
import { FileWatch } from './watch.js';

export interface SyncerOptions {
  cluster: string;
  self: NodeConfig;
  nodes: readonly NodeConfig[];
  files: readonly SyncedFile[];
  users: ServiceUsers;
  passwords: ServicePasswords;
  secret: string;
  stateFile: string;
  sweep: string;
  log: Logger;
  broker: Pick<BrokerControl, 'reload' | 'restart'>;
  /** Resolves when the broker is healthy, rejects (bounded) when it is not. */
  healthy: () => Promise<void>;
  /** Publishes retained on this node's broker (topic relative to the peer-channel prefix). */
  publish: (topic: string, payload: string) => Promise<void>;
  /** Called when a file's version changed (for the node status). */
  onVersion?: () => void;
  now?: () => number;
  debounceMs?: number;
}

/** The files the broker uses that cluster.yaml asks to keep in step. */
export function syncedFiles(config: ClusterConfig): SyncedFile[] {
  const { broker, sync } = config;
  if (broker.auth === 'dynsec') return sync.dynsec ? [{ kind: 'dynsec', path: broker.dynsec_file, apply: 'restart' }] : [];
  return [
    ...(sync.password_file ? [{ kind: 'passwd' as const, path: broker.password_file, apply: 'reload' as const }] : []),
    ...(sync.acl_file ? [{ kind: 'acl' as const, path: broker.acl_file, apply: 'reload' as const }] : []),
  ];
}


/** Version of a file this node had before any sync: any synced version wins over it, so a new node never overrides the cluster. */
const unsynced = (node: number): Version => ({ wall: 0, counter: 0, node });

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
  private queue: Promise<void> = Promise.resolve();
  private readonly scanQueued = new Set<Kind>();
  private watch: FileWatch | undefined;
  private stopped = false;

  constructor(options: SyncerOptions) {
    this.options = options;
    this.log = options.log;
    this.applier = new Applier({ broker: options.broker, healthy: options.healthy, log: options.log, now: () => this.now() });
  }

  get kinds(): Kind[] {
    return this.options.files.map((file) => file.kind);
  }

  /** Each file's version and hash, for the node status. */
  versions(): Record<string, { version: string; origin: number; sha256: string }> {
    return Object.fromEntries(
      this.stateEntries().map(([kind, file]) => [kind, { version: formatVersion(file.version), origin: file.origin, sha256: file.sha256 }]),
    );
  }

  private stateEntries(): [Kind, FileState][] {
    return this.kinds.flatMap((kind) => {
      const file = this.state[kind];
      return file ? [[kind, file] as [Kind, FileState]] : [];
    });
  }

  async start(): Promise<void> {
    const loaded = await loadSyncState(this.options.stateFile);
    if (loaded.problem) this.log.warn({ file: this.options.stateFile, problem: loaded.problem }, 'sync state unreadable; starting without it (peers\' synced versions will win)');
    this.state = loaded.state;
    for (const [, file] of this.stateEntries()) this.clock = this.clock ? laterClock(this.clock, file.version) : file.version;
    for (const file of this.options.files) await this.scan(file, 'start');
    this.watch = new FileWatch({
      paths: this.options.files.map((file) => file.path),
      sweep: this.options.sweep,
      log: this.log,
      ...(this.options.debounceMs === undefined ? {} : { debounceMs: this.options.debounceMs }),
      onChange: (path, why) => {
        const file = this.options.files.find((candidate) => candidate.path === path);
        if (file) this.queueScan(file, why);
      },
    });
    this.watch.start();
    // The versions this node starts with, whether or not a scan changed one.
    this.options.onVersion?.();
    this.log.info({ files: this.options.files.map(({ kind, path }) => ({ kind, path })), sweep: this.options.sweep }, 'credential sync started');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watch?.stop();
    await this.queue;
  }

  /** Publishes every file this node has (after the own broker's connection is made or remade). */
  publishAll(): void {
    for (const kind of this.kinds) this.enqueue(() => this.publish(kind));
  }

  /** An envelope read on `from`'s broker at `sync/<kind>`. */
  receive(from: NodeConfig, kind: string, payload: Buffer): void {
    const file = this.options.files.find((candidate) => candidate.kind === kind);
    if (!file) return;
    this.enqueue(() => this.take(file, from, payload));
  }

  private enqueue(task: () => Promise<void>): void {
    if (this.stopped) return;
    this.queue = this.queue.then(task).catch((error: unknown) => this.log.error({ err: error }, 'sync step failed'));
  }

  private queueScan(file: SyncedFile, why: 'watch' | 'sweep'): void {
    if (this.scanQueued.has(file.kind)) return;
    this.scanQueued.add(file.kind);
    this.enqueue(async () => {
      this.scanQueued.delete(file.kind);
      await this.scan(file, why);
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
      if (why === 'start') this.log.warn({ kind, path }, `no ${LABEL[kind]} yet: nothing to sync until a peer sends one`);
      return;
    }
    const hash = sha256(found.text);
    const current = this.state[kind];
    if (current?.sha256 === hash) {
      this.texts.set(kind, found.text);
      return;
    }
    if (this.reportedInvalid.get(kind) === hash) return;
    const problems = contentProblems(kind, found.text);
    if (problems.length > 0) {
      this.reportedInvalid.set(kind, hash);
      this.log.error({ kind, path, problems }, `the local ${LABEL[kind]} is not valid: not synced, the broker not reloaded (fix it, and it will be)`);
      return;
    }
    let text = found.text;
    const previous = this.texts.get(kind);
    if (previous !== undefined && !serviceEntriesVerify(kind, text, this.options.users, this.options.passwords)) {
      const restored = keepServiceUsers(kind, text, previous, this.options.users);
      if (restored.kept.length > 0) {
        text = restored.content;
        await installFile(path, text, found.text);
        this.log.warn({ kind, path, users: restored.kept }, `put the service users back into the ${LABEL[kind]}: neither an edit nor a sync may remove them`);
      }
    }
    this.warnMissing(kind, text);
    // An edit goes to the peers only once this node's broker is healthy with it (at start, the
    // broker has just read it): a file that breaks a broker is never spread.
    if (why !== 'start' && !(await this.applier.localEdit(file, text, previous, text !== found.text))) return;
    // A file this node has no sync state for (first start, a new node) must not override the cluster's.
    const version = current ? nextVersion(this.clock, this.now(), this.options.self.id) : unsynced(this.options.self.id);
    this.clock = this.clock ? laterClock(this.clock, version) : version;
    const digest = sha256(text);
    await this.adopt(kind, { version, origin: this.options.self.id, sha256: digest, history: [version, ...(current?.history ?? [])].slice(0, HISTORY_LENGTH) }, text);
    this.log.info({ kind, path, why, version: formatVersion(version), sha256: digest }, `local ${LABEL[kind]} changed: published`);
  }

  private async take(file: SyncedFile, from: NodeConfig, payload: Buffer): Promise<void> {
    const { kind, path } = file;
    const own = from.id === this.options.self.id;
    const verified = verify(this.options.secret, payload, { cluster: this.options.cluster, kind });
    if (!verified.ok) {
      this.log.warn({ kind, from: from.name, reason: verified.reason }, 'rejected an envelope');
      if (own) await this.publish(kind);
      return;
    }
    const envelope = verified.envelope;
    const version = formatVersion(envelope.version);
    const current = this.state[kind];
    this.clock = this.clock ? laterClock(this.clock, envelope.version) : envelope.version;
    const decision = decide(current, envelope);
    const facts = { kind, from: from.name, origin: envelope.origin, version, current: current ? formatVersion(current.version) : undefined };
    if (own && decision.type !== 'same') await this.publish(kind);
    switch (decision.type) {
      case 'same':
        return;
      case 'stale':
        this.log.info(facts, 'rejected an older version (a replay or a late copy)');
        return;
      case 'conflict': {
        const kept = await keepBeside(path, `conflict-${this.nodeName(envelope.origin)}-${version}`, envelope.content);
        this.log.warn({ ...facts, kept }, `a concurrent edit of the ${LABEL[kind]} lost to this node's: kept its text beside the file`);
        return;
      }
      case 'adopt':
        await this.adopt(kind, this.stateOf(envelope), this.texts.get(kind) ?? envelope.content);
        return;
      case 'install':
        if (this.refused.has(`${kind} ${version}`)) return;
        await this.install(file, envelope, decision.keepCurrent, facts);
    }
  }

  private async install(file: SyncedFile, envelope: Envelope, keepCurrent: boolean, facts: Record<string, unknown>): Promise<void> {
    const { kind, path } = file;
    const version = formatVersion(envelope.version);
    const previous = this.texts.get(kind) ?? (await readText(path))?.text;
    let text = envelope.content;
    if (previous !== undefined && !serviceEntriesVerify(kind, text, this.options.users, this.options.passwords)) {
      const restored = keepServiceUsers(kind, text, previous, this.options.users);
      text = restored.content;
      if (restored.kept.length > 0) this.log.warn({ ...facts, users: restored.kept }, 'kept this node\'s service users: a sync may not remove or change them');
    }
    const problems = contentProblems(kind, text);
    if (problems.length > 0) {
      this.refused.add(`${kind} ${version}`);
      this.log.error({ ...facts, problems }, `rejected a version of the ${LABEL[kind]} that is not valid; nothing installed`);
      return;
    }
    this.warnMissing(kind, text);
    const current = this.state[kind];
    if (keepCurrent && current && previous !== undefined) {
      const kept = await keepBeside(path, `conflict-${this.nodeName(current.origin)}-${formatVersion(current.version)}`, previous);
      this.log.warn({ ...facts, kept }, `this node's edit of the ${LABEL[kind]} lost to a concurrent one: kept its text beside the file`);
    }
    const started = this.now();
    if (!(await this.applier.install(file, text, previous, facts))) {
      this.refused.add(`${kind} ${version}`);
      return;
    }
    await this.adopt(kind, { ...this.stateOf(envelope), sha256: sha256(text) }, text);
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
    const envelope = sign(this.options.secret, { cluster: this.options.cluster, kind, origin: state.origin, version: state.version, history: state.history, sha256: state.sha256, content });
    await this.options.publish(`sync/${kind}`, JSON.stringify(envelope)).catch((error: unknown) =>
      this.log.debug({ err: error, kind }, 'not published now; published again when the own broker is back'),
    );
  }

  private stateOf(envelope: Envelope): FileState {
    return { version: envelope.version, origin: envelope.origin, sha256: envelope.sha256, history: envelope.history };
  }

  private nodeName(id: number): string {
    return this.options.nodes.find((node) => node.id === id)?.name ?? `node${id}`;
  }

  private warnMissing(kind: Kind, text: string): void {
    const missing = missingServiceUsers(kind, text, this.options.users);
    if (missing.length > 0) this.log.error({ kind, users: missing }, `the ${LABEL[kind]} lacks service users: the bridge or the daemon cannot log in until they are added`);
  }
}
