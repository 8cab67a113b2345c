/**
 * What the syncer does with a local file's text and with a peer's envelope, as a value: the
 * syncer (syncer.ts) reads the files, asks here, and carries the plan out. Ordering by version is
 * decide.ts; the service-user repair is service.ts. Pure.
 */
import type { NodeConfig } from '../config/schema.js';
import { contentProblems, missingServiceUsers, type Kind, type ServiceUsers } from './content.js';
import { decide, type FileState } from './decide.js';
import { HISTORY_LENGTH, sha256, type Envelope, type Verified } from './envelope.js';
import { formatVersion, nextVersion, type Version } from './hlc.js';
import { repairServiceUsers, type ServicePasswords } from './service.js';

export interface Credentials {
  users: ServiceUsers;
  passwords: ServicePasswords;
}

export interface LocalText extends Credentials {
  kind: Kind;
  /** The file's text now. */
  text: string;
  /** This node's version of the file; undefined when it has no sync state for it. */
  current: FileState | undefined;
  /** The text of that version as this node has it (none before the first scan has taken one). */
  previous: string | undefined;
  /** The hash of a text already reported invalid. */
  reported: string | undefined;
  /** At start the broker has just read the file: there is nothing to apply. */
  start: boolean;
}

export type LocalPlan =
  /** The text of this node's version: remember it as the one to publish. */
  | { type: 'unchanged' }
  /** Invalid, and reported already: not again at every sweep. */
  | { type: 'reported' }
  /** Invalid: report every problem; neither apply nor publish. */
  | { type: 'invalid'; sha256: string; problems: string[] }
  /**
   * A new text: write it back first when `restored` names service users put back into it
   * (`rewritten` when that changed the file), apply it (unless at start), and, once the broker is
   * healthy with it, publish it as a new version (localState).
   */
  | { type: 'publish'; text: string; restored: string[]; rewritten: boolean; missing: string[]; apply: boolean };

export function planLocal(local: LocalText): LocalPlan {
  const { kind, users } = local;
  const hash = sha256(local.text);
  if (local.current?.sha256 === hash) return { type: 'unchanged' };
  if (local.reported === hash) return { type: 'reported' };
  const problems = contentProblems(kind, local.text);
  if (problems.length > 0) return { type: 'invalid', sha256: hash, problems };
  const repaired = repairServiceUsers(kind, local.text, local.previous, users, local.passwords);
  // An edit is the user's own text: the daemon rewrites it only to put a service user back.
  const text = repaired.restored.length > 0 ? repaired.text : local.text;
  return { type: 'publish', text, restored: repaired.restored, rewritten: text !== local.text, missing: missingServiceUsers(kind, text, users), apply: !local.start };
}

/** Version of a file this node had before any sync: any synced version wins over it, so a new node never overrides the cluster. */
export const unsynced = (node: number): Version => ({ wall: 0, counter: 0, node });

/** This node's new version of a file whose text is now `text` (`clock`: the latest version it has seen). */
export function localState(current: FileState | undefined, text: string, clock: Version | undefined, now: number, self: number): FileState {
  const version = current ? nextVersion(clock, now, self) : unsynced(self);
  return { version, origin: self, sha256: sha256(text), history: [version, ...(current?.history ?? [])].slice(0, HISTORY_LENGTH) };
}

export interface Received extends Credentials {
  kind: Kind;
  /** Read on this node's own broker: what should be there is this node's version. */
  own: boolean;
  verified: Verified;
  current: FileState | undefined;
  /** The text of this node's version (what it publishes), if it has one. */
  text: string | undefined;
  /** Without `text`: the file's text on disk, if any. */
  onDisk: string | undefined;
  /** Versions that failed validation or the health check here (refusalKey). */
  refused: ReadonlySet<string>;
  nodes: readonly Pick<NodeConfig, 'id' | 'name'>[];
  /** This node's clock (epoch ms). */
  now: number;
}

/**
 * How far ahead of this node's clock a version may be. A peer whose clock is badly ahead would
 * otherwise carry every node's hybrid logical clock with it, and their versions would stop
 * following real time until the clocks caught up.
 */
export const MAX_AHEAD_MS = 5 * 60_000;

