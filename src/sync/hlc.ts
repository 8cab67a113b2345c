/**
 * Versions of a synced file: a hybrid logical clock (wall time in ms, a counter for changes in the
 * same ms or behind a clock that went back, the node id to break ties). Every node orders versions
 * the same way, so last-writer-wins converges; and a node that has seen a version makes its next
 * one later, whatever its own clock says. Pure.
 */

export interface Version {
  wall: number;
  counter: number;
  node: number;
}

/** < 0 when a is older than b, 0 when they are the same version, > 0 when a is newer. */
export function compareVersions(a: Version, b: Version): number {
  return a.wall - b.wall || a.counter - b.counter || a.node - b.node;
}

export function sameVersion(a: Version, b: Version): boolean {
  return compareVersions(a, b) === 0;
}

/** `wall.counter@node`, for logs and file names. */
export function formatVersion(version: Version): string {
  return `${version.wall}.${version.counter}@${version.node}`;
}

/** The later of two clock readings (the node id does not count: a clock is one node's). */
export function laterClock(a: Version, b: Version): Version {
  return (a.wall - b.wall || a.counter - b.counter) >= 0 ? a : b;
}

/** The next version `node` makes: later than `last` (everything it has seen), at `now` if the clock allows. */
export function nextVersion(last: Version | undefined, now: number, node: number): Version {
  if (!last || now > last.wall) return { wall: now, counter: 0, node };
  return { wall: last.wall, counter: last.counter + 1, node };
}

/** The clock after seeing `version` (the first reading, when there was none). */
export function advanceClock(clock: Version | undefined, version: Version): Version {
  return clock ? laterClock(clock, version) : version;
}
