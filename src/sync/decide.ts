/**
 * What a node does with a verified envelope, given the version of the file it has: last writer
 * wins by version; the lineage (history) tells a stale copy or a replay (a version this file has
 * already been through) from a concurrent edit made elsewhere without it, whose text is kept
 * beside the file instead of being dropped. Pure.
 */
import { compareVersions, sameVersion, type Version } from './hlc.js';

/** What a node knows of its copy of one file. */
export interface FileState {
  version: Version;
  origin: number;
  sha256: string;
  history: Version[];
}

export interface Incoming {
  version: Version;
  history: Version[];
  sha256: string;
}

export type Decision =
  /** The version this node has, or an older one with the same text. */
  | { type: 'same' }
  /** A newer version with the content this node already has: take its version, write nothing. */
  | { type: 'adopt' }
  /** A newer version: install it. `keepCurrent` when the current text is an edit the newer one was made without. */
  | { type: 'install'; keepCurrent: boolean }
  /** An older version this file has been through: a late copy or a replay. */
  | { type: 'stale' }
  /** An older version made concurrently, which lost: keep its text beside the file. */
  | { type: 'conflict' };

const within = (history: readonly Version[], version: Version): boolean => history.some((seen) => sameVersion(seen, version));

export function decide(current: FileState | undefined, incoming: Incoming): Decision {
  if (!current) return { type: 'install', keepCurrent: false };
  const order = compareVersions(incoming.version, current.version);
  if (order === 0) return { type: 'same' };
  if (order > 0) {
    if (incoming.sha256 === current.sha256) return { type: 'adopt' };
    return { type: 'install', keepCurrent: !within(incoming.history, current.version) };
  }
  if (incoming.sha256 === current.sha256) return { type: 'same' };
  if (within(current.history, incoming.version)) return { type: 'stale' };
  return { type: 'conflict' };
}