/** A text kept beside the file as `<file>.<suffix>`. */
export interface Beside {
  suffix: string;
  text: string;
}

export type EnvelopeAction =
  | { type: 'reject'; reason: string }
  | { type: 'same' }
  /** An older version this file has been through: a replay or a late copy. */
  | { type: 'stale' }
  /** A concurrent edit that lost: its text kept beside the file. */
  | { type: 'conflict'; keep: Beside }
  /** A newer version with this node's content: take the version, write nothing. */
  | { type: 'adopt'; state: FileState; text: string }
  /** Refused here before: not tried again. */
  | { type: 'refused' }
  /** Not valid (after the service-user repair): refuse it (`key`). */
  | { type: 'invalid'; key: string; restored: string[]; problems: string[] }
  /** Install `text` over `previous`, this node's text kept beside the file first when `keepCurrent`; refuse it (`key`) if the broker is not healthy with it. */
  | { type: 'install'; key: string; text: string; previous: string | undefined; restored: string[]; missing: string[]; keepCurrent: Beside | undefined; state: FileState };

/** Every plan also says whether to publish this node's version again first (`republish`: its own broker has something else). */
export type EnvelopePlan = EnvelopeAction & { republish: boolean };

export function planEnvelope(received: Received): EnvelopePlan {
  const { verified, own } = received;
  if (!verified.ok) return { type: 'reject', reason: verified.reason, republish: own };
  const { envelope } = verified;
  const ahead = envelope.version.wall - received.now;
  if (ahead > MAX_AHEAD_MS) {
    return { type: 'reject', reason: `version ${formatVersion(envelope.version)} is ${Math.round(ahead / 1000)} s ahead of this node's clock (at most ${MAX_AHEAD_MS / 1000} s): is ${received.nodes.find((node) => node.id === envelope.version.node)?.name ?? `node ${envelope.version.node}`}'s clock wrong?`, republish: own };
  }
  const decision = decide(received.current, envelope);
  const republish = own && decision.type !== 'same';
  switch (decision.type) {
    case 'same':
    case 'stale':
      return { type: decision.type, republish };
    case 'conflict':
      return { type: 'conflict', republish, keep: { suffix: conflictSuffix(received.nodes, envelope.origin, envelope.version), text: envelope.content } };
    case 'adopt':
      return { type: 'adopt', republish, state: stateOf(envelope), text: received.text ?? envelope.content };
    case 'install':
      return { republish, ...planInstall(received, envelope, decision.keepCurrent) };
  }
}

function planInstall(received: Received, envelope: Envelope, keepCurrent: boolean): Extract<EnvelopeAction, { type: 'refused' | 'invalid' | 'install' }> {
  const { kind, current, users } = received;
  const key = refusalKey(kind, envelope.version);
  if (received.refused.has(key)) return { type: 'refused' };
  const previous = received.text ?? received.onDisk;
  const { text, restored } = repairServiceUsers(kind, envelope.content, previous, users, received.passwords);
  const problems = contentProblems(kind, text);
  if (problems.length > 0) return { type: 'invalid', key, restored, problems };
  const kept = keepCurrent && current && previous !== undefined ? { suffix: conflictSuffix(received.nodes, current.origin, current.version), text: previous } : undefined;
  const state = { ...stateOf(envelope), sha256: sha256(text) };
  return { type: 'install', key, text, previous, restored, missing: missingServiceUsers(kind, text, users), keepCurrent: kept, state };
}

/** How a refused version is remembered. */
export function refusalKey(kind: Kind, version: Version): string {
  return `${kind} ${formatVersion(version)}`;
}

/** `conflict-<node>-<version>`: the losing text of `origin`'s edit. */
export function conflictSuffix(nodes: readonly Pick<NodeConfig, 'id' | 'name'>[], origin: number, version: Version): string {
  const name = nodes.find((node) => node.id === origin)?.name ?? `node${origin}`;
  return `conflict-${name}-${formatVersion(version)}`;
}

function stateOf(envelope: Envelope): FileState {
  return { version: envelope.version, origin: envelope.origin, sha256: envelope.sha256, history: envelope.history };
}
